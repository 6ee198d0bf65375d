"""Check settings given as environment variables before Invoke casts them.

Invoke turns ``INVOKE_COMPOSE_WAIT_TIMEOUT=soon`` into ``int("soon")`` while it loads
the configuration, and a ValueError ends the run in a traceback. ``check_environment``
runs first (from tasks.py and the promkit command) and makes that one line naming the
variable, the setting and what it must be. Values that cast are checked afterwards
with every other setting by ``promkit.settings.load``.

Invoke silently ignores a variable that names no setting (``INVOKE_EXPECT_RETENSION``),
so ``check_environment`` refuses one, suggesting the closest setting. ``check_ports``
does the same for the variables compose reads for the stack's published ports.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from promkit.core.errors import ConfigError


def leaves(data: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The key paths of every non-mapping value of ``data`` (the settings an env var can set)."""
    for key, value in data.items():
        if isinstance(value, Mapping):
            yield from leaves(value, (*path, str(key)))
        else:
            yield (*path, str(key))


def sections(data: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The key paths of every mapping in ``data`` (deepest first)."""
    for key, value in data.items():
        if isinstance(value, Mapping):
            yield from sections(value, (*path, str(key)))
            yield (*path, str(key))


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``: did you mean X?`` for the candidate closest to ``name``, or "" if none is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f": did you mean {close[0]}?" if close else ""


def env_name(prefix: str, path: tuple[str, ...]) -> str:
    """The variable Invoke reads for ``path``: ``INVOKE_COMPOSE_WAIT_TIMEOUT``."""
    return "_".join((prefix, *path)).upper()


def _value_at(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def _cast_error(default: Any, text: str) -> str | None:
    """What is wrong when Invoke cannot cast ``text`` to the type of ``default``, else None."""
    if isinstance(default, bool) or default is None or isinstance(default, str):
        return None  # Invoke takes any string for these
    if isinstance(default, list | tuple):
        return "a list, which cannot be set from the environment: use a settings file"
    try:
        type(default)(text)
    except (TypeError, ValueError):
        kind = "a whole number" if isinstance(default, int) else "a number"
        return f"{kind} like {default!r}"
    return None


def check_environment(
    environ: Mapping[str, str], known: Mapping[str, Any], prefix: str = "INVOKE"
) -> None:
    """A ConfigError for the first ``PREFIX_*`` variable Invoke would fail to cast.

    ``known`` is the configuration Invoke crawls for variable names: its defaults,
    promkit's and the project's settings file merged.
    """
    settings = {env_name(prefix, path): path for path in leaves(known)}
    for name, path in settings.items():
        if name not in environ:
            continue
        problem = _cast_error(_value_at(known, path), environ[name])
        if problem:
            raise ConfigError(
                f"environment variable {name}={environ[name]!r} sets '{'.'.join(path)}', "
                f"which must be {problem}: fix or unset it"
            )
    for name in sorted(environ):
        if name.startswith(f"{prefix}_") and name not in settings and name not in _NOT_SETTINGS:
            raise ConfigError(_unknown_variable(name, settings, known, prefix))


#: Variables Invoke reads for itself, not as settings.
_NOT_SETTINGS = frozenset({"INVOKE_RUNTIME_CONFIG", "INVOKE_DEBUG"})


def _unknown_variable(
    name: str, settings: Mapping[str, tuple[str, ...]], known: Mapping[str, Any], prefix: str
) -> str:
    """The one line for ``name``, a variable that sets nothing: the setting it seems to mean."""
    rest = name[len(prefix) + 1 :].lower()
    key = rest
    for path in sections(known):  # the deepest section whose variable prefix it has
        head = env_name("", path).lstrip("_").lower()
        if rest.startswith(f"{head}_"):
            key = f"{'.'.join(path)}.{rest[len(head) + 1 :]}"
            break
    close = difflib.get_close_matches(name, list(settings), n=1)
    hint = f": did you mean {'.'.join(settings[close[0]])} ({close[0]})?" if close else ""
    return f"unknown setting {key} in environment variable {name}{hint}"


#: The variables compose reads for the stack's published ports (local.stack.PORT_SETTINGS).
PORT_VARIABLES = (
    "PROMKIT_PROMETHEUS_PORT",
    "PROMKIT_APP_PORT",
    "PROMKIT_ALERTMANAGER_PORT",
    "PROMKIT_ALERTMANAGER2_PORT",
    "PROMKIT_ALERT_SINK_PORT",
)
_DIGITS = re.compile(r"^[0-9]+$")


def check_ports(environ: Mapping[str, str]) -> None:
    """A ConfigError for the first of ``PORT_VARIABLES`` set to something but a port 1-65535.

    compose reads them (``${PROMKIT_PROMETHEUS_PORT:-9090}``): a bad one would skip the
    free-port check of deploy.local and fail inside compose, half way through. Empty is
    compose's default.
    """
    for name in PORT_VARIABLES:
        value = environ.get(name, "")
        if value and not (_DIGITS.match(value) and 1 <= int(value) <= 65535):
            raise ConfigError(f"{name}={value} is not a port: give a number 1-65535 or unset it")
