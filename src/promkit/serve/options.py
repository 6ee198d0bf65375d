"""The flags of ``promkit serve``, checked before anything starts (a ConfigError: exit 2)."""

from __future__ import annotations

from dataclasses import dataclass

from promkit.core import durations
from promkit.core.durations import format_duration
from promkit.core.errors import ConfigError
from promkit.verify import round as rounds

DEFAULT_EVERY = "60s"
DEFAULT_LISTEN = "127.0.0.1:9464"


@dataclass(frozen=True)
class ServeOptions:
    """Which checks, how often, and where /metrics is served."""

    names: tuple[str, ...]
    every_s: float
    host: str
    port: int

    @property
    def listen(self) -> str:
        return address(self.host, self.port)


def address(host: str, port: int) -> str:
    """``host:port``, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_every(value: str | float | None) -> float:
    """``--every`` in seconds: a Prometheus duration (``60s``, ``1m``, ``500ms``) or a number."""
    text = DEFAULT_EVERY if value is None or value == "" else str(value)
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = durations.parse_duration(text)
        except ValueError:
            seconds = float("nan")
    if not seconds > 0:  # also NaN: neither a number nor a duration
        raise ConfigError(f"--every must be a positive duration such as 60s or 1s, got {text!r}")
    return seconds


def every_text(seconds: float) -> str:
    """``--every`` as a duration again (``1s``, ``1m30s``)."""
    return format_duration(seconds) or f"{seconds:g}s"


def parse_listen(value: str | None) -> tuple[str, int]:
    """``--listen HOST:PORT`` (``[::1]:9464`` for IPv6) as (host, port)."""
    text = DEFAULT_LISTEN if value is None or value == "" else value
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            f"--listen must be HOST:PORT such as 127.0.0.1:9464 (0.0.0.0:9464 for every "
            f"interface), got {text!r}"
        )
    return host, int(port)


def parse_checks(value: str | None, kubernetes: bool) -> tuple[str, ...]:
    """``--checks a,b`` in report order (default: verify.all's), or a ConfigError naming an
    unknown one."""
    if value is None or value.strip() in ("", "all"):
        return rounds.NAMES + rounds.KUBERNETES_NAMES if kubernetes else rounds.NAMES
    names = [name.strip() for name in value.split(",") if name.strip()]
    return rounds.check_names(names)


def parse(
    every: str | float | None, listen: str | None, checks: str | None, kubernetes: bool
) -> ServeOptions:
    """Every flag of ``promkit serve`` checked, or the ConfigError of the first bad one."""
    host, port = parse_listen(listen)
    return ServeOptions(parse_checks(checks, kubernetes), parse_every(every), host, port)
