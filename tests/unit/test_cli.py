"""The ``promkit`` command: flags, --context on every task, one-line errors, settings files.

Every test runs the real Program (Invoke's parser and executor) from an empty
temporary folder, the way a user outside the repository runs it.
"""

from __future__ import annotations

import json
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import sh
from invoke import task
from invoke.collection import Collection

from promkit import cli
from promkit.core import settings
from promkit.core.errors import ConfigError
from promkit.core.settings import DEFAULTS, data_path, repo_path
from promkit.k8s.port_forward import free_local_port


@pytest.fixture(autouse=True)
def _in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # Only the folder's settings count: none from the environment or the user's home.
    for name in ("INVOKE_RUNTIME_CONFIG", "INVOKE_PROMETHEUS_URL", "INVOKE_K8S_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


def run(
    capsys: pytest.CaptureFixture[str], *argv: str, program: Any = None
) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``promkit ARGV``."""
    try:
        (program or cli.make_program()).run(["promkit", *argv])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version_is_promkits(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert (code, out) == (0, f"promkit {metadata.version('promkit')}\n")


def test_list_shows_promkits_tasks_without_a_checkout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--list")
    listed = {line.split()[0] for line in out.splitlines()[1:] if line.strip()}
    assert code == 0, err
    assert {"verify.all", "deploy.k8s", "deploy.local", "check.manifests"} <= listed
    assert "--context" in run(capsys, "--help")[1]


def _recording_program(seen: list[tuple[str, str | None, str | None]]) -> cli.Promkit:
    """A Program over two tasks that take --context and one that does not."""

    def record(c: Any, name: str, context: str | None) -> None:
        assert c.config.k8s.namespace == "monitoring", "the rest of k8s stays"
        seen.append((name, context, c.config.k8s.context))

    @task
    def first(c: Any, context: str | None = None) -> None:
        record(c, "first", context)

    @task
    def second(c: Any, context: str | None = None) -> None:
        record(c, "second", context)

    @task
    def plain(c: Any) -> None:
        record(c, "plain", None)

    ns = Collection(first, second, plain)
    ns.configure(DEFAULTS)
    return cli.Promkit(name="promkit", namespace=ns, config_class=cli.PromkitConfig)


@pytest.mark.parametrize(
    ("argv", "contexts", "setting"),
    [
        (["--context", "X", "first", "second"], ["X", "X"], "X"),
        (["first", "second", "--context", "X"], ["X", "X"], "X"),  # as inv deploy.k8s verify.all
        (["first", "--context", "A", "second"], ["A", "A"], "A"),
        (["--context", "X", "first", "--context", "A", "second"], ["A", "X"], "X"),
        (["first", "--context", "A", "second", "--context", "B"], ["A", "B"], None),
        (["first", "second"], [None, None], None),
    ],
)
def test_context_reaches_every_task_on_the_line(
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    contexts: list[str | None],
    setting: str | None,
) -> None:
    seen: list[tuple[str, str | None, str | None]] = []
    code, _, err = run(capsys, *argv, "plain", program=_recording_program(seen))
    assert code == 0, err
    assert [context for _, context, _ in seen[:2]] == contexts
    assert {k8s for _, _, k8s in seen} == {setting}, "k8s.context of every task, plain too"


def test_an_earlier_task_uses_the_context_given_to_a_later_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kubectl whose kubeconfig holds no context (the real one is an integration matter:
    # tests/integration/test_k8s_tasks.py); this test is about where the flag goes.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "kubectl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code, _, err = run(capsys, "deploy.k8s", "--dry-run", "verify.all", "--context", "ctx-9")
    # deploy.k8s runs first: it could only name ctx-9 if the flag reached it.
    assert code == 2
    assert err.startswith("promkit: Kubernetes context 'ctx-9' is not in your kubeconfig")
    assert err.count("\n") == 1


def test_a_promkit_error_anywhere_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @task
    def broken(c: Any) -> None:
        raise ConfigError("setting 'x.y' is wrong: set it to z")

    program = cli.Promkit(name="promkit", namespace=Collection(broken))
    code, out, err = run(capsys, "broken", program=program)
    assert (code, out, err) == (2, "", "promkit: setting 'x.y' is wrong: set it to z\n")


def _unreachable_url() -> str:
    return f"http://127.0.0.1:{free_local_port()}"


@pytest.mark.parametrize("name", ["promkit.yaml", "invoke.yml", "promkit.json"])
def test_settings_come_from_the_current_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    url = _unreachable_url()
    (tmp_path / name).write_text(json.dumps({"prometheus": {"url": url, "timeout": 1}}))
    code, _, err = run(capsys, "verify.health")
    assert code == 2
    assert err.startswith(f"promkit: cannot reach Prometheus at {url}")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"promkit.yaml": "prometheus: [\n"}, "settings file {tmp}/promkit.yaml is not valid YAML"),
        ({"invoke.yaml": "k8s: 3\n"}, "settings file {tmp}/invoke.yaml: 'k8s' must be a mapping"),
        ({"promkit.yaml": "", "invoke.yaml": ""}, "both promkit.yaml and invoke.yaml in {tmp}"),
    ],
)
def test_a_broken_settings_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    code, _, err = run(capsys, "--list")
    assert code == 2
    assert err.startswith("promkit: " + message.format(tmp=tmp_path))
    assert err.count("\n") == 1


def test_a_missing_f_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "-f", "nope.yaml", "verify.health")
    assert (code, err) == (
        2,
        "promkit: settings file nope.yaml (promkit -f) does not exist: check the path\n",
    )


def test_a_users_missing_file_names_the_setting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "promkit.yaml").write_text("compose:\n  file: mine/compose.yaml\n")
    code, _, err = run(capsys, "deploy.local", "--dry-run")
    assert (code, err) == (
        2,
        f"promkit: compose file {tmp_path}/mine/compose.yaml not found: "
        "check setting 'compose.file'\n",
    )


def test_shipped_defaults_come_from_the_package_and_users_paths_from_here(
    tmp_path: Path,
) -> None:
    for section, key in [("compose", "file"), ("k8s", "kustomization"), ("queries", "guide")]:
        path = repo_path(DEFAULTS[section][key])
        assert path == data_path(DEFAULTS[section][key])
        assert path.exists(), path
        assert not path.is_relative_to(tmp_path)
    assert repo_path("mine/prometheus.yml") == tmp_path / "mine" / "prometheus.yml"
    assert (data_path("k8s") / "kustomization.yaml").is_file()


def test_the_installed_script_runs(tmp_path: Path) -> None:
    promkit = sh.Command(str(Path(sys.executable).parent / "promkit"))
    out = promkit("--version", _cwd=str(tmp_path))
    assert out == f"promkit {metadata.version('promkit')}\n"


def test_checkout_only_work_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:

    monkeypatch.setattr(settings, "ROOT", tmp_path)  # as installed from a wheel: no checkout
    code, _, err = run(capsys, "images.build", "--offline", "--dry-run")
    assert (code, err) == (
        2,
        "promkit: building the offline images needs images from promkit's source checkout, "
        "which this install lacks: run it from a clone of the promkit repository\n",
    )


def test_a_bad_setting_from_the_environment_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "promkit.yaml").write_text("traffic:\n  count: 10\n")
    monkeypatch.setenv("INVOKE_TRAFFIC_COUNT", "many")
    code, _, err = run(capsys, "traffic")
    assert (code, err) == (
        2,
        "promkit: environment variable INVOKE_TRAFFIC_COUNT='many' sets 'traffic.count', "
        "which must be a whole number like 10: fix or unset it\n",
    )


def test_a_misspelt_key_is_one_line_naming_it_the_file_and_the_closest_key(
    tmp_path: Path,
) -> None:
    # The case: the real console script, from a folder holding only promkit.yaml.
    (tmp_path / "promkit.yaml").write_text("expect: {retension: 15d}\n")
    promkit = sh.Command(str(Path(sys.executable).parent / "promkit"))
    done = promkit("verify.retention", _cwd=str(tmp_path), _ok_code=[2], _return_cmd=True)
    assert done.exit_code == 2
    assert done.stdout == b""
    assert done.stderr.decode() == (
        "promkit: unknown setting expect.retension in ./promkit.yaml: "
        "did you mean expect.retention?\n"
    )


def _into_a_closed_pipe(command: str, *argv: str, cwd: Path) -> tuple[int, str]:
    """Exit code and stderr of ``command ARGV`` writing to a pipe nobody reads (| head -1)."""
    read, write = os.pipe()
    os.close(read)
    # As from a user's shell: stdout buffered (no PYTHONUNBUFFERED), so the closed pipe can
    # show only in the flush at exit.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with os.fdopen(write, "wb") as closed:
        done = sh.Command(command)(
            *argv, _cwd=str(cwd), _out=closed, _env=env, _ok_code=list(range(256)), _return_cmd=True
        )
    return done.exit_code, done.stderr.decode()


@pytest.mark.parametrize("argv", [("--list",), ("--help", "verify.all")])
def test_a_closed_pipe_ends_promkit_quietly_with_141(argv: tuple[str, ...], tmp_path: Path) -> None:
    promkit = str(Path(sys.executable).parent / "promkit")
    assert _into_a_closed_pipe(promkit, *argv, cwd=tmp_path) == (141, "")


def test_a_closed_pipe_ends_inv_list_quietly_with_141() -> None:
    # inv is Invoke's own program: tasks.py installs the hook (sys.excepthook).
    inv = str(Path(sys.executable).parent / "inv")
    assert _into_a_closed_pipe(inv, "--list", cwd=settings.ROOT) == (141, "")
