"""The repo side of verify.drift: what compose and the rendered kustomization give Prometheus.

`docker compose config` and `kubectl kustomize` are answered by MockContext with what
the real tools print for the repo's own files (rendered here by the real kubectl).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke.context import MockContext

from promkit.core import console
from promkit.core.errors import ValidationError
from promkit.core.settings import data_path
from promkit.k8s import repo_view as k8s_view
from promkit.local import repo_view as local_view
from promkit.rules.files import RuleFileError
from tests.support import run
from tests.support.mockctx import result

K8S = data_path("k8s")
CONFIG = data_path("config/prometheus")
RULES = (CONFIG / "rules/sample-service.rules.yml").read_text()
Build = Callable[..., MockContext]


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    """The real k8s/ tree, rendered by the real kubectl."""
    rendered = run(["kubectl", "kustomize", str(K8S)], check=True).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def kustomized(mock_context: Build, objects: list[dict[str, Any]]) -> MockContext:
    return mock_context({rf"^kubectl kustomize {K8S}$": result(yaml.safe_dump_all(objects))})


def test_k8s_repo_is_the_mounted_config_and_the_deployment_args(
    mock_context: Build, objects: list[dict[str, Any]]
) -> None:
    c = kustomized(mock_context, objects)
    repo = k8s_view.k8s_repo(c, c.config)
    k8s_config = yaml.safe_load((CONFIG / "prometheus-k8s.yml").read_text())
    assert repo.config == k8s_config
    assert "--storage.tsdb.retention.time=30d" in repo.args
    assert repo.args[0] == "--config.file=/etc/prometheus/prometheus.yml"
    (configmap,) = [o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"]
    assert repo.sources == (
        f"{console.shown(K8S)} (ConfigMap monitoring/{configmap}:prometheus.yml, "
        f"ConfigMap monitoring/{configmap}:sample-service.rules.yml; "
        "Deployment monitoring/prometheus args)",
    )
    assert [group.name for group in repo.groups] == [
        "sample-service.recording",
        "sample-service.alerts",
    ]


def with_rule_file(objects: list[dict[str, Any]], rules: str) -> list[dict[str, Any]]:
    """``objects`` carrying the rule file as the k8s layout does: a ConfigMap key, put at
    rules/<key> by the config volume's items, loaded by the config's rule_files."""
    changed = copy.deepcopy(objects)
    configmap = next(o for o in changed if o["kind"] == "ConfigMap")
    config = yaml.safe_load(configmap["data"]["prometheus.yml"])
    config["rule_files"] = ["rules/*.rules.yml"]
    configmap["data"]["prometheus.yml"] = yaml.safe_dump(config)
    configmap["data"]["sample-service.rules.yml"] = rules
    configmap["data"]["not-loaded.yml"] = "groups: [{name: x, rules: []}]"
    deployment = next(
        o for o in changed if o["kind"] == "Deployment" and o["metadata"]["name"] == "prometheus"
    )
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    volume["configMap"]["items"] = [
        {"key": "prometheus.yml", "path": "prometheus.yml"},
        {"key": "sample-service.rules.yml", "path": "rules/sample-service.rules.yml"},
        {"key": "not-loaded.yml", "path": "rules/not-loaded.yml"},
    ]
    return changed


def test_k8s_rule_files_are_the_mounted_files_the_config_loads(
    mock_context: Build, objects: list[dict[str, Any]]
) -> None:
    c = kustomized(mock_context, with_rule_file(objects, RULES))
    repo = k8s_view.k8s_repo(c, c.config)
    assert [group.name for group in repo.groups] == [
        "sample-service.recording",
        "sample-service.alerts",
    ]
    assert str(repo.groups[0].file).startswith("ConfigMap monitoring/prometheus-config-")
    assert str(repo.groups[0].file).endswith(":sample-service.rules.yml")
    assert ":sample-service.rules.yml; Deployment monitoring/prometheus args)" in repo.sources[0]
    assert "not-loaded" not in repo.sources[0]


def test_a_broken_rule_file_in_the_configmap_is_bad_input(
    mock_context: Build, objects: list[dict[str, Any]]
) -> None:
    c = kustomized(mock_context, with_rule_file(objects, RULES.replace("up == 0", "up ==")))
    with pytest.raises(RuleFileError, match=r"sample-service\.rules\.yml:\d+: .*does not parse"):
        k8s_view.k8s_repo(c, c.config)


def test_a_config_file_no_configmap_holds_is_bad_input(
    mock_context: Build, objects: list[dict[str, Any]]
) -> None:
    changed = copy.deepcopy(objects)
    deployment = next(
        o for o in changed if o["kind"] == "Deployment" and o["metadata"]["name"] == "prometheus"
    )
    deployment["spec"]["template"]["spec"]["containers"][0]["args"][0] = "--config.file=/x.yml"
    c = kustomized(mock_context, changed)
    with pytest.raises(ValidationError, match=r"--config\.file=/x\.yml is in no ConfigMap"):
        k8s_view.k8s_repo(c, c.config)


def test_compose_command_as_a_list_or_a_string() -> None:
    as_list = {"services": {"prometheus": {"command": ["--a=1", "--b"]}}}
    assert local_view.compose_command(as_list) == ("--a=1", "--b")
    as_text = {"services": {"prometheus": {"command": "--a=1 --b"}}}
    assert local_view.compose_command(as_text) == ("--a=1", "--b")
    with pytest.raises(ValidationError, match="no service prometheus"):
        local_view.compose_command({"services": {}})


def test_local_repo_is_the_mounted_file_its_rules_and_the_compose_command(
    mock_context: Build,
) -> None:
    model = {"services": {"prometheus": {"command": ["--storage.tsdb.retention.time=30d"]}}}
    c = mock_context({r"^docker compose .* config --format json$": result(json.dumps(model))})
    repo = local_view.local_repo(c, c.config)
    assert repo.config == yaml.safe_load((CONFIG / "prometheus.yml").read_text())
    assert repo.args == ("--storage.tsdb.retention.time=30d",)
    assert [group.name for group in repo.groups] == [
        "sample-service.recording",
        "sample-service.alerts",
    ]
    assert [Path(source).name for source in repo.sources] == [
        "prometheus.yml",
        "sample-service.rules.yml",
        "compose.yaml",
    ]
