"""The repo side of verify.drift for the compose stack, and drift_local.

What compose mounts and passes: the file of the setting compose.prometheus_config (with
the self-scrape credentials compose.auth adds), the rule files it loads, and the
prometheus service's command in the rendered compose model. The Kubernetes side is
promkit.k8s.repo_view's; the server's side and the comparison are promkit.verify's
(round.server_view, drift.differences).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from invoke.context import Context

from promkit.core import settings
from promkit.core.console import shown
from promkit.core.errors import ValidationError
from promkit.local import auth, compose
from promkit.local import stack as local_stack
from promkit.rules import files as rules
from promkit.verify import client as prom
from promkit.verify.alert_round import with_alertmanager_drift
from promkit.verify.alerts import sends_alerts
from promkit.verify.drift import RepoView, parse_config_text
from promkit.verify.round import Drift, compare

#: The container Prometheus runs in, in compose and in the Deployment.
SERVICE = "prometheus"


def compose_command(model: Mapping[str, Any]) -> tuple[str, ...]:
    """The prometheus service's command in a rendered compose model."""
    service = (model.get("services") or {}).get(SERVICE)
    if not isinstance(service, Mapping):
        raise ValidationError(f"the compose file has no service {SERVICE}")
    command = service.get("command") or []
    words = shlex.split(command) if isinstance(command, str) else command
    return tuple(str(word) for word in words)


def local_repo(c: Context, config: Any) -> RepoView:
    """What deploy.local gives Prometheus: the mounted config, its rule files, its command."""
    project = local_stack.project_with_env(config)
    config_file = local_stack.prometheus_config(config)
    try:
        text = config_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read Prometheus config {config_file}: {exc}") from None
    parsed = parse_config_text(str(config_file), text)
    if local_stack.auth_enabled(project):
        parsed, _ = auth.with_self_scrape_auth(parsed)
    groups = rules.repo_groups(config_file)
    command = compose_command(compose.rendered_config(c, project))
    files = [config_file, *rules.rule_file_paths(config_file), project.file, *project.overrides]
    return RepoView(parsed, command, groups, tuple(shown(path) for path in files))


def drift_local(c: Context, url: str | None = None) -> Drift:
    """The compose stack's repo files against the server at ``url`` (default prometheus.url);
    for a config that sends alerts, the Alertmanager's config (alerts.alertmanager_url)
    against alerts.config too."""
    loaded = settings.load(c.config)
    repo = local_repo(c, c.config)
    found = compare(repo, prom.client_from_settings(loaded.prometheus, url))
    if not sends_alerts(repo.config):
        return found
    config_file = settings.repo_path(loaded.alerts.config)
    return with_alertmanager_drift(
        found, config_file, shown(config_file), loaded.alerts.alertmanager_url
    )
