"""Issue 22's measurement: `inv --list` with the hand-written settings model vs pydantic.

``python bench/settings_library.py PYTHON [RUNS]``: PYTHON is the interpreter of a venv
holding promkit (editable) and pydantic; the prototype below is promkit's settings
model in pydantic v2 (extra="forbid", allow_inf_nan=False, the same bounds). Each
variant is a new ``inv --list`` process, interleaved (the machine may be shared), the
first round dropped. docs/settings-errors.md has the numbers and the decision.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTOTYPE = """
from typing import Annotated, Literal, Union
from pydantic import BaseModel, ConfigDict, Field

Strict = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
Seconds = Annotated[float, Field(gt=0, le=3600)]
Ms = Annotated[float, Field(gt=0, le=60000)]
Count = Annotated[int, Field(ge=0, le=10000)]
Env = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Label = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]

class JobSpec(BaseModel):
    model_config = Strict
    min: Count | None = None
    exact: Count | None = None

Job = Union[Count, str, JobSpec, None]

class Prometheus(BaseModel):
    model_config = Strict
    url: str = "http://127.0.0.1:9090"
    timeout: Seconds = 5.0
    username_env: Env = "U"
    password_env: Env = "P"
    password_file: str | None = None
    token_env: Env = "T"
    token_file: str | None = None
    ca_file: str | None = None

class Expect(BaseModel):
    model_config = Strict
    jobs: dict[str, Job] = {}
    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"
    retention: str = "30d"
    health_latency_ms: Ms = 50.0
    scrape_duration_ms: Ms = 100.0
    rules: bool = True

class Queries(BaseModel):
    model_config = Strict
    guide: str = "docs/operations/metrics-guide.md"

class Compose(BaseModel):
    model_config = Strict
    file: str = "compose/compose.yaml"
    project: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")] = "promkit"
    wait_timeout: Annotated[int, Field(ge=1, le=3600)] = 180
    app_url: str = "http://127.0.0.1:8000"
    prometheus_config: str = "config/prometheus/prometheus.yml"
    auth: bool = False

class Traffic(BaseModel):
    model_config = Strict
    count: Annotated[int, Field(ge=1, le=10000)] = 60
    duration: Annotated[float, Field(gt=0, le=600)] = 30
    invalid_every: Count = 20
    demo_rate: Annotated[float, Field(ge=0, le=5)] = 2

class Images(BaseModel):
    model_config = Strict
    offline: Literal["auto", "true", "false", True, False] = "auto"
    cache_dir: str = "/var/cache/promkit"

class K8s(BaseModel):
    model_config = Strict
    context: str | None = None
    namespace: Label = "monitoring"
    app_namespace: Label = "promkit-sample"
    kustomization: str = "k8s"
    rollout_timeout: Annotated[float, Field(ge=1, le=3600)] = 180
    kubernetes_version: str = "1.32"
    promtool: str | None = None
    allow_exposed_services: bool = False
    port_forward_timeout: Seconds = 30
    expect_jobs: dict[str, Job] = {}
    discovery_job: str = "kubernetes-pods"

class Report(BaseModel):
    model_config = Strict
    chromium: str = "/usr/bin/chromium"
    chromedriver: str = "/usr/bin/chromedriver"
    page_timeout: Seconds = 15
    log_lines: Annotated[int, Field(ge=1, le=10000)] = 50

class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    prometheus: Prometheus = Prometheus()
    expect: Expect = Expect()
    queries: Queries = Queries()
    compose: Compose = Compose()
    traffic: Traffic = Traffic()
    images: Images = Images()
    k8s: K8s = K8s()
    report: Report = Report()

Settings.model_validate({"expect": {"jobs": {"a": 1, "b": {"exact": 2}}}})
"""
LIST = "from invoke.main import program; program.run(['inv', '--list'])"


def main(python: str, runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "proto_pydantic.py").write_text(PROTOTYPE)
        with_model = f"import sys; sys.path.insert(0, {folder!r}); import proto_pydantic; {LIST}"
        cases = {"hand-written (today)": LIST, "+ the pydantic model": with_model}
        times: dict[str, list[float]] = {name: [] for name in cases}
        for round_ in range(runs + 1):
            for name, code in cases.items():
                start = time.perf_counter()
                subprocess.run(
                    [python, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL, check=True
                )
                if round_:
                    times[name].append((time.perf_counter() - start) * 1000)
    for name, ms in times.items():
        print(f"inv --list, {name}: median {statistics.median(ms):.0f} ms, "
              f"fastest {min(ms):.0f} ms ({runs} runs)")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20)
