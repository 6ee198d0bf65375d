"""images.build: the commands of the offline and the online build."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from invoke.context import MockContext

from promkit.core.errors import PromkitError
from promkit.core.settings import ROOT
from promkit.local import images
from promkit.tasks import images as images_tasks
from tests.support.mockctx import commands, result

Build = Callable[..., MockContext]
BASE = images.base_tag()


def test_offline_build_reuses_the_base_and_builds_without_network(
    mock_context: Build, compose_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = mock_context({rf"docker image inspect {BASE}": result("[{}]")})
    images_tasks.build(c, offline=True, dry_run=True)
    assert commands(c) == [f"docker image inspect {BASE}"]
    out = capsys.readouterr().out
    assert "debootstrap" not in out
    assert f"[dry-run] bash {images.PROMETHEUS_BUILD}" in out
    assert f"[dry-run] bash {images.ALERTMANAGER.script}" in out
    for image in images.OFFLINE_IMAGES:
        # Prometheus' and Alertmanager's contexts are scratch folders their binaries are
        # copied into.
        binaries = image.binaries
        context = f"/tmp/promkit-{binaries.files[0]}-image-" if binaries else image.context
        assert (
            f"[dry-run] docker build --network none --force-rm --build-arg BASE_IMAGE={BASE} "
            f"--tag {image.tag} {context}"
        ) in out
    assert not compose_env.exists(), "a dry run writes nothing"


def test_offline_build_makes_the_base_when_missing(
    mock_context: Build,
    compose_env: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    c = mock_context(
        {r"docker image inspect": result(exited=1)}, images={"cache_dir": str(tmp_path)}
    )
    images_tasks.build(c, offline=True, dry_run=True)
    out = capsys.readouterr().out
    packages = ",".join(images.base_packages())
    assert f"debootstrap --variant=minbase --include={packages} bookworm" in out
    assert f"[dry-run] docker import {tmp_path}/{BASE.split(':')[1]}.tar {BASE}" in out


def test_offline_build_points_compose_at_the_offline_images(
    mock_context: Build,
    compose_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    prometheus_binaries: Path,
) -> None:
    monkeypatch.setattr(images, "fill_wheelhouse", lambda c, dry_run=False: None)
    c = mock_context({r"docker ": result()})
    images_tasks.build(c, offline=True)
    assert sum(cmd.startswith("docker build --network none") for cmd in commands(c)) == 4
    assert not any("scripts/build-" in cmd for cmd in commands(c)), "prebuilt binaries used"
    written = dict(
        line.split("=", 1) for line in compose_env.read_text().splitlines() if "=" in line
    )
    assert written == {image.variable: image.tag for image in images.OFFLINE_IMAGES}


def test_online_build_forgets_offline_images_pulls_and_builds_the_app(
    mock_context: Build, compose_env: Path
) -> None:
    compose_env.write_text("PROMKIT_PROMETHEUS_IMAGE=promkit/prometheus:2.42-debian12\n")
    model = {
        "services": {
            "prometheus": {"image": "prom/prometheus:v3.16.0"},
            "app": {"image": images.APP_IMAGE},
            "worker": {"image": images.APP_IMAGE},
            "redis": {"image": "redis:7.4.1-alpine"},
        }
    }
    c = mock_context({r"docker compose .* config": result(json.dumps(model)), r"docker ": result()})
    images_tasks.build(c)
    assert not compose_env.exists()
    ran = commands(c)
    assert "--env-file /dev/null config --format json" in ran[0]
    assert ran[1:] == [
        "docker pull prom/prometheus:v3.16.0",
        "docker pull redis:7.4.1-alpine",
        f"docker build --tag {images.APP_IMAGE} {ROOT}/sample_app",
    ]


@pytest.mark.parametrize(
    ("variable", "version", "program", "helper"),
    [
        ("PROMKIT_PROMETHEUS_IMAGE", images.PROMETHEUS_VERSION, "prometheus", "promtool"),
        ("PROMKIT_ALERTMANAGER_IMAGE", images.ALERTMANAGER_VERSION, "alertmanager", "amtool"),
    ],
)
def test_an_image_of_built_binaries_holds_them_in_the_upstream_layout(
    mock_context: Build,
    prometheus_binaries: Path,
    variable: str,
    version: str,
    program: str,
    helper: str,
) -> None:
    image = next(i for i in images.OFFLINE_IMAGES if i.variable == variable)
    assert version in image.tag
    with images.build_context(mock_context({}), image, Path("/unused"), dry_run=False) as ctx:
        names = sorted(p.name for p in ctx.iterdir())
        assert names == sorted(["Dockerfile", program, f"{program}.yml", helper])
        dockerfile = (ctx / "Dockerfile").read_text()
    assert f'ENTRYPOINT ["/bin/{program}"]' in dockerfile
    assert "USER nobody" in dockerfile and f'VOLUME ["/{program}"]' in dockerfile
    assert not ctx.exists(), "the scratch context is removed after the build"


def test_the_alertmanager_image_is_the_version_compose_pins() -> None:
    compose_file = (ROOT / "compose" / "compose.yaml").read_text()
    assert f"prom/alertmanager:v{images.ALERTMANAGER_VERSION}" in compose_file


def test_a_prebuilt_alertmanager_without_amtool_is_one_clear_line(
    mock_context: Build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "alertmanager").write_text("")
    monkeypatch.setenv(images.ALERTMANAGER.env, str(tmp_path / "alertmanager"))
    with pytest.raises(PromkitError, match="not the alertmanager binary with amtool beside it"):
        images.built_binaries(mock_context({}), images.ALERTMANAGER, tmp_path)


def test_a_prebuilt_prometheus_without_promtool_is_one_clear_line(
    mock_context: Build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "prometheus").write_text("")
    monkeypatch.setenv(images.PROMETHEUS_BIN_ENV, str(tmp_path / "prometheus"))
    with pytest.raises(PromkitError, match="with promtool beside it"):
        images.prometheus_binaries(mock_context({}), tmp_path)


def test_base_tag_changes_with_the_package_list(monkeypatch: pytest.MonkeyPatch) -> None:
    before = images.base_tag()
    monkeypatch.setattr(images, "base_packages", lambda: ["busybox"])
    assert images.base_tag() != before
    assert images.base_tag().startswith("promkit/debian-base:bookworm-")


def test_offline_tags_change_when_their_sources_do(tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "app.py").write_text("print('v1')\n")
    image = images.OfflineImage("PROMKIT_APP_IMAGE", "promkit/x:1-debian12", context)
    before = image.tag
    assert before.startswith("promkit/x:1-debian12-")
    (context / "__pycache__").mkdir()
    (context / "__pycache__" / "app.pyc").write_bytes(b"\0")
    assert image.tag == before, "byte-code is not part of the image"
    (context / "app.py").write_text("print('v2')\n")
    assert image.tag != before


def test_deploy_rebuilds_offline_images_older_than_their_sources(
    mock_context: Build, compose_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = next(i for i in images.OFFLINE_IMAGES if i.variable == "PROMKIT_APP_IMAGE")
    current = {i.variable: i.tag for i in images.OFFLINE_IMAGES}
    compose_env.write_text(
        "".join(f"{k}={v}\n" for k, v in {**current, app.variable: f"{app.name}-0ld"}.items())
    )
    assert images.stale_offline_images(compose_env) == [f"{app.name}-0ld"]
    c = mock_context({r"docker ": result()})
    assert images.ensure_images(c, {}, "auto", Path("/unused"), compose_env, dry_run=True)
    assert f"out of date: {app.name}-0ld" in capsys.readouterr().out
    compose_env.write_text("".join(f"{k}={v}\n" for k, v in current.items()))
    assert images.stale_offline_images(compose_env) == []
    # A file that names only some of them (edited by hand) is read as it is.
    compose_env.write_text(f"{app.variable}={app.name}-0ld\nPROMKIT_REDIS_IMAGE=redis:7\n")
    assert images.stale_offline_images(compose_env) == [f"{app.name}-0ld"]


def test_building_only_missing_offline_images_builds_none_when_all_are_there(
    mock_context: Callable[..., MockContext], tmp_path: Path, compose_env: Path
) -> None:
    c = mock_context({r"docker image inspect ": result("[{}]")})
    built = images.build_offline_images(c, tmp_path, only_missing=True)
    assert built == {image.variable: image.tag for image in images.OFFLINE_IMAGES}
    assert commands(c) == [f"docker image inspect {i.tag}" for i in images.OFFLINE_IMAGES]
    assert not compose_env.exists(), "the env file is build_offline's, not this one's"


def test_an_installed_wheel_names_no_offline_tags(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A wheel carries no image sources: nothing to name offline tags by, and no traceback
    # (deploy.local then pulls, or says how to build from a checkout).
    assert images.offline_tags() == {image.tag for image in images.OFFLINE_IMAGES}
    monkeypatch.setattr(images, "BASE_PACKAGES_FILE", tmp_path / "absent" / "packages.txt")
    env = tmp_path / ".env"
    env.write_text("".join(f"{i.variable}={i.name}-000000\n" for i in images.OFFLINE_IMAGES))
    assert images.offline_tags() == set()
    assert images.stale_offline_images(env) == []
