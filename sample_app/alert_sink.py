"""A webhook sink for Alertmanager: records every notification, serves them as JSON and metrics.

The receivers of config/alertmanager/alertmanager.yml post here (``/hook/<receiver>``).
``inv verify.alerts --sink URL`` reads ``/notifications`` to prove the Watchdog arrived.

    python -m sample_app.alert_sink --port 9095 [--fail-for SECONDS]

Endpoints:
  POST /hook/NAME          a notification of Alertmanager: recorded, 200 (500 while failing)
  GET  /notifications      JSON: started_at, failing, refused, notifications, last_payloads
  GET  /metrics            counts in the Prometheus text format
  POST /fail?seconds=N     answer 500 to every notification for the next N seconds (0: stop)
  GET  /health             200 "ok"

Standard library only: it runs wherever Python does, beside Alertmanager.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Notification:
    """One webhook call Alertmanager made, as recorded."""

    receiver: str
    path: str
    status: str
    alertnames: list[str]
    alerts: list[dict[str, Any]]
    group_key: str
    group_labels: dict[str, str]
    received_at: float


@dataclass
class Sink:
    """What the sink has seen, and until when it answers 500 (time.time())."""

    notifications: list[Notification] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    #: The last payload as Alertmanager sent it, by receiver (what a receiver really gets).
    last_payloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    failing_until: float = 0.0
    started_at: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failing(self) -> bool:
        return time.time() < self.failing_until

    def fail_for(self, seconds: float) -> None:
        with self.lock:
            self.failing_until = time.time() + seconds if seconds > 0 else 0.0

    def record(self, path: str, payload: dict[str, Any]) -> Notification:
        alerts = [a for a in payload.get("alerts") or [] if isinstance(a, dict)]
        note = Notification(
            receiver=str(payload.get("receiver", "")),
            path=path,
            status=str(payload.get("status", "")),
            alertnames=sorted({str(a.get("labels", {}).get("alertname", "")) for a in alerts}),
            alerts=[
                {
                    "status": a.get("status"),
                    "labels": a.get("labels"),
                    "startsAt": a.get("startsAt"),
                }
                for a in alerts
            ],
            group_key=str(payload.get("groupKey", "")),
            group_labels=dict(payload.get("groupLabels") or {}),
            received_at=time.time(),
        )
        with self.lock:
            self.notifications.append(note)
            self.last_payloads[note.receiver] = payload
        return note

    def refuse(self, path: str) -> None:
        with self.lock:
            self.refused[path] += 1

    def as_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "started_at": self.started_at,
                "failing": self.failing(),
                "refused": dict(self.refused),
                "last_payloads": dict(self.last_payloads),
                "notifications": [asdict(n) for n in self.notifications],
            }

    def metrics(self) -> str:
        with self.lock:
            counts = Counter((n.receiver, n.status) for n in self.notifications)
            last: dict[str, float] = {}
            for n in self.notifications:
                last[n.receiver] = n.received_at
            refused = dict(self.refused)
            failing = self.failing()
        lines = [
            "# HELP alert_sink_notifications_total Notifications recorded, by receiver and status.",
            "# TYPE alert_sink_notifications_total counter",
            *(
                f'alert_sink_notifications_total{{receiver="{r}",status="{s}"}} {n}'
                for (r, s), n in sorted(counts.items())
            ),
            "# HELP alert_sink_last_notification_timestamp_seconds When a receiver last got one.",
            "# TYPE alert_sink_last_notification_timestamp_seconds gauge",
            *(
                f'alert_sink_last_notification_timestamp_seconds{{receiver="{r}"}} {t:.3f}'
                for r, t in sorted(last.items())
            ),
            "# HELP alert_sink_refused_total Notifications answered 500 (fault mode), by path.",
            "# TYPE alert_sink_refused_total counter",
            *(f'alert_sink_refused_total{{path="{p}"}} {n}' for p, n in sorted(refused.items())),
            "# HELP alert_sink_failing 1 while the sink answers 500 to notifications.",
            "# TYPE alert_sink_failing gauge",
            f"alert_sink_failing {int(failing)}",
        ]
        return "\n".join(lines) + "\n"


def handler_for(sink: Sink) -> type[BaseHTTPRequestHandler]:
    """The request handler serving ``sink``."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: str, content_type: str = "text/plain") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            if path == "/notifications":
                self._answer(200, json.dumps(sink.as_json()), "application/json")
            elif path == "/metrics":
                self._answer(200, sink.metrics(), "text/plain; version=0.0.4")
            elif path == "/health":
                self._answer(200, "ok\n")
            else:
                self._answer(404, "not found\n")

        def do_POST(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if parts.path == "/fail":
                query = urllib.parse.parse_qs(parts.query)
                sink.fail_for(float(query.get("seconds", ["0"])[0]))
                self._answer(200, "ok\n")
            elif parts.path.startswith("/hook/"):
                self._hook(parts.path, body)
            else:
                self._answer(404, "not found\n")

        def _hook(self, path: str, body: bytes) -> None:
            if sink.failing():
                sink.refuse(path)
                self._answer(500, "failing on purpose (fault mode)\n")
                return
            try:
                payload = json.loads(body)
            except ValueError:
                self._answer(400, "not JSON\n")
                return
            if not isinstance(payload, dict):
                self._answer(400, "not a JSON object\n")
                return
            sink.record(path, payload)
            self._answer(200, "ok\n")

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: /notifications says what came in

    return Handler


def serve(host: str, port: int, fail_for: float = 0.0) -> ThreadingHTTPServer:
    """A started-but-not-serving server for the sink (call ``serve_forever``)."""
    sink = Sink()
    sink.fail_for(fail_for)
    return ThreadingHTTPServer((host, port), handler_for(sink))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9095)
    parser.add_argument(
        "--fail-for", type=float, default=0.0, help="answer 500 for the first SECONDS"
    )
    args = parser.parse_args(argv)
    server = serve(args.host, args.port, args.fail_for)
    print(f"alert sink listening on http://{args.host}:{server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
