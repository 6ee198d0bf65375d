"""A tiny real exporter: a stdlib HTTP server answering /metrics in Prometheus' text format.

Run as a process: ``python exporter.py --kind worker [--delay 0.15] [--port 0]``.
It prints ``listening on HOST:PORT`` once it accepts connections. ``--kind app``
serves what the sample FastAPI app exports, ``worker`` what the Celery worker
exports, ``plain`` a single gauge. Every scrape counts some simulated traffic,
so rate() and histogram_quantile() have data after two scrapes.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TENANTS = ("acme", "globex")
BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Traffic:
    """Counters that grow on every scrape, as if requests kept arriving."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scrapes = 0

    def tick(self) -> int:
        with self.lock:
            self.scrapes += 1
            return self.scrapes


def worker_metrics(n: int) -> list[str]:
    lines = [
        "# HELP enhancement_requests_total Enhancement requests by tenant and outcome.",
        "# TYPE enhancement_requests_total counter",
    ]
    for tenant in TENANTS:
        lines.append(f'enhancement_requests_total{{tenant_id="{tenant}",status="success"}} {9 * n}')
        lines.append(f'enhancement_requests_total{{tenant_id="{tenant}",status="failure"}} {n}')
    lines += [
        "# HELP enhancement_duration_seconds Time to process one enhancement.",
        "# TYPE enhancement_duration_seconds histogram",
    ]
    # Ten observations per scrape: 2 under 1s, 6 under 2.5s, 2 under 10s.
    cumulative = {0.5: 0, 1.0: 2, 2.5: 8, 5.0: 8, 10.0: 10, 30.0: 10}
    for le in BUCKETS:
        lines.append(f'enhancement_duration_seconds_bucket{{le="{le}"}} {cumulative[le] * n}')
    lines += [
        f'enhancement_duration_seconds_bucket{{le="+Inf"}} {10 * n}',
        f"enhancement_duration_seconds_sum {21.5 * n}",
        f"enhancement_duration_seconds_count {10 * n}",
        "# HELP enhancement_success_rate Success rate per tenant, in percent.",
        "# TYPE enhancement_success_rate gauge",
    ]
    lines += [f'enhancement_success_rate{{tenant_id="{t}"}} 90' for t in TENANTS]
    lines += ["# TYPE worker_active_count gauge", "worker_active_count 2"]
    return lines


def app_metrics(n: int) -> list[str]:
    return [
        "# HELP queue_depth Jobs waiting in the Redis queue.",
        "# TYPE queue_depth gauge",
        'queue_depth{queue_name="enhancement:queue"} 3',
        "# TYPE enhancement_requests_total counter",
        f'enhancement_requests_total{{tenant_id="acme",status="rejected"}} {n}',
        'enhancement_requests_total{tenant_id="acme",status="unavailable"} 0',
    ]


def buckets_metrics(n: int) -> list[str]:
    """A histogram whose bucket bounds are written as integers (le="1"), as Go clients do."""
    lines = ["# TYPE promkit_test_wait_seconds histogram"]
    lines += [f'promkit_test_wait_seconds_bucket{{le="{le}"}} {le * n}' for le in (1, 5)]
    lines += [f'promkit_test_wait_seconds_bucket{{le="+Inf"}} {6 * n}']
    lines.append(f"promkit_test_wait_seconds_sum {9 * n}")
    return [*lines, f"promkit_test_wait_seconds_count {6 * n}"]


def plain_metrics(n: int) -> list[str]:
    return ["# TYPE promkit_test_scrapes_total counter", f"promkit_test_scrapes_total {n}"]


KINDS = {
    "app": app_metrics,
    "worker": worker_metrics,
    "plain": plain_metrics,
    "buckets": buckets_metrics,
}
#: What the exporter says its answer is (``--content-type``); Prometheus 3 refuses others.
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


def make_handler(
    kind: str, delay: float, traffic: Traffic, content_type: str = TEXT_FORMAT
) -> type[BaseHTTPRequestHandler]:
    render = KINDS[kind]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            if delay:
                time.sleep(delay)
            body = ("\n".join(render(traffic.tick())) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=sorted(KINDS), default="plain")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--content-type", default=TEXT_FORMAT, help="the answers' Content-Type")
    args = parser.parse_args(argv)
    handler = make_handler(args.kind, args.delay, Traffic(), args.content_type)
    server = ThreadingHTTPServer((args.host, args.port), handler)
    print(f"listening on {args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
