"""Every refused setting is one line: this parameter list is docs/settings-errors.md's table.

Each case goes through the entry point that meets it in a real run:

- ``promkit.yaml``: the project file, read by the ``promkit`` command
  (``settings_files.project_file``) and, as invoke.yaml, by ``inv`` (tasks.py's
  ``check_settings_files``);
- ``environment``: the variables, checked before Invoke reads them
  (``check_settings_files``), then loaded by Invoke and checked with every setting;
- ``any source``: a value from any layer (file, ``-f``, environment, flag), checked by
  ``settings.load`` on a Config built like ``tests.support.mockctx.promkit_config``.

``test_the_doc_table_is_this_list`` holds the doc to the list, row for row; print the
rows with ``python -m tests.unit.test_settings_refused``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from promkit.core import settings, settings_files
from promkit.core.errors import ConfigError
from promkit.core.settings import ROOT
from tests.support.mockctx import promkit_config

DOC = ROOT / "docs" / "settings-errors.md"
FILE, ENV, ANY = "promkit.yaml", "environment", "any source"


@dataclass(frozen=True)
class Refused:
    """A bad input and the one line promkit prints for it."""

    setting: str
    where: str  # FILE, ENV or ANY
    given: Any  # FILE: the file's text; ENV: {variable: value}; ANY: the value
    line: str

    @property
    def shown(self) -> str:
        """The bad value as the table shows it."""
        if self.where == FILE:
            return str(self.given).strip()
        if self.where == ENV:
            return " ".join(f"{name}={value}" for name, value in self.given.items())
        return _yaml(self.given)

    def row(self) -> str:
        return f"| `{self.setting}` | {self.where} | `{self.shown}` | `{self.line}` |"


def _yaml(value: Any) -> str:
    """``value`` as a user writes it in YAML (flow style)."""
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return json.dumps(value) if re.search(r"[:{}\[\],#]|^\s|\s$|^$", value) else value
    return json.dumps(value)


def _unknown(key: str, where: str, close: str | None) -> str:
    hint = f": did you mean {close}?" if close else ""
    return f"promkit: unknown setting {key} in {where}{hint}"


def _file(setting: str, text: str, close: str | None) -> Refused:
    return Refused(setting, FILE, text, _unknown(setting, "./promkit.yaml", close))


def _env(setting: str, variable: str, value: str, line: str) -> Refused:
    return Refused(setting, ENV, {variable: value}, line)


def _bad(setting: str, value: Any, problem: str) -> Refused:
    return Refused(setting, ANY, value, f"promkit: setting '{setting}' {problem}")


def _raw(setting: str, value: Any, line: str) -> Refused:
    return Refused(setting, ANY, value, f"promkit: {line}")


_PORT = "is not a port: give a number 1-65535 or unset it"
_VERSIONS = "must be a Kubernetes version kubernetes-validate has schemas for (1.25 to 1.37, e.g. 1.32 or 1.32.0), got"  # noqa: E501
_DURATION = "is not a Prometheus duration (examples: 15s, 1m30s, 30d)"
_COUNT = "must be a count, '=N' (exactly N), {min: N} or {exact: N}"

REFUSED = [
    # --- keys nobody knows, in a settings file ------------------------------------------
    _file("expect.retension", "expect: {retension: 15d}", "expect.retention"),
    _file("prometeus", "prometeus: {url: 'http://127.0.0.1:9090'}", "prometheus"),
    _file("prometheus.timout", "prometheus: {timout: 5}", "prometheus.timeout"),
    _file("mine", "mine: 3", None),
    _file("compose.wait_timout", "compose: {wait_timout: 60}", "compose.wait_timeout"),
    _file("compose.state_dirs", "compose: {state_dirs: .state}", "compose.state_dir"),
    _file("report.log_line", "report: {log_line: 10}", "report.log_lines"),
    _file("k8s.kubernetes", "k8s: {kubernetes: '1.32'}", "k8s.kubernetes_version"),
    _file("expect.jobs.api.minimum", "expect: {jobs: {api: {minimum: 2}}}", "expect.jobs.api.min"),
    _file(
        "k8s.expect_jobs.pods.exactly",
        "k8s: {expect_jobs: {pods: {exactly: 2}}}",
        "k8s.expect_jobs.pods.exact",
    ),
    # --- environment variables ----------------------------------------------------------
    _env(
        "expect.retension",
        "INVOKE_EXPECT_RETENSION",
        "15d",
        "promkit: unknown setting expect.retension in environment variable "
        "INVOKE_EXPECT_RETENSION: did you mean expect.retention (INVOKE_EXPECT_RETENTION)?",
    ),
    _env(
        "prometheus.timout",
        "INVOKE_PROMETHEUS_TIMOUT",
        "5",
        "promkit: unknown setting prometheus.timout in environment variable "
        "INVOKE_PROMETHEUS_TIMOUT: did you mean prometheus.timeout (INVOKE_PROMETHEUS_TIMEOUT)?",
    ),
    _env(
        "compose.wait_timeout",
        "INVOKE_COMPOSE_WAIT_TIMEOUT",
        "soon",
        "promkit: environment variable INVOKE_COMPOSE_WAIT_TIMEOUT='soon' sets "
        "'compose.wait_timeout', which must be a whole number like 180: fix or unset it",
    ),
    _env(
        "prometheus.timeout",
        "INVOKE_PROMETHEUS_TIMEOUT",
        "inf",
        "promkit: setting 'prometheus.timeout' must be a finite number, got inf",
    ),
    _env(
        "expect.health_latency_ms",
        "INVOKE_EXPECT_HEALTH_LATENCY_MS",
        "nan",
        "promkit: setting 'expect.health_latency_ms' must be a finite number, got nan",
    ),
    _env(
        "PROMKIT_PROMETHEUS_PORT",
        "PROMKIT_PROMETHEUS_PORT",
        "abc",
        f"promkit: PROMKIT_PROMETHEUS_PORT=abc {_PORT}",
    ),
    _env(
        "PROMKIT_PROMETHEUS_PORT",
        "PROMKIT_PROMETHEUS_PORT",
        "70000",
        f"promkit: PROMKIT_PROMETHEUS_PORT=70000 {_PORT}",
    ),
    _env("PROMKIT_APP_PORT", "PROMKIT_APP_PORT", "0", f"promkit: PROMKIT_APP_PORT=0 {_PORT}"),
    _env("PROMKIT_APP_PORT", "PROMKIT_APP_PORT", "-1", f"promkit: PROMKIT_APP_PORT=-1 {_PORT}"),
    _env("PROMKIT_APP_PORT", "PROMKIT_APP_PORT", "80.5", f"promkit: PROMKIT_APP_PORT=80.5 {_PORT}"),
    # --- values, from any source --------------------------------------------------------
    _bad("prometheus.timeout", math.inf, "must be a finite number, got inf"),
    _bad("prometheus.timeout", math.nan, "must be a finite number, got nan"),
    _bad("prometheus.timeout", 0, "must be more than 0 seconds, got 0"),
    _bad("prometheus.timeout", 86400, "must be at most 3600, got 86400"),
    _bad("prometheus.timeout", "slow", "must be a number, got 'slow'"),
    _bad("expect.health_latency_ms", 0, "must be more than 0 ms, got 0"),
    _bad("expect.health_latency_ms", math.inf, "must be a finite number, got inf"),
    _bad("expect.health_latency_ms", 600000, "must be at most 60000, got 600000"),
    _bad("expect.scrape_duration_ms", -5, "must be more than 0 ms, got -5"),
    _raw(
        "expect.retention", "thirty days", f"setting 'expect.retention': 'thirty days' {_DURATION}"
    ),
    _bad("expect.retention", "0s", "must be a duration above 0 such as 15s, got '0s'"),
    _raw("expect.scrape_interval", "15", f"setting 'expect.scrape_interval': '15' {_DURATION}"),
    _raw(
        "expect.evaluation_interval",
        "1x",
        f"setting 'expect.evaluation_interval': '1x' {_DURATION}",
    ),
    _raw(
        "expect.jobs",
        {"api": {"min": 3, "exact": 2}},
        "setting 'expect.jobs.api' asks for at least 3 and exactly 2 targets, which no job "
        "can have: give min or exact, not both",
    ),
    _raw(
        "expect.jobs",
        {"api": {"min": 1, "exact": 0}},
        "setting 'expect.jobs.api' asks for at least 1 and exactly 0 targets, which no job "
        "can have: give min or exact, not both",
    ),
    _raw(
        "k8s.expect_jobs",
        {"pods": {"min": 2, "exact": 1}},
        "setting 'k8s.expect_jobs.pods' asks for at least 2 and exactly 1 targets, which no "
        "job can have: give min or exact, not both",
    ),
    _raw(
        "expect.jobs",
        {"api": {"exact": -1}},
        "setting 'expect.jobs.api.exact' must be at least 0, got -1",
    ),
    _raw(
        "expect.jobs", {"api": 20000}, "setting 'expect.jobs.api' must be at most 10000, got 20000"
    ),
    _raw("expect.jobs", {"api": 1.5}, f"setting 'expect.jobs.api' {_COUNT}"),
    _raw("expect.jobs", {"api": "=many"}, f"setting 'expect.jobs.api' {_COUNT}"),
    _raw(
        "expect.jobs",
        {"api": {"max": 3}},
        "setting 'expect.jobs.api' has unknown keys ['max']: use min or exact",
    ),
    _bad("compose.wait_timeout", 0, "must be at least 1, got 0"),
    _bad("compose.wait_timeout", 86400, "must be at most 3600, got 86400"),
    _bad("compose.wait_timeout", 1.5, "must be a whole number, got 1.5"),
    _bad("traffic.count", 0, "must be at least 1, got 0"),
    _bad("traffic.count", 1000000, "must be at most 10000, got 1000000"),
    _bad("traffic.duration", 0, "must be more than 0 seconds, got 0"),
    _bad("traffic.duration", 3600, "must be at most 600, got 3600"),
    _bad("traffic.invalid_every", -1, "must be at least 0, got -1"),
    _bad("traffic.demo_rate", math.inf, "must be a finite number, got inf"),
    _bad("traffic.demo_rate", 50, "must be from 0 (off) to 5 webhooks a second, got 50"),
    _bad("k8s.rollout_timeout", 0, "must be at least 1, got 0"),
    _bad("k8s.rollout_timeout", math.inf, "must be a finite number, got inf"),
    _bad("k8s.port_forward_timeout", 0, "must be more than 0 seconds, got 0"),
    _bad("k8s.kubernetes_version", "1.99", f"{_VERSIONS} '1.99'"),
    _bad("k8s.kubernetes_version", "1.24", f"{_VERSIONS} '1.24'"),
    _bad("k8s.kubernetes_version", "latest", f"{_VERSIONS} 'latest'"),
    _bad("report.page_timeout", -1, "must be more than 0 seconds, got -1"),
    _bad("report.log_lines", 0, "must be at least 1, got 0"),
    _bad("report.log_lines", 1000000, "must be at most 10000, got 1000000"),
    _bad(
        "compose.project",
        "My Stack",
        "must be a compose project name (lowercase letters, digits, '-' and '_'), got 'My Stack'",
    ),
    _bad(
        "k8s.namespace",
        "Monitoring",
        "must be a Kubernetes namespace name (lowercase letters, digits and '-'), got 'Monitoring'",
    ),
    _bad("images.offline", "sometimes", "must be true, false or auto, got 'sometimes'"),
    _bad("compose.auth", "maybe", "must be true or false, got 'maybe'"),
]


def refusal(case: Refused, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The line promkit prints for ``case``, through the entry point a real run takes."""
    monkeypatch.chdir(tmp_path)
    try:
        if case.where == FILE:
            (tmp_path / "promkit.yaml").write_text(f"{case.given}\n")
            settings_files.project_file(tmp_path)  # the promkit command
        elif case.where == ENV:
            settings_files.check_settings_files([], case.given, root=tmp_path)
            for name, value in case.given.items():
                monkeypatch.setenv(name, value)
            config = promkit_config()
            config.load_shell_env()  # what Invoke does with the variables, then the model
            settings.load(config)
        else:
            section, key = case.setting.split(".", 1)
            settings.load(promkit_config(**{section: {key: case.given}}))
    except ConfigError as exc:
        assert exc.exit_code == 2
        return f"promkit: {exc}"
    return "(accepted)"


@pytest.mark.parametrize("case", REFUSED, ids=[f"{c.setting}={c.shown}" for c in REFUSED])
def test_a_refused_input_is_exactly_its_one_line(
    case: Refused, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = refusal(case, tmp_path, monkeypatch)
    assert line == case.line
    assert "\n" not in line


@pytest.mark.parametrize("case", [c for c in REFUSED if c.where == FILE], ids=lambda c: c.setting)
def test_inv_refuses_the_same_key_in_invoke_yaml(
    case: Refused, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "invoke.yaml").write_text(f"{case.given}\n")
    with pytest.raises(ConfigError) as caught:
        settings_files.check_settings_files([], {}, root=tmp_path)  # tasks.py, for inv
    assert f"promkit: {caught.value}" == case.line.replace("./promkit.yaml", "./invoke.yaml")


def test_the_doc_table_is_this_list() -> None:
    table = DOC.read_text().split("\n## The table\n", 1)[1].split("\n## ", 1)[0]
    in_doc = [line for line in table.splitlines() if line.startswith("| `")]
    rows = [case.row() for case in REFUSED]
    assert len(rows) >= 40 and len(set(rows)) == len(rows)
    assert [r for r in in_doc if r not in rows] == [], "rows in the doc with no test"
    assert [r for r in rows if r not in in_doc] == [], "tested rows missing from the doc"


if __name__ == "__main__":
    for case in REFUSED:
        print(case.row())
