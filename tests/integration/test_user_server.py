"""A user's own Prometheus, which no one here configured, verified by the real ``promkit``.

The server scrapes an exporter of the test's own (job user-app) and itself (job
prometheus), and loads a rule file of its own (tests/fixtures/rules/user.rules.yml:
group user.alerts, an always-firing alert, and ``up * on() up == 0``, which fails every
evaluation once ``up`` has two series). The user's folder holds a promkit.yaml naming
their jobs and their guide: nothing there asks for the sample's rule groups or Watchdog.
``promkit`` runs from that folder through sh, as a user runs it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import Completed, Exporter, free_port, run, wait_for
from tests.support.web import request

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
USER_RULES = (ROOT / "tests" / "fixtures" / "rules" / "user.rules.yml").read_text()
FIXED_RULES = USER_RULES.replace("up * on() up == 0", "up * on(job, instance) up == 0")
PROMKIT = Path(sys.executable).parent / "promkit"
GUIDE = """\
# Our service

## Sample PromQL queries

### Our app is up

```promql
up{job="user-app"}
```
"""


def users_prometheus(
    processes: Any, binary: str, it: Any, exporter: str, rules: str, retention: str = "7d"
) -> Any:
    """The user's Prometheus: their exporter and itself scraped every second, their rules."""
    port = free_port()
    jobs = [it.job("user-app", exporter), it.job("prometheus", f"127.0.0.1:{port}")]
    return processes.prometheus(
        binary,
        {**it.config(*jobs, scrape="1s", evaluation="1s"), "rule_files": ["rules/*.yml"]},
        files={"rules/user.rules.yml": rules},
        flags=[f"--storage.tsdb.retention.time={retention}", "--web.enable-lifecycle"],
        port=port,
        scraped=True,
    )


class UserServer:
    """The user's Prometheus (reloadable) and their exporter."""

    def __init__(self, processes: Any, binary: str, it: Any) -> None:
        self.exporter: Exporter = processes.exporter("plain")
        self.server = users_prometheus(processes, binary, it, self.exporter.address, USER_RULES)
        self.server.wait_scraped(scrapes=3)
        self.rule_file = self.server.workdir / "rules" / "user.rules.yml"

    @property
    def url(self) -> str:
        return str(self.server.url)

    def rule_health(self) -> dict[str, str]:
        groups = self.server.api("/api/v1/rules")["groups"]
        return {r["name"]: r["health"] for g in groups for r in g["rules"]}

    def fix_the_rule(self) -> None:
        """The user fixes their rule and reloads Prometheus; wait until it evaluates cleanly."""
        self.rule_file.write_text(FIXED_RULES)
        status, body = request("POST", self.url + "/-/reload", timeout=10)
        assert status == 200, body
        wait_for(
            "the fixed rule evaluated", lambda: self.rule_health().get("UserTargetDown") == "ok", 30
        )


@pytest.fixture
def user_server(processes: Any, prometheus_bin: str, it: Any) -> UserServer:
    return UserServer(processes, prometheus_bin, it)


@pytest.fixture
def promkit(it: Any) -> Callable[..., Completed]:
    """``promkit ARGS`` run in a folder, with no INVOKE_* variable and no ~/.invoke.yaml."""

    def run_promkit(folder: Path, *args: str, **extra: str) -> Completed:
        env = it.env(HOME=str(folder), **extra)
        return run([PROMKIT, *args], cwd=folder, env=env, timeout=180)

    return run_promkit


def users_folder(tmp_path: Path) -> Path:
    """The user's promkit.yaml: their jobs, intervals, retention and guide; nothing on rules."""
    folder = tmp_path / "mine"
    folder.mkdir()
    settings = {
        "expect": {
            "jobs": {"user-app": 1, "prometheus": 1},
            "scrape_interval": "1s",
            "evaluation_interval": "1s",
            "retention": "7d",
            # A test of the rules, not of latency: the machine may be busy.
            "health_latency_ms": 1000,
            "scrape_duration_ms": 1000,
        },
        "queries": {"guide": "guide.md"},
    }
    (folder / "promkit.yaml").write_text(yaml.safe_dump(settings))
    (folder / "guide.md").write_text(GUIDE)
    return folder


def test_a_users_server_fails_only_its_own_failing_rule(
    user_server: UserServer, promkit: Callable[..., Completed], tmp_path: Path
) -> None:
    folder = users_folder(tmp_path)
    done = promkit(folder, "verify.all", "--url", user_server.url)
    out = done.output
    assert done.returncode == 1, out
    assert "10/11 checks pass; failing: rules\n" in out, out
    assert (
        f"alert UserTargetDown (group user.alerts in {user_server.rule_file}) fails to "
        "evaluate: found duplicate series for the match group {} on the "
    ) in out, out
    assert "many-to-many matching not allowed" in out
    # Not held to the sample's groups or Watchdog: the rows say how to declare them.
    assert "sample-service" not in out
    assert "no expected rule groups declared: set expect.rules to the groups" in out
    assert "no always-firing alert expected (expect.watchdog)" in out
    assert "Traceback" not in out

    user_server.fix_the_rule()
    fixed = promkit(folder, "verify.all", "--url", user_server.url, "--wait", "30")
    assert fixed.returncode == 0, fixed.output
    assert "all 11 checks pass" in fixed.stdout, fixed.output
    assert "group user.alerts: 3 rules, evaluated " in fixed.stdout


def test_init_writes_settings_that_verify_the_server_until_a_target_goes(
    user_server: UserServer, promkit: Callable[..., Completed], tmp_path: Path
) -> None:
    user_server.fix_the_rule()
    folder = tmp_path / "fresh"
    folder.mkdir()
    done = promkit(folder, "init", "--url", user_server.url)
    assert done.returncode == 0, done.output
    assert f"wrote {folder / 'promkit.yaml'} (2 jobs, 1 rule group)" in done.stdout
    written = yaml.safe_load((folder / "promkit.yaml").read_text())
    assert written["expect"]["jobs"] == {"prometheus": 1, "user-app": 1}
    assert written["expect"]["rules"] == ["user.alerts"]
    assert written["expect"]["watchdog"] == "UserAlwaysFiring"
    # The machine may be busy: only the health budget (not surveyed) is loosened.
    loose = {"INVOKE_EXPECT_HEALTH_LATENCY_MS": "1000"}
    green = promkit(folder, "verify.all", "--url", user_server.url, "--wait", "30", **loose)
    assert green.returncode == 0, green.output
    assert "all 12 checks pass" in green.stdout, green.output
    assert "alert UserAlwaysFiring (group user.alerts) is firing since " in green.stdout

    address = user_server.exporter.address
    user_server.exporter.stop()
    wait_for(
        "the exporter's target down",
        lambda: any(
            t["labels"]["job"] == "user-app" and t["health"] == "down"
            for t in user_server.server.targets()
        ),
        30,
    )
    red = promkit(folder, "verify.all", "--url", user_server.url, **loose)
    assert red.returncode == 1, red.output
    assert "failing: targets" in red.stdout, red.output
    assert f"user-app/{address}" in red.stdout, red.output


def test_init_settings_name_a_retention_changed_on_the_server(
    user_server: UserServer,
    processes: Any,
    prometheus_bin: str,
    it: Any,
    promkit: Callable[..., Completed],
    tmp_path: Path,
) -> None:
    user_server.fix_the_rule()
    folder = tmp_path / "fresh"
    folder.mkdir()
    assert promkit(folder, "init", "--url", user_server.url).returncode == 0
    # Prometheus writes 7d as 1w, and promkit.yaml holds what the server said.
    assert yaml.safe_load((folder / "promkit.yaml").read_text())["expect"]["retention"] == "1w"
    # The operator restarts the same server with another retention: same config, same rules.
    address = user_server.exporter.address
    restarted = users_prometheus(processes, prometheus_bin, it, address, FIXED_RULES, "14d")
    loose = {"INVOKE_EXPECT_HEALTH_LATENCY_MS": "1000"}
    red = promkit(folder, "verify.retention", "--url", str(restarted.url), **loose)
    assert red.returncode == 1, red.output
    assert "failing: retention" in red.stdout, red.output
    assert "retention is 2w, expected 1w" in red.stdout, red.output


def test_init_overwrites_nothing(
    user_server: UserServer, promkit: Callable[..., Completed], tmp_path: Path
) -> None:
    folder = users_folder(tmp_path)
    before = (folder / "promkit.yaml").read_text()
    done = promkit(folder, "init", "--url", user_server.url)
    assert done.returncode == 2, done.output
    lines = [line for line in done.output.splitlines() if line.strip()]
    assert lines == [
        f"promkit: {folder / 'promkit.yaml'} already exists: promkit init overwrites nothing; "
        "move it away or run promkit init in another folder"
    ]
    assert (folder / "promkit.yaml").read_text() == before
