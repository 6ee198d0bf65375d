"""promtool: which one promkit runs, and what its failure says, in one place.

deploy.local, reload.local, check.manifests, check.rules and check.rule-tests all run
promtool; they find it with ``find`` and turn its output into one line with ``reason``
(or one line per error with ``error_lines``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from promkit.core import runner
from promkit.core.errors import PromkitError
from promkit.core.settings import load, repo_path

#: What promtool prints around its errors, not errors themselves.
_CHATTER = ("Checking ", "SUCCESS", "FAILED")
#: promtool's word when Prometheus was built without Kubernetes discovery (Debian's is).
_NO_KUBERNETES_SD = "field kubernetes_sd_configs not found"


class PromtoolMissing(PromkitError):
    """No promtool was found: not configured, not built, not on PATH."""


def _version_key(promtool: Path) -> tuple[int, ...]:
    """``.../prometheus-3.16.0-ui/promtool`` -> (3, 16, 0), for picking the newest build."""
    numbers = promtool.parent.name.removeprefix("prometheus-").removesuffix("-ui").split(".")
    return tuple(int(n) if n.isdigit() else -1 for n in numbers)


def find(config: Any, image: str = "") -> str:
    """The promtool to run: setting k8s.promtool, else a build by scripts/build-prometheus3.sh
    (the version of ``image`` if built, else the newest), else promtool on PATH.
    """
    loaded = load(config)
    configured = loaded.k8s.promtool
    if configured:
        return str(configured)
    version = image.rpartition(":")[2].removeprefix("v") if ":" in image else ""
    cache = repo_path(loaded.images.cache_dir)
    exact = cache / f"prometheus-{version}-ui" / "promtool"
    if version and exact.is_file():
        return str(exact)
    builds = sorted(cache.glob("prometheus-[0-9]*/promtool"), key=_version_key)
    if builds:
        return str(builds[-1])
    found = shutil.which("promtool")
    if found:
        return found
    raise PromtoolMissing(
        "promtool not found: set k8s.promtool, or build Prometheus 3 with "
        "scripts/build-prometheus3.sh"
    )


def require_kubernetes_discovery(output: str, promtool: str) -> None:
    """A PromkitError if ``promtool`` failed only because it cannot read Kubernetes discovery:
    the tool is wrong then, not the file."""
    if _NO_KUBERNETES_SD in output:
        raise PromkitError(
            f"{promtool} was built without Kubernetes discovery (Debian's is): set k8s.promtool "
            "to a Prometheus 3 promtool (scripts/build-prometheus3.sh builds one)"
        )


def reason(output: str) -> str:
    """promtool's last failure as one line, without its ``FAILED:`` mark.

    ``FAILED: ...: yaml: unmarshal errors:`` goes on with the lines naming the field
    (``line 4: field scrape_intervall not found in type config.plain``); a bare ``FAILED:``
    (``check rules``) is followed by its errors, joined with ``; ``.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    marked = [i for i, line in enumerate(lines) if "FAILED" in line]
    marked = marked or [i for i, line in enumerate(lines) if "err" in line]
    if not marked:
        return runner.last_line(output)
    first = marked[-1]
    head = lines[first].removeprefix("FAILED:").strip()
    if not head:
        return "; ".join(lines[first + 1 :]) or "FAILED"
    parts = [head]
    for line in lines[first + 1 :]:
        if not parts[-1].endswith(":"):
            break
        parts.append(line)
    return " ".join(parts)


def error_lines(output: str) -> list[str]:
    """Each error line of promtool's output (its progress and verdict lines left out)."""
    lines = [line.strip() for line in output.splitlines()]
    return [line for line in lines if line and not line.startswith(_CHATTER)]
