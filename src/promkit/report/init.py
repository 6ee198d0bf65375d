"""promkit init: read a running Prometheus and write ./promkit.yaml (and a guide stub) for it.

The reading is one concurrent round of the endpoints init needs (through a managed
port-forward with ``--context``); the settings themselves are verify.survey's, pure.
Nothing is overwritten: an existing settings file or guide is one line and exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from invoke.context import Context

from promkit.core import console, settings
from promkit.core.errors import ConfigError
from promkit.core.settings_files import PROJECT_FILES, PROMKIT_FILES
from promkit.k8s import kubectl as kube
from promkit.k8s import port_forward as forwarding
from promkit.verify import client as prom
from promkit.verify import survey
from promkit.verify.round import fetch_all

#: The settings file promkit init writes.
SETTINGS_NAME = "promkit.yaml"


def _refuse_existing(folder: Path) -> None:
    for name in (*PROMKIT_FILES, *PROJECT_FILES, survey.GUIDE_NAME):
        if (folder / name).exists():
            raise ConfigError(
                f"{folder / name} already exists: promkit init overwrites nothing; move it "
                "away or run promkit init in another folder"
            )


def read_server(config: Any, url: str, context: str | None = None) -> survey.Survey:
    """What the Prometheus at ``url`` runs, read concurrently through its HTTP API."""
    client = prom.client_from_settings(settings.load(config).prometheus, url)
    got = fetch_all(
        {
            "buildinfo": client.buildinfo,
            "targets": client.targets,
            "config": client.config_yaml,
            "runtimeinfo": client.runtimeinfo,
            "rules": client.rules,
        }
    )
    return survey.survey(
        client.base_url,
        got["buildinfo"],
        got["targets"],
        got["config"],
        got["runtimeinfo"],
        got["rules"],
        context,
    )


def init(c: Context, url: str | None, context: str | None, folder: Path | None = None) -> Path:
    """Write ``folder``/promkit.yaml and its guide stub from the server; the settings' path.

    ``context``: the Prometheus of that Kubernetes context, through a port-forward to
    svc/prometheus unless ``url`` is given too; its jobs become k8s.expect_jobs.
    """
    folder = folder or Path.cwd()
    _refuse_existing(folder)
    loaded = settings.load(c.config)
    if context:
        checked = kube.require_context(c, context)
        if url:
            found = read_server(c.config, url, checked)
        else:
            with forwarding.kept_port_forward(c, checked, loaded.k8s.namespace) as forward:
                found = read_server(c.config, forward.url, checked)
    else:
        found = read_server(c.config, url or loaded.prometheus.url)
    written = folder / SETTINGS_NAME
    written.write_text(survey.render(found), encoding="utf-8")
    (folder / survey.GUIDE_NAME).write_text(survey.guide(found), encoding="utf-8")
    groups = len(found.groups)
    console.say(
        f"wrote {written} ({len(found.jobs)} jobs, {groups} rule group"
        f"{'' if groups == 1 else 's'}) and {folder / survey.GUIDE_NAME}: review them, "
        "then run promkit verify.all"
    )
    return written
