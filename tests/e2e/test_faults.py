"""Faults on the real compose stack: each is survived, reported, and loses no data.

The module deploys its own stack (project promkit-faults, ports 19090/18000) from a
temporary copy of config/prometheus (setting compose.prometheus_config), so the bad
and changed configs below never touch a tracked file. Each test runs alone and in any
order: it waits for what it needs (the broken dependency, a Prometheus that has scraped
the app, as staleness markers are written by the scraping process; the restarts, stored
samples of every job), and the first-start test redeploys on fresh volumes when a test
before it restarted Prometheus on the module's data.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import request, status, wait_for
from tests.support.stack import Stack, copy_of_config, deployed_from

pytestmark = pytest.mark.e2e

STACK = Stack("promkit-faults", prometheus_port=19090, app_port=18000)
SCRAPE_INTERVAL_S = 15
TICKET = {"tenant_id": "acme", "ticket_id": "T-1", "summary": "printer on fire"}


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of config/prometheus that the stack mounts (and the tests may break)."""
    return copy_of_config(tmp_path_factory, "faults")


@pytest.fixture(scope="module", autouse=True)
def deployed(config_dir: Path) -> Iterator[None]:
    with deployed_from(STACK, config_dir, ("traffic", "--count", "20", "--duration", "20")):
        yield


@pytest.fixture
def config_file(config_dir: Path) -> Iterator[Path]:
    """The mounted prometheus.yml; whatever a test writes is put back and reloaded after."""
    path = config_dir / "prometheus.yml"
    original = path.read_text()
    yield path
    if path.read_text() != original:
        path.write_text(original)
        STACK.inv("reload.local")


def served_state() -> dict[str, Any]:
    """What must not change while a bad config is refused: containers, start, config."""
    runtime = STACK.api("/api/v1/status/runtimeinfo")
    served = STACK.api("/api/v1/status/config")["yaml"]
    return {
        "containers": STACK.containers(),
        "startTime": runtime["startTime"],
        "lastConfigTime": runtime["lastConfigTime"],
        "config": hashlib.sha256(served.encode()).hexdigest(),
    }


def query(promql: str, **params: str) -> list[dict[str, Any]]:
    return list(STACK.api("/api/v1/query", {"query": promql, **params})["result"])


def scraped_up(*jobs: str) -> bool:
    """Whether this Prometheus process has itself scraped each job's targets up: its
    targets API, not stored samples (after a restart, those are the old server's)."""
    targets = STACK.api("/api/v1/targets")["activeTargets"]
    health = {t["labels"]["job"]: t["health"] for t in targets if t["labels"]["job"] in jobs}
    return set(health) == set(jobs) and all(h == "up" for h in health.values())


def webhook_status() -> int:
    return int(request("POST", STACK.app + "/webhook/servicedesk", TICKET)[0])


#: Set by each test that restarts Prometheus on the module's data volume.
RESTARTED = {"prometheus": False}


@pytest.fixture
def first_start() -> None:
    """A Prometheus on fresh volumes: redeployed so if an earlier test restarted it."""
    if RESTARTED["prometheus"]:
        STACK.inv("destroy.local", "--volumes")
        STACK.inv("deploy.local")
        RESTARTED["prometheus"] = False


def test_a_first_start_is_not_taken_for_survived_data(first_start: None) -> None:
    wait_for("the app is scraped", lambda: query('up{job="fastapi-app"} == 1'), 60, every=1.0)
    done = STACK.inv("verify.persistence", check=False)
    assert done.returncode == 1, done.stdout
    assert "no stored sample predates this server's start" in done.stdout


def test_redis_down_is_reported_not_hidden_and_nothing_crash_loops() -> None:
    restarts = {s: STACK.inspect(s)["RestartCount"] for s in ("app", "worker")}
    wait_for(
        "redis_up is 1", lambda: query('sample_app_redis_up{job="fastapi-app"} == 1'), 40, every=1.0
    )
    # What must go stale has to be scraped by this server first: only the process that
    # scraped a series writes its staleness marker.
    jobs = ("fastapi-app", "celery-workers")
    wait_for("the app and worker scraped up", lambda: scraped_up(*jobs), 60, every=1.0)
    STACK.compose("stop", "redis")
    try:
        code, body = request("POST", STACK.app + "/webhook/servicedesk", TICKET)
        assert code == 503
        assert "task queue unavailable: cannot reach Redis at redis://redis:6379/0" in str(body)
        assert status(STACK.app + "/metrics", timeout=10) == 200
        # Through Prometheus: redis_up says 0 and queue_depth goes stale (no sample), never 0.
        wait_for(
            "redis_up 0",
            lambda: query("sample_app_redis_up == 0"),
            2 * SCRAPE_INTERVAL_S + 5,
            every=1.0,
        )
        wait_for(
            "queue_depth stale", lambda: not query("queue_depth"), SCRAPE_INTERVAL_S + 5, every=1.0
        )
        assert query("up{job='fastapi-app'} == 1"), "the app is still scraped"
        for service in ("app", "worker"):
            state = STACK.inspect(service)
            why = f"{service}: {state['State']}\n{STACK.compose('logs', '--tail', '40', service)}"
            assert state["State"]["Status"] == "running", why
            assert state["RestartCount"] == restarts[service], f"restarted: {why}"
    finally:
        STACK.compose("start", "redis")
    wait_for("the webhook accepts tickets again", lambda: webhook_status() == 202, 60, every=1.0)
    wait_for(
        "redis_up 1",
        lambda: query("sample_app_redis_up == 1"),
        2 * SCRAPE_INTERVAL_S + 5,
        every=1.0,
    )
    wait_for("queue_depth back", lambda: query("queue_depth"), 2 * SCRAPE_INTERVAL_S + 5, every=1.0)


def test_target_dies_is_named_then_recovers_without_touching_prometheus(tmp_path: Path) -> None:
    # This server must have scraped the app itself first, or its health stays "unknown".
    wait_for("the app scraped up", lambda: scraped_up("fastapi-app"), 60, every=1.0)
    prometheus = STACK.inspect("prometheus")
    STACK.compose("stop", "app")
    stopped = time.monotonic()
    try:

        def failing() -> Any:
            done = STACK.inv("verify.targets", check=False)
            return done if done.returncode == 1 else None

        done = wait_for("verify.targets fails", failing, 2 * SCRAPE_INTERVAL_S + 5, every=2)
        print(f"verify.targets failed {time.monotonic() - stopped:.1f}s after the stop")
        target = next(
            t
            for t in STACK.api("/api/v1/targets")["activeTargets"]
            if t["labels"]["job"] == "fastapi-app"
        )
        assert target["health"] == "down" and target["lastError"]
        assert "target fastapi-app/app:8000 is DOWN: " in done.stdout
        reason = target["lastError"].split('": ', 1)[-1]  # after 'Get "http://app:8000/metrics"'
        assert reason in " ".join(done.stdout.split()), (reason, done.stdout)
        # The evidence report of that failure carries the logs of the services involved.
        reported = STACK.inv("verify.targets", "--report", str(tmp_path), check=False)
        assert reported.returncode == 1, reported.output
        logs = tmp_path / "logs"
        assert (logs / "compose-service-prometheus.log").read_text().strip()
        assert (logs / "compose-service-app.log").is_file(), sorted(logs.iterdir())
        assert "compose service app" in (tmp_path / "index.html").read_text()
    finally:
        STACK.compose("start", "app")
    STACK.inv("verify.targets", "--wait", "60")
    after = STACK.inspect("prometheus")
    assert (after["Id"], after["State"]["StartedAt"]) == (
        prometheus["Id"],
        prometheus["State"]["StartedAt"],
    )


def _bad_yaml(text: str) -> str:
    return text.replace("scrape_configs:", "scrape_configs: [", 1)


def _bad_regex(text: str) -> str:
    config = yaml.safe_load(text)
    relabel = {"source_labels": ["__address__"], "regex": "app(:8000", "target_label": "x"}
    config["scrape_configs"][1]["relabel_configs"] = [relabel]
    return yaml.safe_dump(config)


def _unknown_field(text: str) -> str:
    config = copy.deepcopy(yaml.safe_load(text))
    config["global"]["scrape_intervall"] = "30s"
    return yaml.safe_dump(config)


@pytest.mark.parametrize(
    ("breaking", "reason"),
    [
        (_bad_yaml, "yaml: line "),
        # 2.x quotes the anchored regex as `^(?:app(:8000)$`, 3.x as `^(?s:app(:8000)$`.
        (_bad_regex, "error parsing regexp: missing closing ): `^(?"),
        (_unknown_field, "field scrape_intervall not found in type config.plain"),
    ],
    ids=["bad-yaml", "bad-relabel-regex", "unknown-field"],
)
def test_a_bad_config_is_refused_and_the_old_one_keeps_serving(
    config_file: Path, breaking: Callable[[str], str], reason: str
) -> None:
    before = served_state()
    config_file.write_text(breaking(config_file.read_text()))
    done = STACK.inv("deploy.local", check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "Traceback" not in out
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(
        f"promkit: {config_file} is invalid, nothing was deployed: "
        "parsing YAML file /etc/prometheus/prometheus.yml: "
    )
    assert reason in line
    assert served_state() == before
    STACK.inv("verify.interval")


def test_a_valid_change_is_applied_by_reload(config_file: Path) -> None:
    before = served_state()
    config_file.write_text(
        config_file.read_text().replace("scrape_interval: 15s", "scrape_interval: 30s")
    )
    done = STACK.inv("reload.local")
    assert done.stdout.startswith(f"Prometheus reloaded {config_file}: configuration loaded at ")
    interval = STACK.inv("verify.interval", check=False)
    assert interval.returncode == 1
    assert "global scrape_interval is 30s, expected 15s: set global.scrape_interval" in (
        interval.stdout
    )
    STACK.inv("verify.interval", env=STACK.env(INVOKE_EXPECT_SCRAPE_INTERVAL="30s"))
    after = served_state()
    assert (after["containers"], after["startTime"]) == (before["containers"], before["startTime"])
    assert after["config"] != before["config"]


def test_a_reload_prometheus_rejects_is_reported_as_failed(config_file: Path) -> None:
    # promtool accepts two identical remote_write entries; Prometheus refuses to apply them.
    # The URL is never contacted: the reload fails before any queue starts.
    config = yaml.safe_load(config_file.read_text())
    config["remote_write"] = [{"url": "http://127.0.0.1:1/write"}] * 2
    config_file.write_text(yaml.safe_dump(config))
    before = served_state()
    done = STACK.inv("reload.local", check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        f"promkit: Prometheus rejected {config_file} (HTTP 500, reloadConfigSuccess false): "
        "duplicate remote write configs are not allowed, found duplicate for URL: "
        f"http://127.0.0.1:1/write; the last complete load is from {before['lastConfigTime']} "
        "but parts of the new file may be in effect: fix it and run `inv reload.local` again"
    )
    after = served_state()
    assert (after["containers"], after["startTime"], after["lastConfigTime"]) == (
        before["containers"],
        before["startTime"],
        before["lastConfigTime"],
    )
    health = STACK.inv("verify.health", check=False)
    assert health.returncode == 1
    assert "the last configuration reload FAILED (reloadConfigSuccess false)" in health.stdout


def samples_up_to(moment: float) -> dict[str, list[Any]]:
    """Every raw sample of `up` in the hour before ``moment``, per job."""
    result = query("up[1h]", time=f"{moment:.3f}")
    return {series["metric"]["job"]: series["values"] for series in result}


def wait_ready() -> None:
    # status() is 0 while the container restarts (refused or reset).
    ready = STACK.prometheus + "/-/ready"
    wait_for("Prometheus is ready", lambda: status(ready, timeout=2) == 200, 90, every=1.0)


def samples_stored() -> tuple[float, dict[str, list[Any]]]:
    """A moment by which every scraped job has two samples of `up` stored, and those
    samples (waited for: a fresh stack has none yet)."""

    def stored() -> tuple[float, dict[str, list[Any]]] | None:
        jobs = {t["labels"]["job"] for t in STACK.api("/api/v1/targets")["activeTargets"]}
        moment = time.time()
        found = samples_up_to(moment)
        enough = set(found) == jobs and all(len(values) >= 2 for values in found.values())
        return (moment, found) if jobs and enough else None

    return wait_for("two samples of every job", stored, 3 * SCRAPE_INTERVAL_S + 5, every=1.0)


def test_prometheus_restart_keeps_samples() -> None:
    moment, before = samples_stored()
    RESTARTED["prometheus"] = True
    STACK.compose("restart", "prometheus")
    wait_ready()
    assert samples_up_to(moment) == before
    done = STACK.inv("verify.persistence")
    assert "older than this server's start: data from before the (re)start is still there" in (
        done.stdout
    )


def test_destroy_then_deploy_without_volumes_keeps_samples() -> None:
    moment, before = samples_stored()
    RESTARTED["prometheus"] = True
    STACK.inv("destroy.local")
    STACK.inv("deploy.local")
    wait_ready()
    assert samples_up_to(moment) == before
    STACK.inv("verify.persistence")
