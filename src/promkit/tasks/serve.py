"""serve: the verify rounds on a schedule, as Prometheus metrics and a status page."""

from __future__ import annotations

import os

from invoke.context import Context
from invoke.tasks import task

from promkit.tasks.common import context_on_command_line, reports_errors
from promkit.tasks.verify import HELP as VERIFY_HELP

HELP = {
    "url": VERIFY_HELP["url"],
    "context": VERIFY_HELP["context"],
    "every": "run a round every DURATION (60s, 1m, 500ms; default 60s); rounds never overlap",
    "listen": "serve /metrics, /, /healthz and /api/v1/last on HOST:PORT (default 127.0.0.1:9464)",
    "checks": "the checks of each round, comma-separated (default: those of verify.all)",
}


@task(help=HELP, auto_shortflags=False)  # -h would be --checks, not --help
@reports_errors
def serve(
    c: Context,
    url: str | None = None,
    context: str | None = None,
    every: str | None = None,
    listen: str | None = None,
    checks: str | None = None,
) -> None:
    """Run verify.all's checks every --every and serve them as metrics; SIGTERM ends it."""
    from promkit.serve import command, options

    context = context or context_on_command_line()
    chosen = options.parse(every, listen, checks, kubernetes=bool(context))
    if command.run(c, chosen, url, context):
        os._exit(0)  # a round in flight would hold the exit up to its request timeout
