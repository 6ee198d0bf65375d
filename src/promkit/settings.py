"""promkit's settings: defaults, and typed views over Invoke's configuration.

Every setting lives in Invoke's configuration tree, so it can come from
``invoke.yaml``, a file given with ``inv -f``, ``INVOKE_*`` environment variables
or task flags. ``DEFAULTS`` declares all of them; the views below read and
check them, raising ``ConfigError`` with one line naming the bad key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from promkit.durations import parse_duration
from promkit.errors import ConfigError

#: Where a source checkout's root would be (tasks.py, images/, sample_app/, scripts/).
#: Installed from a wheel, it holds none of them: see ``checkout_path``.
ROOT = Path(__file__).resolve().parents[2]

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
        "cache_dir": "/var/cache/promkit",
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
}


def section(config: Any, name: str) -> Mapping[str, Any]:
    """The settings section ``name`` of an Invoke config, or a ConfigError."""
    value = config.get(name) if hasattr(config, "get") else None
    if not isinstance(value, Mapping):
        raise ConfigError(f"setting '{name}' must be a mapping (check invoke.yaml)")
    return value


def as_float(value: Any, key: str, *, minimum: float = 0.0) -> float:
    """``value`` as a float no smaller than ``minimum``, or a ConfigError naming ``key``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting '{key}' must be a number, got {value!r}") from None
    if number < minimum or number != number:
        raise ConfigError(f"setting '{key}' must be at least {minimum:g}, got {value!r}")
    return number


def as_duration(value: Any, key: str) -> str:
    """``value`` checked to be a Prometheus duration, or a ConfigError naming ``key``."""
    try:
        parse_duration(str(value))
    except ValueError as exc:
        raise ConfigError(f"setting '{key}': {exc}") from None
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


_EXACT = re.compile(r"^\s*(?:=|exactly\s+)(\d+)\s*$")


def _job_expectation(job: str, spec: Any) -> JobExpectation:
    key = f"expect.jobs.{job}"
    # "=N" / "exactly N": an exact count that, unlike {exact: N}, can override a default
    # count (Invoke cannot merge a mapping over a number).
    exact_text = _EXACT.match(spec) if isinstance(spec, str) else None
    if exact_text:
        count = int(exact_text.group(1))
        return JobExpectation(job, minimum=count, exact=count)
    if isinstance(spec, bool) or not isinstance(spec, int | Mapping):
        raise ConfigError(
            f"setting '{key}' must be a count, '=N' (exactly N), {{min: N}} or {{exact: N}}"
        )
    if isinstance(spec, int):
        return JobExpectation(job, minimum=int(as_float(spec, key)))
    unknown = set(spec) - {"min", "exact"}
    if unknown:
        raise ConfigError(f"setting '{key}' has unknown keys {sorted(unknown)}: use min or exact")
    exact = spec.get("exact")
    exact_n = None if exact is None else int(as_float(exact, f"{key}.exact"))
    minimum = int(as_float(spec.get("min", exact_n or 1), f"{key}.min"))
    return JobExpectation(job, minimum=minimum, exact=exact_n)


def job_expectations(jobs: Any, key: str = "expect.jobs") -> tuple[JobExpectation, ...]:
    """A mapping of job name -> count spec as JobExpectations (null drops a job)."""
    if not isinstance(jobs, Mapping):
        raise ConfigError(f"setting '{key}' must map job names to target counts")
    # A job set to null (~) is not expected: how a settings file drops a default job.
    return tuple(_job_expectation(str(job), spec) for job, spec in jobs.items() if spec is not None)


def expectations(config: Any, *, kubernetes: bool = False) -> Expectations:
    """The ``expect`` section as typed, checked ``Expectations``.

    ``kubernetes`` takes the jobs from ``k8s.expect_jobs`` instead: in a cluster,
    pod discovery puts every scraped pod in one job.
    """
    expect = section(config, "expect")
    if kubernetes:
        jobs = job_expectations(section(config, "k8s").get("expect_jobs"), "k8s.expect_jobs")
    else:
        jobs = job_expectations(expect.get("jobs") or {})
    return Expectations(
        jobs=jobs,
        scrape_interval=as_duration(expect.get("scrape_interval"), "expect.scrape_interval"),
        evaluation_interval=as_duration(
            expect.get("evaluation_interval"), "expect.evaluation_interval"
        ),
        retention=as_duration(expect.get("retention"), "expect.retention"),
        health_latency_ms=as_float(expect.get("health_latency_ms"), "expect.health_latency_ms"),
        scrape_duration_ms=as_float(expect.get("scrape_duration_ms"), "expect.scrape_duration_ms"),
        discovery_job=_discovery_job(config) if kubernetes else "kubernetes-pods",
    )


def _discovery_job(config: Any) -> str:
    job = section(config, "k8s").get("discovery_job")
    if not isinstance(job, str) or not job.strip():
        raise ConfigError(
            f"k8s.discovery_job is {job!r}: give the name of Prometheus' pod-discovery job"
        )
    return job.strip()


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
