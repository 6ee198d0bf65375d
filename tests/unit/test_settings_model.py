"""The typed settings model: every value checked once, a user's job map replacing the sample's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke.config import Config

from promkit.core.errors import ConfigError
from promkit.core.settings import DEFAULTS, JobExpectation, load
from promkit.core.settings_env import PORT_VARIABLES, check_environment, check_ports
from promkit.core.settings_files import check_settings_files, known_settings
from tests.support.mockctx import promkit_config


def test_defaults_load_as_typed_values() -> None:
    loaded = load(promkit_config())
    assert loaded.prometheus.url == "http://127.0.0.1:9090"
    assert loaded.prometheus.timeout == 5.0 and loaded.prometheus.ca_file is None
    assert loaded.compose.wait_timeout == 180 and loaded.compose.auth is False
    assert loaded.images.offline == "auto"
    assert loaded.traffic.demo_rate == 2.0
    assert loaded.k8s.context is None and loaded.k8s.namespace == "monitoring"
    assert loaded.expectations(kubernetes=True).discovery_job == "kubernetes-pods"
    assert loaded.expect.rules is True and loaded.expectations(kubernetes=True).rules is True


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        (
            "prometheus",
            "url",
            "127.0.0.1:9090",
            "'prometheus.url' '127.0.0.1:9090' is not an http(s)",
        ),
        ("prometheus", "url", "ftp://x", "set prometheus.url to e.g. http://127.0.0.1:9090"),
        ("prometheus", "url", "http://u:p@h:9090", "'prometheus.url' must not contain credentials"),
        ("prometheus", "timeout", 0, "'prometheus.timeout' must be more than 0 seconds"),
        ("prometheus", "timeout", "slow", "'prometheus.timeout' must be a number"),
        ("prometheus", "token_env", "MY TOKEN", "'prometheus.token_env' must be an environment"),
        ("prometheus", "ca_file", "/nonexistent/ca.pem", "'prometheus.ca_file': /nonexistent"),
        ("compose", "wait_timeout", "soon", "'compose.wait_timeout' must be a number"),
        ("compose", "wait_timeout", 0, "'compose.wait_timeout' must be at least 1"),
        ("compose", "wait_timeout", 1.5, "'compose.wait_timeout' must be a whole number"),
        ("compose", "project", "My Stack", "'compose.project' must be a compose project name"),
        ("compose", "auth", "maybe", "'compose.auth' must be true or false"),
        ("expect", "rules", "some", "'expect.rules' must be true or false"),
        ("compose", "app_url", "", "'compose.app_url' must be an http:// or https:// URL"),
        ("compose", "app_url", "app:8000", "set compose.app_url to e.g. http://127.0.0.1:8000"),
        ("traffic", "demo_rate", 50, "'traffic.demo_rate' must be from 0 (off) to 5"),
        ("traffic", "count", -1, "'traffic.count' must be at least 1"),
        ("traffic", "duration", 0, "'traffic.duration' must be more than 0 seconds"),
        ("images", "offline", "sometimes", "'images.offline' must be true, false or auto"),
        ("k8s", "namespace", "Monitoring", "'k8s.namespace' must be a Kubernetes namespace"),
        ("k8s", "app_namespace", "a_b", "'k8s.app_namespace' must be a Kubernetes namespace"),
        ("k8s", "rollout_timeout", "never", "'k8s.rollout_timeout' must be a number"),
        ("k8s", "port_forward_timeout", 0, "'k8s.port_forward_timeout' must be more than 0"),
        ("k8s", "allow_exposed_services", "sure", "'k8s.allow_exposed_services' must be true"),
        ("k8s", "expect_jobs", ["a"], "'k8s.expect_jobs' must map job names"),
        ("k8s", "discovery_job", " ", "k8s.discovery_job is ' '"),
        ("queries", "guide", None, "'queries.guide' must be the path of a metrics guide"),
    ],
)
def test_every_bad_value_is_one_line_naming_its_setting(
    section: str, key: str, value: Any, message: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        load(promkit_config(**{section: {key: value}}))
    assert message in str(exc.value)
    assert "\n" not in str(exc.value) and exc.value.exit_code == 2


def test_a_section_given_a_plain_value_is_one_line() -> None:
    config = Config()
    config.load_collection({**DEFAULTS, "traffic": 3})
    with pytest.raises(ConfigError, match="setting 'traffic' must be a mapping"):
        load(config)


def _layered(tmp_path: Path, project: dict[str, Any], runtime: dict[str, Any] | None) -> Config:
    """A Config as ``inv`` builds it: promkit's defaults, invoke.yaml, an ``-f`` file."""
    (tmp_path / "invoke.yaml").write_text(yaml.safe_dump(project))
    config = Config(project_location=str(tmp_path))
    config.load_collection(DEFAULTS)
    config.load_project()
    if runtime is not None:
        (tmp_path / "mine.yaml").write_text(yaml.safe_dump(runtime))
        config.set_runtime_path(str(tmp_path / "mine.yaml"))
        config.load_runtime()
    return config


def test_a_users_job_map_replaces_the_samples_instead_of_merging(tmp_path: Path) -> None:
    project = {"expect": {"jobs": {"fastapi-app": 1, "celery-workers": 1}}}
    config = _layered(tmp_path, project, {"expect": {"jobs": {"node": 2}}})
    # Invoke itself merges the two maps; promkit's model must not.
    assert set(config.expect.jobs) == {"fastapi-app", "celery-workers", "node"}
    assert load(config).expect.jobs == (JobExpectation("node", 2),)


def test_the_project_files_jobs_stand_when_no_higher_layer_gives_any(tmp_path: Path) -> None:
    config = _layered(
        tmp_path, {"expect": {"jobs": {"web": "=3"}}}, {"expect": {"retention": "7d"}}
    )
    loaded = load(config)
    assert loaded.expect.jobs == (JobExpectation("web", 3, 3),)
    assert loaded.expect.retention == "7d"


def test_a_users_kubernetes_job_map_replaces_the_samples(tmp_path: Path) -> None:
    config = _layered(tmp_path, {}, {"k8s": {"expect_jobs": {"my-pods": 4}}})
    assert load(config).expectations(kubernetes=True).jobs == (JobExpectation("my-pods", 4),)


def test_a_job_map_set_at_run_time_replaces_the_files(tmp_path: Path) -> None:
    config = _layered(tmp_path, {"expect": {"jobs": {"web": 1}}}, None)
    config.expect.jobs = {"batch": 1}
    assert load(config).expect.jobs == (JobExpectation("batch", 1),)


def test_an_uncastable_environment_variable_is_one_line_before_invoke_casts_it() -> None:
    with pytest.raises(ConfigError) as exc:
        check_environment({"INVOKE_COMPOSE_WAIT_TIMEOUT": "soon"}, known_settings([]))
    assert str(exc.value) == (
        "environment variable INVOKE_COMPOSE_WAIT_TIMEOUT='soon' sets 'compose.wait_timeout', "
        "which must be a whole number like 180: fix or unset it"
    )


@pytest.mark.parametrize(
    "environ",
    [
        {"INVOKE_COMPOSE_WAIT_TIMEOUT": "240"},
        {"INVOKE_PROMETHEUS_TIMEOUT": "2.5"},
        {"INVOKE_IMAGES_OFFLINE": "1"},
        {"INVOKE_K8S_CONTEXT": "kind-x"},
        {"PROMKIT_PROMETHEUS_PASSWORD": "not a setting"},
    ],
)
def test_castable_environment_variables_pass(environ: dict[str, str]) -> None:
    check_environment(environ, known_settings([]))


def test_a_project_files_numbers_are_crawled_too(tmp_path: Path) -> None:
    known = known_settings([{"traffic": {"count": 10}}, {"extra": {"limit": 3}}])
    with pytest.raises(ConfigError, match=r"INVOKE_EXTRA_LIMIT='x' sets 'extra\.limit'"):
        check_environment({"INVOKE_EXTRA_LIMIT": "x"}, known)


def test_check_settings_files_checks_the_environment(tmp_path: Path) -> None:
    (tmp_path / "invoke.yaml").write_text("compose:\n  wait_timeout: 60\n")
    environ = {"INVOKE_COMPOSE_WAIT_TIMEOUT": "later"}
    with pytest.raises(ConfigError, match="INVOKE_COMPOSE_WAIT_TIMEOUT='later'"):
        check_settings_files(["deploy.local"], environ, tmp_path)
    check_settings_files(["deploy.local"], {"INVOKE_COMPOSE_WAIT_TIMEOUT": "90"}, tmp_path)


def test_the_port_variables_are_the_ones_compose_reads() -> None:
    from promkit.local.stack import PORT_SETTINGS

    assert sorted(PORT_VARIABLES) == sorted(variable for variable, _ in PORT_SETTINGS.values())


@pytest.mark.parametrize("value", ["", "1", "9090", "65535"])
def test_good_ports_and_unset_ones_pass(value: str) -> None:
    check_ports({name: value for name in PORT_VARIABLES})


def test_invokes_own_variables_are_not_unknown_settings() -> None:
    environ = {"INVOKE_RUNTIME_CONFIG": "x.yaml", "INVOKE_DEBUG": "1", "INVOKE_RUN_ECHO": "1"}
    check_environment(environ, known_settings([]))


def test_a_variable_for_a_projects_own_job_passes() -> None:
    known = known_settings([{"expect": {"jobs": {"node": 2}}}])
    check_environment({"INVOKE_EXPECT_JOBS_NODE": "3"}, known)
    with pytest.raises(ConfigError, match=r"^unknown setting expect\.jobs\.nod in "):
        check_environment({"INVOKE_EXPECT_JOBS_NOD": "3"}, known)


def _rules(loaded: Any) -> tuple[Any, ...]:
    e = loaded.expect
    return e.rules, e.rule_groups, e.rules_declared, e.watchdog


def test_the_shipped_settings_expect_the_samples_rules_and_watchdog(tmp_path: Path) -> None:
    shipped = yaml.safe_load((Path(__file__).parents[2] / "invoke.yaml").read_text())
    config = _layered(tmp_path, shipped, None)
    assert _rules(load(config)) == (True, None, True, "Watchdog")


@pytest.mark.parametrize(
    "mine",
    [
        {"expect": {"jobs": {"node": 1}}},
        {"queries": {"guide": "guide.md"}},
        {"k8s": {"expect_jobs": {"my-pods": 2}}},
    ],
)
def test_settings_naming_their_own_jobs_or_guide_are_not_held_to_the_samples_rules(
    tmp_path: Path, mine: dict[str, Any]
) -> None:
    config = _layered(tmp_path, {}, mine)
    # Nothing says which groups to expect, nor an always-firing alert.
    assert _rules(load(config)) == (True, None, False, None)


def test_a_users_rule_groups_and_watchdog_are_theirs(tmp_path: Path) -> None:
    mine = {"expect": {"jobs": {"node": 1}, "rules": ["user.alerts"], "watchdog": "AlwaysOn"}}
    assert _rules(load(_layered(tmp_path, {}, mine))) == (True, ("user.alerts",), True, "AlwaysOn")
    none = {"expect": {"rules": ["user.alerts"], "watchdog": False}}
    assert _rules(load(_layered(tmp_path, {}, none))) == (True, ("user.alerts",), True, None)


def test_a_users_own_prometheus_config_declares_its_rules_without_the_watchdog(
    tmp_path: Path,
) -> None:
    mine = {"expect": {"jobs": {"node": 1}}, "compose": {"prometheus_config": "mine.yml"}}
    assert _rules(load(_layered(tmp_path, {}, mine))) == (True, None, True, None)
    # Said explicitly: the shipped config's rules, with their Watchdog.
    said = {"expect": {"jobs": {"node": 1}, "rules": True}}
    assert _rules(load(_layered(tmp_path, {}, said))) == (True, None, True, "Watchdog")


@pytest.mark.parametrize(
    ("rules", "watchdog", "message"),
    [
        ([], "Watchdog", "'expect.rules' lists no group"),
        ([""], "Watchdog", "'expect.rules[0]' must be a group name"),
        (True, 3, "'expect.watchdog' must be the name of an alert that always fires"),
    ],
)
def test_bad_rule_expectations_are_one_line(rules: Any, watchdog: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load(promkit_config(expect={"rules": rules, "watchdog": watchdog}))
