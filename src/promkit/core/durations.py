"""Prometheus duration strings ("15s", "1m30s", "30d") to seconds and back."""

from __future__ import annotations

import re

_UNITS: tuple[tuple[str, float], ...] = (
    ("y", 365 * 86400.0),
    ("w", 7 * 86400.0),
    ("d", 86400.0),
    ("h", 3600.0),
    ("m", 60.0),
    ("s", 1.0),
    ("ms", 0.001),
)
_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``15s`` or ``30d``.

    Raises ``ValueError`` naming the text when it is not a duration.
    """
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a Prometheus duration (examples: 15s, 1m30s, 30d)")
    return sum(int(n) * unit for n, (_, unit) in zip(match.groups(), _UNITS, strict=True) if n)


def format_duration(seconds: float) -> str:
    """``seconds`` written as Prometheus writes durations (``2592000`` -> ``30d``).

    Like Prometheus, years and weeks are used only when they divide exactly.
    """
    if seconds <= 0:
        return "0s"
    remaining = round(seconds * 1000)
    parts = []
    for name, unit in _UNITS:
        unit_ms = round(unit * 1000)
        if name in ("y", "w") and remaining % unit_ms:
            continue
        count, remaining = divmod(remaining, unit_ms)
        if count:
            parts.append(f"{count}{name}")
    return "".join(parts)
