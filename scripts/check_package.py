"""`nox -s package`: promkit installed from its wheel works with no checkout in sight.

Builds the sdist and, from it, the wheel (``python -m build``); checks that both carry
what promkit deploys as real files; installs the wheel in a fresh venv in a temporary
folder; then, from an empty folder holding only a promkit.yaml and its own metrics
guide, runs ``promkit --list`` and ``promkit verify.all --url`` against a real
Prometheus started here (Debian's /usr/bin/prometheus, or $PROMKIT_PROMETHEUS3_BIN)
that scrapes itself. Then ``promkit auth.local``, ``deploy.local --dry-run`` and
``destroy.local --volumes`` (on a compose project of its own, which never exists) must
leave every file of the installed package as it was: promkit's state goes to the
folder's .promkit/<project>/. Any failure ends the script with the command's output.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import sh
import yaml

from tests.support import PrometheusServer, config, free_port, scrape_config

REPO = Path(__file__).resolve().parents[1]
#: The compose project of the folder: no container of it ever runs.
PROJECT = "promkit-package-check"
#: What promkit deploys, as the wheel holds it (the sdist under src/).
SHIPPED = (
    "promkit/data/compose/compose.yaml",
    "promkit/data/compose/compose.auth.yaml",
    "promkit/data/config/prometheus/prometheus.yml",
    "promkit/data/config/alertmanager/alertmanager.yml",
    "promkit/data/config/prometheus/prometheus-k8s.yml",
    "promkit/data/config/prometheus/kustomization.yaml",
    "promkit/data/k8s/kustomization.yaml",
    "promkit/data/k8s/prometheus/deployment.yaml",
    "promkit/data/docs/operations/metrics-guide.md",
)
#: The user's own guide: queries that have data on a Prometheus scraping only itself.
GUIDE = """# Our metrics

## Sample PromQL queries

### Targets up

```promql
up{job="prometheus"}
```

### Samples appended

```promql
prometheus_tsdb_head_samples_appended_total
```
"""

#: The user's own rule file, beside their prometheus.yml (setting compose.prometheus_config):
#: verify.all's verify.rules holds their server to it, not to the sample service's rules.
OWN_RULES = "rules/own.rules.yml"
RULES = """groups:
  - name: own.rules
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Watchdog
        expr: vector(1)
"""


def log(message: str) -> None:
    print(f"package: {message}", flush=True)


def fail(message: str) -> NoReturn:
    sys.exit(f"package: FAILED: {message}")


def fresh_tree(dest: Path) -> Path:
    """The checkout's files as a fresh clone has them (links as links), copied to ``dest``.

    Building in the checkout itself would let a stale src/promkit.egg-info/SOURCES.txt
    put files into the sdist that the package data settings leave out.
    """
    listed = sh.git("-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard")
    for name in str(listed).splitlines():
        source, target = REPO / name, dest / name
        if source.is_symlink() or source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
    return dest


def build(tree: Path, out: Path) -> tuple[Path, Path]:
    """The sdist of ``tree`` and the wheel built from that sdist, in ``out``."""
    log(f"building the sdist and wheel of {REPO} (a fresh copy in {tree})")
    sh.Command(sys.executable)("-m", "build", "--outdir", str(out), str(tree), _fg=True)
    sdists, wheels = list(out.glob("*.tar.gz")), list(out.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        fail(f"expected one sdist and one wheel in {out}, found {sdists + wheels}")
    return sdists[0], wheels[0]


def check_contents(sdist: Path, wheel: Path) -> None:
    """Both archives hold every shipped file as a file (not a link), the wheel the script."""
    with tarfile.open(sdist) as tar:
        members = {member.name.split("/", 1)[-1]: member for member in tar.getmembers()}
    for name in SHIPPED:
        member = members.get(f"src/{name}")
        if member is None or not member.isfile():
            fail(f"{sdist.name} lacks src/{name} as a regular file")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), "")
        scripts = archive.read(entry_points).decode() if entry_points else ""
    missing = [name for name in SHIPPED if name not in names]
    if missing:
        fail(f"{wheel.name} lacks {', '.join(missing)}")
    # A checkout's old compose/.env and compose/.auth/ (bcrypt hashes, a password) must
    # never be packaged (promkit now writes them to .promkit/<project>/).
    hidden = [name for name in names | set(members) if "/." in name]
    if hidden:
        fail(f"the archives carry hidden files: {', '.join(sorted(hidden))}")
    if "promkit = promkit.cli:main" not in scripts:
        fail(f"{wheel.name} declares no `promkit` console script")
    log(f"{sdist.name} and {wheel.name} carry all {len(SHIPPED)} shipped files")


def install(wheel: Path, venv: Path) -> tuple[Path, Path]:
    """A fresh venv with only the wheel (and its dependencies): its ``promkit`` script,
    and the folder the venv imports promkit from."""
    log(f"installing {wheel.name} into {venv}")
    sh.Command(sys.executable)("-m", "venv", str(venv))
    sh.Command(str(venv / "bin" / "pip"))("install", "--quiet", str(wheel), _fg=True)
    where = sh.Command(str(venv / "bin" / "python"))(
        "-c", "import promkit; print(promkit.__file__)"
    )
    if not Path(where.strip()).is_relative_to(venv):
        fail(f"the venv imports promkit from {where.strip()}, not from the wheel")
    return venv / "bin" / "promkit", Path(where.strip()).parent


@contextmanager
def prometheus(folder: Path) -> Iterator[str]:
    """A real Prometheus scraping itself every second on a free loopback port: its URL.

    It runs the user's config and rule file, which are written to ``folder`` too (the
    files promkit.yaml names). Debian's /usr/bin/prometheus, or $PROMKIT_PROMETHEUS3_BIN;
    started and stopped by pid as every test suite does (tests.support).
    """
    binary = os.environ.get("PROMKIT_PROMETHEUS3_BIN") or "/usr/bin/prometheus"
    server = PrometheusServer(
        binary, {}, flags=["--storage.tsdb.retention.time=30d"], files={OWN_RULES: RULES}
    )
    scrapes = config(scrape_config("prometheus", f"127.0.0.1:{server.port}"), scrape="1s",
                     evaluation="1s")  # fmt: skip
    server.config = {**scrapes, "rule_files": ["rules/*.rules.yml"]}
    (folder / "prometheus.yml").write_text(yaml.safe_dump(dict(server.config), sort_keys=False))
    (folder / OWN_RULES).parent.mkdir()
    (folder / OWN_RULES).write_text(RULES)
    log(f"starting {binary} at {server.url}")
    try:
        yield server.start().url
    finally:
        server.stop()
        log("stopped Prometheus")


def project_folder(folder: Path) -> Path:
    """An empty folder but for promkit.yaml and the guide and config it names."""
    folder.mkdir()
    settings = {
        # The user's job map replaces the sample's (fastapi-app, celery-workers): verify.all
        # would fail on their absence if the two maps were merged.
        "expect": {
            "jobs": {"prometheus": 1},
            "scrape_interval": "1s",
            "evaluation_interval": "1s",
            "retention": "30d",
            # A packaging check, not a latency one: the machine may be busy.
            "health_latency_ms": 1000,
            "scrape_duration_ms": 1000,
            # Their own always-firing alert: not assumed for a config of one's own.
            "watchdog": "Watchdog",
        },
        "queries": {"guide": "guide.md"},
        # The user's Prometheus config (prometheus() writes it): its rule_files are the
        # rules verify.rules expects loaded.
        "compose": {"prometheus_config": "prometheus.yml", "project": PROJECT},
    }
    (folder / "promkit.yaml").write_text(yaml.safe_dump(settings))
    (folder / "guide.md").write_text(GUIDE)
    return folder


def run_promkit(promkit: Path, folder: Path, *args: str, **extra_env: str) -> str:
    """``promkit ARGS`` in ``folder``; its output, or the script fails with it."""
    log(f"$ promkit {' '.join(args)}  (in {folder})")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    env["HOME"] = str(folder)  # no ~/.invoke.yaml of the machine's user
    env.update(extra_env)
    try:
        out = str(sh.Command(str(promkit))(*args, _cwd=str(folder), _env=env, _err_to_out=True))
    except sh.ErrorReturnCode as exc:
        fail(f"promkit {' '.join(args)} exited {exc.exit_code}:\n{exc.stdout.decode()}")
    print(out, end="")
    return out


def check_promkit(promkit: Path, folder: Path, url: str) -> None:
    listed = run_promkit(promkit, folder, "--list")
    for name in ("verify.all", "deploy.local", "deploy.k8s"):
        if name not in listed:
            fail(f"`promkit --list` does not list {name}")
    # Prometheus discovers its static targets a few seconds after it starts: let
    # verify.all wait for the first scrapes (it gives up at the first green round).
    out = run_promkit(promkit, folder, "verify.all", "--url", url, "--wait", "30")
    for line in ("query: Targets up", "query: Samples appended"):
        if line not in out:
            fail(f"verify.all did not run the folder's own guide ({line!r} missing)")
    if "group own.rules: 2 rules" not in out:
        fail(f"verify.rules did not hold the server to the folder's own {OWN_RULES}")


def listing(package: Path) -> dict[str, str]:
    """Every file of the installed package (bytecode caches aside, hidden files too) -> sha256."""
    return {
        str(path.relative_to(package)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(package.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def check_writes_nothing_in_the_package(promkit: Path, folder: Path, package: Path) -> None:
    """auth.local, deploy.local --dry-run and destroy.local --volumes write their state in
    ``folder``/.promkit/PROJECT/ (auth.local used to write into site-packages)."""
    before = listing(package)
    state = folder / ".promkit" / PROJECT
    env = {
        "PROMKIT_PROMETHEUS_PASSWORD": "package-check-secret",
        "PROMKIT_PROMETHEUS_PORT": str(free_port()),
        "PROMKIT_APP_PORT": str(free_port()),
        # The wheel has no sample_app/ to build promkit/sample-app from: an image of another
        # name is one a dry run would pull (it only prints that), whatever Docker holds.
        "PROMKIT_APP_IMAGE": "promkit-package-check/app:0",
        # HOME is the folder: the compose plugin is found in the machine's Docker config.
        "DOCKER_CONFIG": os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker"),
    }
    run_promkit(promkit, folder, "auth.local", **env)
    if not (state / "auth" / "web" / "web.yml").is_file():
        fail(f"auth.local wrote no {state}/auth/web/web.yml")
    out = run_promkit(promkit, folder, "deploy.local", "--dry-run", **env)
    if f"--project-name {PROJECT} --env-file {state / '.env'} up " not in out:
        fail(f"deploy.local --dry-run would not run compose with --env-file {state / '.env'}")
    run_promkit(promkit, folder, "destroy.local", "--volumes", **env)
    if state.exists():
        fail(f"destroy.local --volumes left {state}")
    after = listing(package)
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    if changed:
        fail(f"promkit wrote into its installed package {package}: {', '.join(changed)}")
    log(f"the {len(before)} files of {package} are unchanged; the state went to {state}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="promkit-package-") as temporary:
        work = Path(temporary)
        sdist, wheel = build(fresh_tree(work / "tree"), work / "dist")
        check_contents(sdist, wheel)
        promkit, package = install(wheel, work / "venv")
        folder = project_folder(work / "project")
        with prometheus(folder) as url:
            check_promkit(promkit, folder, url)
        check_writes_nothing_in_the_package(promkit, folder, package)
    log(
        "OK: the wheel's promkit lists its tasks, verifies a real Prometheus and writes "
        "nothing into its own files"
    )


if __name__ == "__main__":
    main()
