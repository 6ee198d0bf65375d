"""promkit serve against a real Prometheus: a target goes down and comes back, the page
shows why, SIGTERM ends it at once; bad flags are one line and exit 2, nothing started."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support import Background, inv_in_background, port_answers, taken_port, wait_for

pytestmark = pytest.mark.integration

#: Seconds between rounds, and the scrape interval of the server under test.
EVERY_S = 1.0


def targets_ok(serve_url: str) -> float | None:
    """promkit_check_ok{check="targets",item="targets"} as served, None before a round."""
    text = requests.get(f"{serve_url}/metrics", timeout=2).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "promkit_check_ok" and sample.labels == {
                "check": "targets",
                "item": "targets",
            }:
                return sample.value
    return None


def seen(server: Any, address: str, health: str) -> bool:
    """Whether Prometheus' last scrape of ``address`` left it ``health``."""
    return any(address in t["scrapeUrl"] and t["health"] == health for t in server.targets())


def serving(tmp_path: Path, it: Any, url: str) -> tuple[Background, str]:
    port = it.free_port()
    args = ["serve", "--url", url, "--every", "1s", "--listen", f"127.0.0.1:{port}"]
    background = inv_in_background(tmp_path, *args, "--checks", "targets", env=it.env())
    return background, f"http://127.0.0.1:{port}"


def test_a_target_down_and_back(
    processes: Any, prometheus_bin: str, it: Any, tmp_path: Path
) -> None:
    app, worker = processes.exporter("app"), processes.exporter("worker")
    server = processes.prometheus(
        prometheus_bin,
        it.config(
            it.job("fastapi-app", app.address),
            it.job("celery-workers", worker.address),
            scrape="1s",
            evaluation="1s",
        ),
        scraped=True,
    )
    serve, serve_url = serving(tmp_path, it, server.url)
    try:
        assert wait_for("a green round", lambda: targets_ok(serve_url) == 1, 30), serve.tail()
        port = int(worker.address.rsplit(":", 1)[1])
        worker.stop()
        wait_for(
            "Prometheus sees the worker down",
            lambda: seen(server, worker.address, "down"),
            10,
        )
        # The next round (at most EVERY_S away) sees it; slack for a loaded machine.
        wait_for("serve reports it", lambda: targets_ok(serve_url) == 0, EVERY_S + 3)
        page = requests.get(serve_url, timeout=2).text
        assert f"target celery-workers/{worker.address} is DOWN: " in page, page[-2000:]
        assert '<span class="FAIL">FAIL</span>' in page
        last = requests.get(f"{serve_url}/api/v1/last", timeout=2).json()
        assert last["summary"]["failed"] == ["targets"]

        processes.exporter("worker", port=port)
        wait_for("Prometheus sees it up", lambda: seen(server, worker.address, "up"), 10)
        wait_for("serve reports it back", lambda: targets_ok(serve_url) == 1, EVERY_S + 3)
        assert requests.get(f"{serve_url}/healthz", timeout=2).status_code == 200

        asked = time.monotonic()
        os.kill(serve.pid, signal.SIGTERM)
        done = serve.wait(5)
        took = time.monotonic() - asked
        assert done.returncode == 0, done.stdout + done.stderr
        assert took < 1.0, took
        assert done.stdout.splitlines()[-1] == "stopped"
    finally:
        serve.stop(5)


BAD = {
    "every 0": (["--every", "0"], "promkit: --every must be a positive duration"),
    "every negative": (["--every", "-5s"], "promkit: --every must be a positive duration"),
    "listen unparsable": (["--listen", "nowhere"], "promkit: --listen must be HOST:PORT"),
    "unknown check": (["--checks", "targets,speed"], "promkit: unknown checks ['speed']"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_is_one_line_and_exit_2(case: str, it: Any) -> None:
    port = it.free_port()
    flags, start = BAD[case]
    listen = [] if "--listen" in flags else ["--listen", f"127.0.0.1:{port}"]
    done = it.inv("serve", "--url", "http://127.0.0.1:1", *listen, *flags, timeout=30)
    assert done.returncode == 2, done.output
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1, done.output
    assert done.stderr.startswith(start), done.stderr
    assert not port_answers(port)


def test_a_taken_address_is_one_line_and_exit_2(it: Any) -> None:
    with taken_port() as port:
        done = it.inv("serve", "--url", "http://127.0.0.1:1", "--listen", f"127.0.0.1:{port}")
    assert done.returncode == 2, done.output
    assert done.stdout == "", done.output
    assert done.stderr == (
        f"promkit: cannot listen on 127.0.0.1:{port}: Address already in use: "
        "give --listen a free address\n"
    )
