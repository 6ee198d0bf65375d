"""Pure checks: Prometheus API payloads + expectations -> CheckResult.

A check never does I/O. It reads the payload defensively: an answer of the
wrong shape raises ``UnexpectedPayload`` (a PromkitError, so exit code 2),
anything else becomes a passing or failing ``CheckResult`` whose evidence
lines name the thing, the expectation and the observation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from promkit.core.durations import format_duration, parse_duration
from promkit.core.settings import JobExpectation
from promkit.verify.queries import DocumentedQuery
from promkit.verify.result import (
    Answer,
    CheckResult,
    UnexpectedPayload,
    Verification,
    parse_time,
    payload_list,
    payload_mapping,
    payload_number,
    payload_text,
)

AC1 = "AC1 Prometheus runs"


AC2 = "AC2 scrapes every app/worker"


AC5 = "AC5 health/ready"


AC6 = "AC6 targets UP, no errors, fast"


AC7 = "AC7 queries return data"


AC8 = "AC8 UI reachable"


def ac3(scrape: str) -> str:
    return f"AC3 interval {scrape}"


def ac4(retention: str) -> str:
    return f"AC4 retention {retention}"


def _submap(item: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = item.get(key)
    return value if isinstance(value, Mapping) else {}


def _seconds(text: Any, where: str) -> float:
    try:
        return parse_duration(str(text))
    except ValueError:
        raise UnexpectedPayload(f"{where} is {text!r}, not a Prometheus duration") from None


def _seconds_precision(text: Any) -> str:
    """'2026-11-28T02:11:08.189818495Z' -> '2026-11-28T02:11:08Z' ('?' if not a time)."""
    parsed = parse_time(text)
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ") if parsed else "?"


def parse_config(config_yaml: str) -> Mapping[str, Any]:
    """The served configuration (``data.yaml`` of ``/api/v1/status/config``) as a mapping."""
    import yaml

    # libyaml's loader when PyYAML has it: 10x faster on a config listing 10,000 targets.
    loader = yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader
    try:
        config = yaml.load(config_yaml, Loader=loader)
    except yaml.YAMLError as exc:
        raise UnexpectedPayload(f"the served configuration is not valid YAML: {exc}") from None
    return payload_mapping(config if config is not None else {}, "the served configuration")


def _scrape_configs(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = config.get("scrape_configs") or []
    return [
        payload_mapping(item, "a scrape_configs entry")
        for item in payload_list(raw, "scrape_configs")
    ]


def check_runs(buildinfo: Any, runtimeinfo: Any) -> CheckResult:
    """Prometheus answers its API and its last configuration (re)load succeeded."""
    build = payload_mapping(buildinfo, "buildinfo data")
    runtime = payload_mapping(runtimeinfo, "runtimeinfo data")
    version = payload_text(build.get("version")) or "of unknown version (unstamped build)"
    line = f"Prometheus {version} up since {_seconds_precision(runtime.get('startTime'))}"
    reloaded = runtime.get("reloadConfigSuccess")
    if reloaded is False:
        return CheckResult(
            "runs",
            AC1,
            False,
            [
                line,
                "the last configuration reload FAILED (reloadConfigSuccess false): it still runs "
                f"the config loaded at {payload_text(runtime.get('lastConfigTime')) or '?'}; "
                "fix prometheus.yml (promtool check config) and check Prometheus' logs",
            ],
        )
    loaded = payload_text(runtime.get("lastConfigTime")) or "?"
    return CheckResult("runs", AC1, True, [f"{line}, configuration loaded at {loaded}"])


def _probe_line(answer: Answer, budget_ms: float) -> tuple[bool, str]:
    said = " ".join(answer.text.split())[:60]
    if answer.status != 200:
        return False, f"{answer.path} answered {answer.status}, expected 200: {said or 'no body'}"
    if answer.elapsed_ms > budget_ms:
        return False, (
            f"{answer.path} took {answer.elapsed_ms:.1f}ms, over the {budget_ms:g}ms budget"
        )
    return True, f"{answer.path} 200 in {answer.elapsed_ms:.1f}ms (budget {budget_ms:g}ms): {said}"


def check_health(healthy: Answer, ready: Answer, budget_ms: float) -> CheckResult:
    """``/-/healthy`` and ``/-/ready`` answered 200, each within the latency budget."""
    lines = [_probe_line(healthy, budget_ms), _probe_line(ready, budget_ms)]
    return CheckResult("health", AC5, all(ok for ok, _ in lines), [line for _, line in lines])


@dataclass(frozen=True)
class Target:
    """The parts of an active target the checks judge."""

    job: str
    instance: str
    health: str
    last_error: str
    duration_ms: float | None
    last_scrape: datetime | None

    @property
    def name(self) -> str:
        return f"{self.job}/{self.instance}"


def active_targets(targets_data: Any) -> list[Target]:
    """The active targets of a ``/api/v1/targets`` answer."""
    data = payload_mapping(targets_data, "targets data")
    found = []
    for raw in payload_list(data.get("activeTargets") or [], "data.activeTargets"):
        item = payload_mapping(raw, "an active target")
        labels = _submap(item, "labels")
        job = payload_text(item.get("scrapePool")) or payload_text(labels.get("job")) or "?"
        instance = (
            payload_text(labels.get("instance")) or payload_text(item.get("scrapeUrl")) or "?"
        )
        duration = payload_number(item.get("lastScrapeDuration"))
        found.append(
            Target(
                job,
                instance,
                payload_text(item.get("health")) or "unknown",
                payload_text(item.get("lastError")),
                None if duration is None else duration * 1000.0,
                parse_time(item.get("lastScrape")),
            )
        )
    return found


def _dropped_count(data: Mapping[str, Any], job: str) -> int:
    counts = data.get("droppedTargetCounts")
    count = payload_number(counts.get(job)) if isinstance(counts, Mapping) else None
    if count is not None:
        return max(0, int(count))
    dropped = data.get("droppedTargets")
    if not isinstance(dropped, list):
        return 0
    return sum(1 for item in dropped if isinstance(item, Mapping) and _dropped_job(item) == job)


def _dropped_job(item: Mapping[str, Any]) -> str:
    return payload_text(item.get("scrapePool")) or payload_text(
        _submap(item, "discoveredLabels").get("job")
    )


def _why_no_targets(job: str, data: Mapping[str, Any], config: Mapping[str, Any] | None) -> str:
    head = f"job {job} has 0 active targets"
    dropped = _dropped_count(data, job)
    if dropped:
        return (
            f"{head}: discovery found {dropped} but relabelling dropped them all: check its "
            "relabel_configs (e.g. the prometheus.io/scrape annotation on the pods)"
        )
    if config is None:
        return f"{head} and none were dropped"
    jobs = {payload_text(sc.get("job_name")): sc for sc in _scrape_configs(config)}
    if job not in jobs:
        known = ", ".join(sorted(j for j in jobs if j)) or "none"
        return (
            f"{head}: job {job} is not in Prometheus' configuration (its scrape jobs: "
            f"{known}): add a scrape_config with job_name: {job}"
        )
    if jobs[job].get("kubernetes_sd_configs"):
        return (
            f"{head}: nothing was discovered for job {job}: check Prometheus' RBAC "
            "(ClusterRole/ClusterRoleBinding) and its logs"
        )
    return f"{head}: its service discovery returned nothing"


def _job_line(job: JobExpectation, count: int, instances: list[str]) -> tuple[bool, str]:
    shown = ", ".join(sorted(instances)[:5]) + (", ..." if len(instances) > 5 else "")
    listed = f" ({shown})" if instances else ""
    if job.exact is not None and count != job.exact:
        return False, (
            f"job {job.job} has {count} active targets, expected exactly "
            f"{job.exact} (one per replica){listed}"
        )
    if count < job.minimum:
        return False, f"job {job.job} has {count} active targets, expected at least {job.minimum}"
    wanted = f"exactly {job.exact}" if job.exact is not None else f"at least {job.minimum}"
    return True, f"job {job.job} has {count} active targets (expected {wanted}){listed}"


def check_jobs(
    targets_data: Any, config_yaml: str | None, jobs: Sequence[JobExpectation]
) -> CheckResult:
    """Every expected job has at least (or exactly) its expected number of active targets."""
    data = payload_mapping(targets_data, "targets data")
    targets = active_targets(data)
    config = parse_config(config_yaml) if config_yaml is not None else None
    if not jobs:
        return CheckResult("jobs", AC2, False, ["no jobs are expected: set expect.jobs"])
    lines = []
    for job in jobs:
        instances = [t.instance for t in targets if t.job == job.job]
        if not instances and job.minimum > 0:
            lines.append((False, _why_no_targets(job.job, data, config)))
        else:
            lines.append(_job_line(job, len(instances), instances))
    return CheckResult("jobs", AC2, all(ok for ok, _ in lines), [line for _, line in lines])


def _short_error(error: str) -> str:
    # 'Get "http://x/metrics": dial tcp ...: connection refused' -> the part after the URL.
    return re.sub(r'^(?:Get|GET) "[^"]*": ', "", error.strip())


def _ago(last_scrape: datetime, now: datetime | None) -> str:
    if now is None:
        return f"last scrape {last_scrape.isoformat(timespec='seconds')}"
    return f"last scrape {max(0.0, (now - last_scrape).total_seconds()):.0f}s ago"


def _target_line(target: Target, budget_ms: float, now: datetime | None) -> tuple[bool, str]:
    took = "?" if target.duration_ms is None else f"{target.duration_ms:.1f}ms"
    if target.health == "unknown" or target.last_scrape is None:
        return False, f"target {target.name} has not been scraped yet (health {target.health})"
    if target.health != "up":
        why = _short_error(target.last_error) or "no error given"
        return (
            False,
            f"target {target.name} is {target.health.upper()}: {why} "
            f"({_ago(target.last_scrape, now)})",
        )
    if target.last_error:
        return False, f"target {target.name} is up but reports: {_short_error(target.last_error)}"
    if target.duration_ms is None or target.duration_ms >= budget_ms:
        return False, f"target {target.name} is SLOW: scrape took {took}, budget {budget_ms:g}ms"
    return True, f"{target.job} {target.instance} up {took}"


def check_targets(targets_data: Any, budget_ms: float, now: datetime | None = None) -> CheckResult:
    """Every active target (all jobs) is up, with no error, scraped within the budget."""
    targets = active_targets(targets_data)
    if not targets:
        return CheckResult("targets", AC6, False, ["Prometheus has no active targets at all"])
    lines = [_target_line(t, budget_ms, now) for t in sorted(targets, key=lambda t: t.name)]
    failed = [line for ok, line in lines if not ok]
    passed = [line for ok, line in lines if ok]
    return CheckResult("targets", AC6, not failed, failed + passed)


def start_time(runtimeinfo: Any) -> datetime | None:
    """When the server started, from runtimeinfo's startTime (None if it does not say)."""
    started = runtimeinfo.get("startTime") if isinstance(runtimeinfo, dict) else None
    return parse_time(started)


def utc_now() -> datetime:
    """The current time, for 'last scrape Ns ago' evidence."""
    return datetime.now(UTC)


def check_interval(config_yaml: str, scrape: str, evaluation: str) -> CheckResult:
    """Global scrape and evaluation intervals match, and no job overrides the scrape interval."""
    config = parse_config(config_yaml)
    glob = payload_mapping(config.get("global") or {}, "global")
    global_scrape = str(glob.get("scrape_interval", "1m"))
    global_eval = str(glob.get("evaluation_interval", "1m"))
    want_scrape, want_eval = (
        _seconds(scrape, "expect.scrape_interval"),
        _seconds(evaluation, "expect.evaluation_interval"),
    )
    lines = []
    served: dict[str, float] = {}
    for key, value, want in (
        ("scrape_interval", global_scrape, want_scrape),
        ("evaluation_interval", global_eval, want_eval),
    ):
        served[key] = _seconds(value, f"global.{key}")
        ok = served[key] == want
        verdict = "" if ok else f", expected {format_duration(want)}: set global.{key}"
        lines.append((ok, f"global {key} is {value}{verdict}"))
    ok_jobs = []
    for sc in _scrape_configs(config):
        job = payload_text(sc.get("job_name")) or "?"
        value = str(sc.get("scrape_interval", global_scrape))
        seconds = _seconds(value, f"scrape_interval of job {job}")
        if seconds == want_scrape:
            ok_jobs.append(job)
        elif seconds != served["scrape_interval"]:
            lines.append(
                (
                    False,
                    f"job {job} overrides the scrape interval: {value} instead of "
                    f"{format_duration(want_scrape)} (remove its scrape_interval)",
                )
            )
    if ok_jobs:
        lines.append(
            (True, f"jobs scraped every {format_duration(want_scrape)}: " + ", ".join(ok_jobs))
        )
    return CheckResult(
        "interval", ac3(scrape), all(ok for ok, _ in lines), [line for _, line in lines]
    )


def _split_retention(text: str) -> tuple[list[str], list[str], list[str]]:
    """'30d or 10GiB' -> (['30d'], ['10GiB'], []): times, sizes, and parts of neither kind."""
    times, sizes, other = [], [], []
    for part in (p.strip() for p in text.split(" or ") if p.strip()):
        if re.fullmatch(r"\d+(?:\.\d+)?\s*[KMGTPE]?i?B", part):
            sizes.append(part)
        else:
            try:
                parse_duration(part)
                times.append(part)
            except ValueError:
                other.append(part)
    return times, sizes, other


def _flag_lines(flags: Mapping[str, Any], running: float | None) -> list[str]:
    lines = []
    flag_time = payload_text(flags.get("storage.tsdb.retention.time"))
    if flag_time and flag_time != "0s":
        same = running is not None and _number_or_none(flag_time) == running
        lines.append(
            f"flag --storage.tsdb.retention.time={flag_time}"
            + (
                ""
                if same
                else (
                    " differs from the running retention (the configuration file's "
                    "storage.tsdb.retention.time takes precedence)"
                )
            )
        )
    deprecated = payload_text(flags.get("storage.tsdb.retention"))
    if deprecated and deprecated != "0s":
        lines.append(
            f"deprecated flag --storage.tsdb.retention={deprecated} is set: "
            "use --storage.tsdb.retention.time"
        )
    size = payload_text(flags.get("storage.tsdb.retention.size"))
    if size and size not in ("0", "0B"):
        lines.append(
            f"size limit --storage.tsdb.retention.size={size}: older data is deleted "
            "earlier if the TSDB grows past it"
        )
    return lines


def _number_or_none(duration: str) -> float | None:
    try:
        return parse_duration(duration)
    except ValueError:
        return None


def check_retention(runtimeinfo: Any, flags: Any, expected: str) -> CheckResult:
    """The running server keeps data for ``expected`` (runtimeinfo, cross-checked with flags)."""
    runtime = payload_mapping(runtimeinfo, "runtimeinfo data")
    flag_map = payload_mapping(flags, "flags data")
    shown = payload_text(runtime.get("storageRetention"))
    want = _seconds(expected, "expect.retention")
    times, sizes, other = _split_retention(shown)
    running = parse_duration(times[0]) if times else None
    evidence = [f"storageRetention is {shown or 'missing'!r} (runtimeinfo)"]
    if running is None:
        ok = False
        evidence.append(
            f"no time-based retention is in force, expected {expected}: "
            f"set --storage.tsdb.retention.time={expected}"
        )
    elif running != want:
        ok = False
        evidence.append(
            f"retention is {times[0]}, expected {expected}: "
            f"set --storage.tsdb.retention.time={expected}"
        )
    else:
        ok = True
    evidence += [f"size limit {size}" for size in sizes]
    evidence += [f"unrecognised retention part {part!r}" for part in other]
    evidence += _flag_lines(flag_map, running)
    return CheckResult("retention", ac4(expected), ok, evidence)


def html_title(text: str) -> str:
    """The ``<title>`` of an HTML page, whitespace collapsed; empty if there is none."""
    match = re.search(r"(?is)<title[^>]*>(.*?)</title>", text)
    return " ".join(match.group(1).split()) if match else ""


def first_script(text: str) -> str | None:
    """The ``src`` of the first ``<script>`` an HTML page loads, if any."""
    match = re.search(r"(?i)<script[^>]*\bsrc=[\"']([^\"']+)[\"']", text)
    return match.group(1) if match else None


def _path(answer: Answer) -> str:
    from urllib.parse import urlsplit

    return urlsplit(answer.url).path or "/"


def _page_line(label: str, page: Answer) -> tuple[bool, str]:
    where = f"{label} ({_path(page)})"
    said = " ".join(page.text.split())[:100]
    if page.status != 200:
        hint = ""
        if "index.html" in page.text:
            hint = (
                ": this Prometheus binary was built without its web UI assets; use an "
                "official release or image"
            )
        return False, f"{where} answered {page.status}, expected 200: {said}{hint}"
    title = html_title(page.text)
    if "html" not in page.content_type.lower() or "prometheus" not in title.lower():
        return False, (
            f"{where} is not Prometheus' web UI ({page.content_type or 'no type'}, "
            f"title {title!r}): is --url pointing at Prometheus?"
        )
    return True, f"{where} 200, HTML page {title!r}"


def check_ui(root: Answer, targets_page: Answer | None, asset: Answer | None) -> CheckResult:
    """The UI's landing page and targets page are Prometheus' HTML, and their script loads."""
    lines = [_page_line("UI landing page", root)]
    if targets_page is not None:
        lines.append(_page_line("targets page", targets_page))
    if lines[0][0]:
        if asset is None:
            lines.append(
                (
                    False,
                    f"the landing page {_path(root)} loads no script: "
                    "a placeholder, not the working UI",
                )
            )
        elif asset.status != 200:
            lines.append(
                (
                    False,
                    f"the UI's script {_path(asset)} answered {asset.status}: "
                    "the UI would not work in a browser",
                )
            )
        else:
            lines.append((True, f"UI script {_path(asset)} 200 ({len(asset.text)} bytes)"))
    return CheckResult("ui", AC8, all(ok for ok, _ in lines), [line for _, line in lines])


def _series_values(result_type: str, result: list[Any]) -> list[tuple[str, str]]:
    """(labels, last value) per series of a query result."""
    if result_type in ("scalar", "string"):
        return [("", str(result[1]))] if len(result) == 2 else []
    pairs = []
    for item in result:
        series = payload_mapping(item, "a query result series")
        metric = _submap(series, "metric")
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
        sample = series.get("value")
        if sample is None and isinstance(series.get("values"), list) and series["values"]:
            sample = series["values"][-1]
        value = sample[1] if isinstance(sample, list) and len(sample) == 2 else "?"
        pairs.append((f"{{{labels}}}", str(value)))
    return pairs


def _shown(value: str) -> str:
    number = payload_number(value)
    return f"{number:.4g}" if number is not None else value


#: Prometheus' errorType for PromQL it cannot parse (or a bad parameter): final, unlike
#: "timeout" or "execution", which another round may not meet.
BAD_DATA = "bad_data:"


def check_query(query: DocumentedQuery, data: Any, error: str | None = None) -> CheckResult:
    """A documented query parses and returns data that is not only NaN."""
    name = f"query: {query.name}"
    if error is not None:
        return CheckResult(
            name,
            AC7,
            False,
            [f"query '{query.name}' (line {query.line}) failed: {error}", query.promql],
            final=error.startswith(BAD_DATA),
        )
    answer = payload_mapping(data, "query data")
    result = payload_list(answer.get("result"), "data.result")
    pairs = _series_values(payload_text(answer.get("resultType")), result)
    if not pairs:
        return CheckResult(
            name,
            AC7,
            False,
            [
                f"query '{query.name}' returned no data: are its metrics scraped "
                "(inv verify.targets), and is there traffic (the stack's demo traffic: "
                "traffic.demo_rate; or inv traffic)?",
                query.promql,
            ],
        )
    real = [(labels, value) for labels, value in pairs if value.lower() not in ("nan", "?")]
    if not real:
        return CheckResult(
            name,
            AC7,
            False,
            [
                f"query '{query.name}' returned only NaN: no data in window: post traffic "
                "(inv traffic)",
                query.promql,
            ],
        )
    shown = ", ".join(f"{labels} {_shown(value)}" for labels, value in real[:3])
    more = f" (+{len(pairs) - 3} more)" if len(pairs) > 3 else ""
    nan = f"; {len(pairs) - len(real)} series NaN" if len(real) < len(pairs) else ""
    return CheckResult(name, AC7, True, [f"{len(pairs)} series: {shown}{more}{nan}"])


PERSISTENCE = "data survives restarts"


#: Sample times (ms) outside these bounds are sentinels: an empty head reports MaxInt64.
_SANE_MS = (1e11, 1e14)


def _head_min_seconds(tsdb_status: Any) -> float | None:
    head = _submap(payload_mapping(tsdb_status, "TSDB status data"), "headStats")
    number = payload_number(head.get("minTime"))
    if number is None or not _SANE_MS[0] < number < _SANE_MS[1]:
        return None
    return number / 1000.0


def _lowest_seconds(query_data: Any) -> float | None:
    if query_data is None:
        return None
    answer = payload_mapping(query_data, "query data")
    values = [
        payload_number(value)
        for _, value in _series_values(
            payload_text(answer.get("resultType")),
            payload_list(answer.get("result"), "data.result"),
        )
    ]
    found = [v for v in values if v is not None and _SANE_MS[0] / 1000 < v < _SANE_MS[1] / 1000]
    return min(found) if found else None


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_persistence(runtimeinfo: Any, tsdb_status: Any, lowest: Any = None) -> CheckResult:
    """Stored samples are older than the server's start: its data survived the (re)start.

    ``lowest`` is the answer of ``min(prometheus_tsdb_lowest_timestamp_seconds)``
    (covers persisted blocks too; absent when Prometheus does not scrape itself).
    Red on a server's very first start, which has nothing to keep yet.
    """
    started = parse_time(payload_mapping(runtimeinfo, "runtimeinfo data").get("startTime"))
    if started is None:
        raise UnexpectedPayload("runtimeinfo has no startTime: cannot tell when Prometheus started")
    candidates = [
        (seconds, source)
        for seconds, source in (
            (_head_min_seconds(tsdb_status), "TSDB head, /api/v1/status/tsdb"),
            (_lowest_seconds(lowest), "prometheus_tsdb_lowest_timestamp_seconds"),
        )
        if seconds is not None
    ]
    start = started.timestamp()
    start_line = f"Prometheus started at {_utc(start)}"
    if not candidates:
        return CheckResult(
            "persistence",
            PERSISTENCE,
            False,
            [f"the TSDB holds no samples yet: nothing stored to survive ({start_line})"],
        )
    oldest, source = min(candidates)
    if oldest < start:
        age = format_duration(round(start - oldest))
        return CheckResult(
            "persistence",
            PERSISTENCE,
            True,
            [
                f"oldest stored sample {_utc(oldest)} ({source}) is {age} older than this "
                f"server's start: data from before the (re)start is still there ({start_line})"
            ],
        )
    return CheckResult(
        "persistence",
        PERSISTENCE,
        False,
        [
            f"no stored sample predates this server's start (oldest {_utc(oldest)}, "
            f"{source}; {start_line}): its first start, or the data of earlier runs was "
            "lost: keep the data volume (destroy.local without --volumes; a PVC on Kubernetes)"
        ],
    )


RBAC = "RBAC least privilege"


@dataclass(frozen=True)
class Permission:
    """One ``kubectl auth can-i VERB RESOURCE --all-namespaces`` question and the right answer."""

    verb: str
    resource: str
    wanted: bool

    @property
    def action(self) -> str:
        if self.verb == "*" and self.resource == "*":
            return "do anything ('*' on '*')"
        return f"{self.verb} {self.resource}"


#: Pod discovery lists and watches pods; Prometheus must not read secrets or change anything.
RBAC_PERMISSIONS: tuple[Permission, ...] = (
    Permission("list", "pods", True),
    Permission("watch", "pods", True),
    Permission("get", "secrets", False),
    Permission("list", "secrets", False),
    Permission("create", "pods", False),
    Permission("delete", "pods", False),
    Permission("patch", "deployments.apps", False),
    Permission("update", "configmaps", False),
    Permission("*", "*", False),
)


def check_rbac(subject: str, answers: Mapping[Permission, bool]) -> CheckResult:
    """``subject`` may do exactly what its ``wanted`` permissions say, in every namespace."""
    if not answers:
        return CheckResult("rbac", RBAC, False, [f"no permission of {subject} was checked"])
    lines = []
    for permission, allowed in answers.items():
        says = "can" if allowed else "cannot"
        line = f"{subject} {says} {permission.action} in all namespaces"
        if allowed == permission.wanted:
            lines.append((True, line))
        elif permission.wanted:
            lines.append((False, f"{line}: pod discovery needs it (grant it in its ClusterRole)"))
        else:
            lines.append(
                (False, f"{line}: least privilege says no: remove it from the roles bound to it")
            )
    failed = [line for ok, line in lines if not ok]
    return CheckResult("rbac", RBAC, not failed, failed + [line for ok, line in lines if ok])


def _host(instance: str) -> str:
    """``app:8000`` -> ``app``; ``[fd00::1]:9090`` -> ``fd00::1``."""
    host, colon, _ = instance.rpartition(":")
    return (host if colon else instance).strip("[]")


def failing_target_hosts(outcome: Verification) -> set[str]:
    """Hosts of the targets the round saw failing; every target's when a query failed.

    A documented query without data is explained by the services it reads from.
    """
    targets = outcome.payloads.get("targets")
    if not isinstance(targets, Mapping):
        return set()
    found = active_targets(targets)
    queries_failed = any(not r.ok and r.name.startswith("query: ") for r in outcome.results)
    return {_host(t.instance) for t in found if queries_failed or t.health != "up" or t.last_error}
