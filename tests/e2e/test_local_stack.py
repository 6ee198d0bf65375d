"""The card's command on a fresh checkout: `inv deploy.local verify.all`, then teardown.

The checkout is a copy of the repository's files as a fresh clone has them (no
.promkit/ state, no wheelhouse), committed to a git repository of its own so the
last test can ask git what the run wrote, run under a compose project and ports of its own, so
a user's default `promkit` stack is never touched. The module fixture runs the card's
command once; each test runs alone and in any order: one that needs the stack up brings it
up again when a test before took it down (fixture ``up``), and the destroy tests each take
down a stack that is up. The fixture's finalizer removes everything even when a test
fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from promkit.core.settings import ROOT
from promkit.local.images import PROMETHEUS_VERSION
from tests.support import Completed, run, wait_for
from tests.support.stack import Stack, stdout_of

pytestmark = pytest.mark.e2e

UPSTREAM_PROMETHEUS = f"prom/prometheus:v{PROMETHEUS_VERSION}"


def fresh_copy(dest: Path) -> Path:
    """The files a fresh clone of ROOT has (tracked and new files, nothing git ignores),
    committed in a new repository at ``dest``."""
    listed = stdout_of(
        "git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"
    )
    for name in listed.splitlines():
        source = ROOT / name
        if source.is_symlink():  # compose/, config/, k8s/ link into src/promkit/data
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).symlink_to(source.readlink())
        elif source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    settings = ("user.name=e2e", "user.email=e2e@localhost", "commit.gpgsign=false")
    git = ["git", "-C", str(dest), *[arg for s in settings for arg in ("-c", s)]]
    for args in (["init", "--quiet"], ["add", "--all"], ["commit", "--quiet", "-m", "fresh"]):
        stdout_of(*git, *args)
    return dest


def image_present(image: str) -> bool:
    return run(["docker", "image", "inspect", image]).returncode == 0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = fresh_copy(tmp_path_factory.mktemp("fresh-clone") / "promkit")
    found = Stack("promkit-e2e-first-run", prometheus_port=29090, app_port=28000, root=root)
    found.remove()
    yield found
    found.remove()


@pytest.fixture(scope="module")
def had_upstream() -> bool:
    """Whether the upstream Prometheus image was there before the first run."""
    return image_present(UPSTREAM_PROMETHEUS)


@pytest.fixture(scope="module")
def first_run(stack: Stack, had_upstream: bool) -> Completed:
    """`inv deploy.local verify.all` exactly as the card says, on the fresh checkout."""
    return stack.inv("deploy.local", "verify.all", check=False)


@pytest.fixture
def up(stack: Stack, first_run: Completed) -> Stack:
    """The stack deployed: as the card's first run left it, or again when a test before
    this one took it down."""
    brought_up(stack)
    return stack


def brought_up(stack: Stack) -> bool:
    """Deploy ``stack`` unless it is up; whether it had to (its server is young then)."""
    if "prometheus" in stack.containers():
        return False
    stack.inv("deploy.local")
    return True


@pytest.fixture(scope="module")
def evidence_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the evidence report goes: $PROMKIT_E2E_REPORT (nox e2e sets it, so CI keeps
    the report for a reviewer), else a temporary folder."""
    kept = os.environ.get("PROMKIT_E2E_REPORT")
    if kept:
        shutil.rmtree(kept, ignore_errors=True)
        return Path(kept)
    return tmp_path_factory.mktemp("evidence")


@pytest.fixture(scope="module")
def evidence_run(stack: Stack, first_run: Completed, evidence_dir: Path) -> Completed:
    """`inv verify.all --report DIR` on the stack the card's first run brought up (again,
    with --wait, if a test before this one took it down)."""
    again = ["--wait", "60"] if brought_up(stack) else []
    return stack.inv("verify.all", "--report", str(evidence_dir), *again, check=False)


def output(done: Completed) -> str:
    return done.stdout + done.stderr


def test_the_cards_command_is_green_on_the_first_try(
    first_run: Completed,
) -> None:
    assert first_run.returncode == 0, output(first_run)
    out = output(first_run)
    assert f"Prometheus {PROMETHEUS_VERSION} at http://127.0.0.1:29090" in out
    rows = [line for line in out.splitlines() if re.match(r"^\S+.*\s(PASS|FAIL)\s", line)]
    assert len(rows) == 20 and all(" PASS " in row for row in rows), rows
    # The rules rows: the repo's rules loaded and evaluating, their selectors, the Watchdog;
    # the alert rows: an alert reaches a person.
    alerting = ("alertmanagers", "notification errors", "alertmanager", "delivery", "quiet")
    for name in ("rules", "rule selectors", "watchdog", *alerting):
        assert any(row.startswith(f"{name} ") for row in rows), (name, rows)
    # Both peers, their cluster, and the receiver the Watchdog reached the sink through.
    assert "active http://alertmanager-1:9093" in out and "active http://alertmanager-2:9093" in out
    assert len(re.findall(r"\speer \S+ at [0-9.]+:9094$", out, re.MULTILINE)) == 2, out
    assert "notification(s) at the sink via watchdog" in out
    assert "all " in out and " checks pass" in out


def _figures(page: str) -> dict[str, str]:
    """Screenshot file -> its caption, for every screenshot the page shows."""
    found = {}
    for figure in page.split("<figure>")[1:]:
        if '<img src="' in figure:
            image = figure.split('<img src="', 1)[1].split('"', 1)[0]
            found[image] = figure.split("<figcaption>", 1)[1].split("</figcaption>", 1)[0]
    return found


def test_the_evidence_report_of_the_stack_shows_content(
    evidence_run: Completed, evidence_dir: Path
) -> None:
    assert evidence_run.returncode == 0, output(evidence_run)
    assert f"HTML report: {evidence_dir / 'index.html'}" in evidence_run.stdout
    page = (evidence_dir / "index.html").read_text()
    checks = page.count('<tr id="check-')
    assert checks == 21 and f"all {checks} checks pass" in page  # verify.all's 20 + ui browser
    assert 'id="check-ui-browser"' in page and PROMETHEUS_VERSION in page
    figures = _figures(page)
    wanted = ["targets", "status", "flags"] + [f"graph-{i}" for i in range(5)]
    assert sorted(figures) == sorted(f"screenshots/{name}.png" for name in wanted), figures
    for image, caption in figures.items():
        assert '<span class="PASS">' in caption, caption
        assert (evidence_dir / image).read_bytes().startswith(b"\x89PNG")
    assert PROMETHEUS_VERSION in figures["screenshots/status.png"]
    targets = json.loads((evidence_dir / "answers/targets.json").read_text())["activeTargets"]
    assert {t["scrapePool"] for t in targets} >= {"fastapi-app", "celery-workers"}
    assert all(t["health"] == "up" for t in targets)


def test_it_got_the_images_it_lacked_and_said_which(
    first_run: Completed, had_upstream: bool
) -> None:
    if had_upstream:
        pytest.skip(f"{UPSTREAM_PROMETHEUS} was present: nothing to get")
    out = output(first_run)
    assert f"{UPSTREAM_PROMETHEUS} (prometheus)" in out
    assert "building the offline images" in out or f"docker pull {UPSTREAM_PROMETHEUS}" in out


def test_verify_waited_only_because_the_server_was_young(
    first_run: Completed,
) -> None:
    out = output(first_run)
    # The first round after a deploy meets a server a few seconds old.
    found = re.search(
        r"Prometheus started (\d+)s ago: waiting for its first scrapes, up to 45s", out
    )
    if found is None:
        assert "waiting" not in out, "waited without saying why"
    else:
        assert int(found.group(1)) < 45


def test_the_ui_check_names_the_3x_pages(first_run: Completed) -> None:
    out = output(first_run)
    ui = out[out.index("\nui ") + 1 :].splitlines()[:3]
    assert "UI landing page (/query) 200" in ui[0], ui
    assert any("targets page (/targets) 200" in line for line in ui), ui
    assert any("UI script /assets/" in line for line in ui), ui


def test_the_stack_makes_its_own_demo_traffic(up: Stack) -> None:
    assert "demo-traffic" in up.containers()

    def rate() -> float:
        found = up.api("/api/v1/query", {"query": "sum(rate(enhancement_requests_total[1m]))"})
        return float(found["result"][0]["value"][1]) if found["result"] else 0.0

    # Right after a deploy rate() has no two samples yet: the scrapes after it have.
    assert wait_for("requests counted at a rate above 0", rate, 60, every=1.0) > 0


def test_prometheus_runs_as_non_root_with_data_on_the_named_volume(up: Stack) -> None:
    stack = up
    container = stack.containers()["prometheus"]
    status = stdout_of("docker", "exec", container, "cat", "/proc/1/status")
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    assert uid == "65534"
    mounts = json.loads(stdout_of("docker", "inspect", "--format", "{{json .Mounts}}", container))
    data = [m for m in mounts if m["Destination"] == "/prometheus"]
    assert data and data[0]["Type"] == "volume"
    assert data[0]["Name"] == f"{stack.project}_prometheus-data"
    assert "wal" in stdout_of("docker", "exec", container, "ls", "/prometheus").split()


def test_ports_are_published_on_loopback_only(up: Stack) -> None:
    stack = up
    model = json.loads(stack.compose("config", "--format", "json"))
    published = [p for s in model["services"].values() for p in s.get("ports", [])]
    assert published, "the stack publishes Prometheus and the app"
    assert all(p["host_ip"] == "127.0.0.1" for p in published), published
    for service in ("prometheus", "app"):
        bindings = stdout_of("docker", "port", stack.containers()[service]).split()
        addresses = [b for b in bindings if ":" in b and not b.endswith("/tcp")]
        assert addresses and all(a.startswith("127.0.0.1:") for a in addresses), bindings


def test_second_deploy_recreates_nothing(up: Stack) -> None:
    stack = up
    before = stack.containers()
    stack.inv("deploy.local")
    assert stack.containers() == before


def resources(stack: Stack, kind: str) -> list[str]:
    """Names of Docker objects (container, network, volume) labelled with the project."""
    label = f"label=com.docker.compose.project={stack.project}"
    argv = {
        "container": ["docker", "ps", "-a"],
        "network": ["docker", "network", "ls"],
        "volume": ["docker", "volume", "ls"],
    }[kind]
    fmt = "{{.Names}}" if kind == "container" else "{{.Name}}"
    return stdout_of(*argv, "--filter", label, "--format", fmt).split()


def test_destroy_keeps_the_volume_and_leaves_nothing_else(up: Stack) -> None:
    stack = up
    stack.inv("destroy.local")
    assert resources(stack, "container") == []
    assert resources(stack, "network") == []
    assert sorted(resources(stack, "volume")) == [
        f"{stack.project}_{name}-data"
        for name in ("alertmanager-1", "alertmanager-2", "prometheus")
    ]
    assert (stack.state / ".env").is_file(), "the state stays with the data"


def test_destroy_with_volumes_leaves_nothing(up: Stack) -> None:
    stack = up
    done = stack.inv("destroy.local", "--volumes")
    assert resources(stack, "volume") == []
    assert f"removed {stack.state} " in done.stdout
    assert not stack.state.exists()


def test_the_run_wrote_nothing_in_the_package(stack: Stack, first_run: Completed) -> None:
    # deploy.local once wrote compose/.env (src/promkit/data/compose/) for the offline images.
    status = stdout_of(
        "git", "-C", str(stack.root), "status", "--porcelain", "--ignored", "--", "src/"
    )
    # Python's bytecode caches are the interpreter's, not promkit's writing.
    written = [line for line in status.splitlines() if "__pycache__/" not in line]
    assert written == [], written
