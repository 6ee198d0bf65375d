"""Check settings given as environment variables before Invoke casts them.

Invoke turns ``INVOKE_COMPOSE_WAIT_TIMEOUT=soon`` into ``int("soon")`` while it loads
the configuration, and a ValueError ends the run in a traceback. ``check_environment``
runs first (from tasks.py and the promkit command) and makes that one line naming the
variable, the setting and what it must be. Values that cast are checked afterwards
with every other setting by ``promkit.settings.load``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from promkit.core.errors import ConfigError


def leaves(data: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The key paths of every non-mapping value of ``data`` (the settings an env var can set)."""
    for key, value in data.items():
        if isinstance(value, Mapping):
            yield from leaves(value, (*path, str(key)))
        else:
            yield (*path, str(key))


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
    for path in leaves(known):
        name = env_name(prefix, path)
        if name not in environ:
            continue
        problem = _cast_error(_value_at(known, path), environ[name])
        if problem:
            raise ConfigError(
                f"environment variable {name}={environ[name]!r} sets '{'.'.join(path)}', "
                f"which must be {problem}: fix or unset it"
            )
