"""The report of an upgrade rehearsal: one line per breakage, the notes, and JSON for scripts."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from invoke.context import Context

from promkit.core import console, settings
from promkit.core.errors import ConfigError
from promkit.local import rehearsal
from promkit.report.formats import write
from promkit.verify.queries import load_guide
from promkit.verify.upgrade import Comparison


@dataclasses.dataclass(frozen=True)
class UpgradeOptions:
    """What ``verify.upgrade`` was given."""

    to: str
    from_: str | None
    config: str | None
    flags: tuple[str, ...]
    guide: str | None
    timeout: float
    json_path: str | None


def rehearse_flags(
    c: Context,
    to: str,
    from_: str | None,
    config: str | None,
    flags: list[str] | None,
    guide: str | None,
    timeout: str,
    json_path: str | None,
) -> bool:
    """verify.upgrade's flags checked (``--to`` given, ``--timeout`` seconds), then the
    rehearsal; whether nothing breaks."""
    if not to:
        raise ConfigError("verify.upgrade needs --to PATH: the Prometheus binary to upgrade to")
    seconds = settings.as_positive(timeout, "--timeout")
    given = UpgradeOptions(to, from_, config, tuple(flags or ()), guide, seconds, json_path)
    return rehearse_upgrade(c, c.config, given).ok


def as_dict(comparison: Comparison) -> dict[str, object]:
    """The JSON report: the versions, ok, every breakage (with its line) and the notes."""
    return {
        "from": comparison.old_version,
        "to": comparison.new_version,
        "ok": comparison.ok,
        "breakages": [
            {**dataclasses.asdict(b), "line": line}
            for b, line in zip(comparison.breakages, comparison.lines(), strict=True)
        ],
        "notes": list(comparison.notes),
    }


def print_comparison(comparison: Comparison, json_path: str | None) -> None:
    """Breakages first (one line each), then the notes, then the verdict."""
    for line in comparison.lines():
        console.say(line)
    for note in comparison.notes:
        console.say(f"note: {note}")
    count = len(comparison.breakages)
    verdict = "nothing breaks" if comparison.ok else f"{count} breakage{'s' * (count > 1)}"
    console.say(f"upgrade {comparison.old_version} -> {comparison.new_version}: {verdict}")
    if json_path:
        text = json.dumps(as_dict(comparison), indent=2) + "\n"
        console.say(f"JSON report: {write(json_path, text)}")


def rehearse_upgrade(c: Context, config: object, options: UpgradeOptions) -> Comparison:
    """Check the inputs (exit 2 on any bad one), rehearse, print; the comparison."""
    loaded = settings.load(config)
    guide = settings.repo_path(options.guide or loaded.queries_guide)
    queries = load_guide(guide)
    config_file = settings.repo_path(options.config or loaded.compose.prometheus_config)
    if not config_file.is_file():
        raise ConfigError(f"--config {config_file} is not a file")
    source = options.from_ or rehearsal.default_from()
    old = (rehearsal.check_binary(c, source, "--from"), source)
    new = (rehearsal.check_binary(c, options.to, "--to"), options.to)
    if old[0] == new[0]:
        old, new = (f"{old[0]} (--from)", old[1]), (f"{new[0]} (--to)", new[1])
    comparison = rehearsal.rehearse(
        old, new, Path(config_file), options.flags, queries, options.timeout
    )
    print_comparison(comparison, options.json_path)
    return comparison
