"""``promkit serve``: every flag checked and the address bound, then rounds until a signal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from invoke.context import Context

from promkit.core import console, settings
from promkit.report import session
from promkit.serve import http, options
from promkit.serve.options import ServeOptions
from promkit.serve.service import Rounds, serve, stopped_by_signals
from promkit.serve.state import State


def run(c: Context, chosen: ServeOptions, url: str | None, context: str | None) -> bool:
    """Serve the rounds of ``chosen`` (see ``options.parse``) against ``url`` or the
    cluster of ``context`` until SIGTERM or SIGINT; True if a round was left in flight.
    A bad setting or a taken address is a PromkitError (exit 2) before anything starts."""
    loaded = settings.load(c.config)
    server = http.bind(chosen.host, chosen.port, {})
    try:
        if not context:
            prepared = session.prepare_round(loaded, chosen.names, url)
            return _serve(server, chosen, prepared.attempt, prepared.client.base_url)
        with session.cluster_target(c, context, chosen.names, url) as target:
            prepared = session.prepare_round(
                loaded,
                chosen.names,
                target.url,
                kubernetes=True,
                before_round=target.before_round,
                cluster=target.cluster,
            )
            return _serve(server, chosen, prepared.attempt, prepared.client.base_url)
    finally:
        server.server_close()


def _serve(
    server: http.ServeServer, chosen: ServeOptions, attempt: Callable[[], Any], url: str
) -> bool:
    every = options.every_text(chosen.every_s)
    where = options.address(chosen.host, server.port)
    console.say(
        f"serving http://{where}/ (/metrics, /healthz, /api/v1/last): "
        f"{', '.join(chosen.names)} against {url} every {every}"
    )
    stop = threading.Event()
    rounds = Rounds(attempt, chosen.every_s, State(chosen.names))
    with stopped_by_signals(stop):
        left = serve(server, rounds, stop)
    console.say("stopped")
    return left
