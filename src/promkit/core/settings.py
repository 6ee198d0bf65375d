"""promkit's settings: defaults, and typed views over Invoke's configuration.

Every setting lives in Invoke's configuration tree, so it can come from
``invoke.yaml``, a file given with ``inv -f``, ``INVOKE_*`` environment variables
or task flags. ``DEFAULTS`` declares all of them; the views below read and
check them, raising ``ConfigError`` with one line naming the bad key.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from promkit.core.durations import parse_duration
from promkit.core.errors import ConfigError

#: The most webhooks a second the stack's own demo traffic may send.
MAX_DEMO_RATE = 5.0
#: The most webhooks `inv traffic` sends, and its longest run (local.traffic's limits).
MAX_TRAFFIC_COUNT = 10_000
MAX_TRAFFIC_DURATION_S = 600.0
#: The longest any timeout setting may be, in seconds (an hour: longer is a typo).
MAX_TIMEOUT_S = 3600.0
#: The slowest latency an expect.*_ms setting may allow, in milliseconds (a minute).
MAX_LATENCY_MS = 60_000.0
#: The most active targets a job may be expected to have.
MAX_TARGETS = 10_000
#: The most log lines a report keeps per service or pod.
MAX_LOG_LINES = 10_000

#: Where a source checkout's root would be (tasks.py, images/, sample_app/, scripts/).
#: Installed from a wheel, it holds none of them: see ``checkout_path``.
ROOT = Path(__file__).resolve().parents[3]

#: What a URL setting looks like (its default), for the error saying how to fix one.
DEFAULT_URLS = {
    "prometheus.url": "http://127.0.0.1:9090",
    "compose.app_url": "http://127.0.0.1:8000",
    "alerts.alertmanager_url": "http://127.0.0.1:9093",
    "alerts.sink_url": "http://127.0.0.1:9095",
}

DEFAULTS: dict[str, Any] = {
    "prometheus": {
        "url": "http://127.0.0.1:9090",
        "timeout": 5.0,
        # Credentials are never stored in settings: only where to read them.
        "username_env": "PROMKIT_PROMETHEUS_USERNAME",
        "password_env": "PROMKIT_PROMETHEUS_PASSWORD",
        "password_file": None,
        "token_env": "PROMKIT_PROMETHEUS_TOKEN",
        "token_file": None,
        "ca_file": None,
    },
    "expect": {
        # job name -> minimum active targets, "=N" (exactly N), {"min": N} / {"exact": N};
        # null drops a default job (e.g. on Kubernetes, where the pod-discovery job scrapes).
        "jobs": {"fastapi-app": 1, "celery-workers": 1},
        "scrape_interval": "15s",
        "evaluation_interval": "15s",
        "retention": "30d",
        "health_latency_ms": 50.0,
        "scrape_duration_ms": 100.0,
        # verify.rules judges every group the server loads, and expects these loaded: true,
        # the groups of compose.prometheus_config's rule files (the sample's, unless the
        # settings name their own jobs or guide and no config: then none is assumed); a
        # list of group names; false, a deployment without rules.
        "rules": True,
        # The alert that always fires (expr: vector(1)), proof that alerting works; false
        # or null: none. Unset, the sample's Watchdog is expected with the sample's rules.
        "watchdog": "Watchdog",
    },
    "queries": {
        # The guide whose sample queries verify.queries executes.
        "guide": "docs/operations/metrics-guide.md",
    },
    "compose": {
        "file": "compose/compose.yaml",
        "project": "promkit",
        "wait_timeout": 180,
        "app_url": "http://127.0.0.1:8000",
        # Checked with promtool before every deploy; its folder is mounted at /etc/prometheus
        # (so the file must be named prometheus.yml).
        "prometheus_config": "config/prometheus/prometheus.yml",
        # True: basic auth in front of Prometheus (compose/compose.auth.yaml, after
        # `inv auth.local`); verify.* and deploy.local then need the credentials' env vars.
        "auth": False,
        # Where promkit keeps what it writes for a compose project (the offline images'
        # .env, the basic auth files): <state_dir>/<project>/, relative to the current folder.
        "state_dir": ".promkit",
    },
    "traffic": {
        # Defaults of `inv traffic`: webhooks posted, seconds at most, every Nth one invalid.
        "count": 60,
        "duration": 30,
        "invalid_every": 20,
        # The stack's own steady demo traffic (compose service demo-traffic): webhooks a
        # second, 0 turns it off, at most 5.
        "demo_rate": 2,
    },
    "images": {
        # Images deploy.local lacks: pulled (false), built from package registries (true),
        # or pulled and, if that fails, built (auto).
        "offline": "auto",
        # Where offline builds and Prometheus builds are cached: $PROMKIT_CACHE, as the
        # build scripts and .ci/run name it, else /var/cache/promkit.
        "cache_dir": os.environ.get("PROMKIT_CACHE") or "/var/cache/promkit",
    },
    "k8s": {
        "context": None,
        "namespace": "monitoring",
        "app_namespace": "promkit-sample",
        "kustomization": "k8s",
        "rollout_timeout": 180,
        # Schemas check.manifests validates against (kubernetes-validate ships them).
        "kubernetes_version": "1.32",
        # A promtool with Kubernetes discovery (Debian's has none). None: the build of
        # scripts/build-prometheus3.sh matching the image's version, else promtool on PATH.
        "promtool": None,
        # True lets Services be LoadBalancer or NodePort (check.manifests refuses them).
        "allow_exposed_services": False,
        # Seconds `kubectl port-forward` gets to answer on its local port.
        "port_forward_timeout": 30,
        # What verify --context expects instead of expect.jobs: the pod-discovery job
        # scrapes the app and the worker (one target per pod), plus Prometheus itself.
        "expect_jobs": {"kubernetes-pods": 2, "prometheus": 1},
        # The job whose kubernetes_sd_configs (role: pod) discovers the annotated pods:
        # what verify.discovery holds to one target per pod.
        "discovery_job": "kubernetes-pods",
    },
    "report": {
        # --report DIR and verify.ui --browser: Debian's packages chromium and chromium-driver.
        "chromium": "/usr/bin/chromium",
        "chromedriver": "/usr/bin/chromedriver",
        # Seconds a UI page may take to show its content in the browser.
        "page_timeout": 15,
        # Log lines kept per service or pod in a report of a failed verification.
        "log_lines": 50,
    },
    "alerts": {
        # verify.alerts (and verify.all, for a Prometheus that sends alerts): the
        # Alertmanager Prometheus sends to, and the webhook sink its receivers post to (the
        # local stack's alertmanager-1 and alert-sink, sample_app/alert_sink.py); a sink of
        # null: delivery is not proven (red).
        "alertmanager_url": DEFAULT_URLS["alerts.alertmanager_url"],
        "sink_url": DEFAULT_URLS["alerts.sink_url"],
        # check.alerts: the Alertmanager config and the amtool that checks it (None:
        # $PROMKIT_AMTOOL_BIN, else scripts/build-alertmanager.sh's build, else PATH).
        "config": "config/alertmanager/alertmanager.yml",
        "amtool": None,
        # The alerts that always fire: the only ones verify.alerts accepts firing.
        "always_firing": ["Watchdog"],
        # The receiver Alertmanager must route expect.watchdog to (its webhook: the sink).
        "watchdog_receiver": "watchdog",
        # Seconds of slack on top of group_wait + one evaluation interval for the
        # Watchdog's first notification to reach the sink.
        "delivery_margin": 15,
    },
}


def section(config: Any, name: str) -> Mapping[str, Any]:
    """The settings section ``name`` of an Invoke config, or a ConfigError."""
    value = config.get(name) if hasattr(config, "get") else None
    if not isinstance(value, Mapping):
        raise ConfigError(f"setting '{name}' must be a mapping (check invoke.yaml)")
    return value


def as_float(value: Any, key: str, *, minimum: float = 0.0, maximum: float | None = None) -> float:
    """``value`` as a finite float from ``minimum`` to ``maximum``, or a ConfigError."""
    if isinstance(value, bool):
        raise ConfigError(f"setting '{key}' must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"setting '{key}' must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"setting '{key}' must be a finite number, got {value!r}")
    if number < minimum:
        raise ConfigError(f"setting '{key}' must be at least {minimum:g}, got {value!r}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"setting '{key}' must be at most {maximum:g}, got {value!r}")
    return number


def as_duration(value: Any, key: str) -> str:
    """``value`` checked to be a Prometheus duration above 0, or a ConfigError naming ``key``."""
    try:
        seconds = parse_duration(str(value))
    except ValueError as exc:
        raise ConfigError(f"setting '{key}': {exc}") from None
    if not seconds > 0:
        raise ConfigError(f"setting '{key}' must be a duration above 0 such as 15s, got {value!r}")
    return str(value)


@dataclass(frozen=True)
class JobExpectation:
    """How many active targets a scrape job must have."""

    job: str
    minimum: int = 1
    exact: int | None = None


@dataclass(frozen=True)
class Expectations:
    """What a correct deployment looks like (the operator's acceptance list)."""

    jobs: tuple[JobExpectation, ...] = field(default_factory=tuple)
    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"
    retention: str = "30d"
    health_latency_ms: float = 50.0
    scrape_duration_ms: float = 100.0
    #: The pod-discovery job (k8s.discovery_job), for verify.discovery.
    discovery_job: str = "kubernetes-pods"
    #: Whether the deployment has rules (expect.rules): verify.rules checks them if so.
    rules: bool = True
    #: The rule groups the server must load, when expect.rules lists them.
    rule_groups: tuple[str, ...] | None = None
    #: False when nothing says which groups to expect (see ``rule_expectations``).
    rules_declared: bool = True
    #: The always-firing alert verify.rules expects firing (expect.watchdog), or None.
    watchdog: str | None = "Watchdog"


_EXACT = re.compile(r"^\s*(?:=|exactly\s+)(\d+)\s*$")
#: The keys of a job's mapping spec in expect.jobs and k8s.expect_jobs.
JOB_SPEC_KEYS = ("min", "exact")
#: The setting paths whose keys are job names the user chooses.
JOB_MAPS = ("expect.jobs", "k8s.expect_jobs")


def _job_count(value: Any, key: str) -> int:
    return as_count(value, key, minimum=0, maximum=MAX_TARGETS)


def _job_expectation(job: str, spec: Any, key: str) -> JobExpectation:
    # "=N" / "exactly N": an exact count that, unlike {exact: N}, can override a default
    # count (Invoke cannot merge a mapping over a number).
    exact_text = _EXACT.match(spec) if isinstance(spec, str) else None
    if exact_text:
        count = _job_count(exact_text.group(1), key)
        return JobExpectation(job, minimum=count, exact=count)
    if isinstance(spec, bool) or not isinstance(spec, int | Mapping):
        raise ConfigError(
            f"setting '{key}' must be a count, '=N' (exactly N), {{min: N}} or {{exact: N}}"
        )
    if isinstance(spec, int):
        return JobExpectation(job, minimum=_job_count(spec, key))
    unknown = set(spec) - set(JOB_SPEC_KEYS)
    if unknown:
        raise ConfigError(f"setting '{key}' has unknown keys {sorted(unknown)}: use min or exact")
    exact = spec.get("exact")
    exact_n = None if exact is None else _job_count(exact, f"{key}.exact")
    if spec.get("min") is None:
        # {exact: N} alone holds the job to N, and so to at least N (0 included).
        return JobExpectation(job, minimum=1 if exact_n is None else exact_n, exact=exact_n)
    minimum = _job_count(spec["min"], f"{key}.min")
    if exact_n is not None and minimum > exact_n:
        raise ConfigError(
            f"setting '{key}' asks for at least {minimum} and exactly {exact_n} targets, "
            "which no job can have: give min or exact, not both"
        )
    return JobExpectation(job, minimum=minimum, exact=exact_n)


def job_expectations(jobs: Any, key: str = "expect.jobs") -> tuple[JobExpectation, ...]:
    """A mapping of job name -> count spec as JobExpectations (null drops a job)."""
    if not isinstance(jobs, Mapping):
        raise ConfigError(f"setting '{key}' must map job names to target counts")
    # A job set to null (~) is not expected: how a settings file drops a default job.
    return tuple(
        _job_expectation(str(job), spec, f"{key}.{job}")
        for job, spec in jobs.items()
        if spec is not None
    )


def expectations(config: Any, *, kubernetes: bool = False) -> Expectations:
    """The ``expect`` section as typed, checked ``Expectations`` (all settings checked).

    ``kubernetes`` takes the jobs from ``k8s.expect_jobs`` instead: in a cluster,
    pod discovery puts every scraped pod in one job.
    """
    return load(config).expectations(kubernetes=kubernetes)


def _discovery_job(config: Any) -> str:
    job = section(config, "k8s").get("discovery_job")
    if not isinstance(job, str) or not job.strip():
        raise ConfigError(
            f"k8s.discovery_job is {job!r}: give the name of Prometheus' pod-discovery job"
        )
    return job.strip()


# --- the typed model: every setting checked once ---------------------------------------

#: Invoke's configuration layers, highest priority first (see invoke.config.Config.merge).
_LAYERS = (
    "_modifications",
    "_overrides",
    "_runtime",
    "_env",
    "_project",
    "_user",
    "_system",
    "_collection",
    "_defaults",
)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_COMPOSE_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OFFLINE_MODES = {
    "true": "always", "1": "always", "yes": "always", "always": "always",
    "false": "never", "0": "never", "no": "never", "never": "never",
    "auto": "auto",
}  # fmt: skip


def replacing(config: Any, name: str, key: str) -> Any:
    """``name.key`` from the highest configuration layer that sets it, not merged with lower ones.

    Invoke merges mappings across layers, so a user's ``expect.jobs: {node: 1}`` would
    still expect the sample stack's jobs from the defaults or the project's invoke.yaml.
    A job map describes one deployment: the layer that gives one replaces the others.
    A plain mapping (no layers) is read as it is.
    """
    for layer in _LAYERS:
        data = config.__dict__.get(layer) if hasattr(config, "__dict__") else None
        part = data.get(name) if isinstance(data, Mapping) else None
        if isinstance(part, Mapping) and key in part:
            return part[key]
    return section(config, name).get(key)


def given(config: Any, name: str, key: str) -> bool:
    """Whether ``name.key`` is set above promkit's defaults: the user said something.

    Every layer but Invoke's defaults and the collection's (promkit's ``DEFAULTS``)
    counts; a plain mapping (no layers) gives every key it holds.
    """
    if not hasattr(config, "__dict__") or "_collection" not in config.__dict__:
        return key in section(config, name)
    for layer in _LAYERS[:-2]:
        data = config.__dict__.get(layer)
        part = data.get(name) if isinstance(data, Mapping) else None
        if isinstance(part, Mapping) and key in part:
            return True
    return False


def describes_sample(config: Any) -> bool:
    """Whether the settings still describe the sample service: its job maps and its guide.

    A settings file naming its own jobs (expect.jobs, k8s.expect_jobs) or its own
    queries.guide describes another deployment, which the sample's rules do not fit.
    """
    jobs = replacing(config, "expect", "jobs")
    k8s_jobs = replacing(config, "k8s", "expect_jobs")
    guide = section(config, "queries").get("guide")
    return (
        isinstance(jobs, Mapping)
        and dict(jobs) == DEFAULTS["expect"]["jobs"]
        and isinstance(k8s_jobs, Mapping)
        and dict(k8s_jobs) == DEFAULTS["k8s"]["expect_jobs"]
        and guide == DEFAULTS["queries"]["guide"]
    )


_NONE_WORDS = {"", "false", "no", "0", "none", "null"}


def _watchdog(value: Any) -> str | None:
    if value is None or value is False:
        return None
    if not isinstance(value, str) or isinstance(value, bool):
        raise ConfigError(
            f"setting 'expect.watchdog' must be the name of an alert that always fires, or "
            f"false for none, got {value!r}"
        )
    return None if value.strip().lower() in _NONE_WORDS else value.strip()


def rule_expectations(config: Any) -> dict[str, Any]:
    """expect.rules and expect.watchdog, checked: the Expectations fields they give.

    The sample's defaults apply only where the user said nothing otherwise: ``rules``
    left true with the shipped compose.prometheus_config, by settings naming their own
    jobs or guide, declares nothing (``rules_declared`` False); ``watchdog`` unset is the
    sample's Watchdog only where the expected rules are the shipped config's.
    """
    s = section(config, "expect")
    raw = s.get("rules")
    groups: tuple[str, ...] | None = None
    if isinstance(raw, list | tuple):
        groups = tuple(
            as_text(group, f"expect.rules[{i}]", what="a group name") for i, group in enumerate(raw)
        )
        if not groups:
            raise ConfigError(
                "setting 'expect.rules' lists no group: name the groups the server must "
                "load, or set it to false for a deployment without rules"
            )
    flag = True if groups else as_bool(raw, "expect.rules")
    config_file = section(config, "compose").get("prometheus_config")
    shipped = config_file == DEFAULTS["compose"]["prometheus_config"]
    from_config = flag and groups is None
    said = given(config, "expect", "rules") or not shipped
    declared = not from_config or said or describes_sample(config)
    watchdog = _watchdog(s.get("watchdog"))  # checked wherever it came from
    if not given(config, "expect", "watchdog"):
        watchdog = DEFAULTS["expect"]["watchdog"] if from_config and declared and shipped else None
    return {"rules": flag, "rule_groups": groups, "rules_declared": declared, "watchdog": watchdog}


def as_count(value: Any, key: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as a whole number from ``minimum`` to ``maximum``, or a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"setting '{key}' must be a whole number, got {value!r}")
    number = as_float(value, key, minimum=minimum, maximum=maximum)
    if number != int(number):
        raise ConfigError(f"setting '{key}' must be a whole number, got {value!r}")
    return int(number)


def as_positive(
    value: Any, key: str, *, maximum: float = MAX_TIMEOUT_S, unit: str = "seconds"
) -> float:
    """``value`` as a number of ``unit`` above 0, at most ``maximum``, or a ConfigError."""
    number = as_float(value, key, minimum=-math.inf, maximum=maximum)
    if number <= 0:
        raise ConfigError(f"setting '{key}' must be more than 0 {unit}, got {value!r}")
    return number


def as_kubernetes_version(value: Any, key: str = "k8s.kubernetes_version") -> str:
    """``value`` as a Kubernetes version kubernetes-validate ships schemas for, or a ConfigError.

    ``1.32``, ``1.32.0`` and ``v1.32`` are accepted: kubernetes-validate maps each to the
    schemas of 1.32. Its folder of schemas is listed, not imported (a slow import).
    """
    text = as_text(value, key, what="a Kubernetes version such as 1.32")
    known = kubernetes_versions()
    found = _KUBE_VERSION.match(text)
    if found and (not known or f"{found.group(1)}.{found.group(2)}" in known):
        return text
    shipped = f"{known[0]} to {known[-1]}" if known else "none"
    raise ConfigError(
        f"setting '{key}' must be a Kubernetes version kubernetes-validate has schemas for "
        f"({shipped}, e.g. 1.32 or 1.32.0), got {value!r}"
    )


def kubernetes_versions() -> list[str]:
    """The Kubernetes minor versions (``1.32``) kubernetes-validate ships schemas for, in order."""
    from importlib.util import find_spec

    spec = find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"
    names = (_SCHEMA_FOLDER.match(p.name) for p in folder.iterdir()) if folder.is_dir() else ()
    versions = {(int(m.group(1)), int(m.group(2))) for m in names if m}
    return [f"{major}.{minor}" for major, minor in sorted(versions)]


_KUBE_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?$")
_SCHEMA_FOLDER = re.compile(r"^v(\d+)\.(\d+)\.\d+-local$")


def as_text(value: Any, key: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
    """``value`` as a non-empty string (matching ``pattern``), or a ConfigError naming ``key``."""
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise ConfigError(f"setting '{key}' must be {what or 'a non-empty string'}, got {value!r}")
    text = str(value).strip()
    if pattern is not None and not pattern.match(text):
        raise ConfigError(f"setting '{key}' must be {what}, got {value!r}")
    return text


def as_optional_text(value: Any, key: str) -> str | None:
    """``value`` as a string, or None when unset (null or empty)."""
    return None if value is None or value == "" else as_text(value, key)


def as_bool(value: Any, key: str) -> bool:
    """``value`` as a flag (true/false, 1/0, yes/no), or a ConfigError naming ``key``."""
    if isinstance(value, bool):
        return value
    words = {
        "true": True,
        "1": True,
        "yes": True,
        "false": False,
        "0": False,
        "no": False,
        "": False,
    }
    found = words.get(str(value).strip().lower()) if isinstance(value, str | int) else None
    if found is None:
        raise ConfigError(f"setting '{key}' must be true or false, got {value!r}")
    return found


_PROMETHEUS_CREDENTIALS = (
    "set PROMKIT_PROMETHEUS_USERNAME and PROMKIT_PROMETHEUS_PASSWORD (or their *_file "
    "settings) instead"
)


def check_url(url: str, name: str, example: str, credentials: str = _PROMETHEUS_CREDENTIALS) -> str:
    """``url`` (an http(s) URL with a host, no credentials) without a trailing slash, or a
    ConfigError: ``name`` says what it is, ``example`` how to give a good one.

    The one rule for every URL promkit is given: settings, --url, the app's URL.
    """
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(str(url).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} {url!r} is not an http(s) URL: {example}")
    if parts.username or parts.password:
        raise ConfigError(f"{name} must not contain credentials: {credentials}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def as_url(value: Any, key: str) -> str:
    """Setting ``key`` as an http(s) URL, or a ConfigError naming it."""
    text = as_text(value, key, what="an http:// or https:// URL")
    return check_url(text, f"setting '{key}'", f"set {key} to e.g. {DEFAULT_URLS[key]}")


def as_offline_mode(value: Any) -> str:
    """Setting images.offline as 'always', 'never' or 'auto', or a ConfigError."""
    mode = _OFFLINE_MODES.get(str(value).strip().lower())
    if mode is None:
        raise ConfigError(f"setting 'images.offline' must be true, false or auto, got {value!r}")
    return mode


@dataclass(frozen=True)
class PrometheusSettings:
    """Where Prometheus answers and where its credentials are read from (never the values)."""

    url: str
    timeout: float
    username_env: str
    password_env: str
    token_env: str
    password_file: str | None
    token_file: str | None
    ca_file: str | None


@dataclass(frozen=True)
class ComposeSettings:
    """The compose project deploy.local runs."""

    file: str
    project: str
    wait_timeout: int
    app_url: str
    prometheus_config: str
    auth: bool
    state_dir: str


@dataclass(frozen=True)
class TrafficSettings:
    """Defaults of ``inv traffic`` and the stack's own demo traffic."""

    count: int
    duration: float
    invalid_every: int
    demo_rate: float


@dataclass(frozen=True)
class ImagesSettings:
    """Where images come from: ``offline`` is 'always', 'never' or 'auto'."""

    offline: str
    cache_dir: str


@dataclass(frozen=True)
class K8sSettings:
    """The cluster deploy.k8s and verify --context work on."""

    context: str | None
    namespace: str
    app_namespace: str
    kustomization: str
    rollout_timeout: float
    kubernetes_version: str
    promtool: str | None
    allow_exposed_services: bool
    port_forward_timeout: float
    expect_jobs: tuple[JobExpectation, ...]
    discovery_job: str


@dataclass(frozen=True)
class ReportSettings:
    """What --report and the browser check use: the browser's paths, page timeout, log lines."""

    chromium: str
    chromedriver: str
    page_timeout: float
    log_lines: int


@dataclass(frozen=True)
class AlertSettings:
    """Where verify.alerts finds Alertmanager and the sink; what check.alerts checks."""

    alertmanager_url: str
    sink_url: str | None
    config: str
    amtool: str | None
    always_firing: tuple[str, ...]
    watchdog_receiver: str
    delivery_margin: float


@dataclass(frozen=True)
class Settings:
    """Every promkit setting, typed and checked: what ``load`` returns."""

    prometheus: PrometheusSettings
    expect: Expectations
    queries_guide: str
    compose: ComposeSettings
    traffic: TrafficSettings
    images: ImagesSettings
    k8s: K8sSettings
    report: ReportSettings
    alerts: AlertSettings

    def expectations(self, *, kubernetes: bool = False) -> Expectations:
        """What verify checks: on Kubernetes, the jobs of k8s.expect_jobs and the discovery job."""
        if not kubernetes:
            return self.expect
        return replace(self.expect, jobs=self.k8s.expect_jobs, discovery_job=self.k8s.discovery_job)


def _prometheus(config: Any) -> PrometheusSettings:
    s = section(config, "prometheus")
    env_name = "an environment variable name"

    def env(key: str) -> str:
        return as_text(s.get(key), f"prometheus.{key}", _ENV_NAME, env_name)

    ca_file = as_optional_text(s.get("ca_file"), "prometheus.ca_file")
    if ca_file and not Path(ca_file).expanduser().is_file():
        raise ConfigError(f"setting 'prometheus.ca_file': {ca_file} is not a file")
    return PrometheusSettings(
        url=as_url(s.get("url"), "prometheus.url"),
        timeout=as_positive(s.get("timeout"), "prometheus.timeout"),
        username_env=env("username_env"),
        password_env=env("password_env"),
        token_env=env("token_env"),
        password_file=as_optional_text(s.get("password_file"), "prometheus.password_file"),
        token_file=as_optional_text(s.get("token_file"), "prometheus.token_file"),
        ca_file=str(Path(ca_file).expanduser()) if ca_file else None,
    )


def _milliseconds(value: Any, key: str) -> float:
    return as_positive(value, key, maximum=MAX_LATENCY_MS, unit="ms")


def _expect(config: Any) -> Expectations:
    s = section(config, "expect")
    jobs = replacing(config, "expect", "jobs")
    return Expectations(
        jobs=job_expectations({} if jobs is None else jobs),
        scrape_interval=as_duration(s.get("scrape_interval"), "expect.scrape_interval"),
        evaluation_interval=as_duration(s.get("evaluation_interval"), "expect.evaluation_interval"),
        retention=as_duration(s.get("retention"), "expect.retention"),
        health_latency_ms=_milliseconds(s.get("health_latency_ms"), "expect.health_latency_ms"),
        scrape_duration_ms=_milliseconds(s.get("scrape_duration_ms"), "expect.scrape_duration_ms"),
        **rule_expectations(config),
    )


def _compose(config: Any) -> ComposeSettings:
    s = section(config, "compose")
    project_rule = "a compose project name (lowercase letters, digits, '-' and '_')"
    return ComposeSettings(
        file=as_text(s.get("file"), "compose.file", what="the path of a compose file"),
        project=as_text(s.get("project"), "compose.project", _COMPOSE_PROJECT, project_rule),
        wait_timeout=as_count(
            s.get("wait_timeout"), "compose.wait_timeout", maximum=int(MAX_TIMEOUT_S)
        ),
        app_url=as_url(s.get("app_url"), "compose.app_url"),
        prometheus_config=as_text(
            s.get("prometheus_config"), "compose.prometheus_config", what="a file path"
        ),
        auth=as_bool(s.get("auth"), "compose.auth"),
        state_dir=as_text(s.get("state_dir"), "compose.state_dir", what="a folder path"),
    )


def _traffic(config: Any) -> TrafficSettings:
    s = section(config, "traffic")
    rate = as_float(s.get("demo_rate"), "traffic.demo_rate")
    if rate > MAX_DEMO_RATE:
        raise ConfigError(
            f"setting 'traffic.demo_rate' must be from 0 (off) to {MAX_DEMO_RATE:g} webhooks "
            f"a second, got {s.get('demo_rate')!r}"
        )
    return TrafficSettings(
        count=as_count(s.get("count"), "traffic.count", maximum=MAX_TRAFFIC_COUNT),
        duration=as_positive(s.get("duration"), "traffic.duration", maximum=MAX_TRAFFIC_DURATION_S),
        invalid_every=as_count(
            s.get("invalid_every"), "traffic.invalid_every", minimum=0, maximum=MAX_TRAFFIC_COUNT
        ),
        demo_rate=rate,
    )


def _images(config: Any) -> ImagesSettings:
    s = section(config, "images")
    return ImagesSettings(
        offline=as_offline_mode(s.get("offline")),
        cache_dir=as_text(s.get("cache_dir"), "images.cache_dir", what="a folder path"),
    )


def _k8s(config: Any) -> K8sSettings:
    s = section(config, "k8s")
    label = "a Kubernetes namespace name (lowercase letters, digits and '-')"
    jobs = replacing(config, "k8s", "expect_jobs")
    return K8sSettings(
        context=as_optional_text(s.get("context"), "k8s.context"),
        namespace=as_text(s.get("namespace"), "k8s.namespace", _DNS_LABEL, label),
        app_namespace=as_text(s.get("app_namespace"), "k8s.app_namespace", _DNS_LABEL, label),
        kustomization=as_text(s.get("kustomization"), "k8s.kustomization", what="a folder path"),
        rollout_timeout=as_float(
            s.get("rollout_timeout"), "k8s.rollout_timeout", minimum=1, maximum=MAX_TIMEOUT_S
        ),
        kubernetes_version=as_kubernetes_version(s.get("kubernetes_version")),
        promtool=as_optional_text(s.get("promtool"), "k8s.promtool"),
        allow_exposed_services=as_bool(
            s.get("allow_exposed_services"), "k8s.allow_exposed_services"
        ),
        port_forward_timeout=as_positive(s.get("port_forward_timeout"), "k8s.port_forward_timeout"),
        expect_jobs=job_expectations({} if jobs is None else jobs, "k8s.expect_jobs"),
        discovery_job=_discovery_job(config),
    )


def _report(config: Any) -> ReportSettings:
    s = section(config, "report")
    return ReportSettings(
        chromium=as_text(s.get("chromium"), "report.chromium", what="a file path"),
        chromedriver=as_text(s.get("chromedriver"), "report.chromedriver", what="a file path"),
        page_timeout=as_positive(s.get("page_timeout"), "report.page_timeout"),
        log_lines=as_count(s.get("log_lines"), "report.log_lines", maximum=MAX_LOG_LINES),
    )


def _alerts(config: Any) -> AlertSettings:
    s = section(config, "alerts")
    sink = as_optional_text(s.get("sink_url"), "alerts.sink_url")
    names = s.get("always_firing") or []
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(
            f"setting 'alerts.always_firing' must be a list of alert names, got {names!r}"
        )
    return AlertSettings(
        alertmanager_url=as_url(s.get("alertmanager_url"), "alerts.alertmanager_url"),
        sink_url=as_url(sink, "alerts.sink_url") if sink else None,
        config=as_text(s.get("config"), "alerts.config", what="a file path"),
        amtool=as_optional_text(s.get("amtool"), "alerts.amtool"),
        always_firing=tuple(names),
        watchdog_receiver=as_text(
            s.get("watchdog_receiver"), "alerts.watchdog_receiver", what="a receiver name"
        ),
        delivery_margin=as_float(
            s.get("delivery_margin"), "alerts.delivery_margin", maximum=MAX_TIMEOUT_S
        ),
    )


def load(config: Any) -> Settings:
    """Every setting of ``config`` (an Invoke config) checked and typed; a ConfigError for the
    first bad value, naming its key, what it must be and what it is.
    """
    for name in DEFAULTS:
        section(config, name)
    guide = section(config, "queries").get("guide")
    return Settings(
        prometheus=_prometheus(config),
        expect=_expect(config),
        queries_guide=as_text(guide, "queries.guide", what="the path of a metrics guide"),
        compose=_compose(config),
        traffic=_traffic(config),
        images=_images(config),
        k8s=_k8s(config),
        report=_report(config),
        alerts=_alerts(config),
    )


def data_path(relative: str) -> Path:
    """A file or folder promkit ships (compose/, config/, k8s/, docs/), as a real path.

    docker compose and kubectl read it from disk, so a zipped install cannot serve it.
    """
    found = resources.files("promkit") / "data" / relative
    if not isinstance(found, Path):
        raise ConfigError("promkit's data is not on disk (zipped install?): pip install promkit")
    return found


#: The path settings whose defaults name what promkit ships (package data).
_SHIPPED = frozenset(
    Path(DEFAULTS[name][key])
    for name, key in (
        ("compose", "file"),
        ("compose", "prometheus_config"),
        ("k8s", "kustomization"),
        ("queries", "guide"),
        ("alerts", "config"),
    )
)


def repo_path(value: str) -> Path:
    """``value`` as a path: a shipped default from promkit's data, else from the current folder.

    So promkit needs no checkout, and a user's own relative path is theirs.
    """
    path = Path(value)
    if path.is_absolute():
        return path
    return data_path(str(path)) if path in _SHIPPED else Path.cwd() / path


def checkout_path(relative: str, needed_by: str) -> Path:
    """A path of promkit's source checkout (images/, sample_app/, scripts/), or a ConfigError.

    Those are not in the package: ``needed_by`` names what the user asked for.
    """
    path = ROOT / relative
    if not path.exists():
        raise ConfigError(
            f"{needed_by} needs {relative} from promkit's source checkout, which this "
            "install lacks: run it from a clone of the promkit repository"
        )
    return path
