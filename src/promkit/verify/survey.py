"""promkit init: what a running server says it is, as settings to hold it to.

Pure, like the judges: the server's answers in (targets, config, runtimeinfo, rules,
buildinfo), a ``Survey`` out; ``settings_mapping`` turns it into promkit's settings,
``render`` into the commented promkit.yaml a user reviews, ``guide`` into a metrics
guide stub whose "Sample PromQL queries" section verify.queries runs. No I/O: the
fetching and writing are report.init's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from promkit.core.durations import parse_duration
from promkit.verify.checks import active_targets, parse_config
from promkit.verify.result import payload_mapping, payload_text
from promkit.verify.rule_checks import loaded_groups

#: What the guide stub is called, beside promkit.yaml.
GUIDE_NAME = "metrics-guide.md"
#: The least scrape-duration budget init writes (promkit's default, in ms).
MIN_SCRAPE_BUDGET_MS = 100.0
_ALWAYS = re.compile(r"^\s*vector\s*\(\s*[0-9.eE+-]+\s*\)\s*$")


@dataclass(frozen=True)
class Survey:
    """What the server runs, as promkit init read it."""

    url: str
    version: str
    #: The Kubernetes context it was read through (its jobs go to k8s.expect_jobs), if any.
    context: str | None
    #: (job, active targets), by job name.
    jobs: tuple[tuple[str, int], ...]
    scrape_interval: str
    evaluation_interval: str
    #: The time-based retention in force, None if there is none (size only).
    retention: str | None
    #: (group, the file the server loaded it from), in the server's order.
    groups: tuple[tuple[str, str], ...]
    #: An alert whose expression is a constant vector (it always fires), and its group.
    watchdog: str | None
    watchdog_group: str
    #: The slowest target's last scrape, in ms (None: none scraped yet).
    slowest_scrape_ms: float | None


def _retention(runtimeinfo: Any) -> str | None:
    shown = payload_text(payload_mapping(runtimeinfo, "runtimeinfo data").get("storageRetention"))
    for part in (p.strip() for p in shown.split(" or ")):
        try:
            parse_duration(part)
        except ValueError:
            continue
        return part
    return None


def _always_firing(rules_data: Any) -> tuple[str | None, str]:
    found: list[tuple[bool, str, str]] = []
    for group in loaded_groups(rules_data):
        for rule in group.rules:
            if rule.kind == "alert" and _ALWAYS.match(rule.query):
                found.append((rule.state != "firing", rule.name, group.name))
    if not found:
        return None, ""
    _, name, group_name = min(found)  # a firing one first
    return name, group_name


def survey(
    url: str,
    buildinfo: Any,
    targets: Any,
    config_yaml: str,
    runtimeinfo: Any,
    rules_data: Any,
    context: str | None = None,
) -> Survey:
    """The server's answers as a Survey (an UnexpectedPayload if one has the wrong shape)."""
    active = active_targets(targets)
    counts = Counter(target.job for target in active)
    config = parse_config(config_yaml)
    raw_global = config.get("global")
    glob: Mapping[str, Any] = raw_global if isinstance(raw_global, Mapping) else {}
    durations = [t.duration_ms for t in active if t.duration_ms is not None]
    watchdog, watchdog_group = _always_firing(rules_data)
    version = payload_text(payload_mapping(buildinfo, "buildinfo data").get("version"))
    return Survey(
        url=url,
        version=version or "unknown",
        context=context,
        jobs=tuple(sorted(counts.items())),
        scrape_interval=str(glob.get("scrape_interval") or "1m"),
        evaluation_interval=str(glob.get("evaluation_interval") or "1m"),
        retention=_retention(runtimeinfo),
        groups=tuple(dict.fromkeys((g.name, g.file) for g in loaded_groups(rules_data))),
        watchdog=watchdog,
        watchdog_group=watchdog_group,
        slowest_scrape_ms=max(durations) if durations else None,
    )


def scrape_budget_ms(found: Survey) -> float:
    """Three times the slowest scrape, at least promkit's default budget."""
    slowest = found.slowest_scrape_ms or 0.0
    return float(max(MIN_SCRAPE_BUDGET_MS, round(slowest * 3)))


def settings_mapping(found: Survey, guide_name: str = GUIDE_NAME) -> dict[str, Any]:
    """The settings promkit init writes: only keys promkit already has (see DEFAULTS)."""
    jobs = dict(found.jobs)
    expect: dict[str, Any] = {
        "scrape_interval": found.scrape_interval,
        "evaluation_interval": found.evaluation_interval,
        "scrape_duration_ms": scrape_budget_ms(found),
        "rules": [name for name, _ in found.groups] or False,
        "watchdog": found.watchdog or False,
    }
    if found.retention is not None:
        expect["retention"] = found.retention
    mapping: dict[str, Any] = {}
    if found.context is None:
        mapping["prometheus"] = {"url": found.url}
        expect = {"jobs": jobs, **expect}
    else:
        mapping["k8s"] = {"context": found.context, "expect_jobs": jobs}
    mapping["expect"] = expect
    mapping["queries"] = {"guide": guide_name}
    return mapping


def _scalar(value: Any) -> str:
    """``value`` as one YAML scalar (quoted only if it must be)."""
    text: str = yaml.safe_dump([value], default_flow_style=True, width=10_000).strip()
    return text[1:-1]


def _expect_lines(found: Survey) -> list[str]:
    expect = settings_mapping(found)["expect"]
    lines = ["expect:"]
    if found.context is None:
        lines += _jobs_lines(found, "  ")
    lines += [
        "  # /api/v1/status/config: the global intervals of the config the server runs",
        f"  scrape_interval: {_scalar(found.scrape_interval)}",
        f"  evaluation_interval: {_scalar(found.evaluation_interval)}",
    ]
    if found.retention is not None:
        lines += [
            "  # /api/v1/status/runtimeinfo: storageRetention (--storage.tsdb.retention.time)",
            f"  retention: {_scalar(found.retention)}",
        ]
    else:
        lines.append("  # no time-based retention in force: promkit's 30d applies; set it")
    slowest = found.slowest_scrape_ms
    seen = "none scraped yet" if slowest is None else f"the slowest took {slowest:.0f} ms"
    lines += [
        f"  # /api/v1/targets: each scrape within this many ms ({seen}; 3x, at least 100)",
        f"  scrape_duration_ms: {expect['scrape_duration_ms']:g}",
        "  # not surveyed: promkit's 50 ms for /-/healthy and /-/ready applies unless you set",
        "  # health_latency_ms (a remote server may need more)",
    ]
    if found.groups:
        lines.append("  # /api/v1/rules: the rule groups loaded now; verify.rules expects them")
        lines.append("  rules:")
        lines += [f"    - {_scalar(name)}  # {file}" for name, file in found.groups]
    else:
        lines += ["  # /api/v1/rules: the server loads no rule groups", "  rules: false"]
    if found.watchdog is not None:
        lines += [
            f"  # /api/v1/rules: alert {found.watchdog} (group {found.watchdog_group}) always",
            "  # fires (its expr is a constant vector): verify.rules holds it to firing",
            f"  watchdog: {_scalar(found.watchdog)}",
        ]
    else:
        lines += [
            "  # /api/v1/rules: no alert always fires (expr: vector(1)); name one here once",
            "  # you add it, to prove alerting works",
            "  watchdog: false",
        ]
    return lines


def _jobs_lines(found: Survey, indent: str) -> list[str]:
    key = "jobs" if found.context is None else "expect_jobs"
    if not found.jobs:
        return [f"{indent}# /api/v1/targets: no active targets", f"{indent}{key}: {{}}"]
    return [
        f"{indent}# /api/v1/targets: each job's active targets now (at least that many;",
        f"{indent}# write '=N' for exactly N)",
        f"{indent}{key}:",
        *(f"{indent}  {_scalar(job)}: {count}" for job, count in found.jobs),
    ]


def render(found: Survey, guide_name: str = GUIDE_NAME) -> str:
    """promkit.yaml's text: ``settings_mapping(found)``, each value commented with its source."""
    lines = [
        f"# promkit's settings for the Prometheus at {found.url} (version {found.version}),",
        "# written by `promkit init` from what it runs now. Review every value: each comment",
        "# says where it came from. Then: promkit verify.all",
        "",
    ]
    if found.context is None:
        lines += [
            "prometheus:",
            f"  url: {_scalar(found.url)}  # the --url promkit init read",
            "",
        ]
    else:
        lines += [
            "k8s:",
            f"  context: {_scalar(found.context)}  # the --context promkit init read through",
            *_jobs_lines(found, "  "),
            "",
        ]
    lines += _expect_lines(found)
    lines += [
        "",
        "queries:",
        "  # a stub with one query per job: put the queries your dashboards and alerts use",
        f"  guide: {_scalar(guide_name)}",
        "",
    ]
    return "\n".join(lines)


def guide(found: Survey) -> str:
    """The metrics guide stub: one ``up`` query per job, in a "Sample PromQL queries" section."""
    jobs = [job for job, _ in found.jobs]
    blocks = [
        f'### Targets up: {job}\n\n```promql\nup{{job="{_label_value(job)}"}}\n```\n'
        for job in jobs
    ] or ["### Targets up\n\n```promql\nup\n```\n"]
    return (
        f"# Metrics guide: the Prometheus at {found.url}\n\n"
        "Written by `promkit init`. `promkit verify.queries` (and `verify.all`) runs the\n"
        "PromQL block under each sub-heading of the section below and checks that it returns\n"
        "data: replace these stubs with the queries your dashboards and alerts rely on.\n"
        "\n## Sample PromQL queries\n\n" + "\n".join(blocks)
    )


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
