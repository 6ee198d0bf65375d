"""verify.upgrade on the real Prometheus 2.42 (Debian's) and 3.16 (PROMKIT_PROMETHEUS3_BIN).

The broken fixture has one breakage of each kind: a removed flag (--alertmanager.timeout),
a removed setting (alertmanager api_version: v1), an exporter answering with a wrong
Content-Type, a rule and a documented query selecting le="1" (3.x writes 1.0), a rule
and a query using holt_winters (renamed in 3.x), and a query whose number of series
differs. The fixed fixture is the same with each one fixed: exit 0.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from tests.support import inv, inv_in_background, run, wait_for
from tests.support.prometheus import PROMETHEUS2, Exporter

pytestmark = pytest.mark.integration

PROMETHEUS3 = os.environ.get("PROMKIT_PROMETHEUS3_BIN", "")
#: The installed command, as a user outside this repository runs it.
PROMKIT = Path(sys.executable).parent / "promkit"


def _binaries() -> str:
    for path in (PROMETHEUS2, PROMETHEUS3):
        if not (path and os.access(path, os.X_OK)):
            pytest.fail(f"{path or 'PROMKIT_PROMETHEUS3_BIN'} is needed (.ci/run builds it)")
    return PROMETHEUS3


GUIDE = """# Guide

## Sample PromQL queries

### Fast waits

```promql
{fast}
```

### Smoothed

```promql
{smooth}
```

### Targets up

```promql
up == 1
```
"""


def _fixture(folder: Path, exporters: dict[str, Exporter], *, fixed: bool) -> dict[str, Path]:
    """prometheus.yml, its rule file and a guide: broken, or with every breakage fixed."""
    folder.mkdir()
    (folder / "rules").mkdir()
    plain = "plain-fixed" if fixed else "plain"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules/*.rules.yml"],
        "alerting": {
            "alertmanagers": [
                {
                    "api_version": "v2" if fixed else "v1",
                    "static_configs": [{"targets": ["127.0.0.1:9"]}],
                }
            ]
        },
        "scrape_configs": [
            {
                "job_name": "buckets",
                "static_configs": [{"targets": [exporters["buckets"].address]}],
            },
            {"job_name": "plain", "static_configs": [{"targets": [exporters[plain].address]}]},
        ],
    }
    le = 'le=~"1|1.0"' if fixed else 'le="1"'
    smooth = "deriv(up[1m])" if fixed else "holt_winters(up[1m], 0.5, 0.5)"
    rules = {
        "groups": [
            {
                "name": "upgrade",
                "rules": [
                    {
                        "record": "job:fast_waits:rate1m",
                        "expr": f"sum(rate(promkit_test_wait_seconds_bucket{{{le}}}[1m]))",
                    },
                    {"record": "job:up:smoothed", "expr": smooth},
                    {"alert": "Watchdog", "expr": "vector(1)"},
                ],
            }
        ]
    }
    paths = {"config": folder / "prometheus.yml", "guide": folder / "guide.md"}
    paths["config"].write_text(yaml.safe_dump(config))
    (folder / "rules" / "upgrade.rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    fast = f"sum(promkit_test_wait_seconds_bucket{{{le}}})"
    paths["guide"].write_text(GUIDE.format(fast=fast, smooth=smooth))
    return paths


@pytest.fixture(scope="module")
def exporters() -> Any:
    """Integer bucket bounds; a wrong Content-Type; the same exporter with the right one."""
    started = {
        "buckets": Exporter("buckets"),
        "plain": Exporter("plain", content_type="text/html"),
        "plain-fixed": Exporter("plain"),
    }
    yield started
    for exporter in started.values():
        exporter.stop()


def _upgrade(paths: dict[str, Path], *extra: str, timeout: float = 150) -> Any:
    args = ["--config", str(paths["config"]), "--guide", str(paths["guide"]), "--timeout", "90"]
    return inv("verify.upgrade", "--to", _binaries(), *args, *extra, timeout=timeout)


@pytest.fixture(scope="module")
def broken(exporters: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("upgrade")
    paths = _fixture(folder / "broken", exporters, fixed=False)
    report = folder / "report.json"
    done = _upgrade(paths, "--flag=--alertmanager.timeout=10s", "--json", str(report))
    return done, json.loads(report.read_text()) if report.exists() else {}


#: The broken fixture's breakages: category, how its subject starts, what its fix says.
SEEDED = [
    ("startup", "flag --alertmanager.timeout=10s", "drop it"),
    ("startup", "setting alerting.alertmanagers api_version: v1", "api_version: v2"),
    ("targets", "target plain/", "fallback_scrape_protocol: PrometheusText0.0.4"),
    (
        "series",
        'rule job:fast_waits:rate1m selects promkit_test_wait_seconds_bucket{le="1"}',
        'le=~"1|1.0"',
    ),
    (
        "series",
        'query Fast waits selects promkit_test_wait_seconds_bucket{le="1"}',
        'le=~"1|1.0"',
    ),
    ("rules", "rule job:up:smoothed", "double_exponential_smoothing"),
    ("queries", "query Smoothed", "double_exponential_smoothing"),
    ("queries", "query Targets up", ""),
]


@pytest.mark.slow(reason="two servers must scrape 3x and evaluate twice, and 3.16 restarts 3x")
@pytest.mark.parametrize(("category", "subject", "fix"), SEEDED)
def test_each_breakage_is_named_with_its_category_and_fix(
    broken: Any, category: str, subject: str, fix: str
) -> None:
    done, report = broken
    assert done.returncode == 1, done.output
    found = [
        b
        for b in report["breakages"]
        if b["category"] == category and b["subject"].startswith(subject)
    ]
    assert len(found) == 1, done.output
    assert fix in found[0]["fix"]
    assert found[0]["line"] in done.stdout


@pytest.mark.slow(reason="two servers must scrape 3x and evaluate twice")
def test_broken_report_says_what_each_side_said(broken: Any) -> None:
    done, report = broken
    lines = [
        line
        for line in done.stdout.splitlines()
        if re.match(r"^(startup|targets|series|rules|queries): ", line)
    ]
    assert len(lines) == len(report["breakages"]) == 8, done.output
    target = next(b for b in report["breakages"] if b["category"] == "targets")
    assert target["old"] == "up" and "Content-Type" in target["new"]
    assert report["from"].startswith("2.42") and report["to"].startswith("3.16")
    assert any("label le" in note and "'1.0'" in note for note in report["notes"]), report["notes"]


@pytest.mark.slow(reason="two servers must scrape 3x and evaluate twice")
def test_every_breakage_fixed_passes(exporters: Any, tmp_path: Path) -> None:
    paths = _fixture(tmp_path / "fixed", exporters, fixed=True)
    done = _upgrade(paths)
    assert done.returncode == 0, done.output
    assert "nothing breaks" in done.stdout
    assert "label le" in done.stdout  # the normalisation is still a note


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--to", "prom/prometheus:v3.16.0"], "images are out of scope"),
        (["--to", "NOT_EXECUTABLE"], "is not an executable file"),
        (["--to", "TEXT_EXECUTABLE"], "is not Prometheus"),
        (["--to", "/bin/true"], "is not Prometheus"),
        (["--to", "TO", "--guide", "/nonexistent/guide.md"], "cannot read the metrics guide"),
        (["--to", "TO", "--from", "/nonexistent/prometheus"], "is not an executable file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], says: str, tmp_path: Path) -> None:
    not_executable = tmp_path / "prometheus.txt"
    not_executable.write_text("not a program\n")
    text = tmp_path / "prometheus.sh"
    text.write_text("no-such-program-here --version\n")
    text.chmod(0o755)
    given = {"TO": _binaries(), "NOT_EXECUTABLE": str(not_executable), "TEXT_EXECUTABLE": str(text)}
    args = [given.get(a, a) for a in args]
    done = inv("verify.upgrade", *args, timeout=60)
    assert done.returncode == 2, done.output
    assert done.stderr.strip().count("\n") == 0 and says in done.stderr, done.output
    assert "Traceback" not in done.output


def test_a_config_no_version_loads_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: soon\n")
    done = inv("verify.upgrade", "--to", _binaries(), "--config", str(config), timeout=90)
    assert done.returncode == 2, done.output
    assert "no version loads the config" in done.stderr and "soon" in done.stderr, done.output
    assert done.stderr.strip().count("\n") == 0


def _servers_of(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in children if "prometheus" in p.name()]


def test_ctrl_c_removes_both_servers_and_their_folders(exporters: Any, tmp_path: Path) -> None:
    paths = _fixture(tmp_path / "fixed", exporters, fixed=True)
    args = ["--config", str(paths["config"]), "--guide", str(paths["guide"])]
    run = inv_in_background(tmp_path, "verify.upgrade", "--to", _binaries(), *args)
    try:
        servers = wait_for(
            "both servers started",
            lambda: len(_servers_of(run.pid)) == 2 and _servers_of(run.pid),
            30,
        )
        folders = re.findall(r"--storage\.tsdb\.path=(\S+)/data", run.log())
        assert len(folders) == 2 and all(Path(f).is_dir() for f in folders), run.log()
        os.kill(run.pid, signal.SIGINT)
        run.wait(30)
    finally:
        run.stop()
    assert not [p for p in servers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not [f for f in folders if Path(f).exists()]


@pytest.mark.slow(reason="two servers must scrape 3x and evaluate twice, and 3.16 restarts 3x")
def test_promkit_in_a_users_folder_names_each_seeded_breakage_and_nothing_else(
    exporters: Any, tmp_path: Path
) -> None:
    """The installed ``promkit`` command, run from a folder of the user's own whose
    promkit.yaml names their prometheus.yml (with its rule file) and their guide."""
    paths = _fixture(tmp_path / "ours", exporters, fixed=False)
    folder = paths["config"].parent
    settings = {
        "compose": {"prometheus_config": "prometheus.yml"},
        "queries": {"guide": "guide.md"},
    }
    (folder / "promkit.yaml").write_text(yaml.safe_dump(settings))
    argv = [str(PROMKIT), "verify.upgrade", "--from", PROMETHEUS2, "--to", _binaries()]
    argv += ["--flag=--alertmanager.timeout=10s", "--timeout", "90", "--json", "report.json"]
    done = run(argv, cwd=folder, timeout=150)
    assert done.returncode == 1, done.output
    breakages = json.loads((folder / "report.json").read_text())["breakages"]
    for category, subject, fix in SEEDED:
        named = [
            b for b in breakages if b["category"] == category and b["subject"].startswith(subject)
        ]
        assert len(named) == 1 and fix in named[0]["fix"], (category, subject, done.output)
    assert len(breakages) == len(SEEDED), done.output
