"""promkit init's pure part: recorded answers of a user's own server -> promkit's settings.

``user-server`` (tests/fixtures/record.py --only user): a plain exporter as job user-app,
Prometheus scraping itself, 7d retention, tests/fixtures/rules/user.rules.yml loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke.config import Config

from promkit.core.settings import DEFAULTS, JobExpectation, load
from promkit.core.settings_files import check_file
from promkit.verify import survey
from promkit.verify.queries import parse_guide

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VERSIONS = ["prometheus-2.42", "prometheus-3.16"]
URL = "http://127.0.0.1:39999"


def recorded(version: str, name: str) -> Any:
    return json.loads((FIXTURES / version / "user-server" / f"{name}.json").read_text())["data"]


def surveyed(version: str, context: str | None = None) -> survey.Survey:
    return survey.survey(
        URL,
        recorded(version, "buildinfo"),
        recorded(version, "targets"),
        recorded(version, "config")["yaml"],
        recorded(version, "runtimeinfo"),
        recorded(version, "rules"),
        context,
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_the_servers_answers_become_settings(version: str) -> None:
    found = surveyed(version)
    mapping = survey.settings_mapping(found)
    assert mapping["prometheus"] == {"url": URL}
    assert mapping["expect"]["jobs"] == {"user-app": 1, "prometheus": 1}
    assert mapping["expect"]["scrape_interval"] == "1s"
    assert mapping["expect"]["evaluation_interval"] == "1s"
    assert mapping["expect"]["retention"] == "1w"  # --storage.tsdb.retention.time=7d
    assert mapping["expect"]["rules"] == ["user.alerts"]
    assert mapping["expect"]["watchdog"] == "UserAlwaysFiring"
    assert mapping["expect"]["scrape_duration_ms"] >= 100
    assert mapping["queries"] == {"guide": survey.GUIDE_NAME}


@pytest.mark.parametrize("version", VERSIONS)
def test_the_written_text_is_the_mapping_commented_and_loads_as_settings(
    version: str, tmp_path: Path
) -> None:
    found = surveyed(version)
    text = survey.render(found)
    assert yaml.safe_load(text) == survey.settings_mapping(found)
    assert "# /api/v1/rules: the rule groups loaded now" in text
    assert "/rules/user.rules.yml" in text  # each group's file, as a comment
    # Only keys promkit has (so stricter settings checks accept it too).
    data = yaml.safe_load(text)
    for section, values in data.items():
        assert set(values) <= set(DEFAULTS[section]), section
    (tmp_path / "promkit.yaml").write_text(text)
    check_file(tmp_path / "promkit.yaml")
    # Loaded as a project file, the layer the promkit command reads it into.
    (tmp_path / "invoke.yaml").write_text(text)
    config = Config(project_location=str(tmp_path))
    config.load_collection(DEFAULTS)
    config.load_project()
    loaded = load(config)
    assert loaded.expect.jobs == (JobExpectation("prometheus"), JobExpectation("user-app"))
    assert loaded.expect.rule_groups == ("user.alerts",)
    assert loaded.expect.watchdog == "UserAlwaysFiring"
    assert loaded.prometheus.url == URL


@pytest.mark.parametrize("version", VERSIONS)
def test_the_guide_stub_has_one_up_query_per_job(version: str) -> None:
    queries = parse_guide(survey.guide(surveyed(version)))
    assert [(q.name, q.promql) for q in queries] == [
        ("Targets up: prometheus", 'up{job="prometheus"}'),
        ("Targets up: user-app", 'up{job="user-app"}'),
    ]


def test_through_a_context_the_jobs_are_the_clusters() -> None:
    found = surveyed("prometheus-3.16", context="kind-dev")
    mapping = survey.settings_mapping(found)
    assert "prometheus" not in mapping and "jobs" not in mapping["expect"]
    assert mapping["k8s"] == {
        "context": "kind-dev",
        "expect_jobs": {"user-app": 1, "prometheus": 1},
    }
    assert yaml.safe_load(survey.render(found)) == mapping


def test_a_server_without_rules_or_an_always_firing_alert_says_so() -> None:
    found = survey.survey(
        URL,
        recorded("prometheus-2.42", "buildinfo"),
        recorded("prometheus-2.42", "targets"),
        recorded("prometheus-2.42", "config")["yaml"],
        {"storageRetention": "512MiB"},
        {"groups": []},
    )
    mapping = survey.settings_mapping(found)
    assert mapping["expect"]["rules"] is False and mapping["expect"]["watchdog"] is False
    assert "retention" not in mapping["expect"]
    text = survey.render(found)
    assert "the server loads no rule groups" in text and "no alert always fires" in text
    assert yaml.safe_load(text) == mapping
