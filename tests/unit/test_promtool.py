"""core.promtool: which promtool runs, and its failure as one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from promkit.core import promtool
from promkit.core.errors import PromkitError
from tests.support.mockctx import promkit_config


def _tool(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / "promtool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    return tool


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only a folder of the test's own (no promtool unless put there)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


def test_the_setting_wins_over_builds_and_path(tmp_path: Path, empty_path: Path) -> None:
    _tool(empty_path)
    _tool(tmp_path / "cache" / "prometheus-3.16.0-ui")
    config = promkit_config(
        k8s={"promtool": "/opt/my/promtool"}, images={"cache_dir": str(tmp_path / "cache")}
    )
    assert promtool.find(config, "prom/prometheus:v3.16.0") == "/opt/my/promtool"


def test_the_build_of_the_image_version_wins_over_a_newer_one(
    tmp_path: Path, empty_path: Path
) -> None:
    cache = tmp_path / "cache"
    exact = _tool(cache / "prometheus-3.9.0-ui")
    _tool(cache / "prometheus-3.16.0-ui")
    config = promkit_config(images={"cache_dir": str(cache)})
    assert promtool.find(config, "prom/prometheus:v3.9.0") == str(exact)


def test_the_newest_build_by_version_not_by_name(tmp_path: Path, empty_path: Path) -> None:
    cache = tmp_path / "cache"
    _tool(cache / "prometheus-3.9.0-ui")
    newest = _tool(cache / "prometheus-3.16.0-ui")
    config = promkit_config(images={"cache_dir": str(cache)})
    assert promtool.find(config) == str(newest)


def test_path_when_nothing_is_built(tmp_path: Path, empty_path: Path) -> None:
    on_path = _tool(empty_path)
    config = promkit_config(images={"cache_dir": str(tmp_path / "no-cache")})
    assert promtool.find(config) == str(on_path)


def test_none_anywhere_says_how_to_get_one(tmp_path: Path, empty_path: Path) -> None:
    config = promkit_config(images={"cache_dir": str(tmp_path / "no-cache")})
    with pytest.raises(promtool.PromtoolMissing, match=r"set k8s\.promtool, or build"):
        promtool.find(config)


def test_reason_keeps_the_line_naming_the_field() -> None:
    output = (
        "Checking /etc/prometheus/prometheus.yml\n"
        "  FAILED: parsing YAML file /etc/prometheus/prometheus.yml: yaml: unmarshal errors:\n"
        "  line 4: field scrape_intervall not found in type config.plain\n"
    )
    assert promtool.reason(output) == (
        "parsing YAML file /etc/prometheus/prometheus.yml: yaml: unmarshal errors: "
        "line 4: field scrape_intervall not found in type config.plain"
    )


def test_reason_of_a_bare_failed_is_the_errors_below_it() -> None:
    output = (
        "Checking rules.yml\n  FAILED:\n"
        'group "a", rule 1, "Watchdog": bad\ngroup "a", rule 2, "Down": worse\n'
    )
    assert promtool.reason(output) == (
        'group "a", rule 1, "Watchdog": bad; group "a", rule 2, "Down": worse'
    )


def test_reason_without_a_mark_is_the_last_line() -> None:
    assert promtool.reason("just this\n") == "just this"
    assert promtool.reason("one\nlevel=error msg=broken\ntwo\n") == "level=error msg=broken"


def test_error_lines_leave_out_progress_and_verdicts() -> None:
    output = "Checking a.yml\n  FAILED:\n\nbad one\nSUCCESS: b.yml\nbad two\n"
    assert promtool.error_lines(output) == ["bad one", "bad two"]


def test_a_promtool_without_kubernetes_discovery_is_the_tool_s_fault() -> None:
    promtool.require_kubernetes_discovery("all fine", "/usr/bin/promtool")
    output = "FAILED: parsing YAML file x: field kubernetes_sd_configs not found in type"
    with pytest.raises(PromkitError, match=r"/usr/bin/promtool was built without Kubernetes"):
        promtool.require_kubernetes_discovery(output, "/usr/bin/promtool")
