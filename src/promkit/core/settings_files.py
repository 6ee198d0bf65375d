"""Check promkit's settings files before Invoke loads them.

Invoke reads the project's ``invoke.yaml`` and a file given with ``inv -f FILE``
after importing tasks.py; a broken one ends in a traceback (a YAML error, or an
``AmbiguousMergeError`` when a section is given a plain value), a missing
``-f FILE`` is silently ignored, and so is a misspelt key (``expect: {retension: 15d}``
left verify holding the server to the default 30d). tasks.py calls
``check_settings_files`` first, so each of these is one line naming the file and what
to fix (for an unknown key, the closest known one), and exit code 2. Invoke's own
sections (``run``, ``tasks``, ...) stay Invoke's; job maps (``expect.jobs``,
``k8s.expect_jobs``) take any job name, and only ``min``/``exact`` inside a job.
Invoke's user and system files (~/.invoke.yaml, /etc/invoke.yaml) are read before
tasks.py and stay Invoke's to report.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from promkit.core.errors import ConfigError
from promkit.core.settings import DEFAULTS, JOB_MAPS, JOB_SPEC_KEYS, ROOT
from promkit.core.settings_env import check_environment, check_ports, did_you_mean, leaves

#: The project settings files Invoke looks for beside tasks.py, in its order.
PROJECT_FILES = ("invoke.yaml", "invoke.yml", "invoke.json")
#: What the ``promkit`` command reads from the current folder instead of invoke.*.
PROMKIT_FILES = ("promkit.yaml", "promkit.yml", "promkit.json")


#: Invoke's core flags that take a value (the words before the first task name).
_VALUE_FLAGS = frozenset(
    {"-c", "--collection", "-f", "--config", "-r", "--search-root", "-D", "--list-depth"}
    | {"-F", "--list-format", "-T", "--command-timeout", "--print-completion-script"}
)


def runtime_file(argv: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """The file of ``-f FILE`` / ``--config FILE`` (or $INVOKE_RUNTIME_CONFIG), if any.

    Only Invoke's own flags count: those before the first task name.
    """
    found = environ.get("INVOKE_RUNTIME_CONFIG") or None
    words = iter(argv)
    for word in words:
        if not word.startswith("-"):
            break  # the first task: what follows are its own flags
        if word in ("-f", "--config"):
            found = next(words, found)
        elif word.startswith("--config="):
            found = word.split("=", 1)[1]
        elif word.startswith("-f") and not word.startswith("--"):
            found = word[2:]
        elif word in _VALUE_FLAGS:
            next(words, None)
    return found


def _one_line(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def load(path: Path) -> Any:
    """The data of a settings file (YAML or JSON), or a ConfigError saying why it is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from None
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise ConfigError(
            f"settings file {path} is not valid {kind}: {_one_line(exc)}: fix it and retry"
        ) from None


def shape_errors(data: Any, defaults: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Where ``data`` puts a plain value over a section (or a section over a value)."""
    if not isinstance(data, Mapping):
        return [f"{prefix or 'the file'} must be a mapping of settings, got {data!r}"]
    errors = []
    for key, value in data.items():
        if key not in defaults:
            continue
        name, default = f"{prefix}{key}", defaults[key]
        if isinstance(default, Mapping) and isinstance(value, Mapping):
            errors += shape_errors(value, default, f"{name}.")
        elif isinstance(default, Mapping) and value is not None:
            keys = ", ".join(list(default)[:4])
            errors.append(f"'{name}' must be a mapping (of {keys}, ...), got {value!r}")
        elif isinstance(value, Mapping) and default is not None:
            errors.append(f"'{name}' must be a single value like {default!r}, not a mapping")
    return errors


def invoke_sections() -> frozenset[str]:
    """Invoke's own top-level settings sections (run, runners, sudo, tasks, timeouts)."""
    from invoke.config import Config

    return frozenset(Config.global_defaults())


def unknown_keys(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(the dotted key, the closest known key or "") of every key promkit does not know.

    Invoke's sections are not looked into; in a job map, the job names are the user's
    and only the keys of a job's mapping spec are checked.
    """
    found: list[tuple[str, str]] = []

    def walk(part: Mapping[str, Any], defaults: Mapping[str, Any], prefix: str) -> None:
        for key, value in part.items():
            name = f"{prefix}{key}"
            if not prefix and key in invoke_sections():
                continue
            if key not in defaults:
                found.append((name, did_you_mean(name, known_keys())))
            elif name in JOB_MAPS and isinstance(value, Mapping):
                for job, spec in value.items():
                    if isinstance(spec, Mapping):
                        wanted = [f"{name}.{job}.{k}" for k in JOB_SPEC_KEYS]
                        found.extend(
                            (f"{name}.{job}.{k}", did_you_mean(f"{name}.{job}.{k}", wanted))
                            for k in spec
                            if k not in JOB_SPEC_KEYS
                        )
            elif isinstance(value, Mapping) and isinstance(defaults[key], Mapping):
                walk(value, defaults[key], f"{name}.")

    walk(data, DEFAULTS, "")
    return found


def known_keys() -> list[str]:
    """Every setting's dotted key, sections included (not the sample job names)."""
    from promkit.core.settings_env import sections

    paths = [*sections(DEFAULTS), *leaves(DEFAULTS)]
    names = {".".join(path) for path in paths}
    return sorted(
        name
        for name in names | invoke_sections()
        if not any(name.startswith(f"{job_map}.") for job_map in JOB_MAPS)
    )


def _where(path: Path) -> str:
    """``path`` as the user would type it: ./promkit.yaml for one in the current folder."""
    from promkit.core.console import shown

    text = shown(path)
    return text if Path(text).is_absolute() else f"./{text}"


def check_file(path: Path) -> Any:
    """One settings file: readable, valid YAML/JSON, every section of the right shape,
    every key a setting promkit (or Invoke) knows.

    Returns its data (None for an empty file or a Python one, which Invoke imports and
    Python reports on).
    """
    if path.suffix == ".py":
        return None
    data = load(path)
    if data is None:
        return None
    errors = shape_errors(data, DEFAULTS)
    if errors:
        raise ConfigError(f"settings file {path}: {errors[0]}")
    for name, hint in unknown_keys(data):
        raise ConfigError(f"unknown setting {name} in {_where(path)}{hint}")
    return data


def known_settings(files: Sequence[Any]) -> dict[str, Any]:
    """What Invoke crawls for environment variable names: its defaults, promkit's, ``files``."""
    from invoke.config import Config, merge_dicts

    known = merge_dicts(Config.global_defaults(), copy.deepcopy(DEFAULTS))
    for data in files:
        if isinstance(data, Mapping):
            merge_dicts(known, copy.deepcopy(dict(data)))
    return known


def check_settings_files(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    root: Path = ROOT,
) -> None:
    """The project's invoke.yaml and the ``-f`` file, checked; a ConfigError for the first fault."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    project: list[Any] = []
    for name in PROJECT_FILES:
        if (root / name).is_file():
            project.append(check_file(root / name))
    check_environment(environ, known_settings(project))
    check_ports(environ)
    check_runtime_file(runtime_file(argv, environ))


def check_runtime_file(given: str | None, program: str = "inv") -> None:
    """The file given with ``-f`` (if any), checked; a ConfigError if it is missing or broken."""
    if given is None:
        return
    path = Path(given).expanduser()
    if not path.is_file():
        raise ConfigError(f"settings file {given} ({program} -f) does not exist: check the path")
    check_file(path)


def project_file(folder: Path) -> Path | None:
    """The project settings file of the ``promkit`` command in ``folder``, checked, if any.

    promkit.yaml (.yml, .json) or else invoke.yaml (.yml, .json): the first that exists.
    Both kinds at once would leave one silently unread, so that is an error.
    """
    promkit = [folder / name for name in PROMKIT_FILES if (folder / name).is_file()]
    invoke = [folder / name for name in PROJECT_FILES if (folder / name).is_file()]
    if promkit and invoke:
        raise ConfigError(
            f"both {promkit[0].name} and {invoke[0].name} in {folder}: keep one of them"
        )
    found = [*promkit, *invoke]
    if not found:
        return None
    check_file(found[0])
    return found[0]
