"""promkit serve: the verify rounds on a schedule, as Prometheus metrics and a status page.

``options`` reads the flags, ``state`` keeps what the last rounds found, ``metrics`` and
``pages`` render it (/metrics; /, /api/v1/last), ``http`` serves it, ``service`` runs
the rounds and the server until SIGTERM or SIGINT.
"""
