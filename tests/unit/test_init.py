"""report.init over a loopback server answering like the recorded user-server: it writes
promkit.yaml and the guide stub, and refuses to overwrite anything."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from invoke.context import Context

from promkit.core.errors import ConfigError
from promkit.report import init as initializing
from promkit.verify import survey
from tests.support.loopback import reply, serving
from tests.support.mockctx import promkit_config

USER = Path(__file__).resolve().parents[1] / "fixtures" / "prometheus-3.16" / "user-server"
ROUTES = {
    "/api/v1/status/buildinfo": "buildinfo",
    "/api/v1/targets": "targets",
    "/api/v1/status/config": "config",
    "/api/v1/status/runtimeinfo": "runtimeinfo",
    "/api/v1/rules": "rules",
}


def recorded_server():  # type: ignore[no-untyped-def]
    routes = {
        path: reply(200, (USER / f"{name}.json").read_bytes(), Content_Type="application/json")
        for path, name in ROUTES.items()
    }
    return serving(routes)


def test_init_writes_the_settings_and_the_guide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with recorded_server() as server:
        written = initializing.init(Context(promkit_config()), server.url, None, tmp_path)
    assert written == tmp_path / "promkit.yaml"
    data = yaml.safe_load(written.read_text())
    assert data["prometheus"]["url"] == server.url
    assert data["expect"]["rules"] == ["user.alerts"]
    assert (tmp_path / survey.GUIDE_NAME).read_text().count("```promql") == 2
    assert f"wrote {written} (2 jobs, 1 rule group)" in capsys.readouterr().out


@pytest.mark.parametrize("existing", ["promkit.yaml", "invoke.yaml", survey.GUIDE_NAME])
def test_init_overwrites_nothing(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_text("mine\n")
    with pytest.raises(ConfigError, match=f"{tmp_path / existing} already exists"):
        initializing.init(Context(promkit_config()), "http://127.0.0.1:1", None, tmp_path)
    assert (tmp_path / existing).read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]
