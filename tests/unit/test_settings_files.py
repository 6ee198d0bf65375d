"""Settings files are checked before Invoke reads them: one line per fault, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from promkit.core.errors import ConfigError
from promkit.core.settings import ROOT
from promkit.core.settings_files import (
    check_file,
    check_settings_files,
    project_file,
    runtime_file,
    shape_errors,
    unknown_keys,
)


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["verify.all"], {}, None),
        (["-f", "a.yaml", "verify.all"], {}, "a.yaml"),
        (["--config", "a.yaml", "verify"], {}, "a.yaml"),
        (["--config=a.yaml", "verify"], {}, "a.yaml"),
        (["-fa.yaml", "verify"], {}, "a.yaml"),
        (["--echo", "-c", "tasks", "-f", "a.yaml"], {}, "a.yaml"),
        ([], {"INVOKE_RUNTIME_CONFIG": "env.yaml"}, "env.yaml"),
        (["-f", "a.yaml"], {"INVOKE_RUNTIME_CONFIG": "env.yaml"}, "a.yaml"),
        # After the first task name, -f is that task's flag, not Invoke's.
        (["traffic", "-f", "x"], {}, None),
    ],
)
def test_runtime_file_is_invokes_own_flag(
    argv: list[str], env: dict[str, str], expected: str | None
) -> None:
    assert runtime_file(argv, env) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prometheus:\n  url: [unclosed\n", "is not valid YAML: expected ',' or ']'"),
        ("expect: 5\n", "'expect' must be a mapping (of jobs, scrape_interval"),
        ("prometheus:\n  url: {a: 1}\n", "'prometheus.url' must be a single value like"),
        ("- a\n", "the file must be a mapping of settings, got ['a']"),
        ("compose: [1]\n", "'compose' must be a mapping"),
    ],
)
def test_broken_files_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        check_file(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_good_and_empty_files_pass(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("expect:\n  jobs: {fastapi-app: 2, celery-workers: ~}\nk8s:\n  context: x\n")
    check_file(good)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    check_file(empty)
    check_file(ROOT / "invoke.yaml")


def test_json_files_are_parsed_as_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"expect": ')
    with pytest.raises(ConfigError, match="is not valid JSON"):
        check_file(path)


def test_null_values_are_left_to_the_settings_views() -> None:
    assert shape_errors({"expect": None, "k8s": {"context": None}}, {"expect": {}}) == []


def test_unknown_sections_and_keys_are_refused_not_ignored(tmp_path: Path) -> None:
    # This test once asserted that an unknown section passed: expect: {retension: 15d}
    # was then silently ignored and verify held the server to the default 30d.
    assert unknown_keys({"mine": 5, "expect": {"retension": "15d"}}) == [
        ("mine", ""),
        ("expect.retension", ": did you mean expect.retention?"),
    ]
    path = tmp_path / "mine.yaml"
    path.write_text("mine: 5\n")
    with pytest.raises(ConfigError, match=r"^unknown setting mine in \S*mine\.yaml$"):
        check_file(path)


def test_invokes_sections_and_job_names_are_not_unknown_keys() -> None:
    data = {
        "run": {"echo": True},
        "tasks": {"dedupe": False},
        "sudo": {"user": "x"},
        "timeouts": {"command": 5},
        "runners": {},
        "expect": {"jobs": {"my-job": 2, "other": {"min": 1, "exact": 1}, "gone": None}},
        "k8s": {"expect_jobs": {"pods": "=3"}},
    }
    assert unknown_keys(data) == []
    bad = {"k8s": {"expect_jobs": {"pods": {"exactly": 3}}}}
    assert unknown_keys(bad) == [
        ("k8s.expect_jobs.pods.exactly", ": did you mean k8s.expect_jobs.pods.exact?")
    ]


def test_a_missing_runtime_file_is_reported_not_ignored(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"settings file nope\.yaml \(inv -f\) does not exist"):
        check_settings_files(["-f", "nope.yaml", "verify"], {}, root=tmp_path)


def test_the_project_file_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / "invoke.yaml").write_text("expect: 5\n")
    with pytest.raises(ConfigError, match=r"invoke\.yaml: 'expect' must be a mapping"):
        check_settings_files([], {}, root=tmp_path)


def test_the_shipped_settings_pass_the_strict_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    # The e2e suites deploy with the repo's invoke.yaml: no key of it may be unknown, no
    # value refused, through tasks.py's check and through Invoke's layers.
    from invoke.config import Config

    from promkit.core.settings import DEFAULTS, load

    monkeypatch.chdir(ROOT)
    assert unknown_keys(DEFAULTS) == []
    assert unknown_keys(check_file(ROOT / "invoke.yaml")) == []
    check_settings_files([], {}, root=ROOT)
    config = Config(project_location=str(ROOT))
    config.load_collection(DEFAULTS)
    config.load_project()
    loaded = load(config)
    assert loaded.k8s.kubernetes_version == DEFAULTS["k8s"]["kubernetes_version"]


def test_the_packaging_checks_promkit_yaml_passes_too(tmp_path: Path) -> None:
    # scripts/check_package.py runs the installed promkit from a folder with this file.
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "check_package", ROOT / "scripts/check_package.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = module.project_folder(tmp_path / "project")
    assert project_file(folder) == folder / "promkit.yaml"
