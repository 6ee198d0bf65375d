"""Helpers for unit tests: an Invoke MockContext carrying promkit's settings."""

from __future__ import annotations

import copy
import os
import re
import shlex
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast
from unittest.mock import Mock

from invoke.config import Config
from invoke.context import MockContext
from invoke.runners import Result

from promkit.core.settings import DEFAULTS, data_path

Responses = Mapping[str, Result | bool | str | list[Result]]


#: compose.state_dir of unit tests: one folder per test process (so the commands below are
#: constants), emptied before and after every test (tests/unit/conftest.py).
UNIT_STATE_DIR = Path(tempfile.gettempdir()) / f"promkit-unit-state-{os.getpid()}"
#: The default project's state folder there.
UNIT_STATE = UNIT_STATE_DIR / str(DEFAULTS["compose"]["project"])
#: How every docker compose command of the default project starts.
COMPOSE = (
    f"docker compose --file {data_path('compose/compose.yaml')} --project-name promkit "
    f"--env-file {UNIT_STATE / '.env'}"
)
#: A pattern for those commands with whichever env file (a dry run renders with /dev/null
#: while the project has none, as it writes nothing).
COMPOSE_ANY_ENV = COMPOSE.rsplit(" --env-file ", 1)[0] + r" --env-file \S+"


def promkit_config(**overrides: Any) -> Config:
    """A Config with promkit's defaults, plus per-section overrides."""
    config = Config()
    data = copy.deepcopy(DEFAULTS)
    for name, values in overrides.items():
        data.setdefault(name, {}).update(values)
    config.load_collection(data)
    return config


def commands(c: MockContext) -> list[str]:
    """Every command string the code under test ran, in order."""
    # MockContext wraps run in a unittest.mock.Mock; its stubs still type it as the method.
    run = cast(Mock, c.run)
    return [call.args[0] for call in run.call_args_list]


def mock_context_factory() -> Callable[..., MockContext]:
    """Build a MockContext answering commands that match regex keys (first match wins).

    A command nothing matches fails the test: nothing is ever really run.
    """

    def build(responses: Responses, **overrides: Any) -> MockContext:
        compiled = {re.compile(pattern): value for pattern, value in responses.items()}
        return MockContext(config=promkit_config(**overrides), run=compiled)

    return build


def result(stdout: str = "", exited: int = 0, stderr: str = "") -> Result:
    return Result(stdout=stdout, stderr=stderr, exited=exited)


def argv_of(command: str) -> list[str]:
    return shlex.split(command)
