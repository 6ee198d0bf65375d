"""Build the images the local stack needs, from upstream registries or fully offline.

Offline, everything comes from package registries: ``debootstrap`` makes a minimal
Debian rootfs with Prometheus, Python and Redis, ``docker import`` turns it into a
base image, and the stack's images are built on it with ``--network none`` (the
sample app from a wheelhouse made by ``pip download``). The offline image names
are written to ``compose/.env``, which docker compose reads by itself.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from invoke.context import Context

from promkit import runner
from promkit.errors import PromkitError
from promkit.settings import ROOT

BASE_PACKAGES_FILE = ROOT / "images" / "base" / "packages.txt"
COMPOSE_ENV = ROOT / "compose" / ".env"
WHEELS = ROOT / "sample_app" / "wheels"
REQUIREMENTS = ROOT / "sample_app" / "requirements.txt"
APP_IMAGE = "promkit/sample-app:0.1.0"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# The legacy builder needs no buildx plugin and honours --network none.
BUILD_ENV = {"DOCKER_BUILDKIT": "0"}


@dataclass(frozen=True)
class OfflineImage:
    """An image of the stack built on the offline base, and the variable compose reads."""

    variable: str
    tag: str
    context: Path


OFFLINE_IMAGES = (
    OfflineImage(
        "PROMKIT_PROMETHEUS_IMAGE", "promkit/prometheus:2.42-debian12", ROOT / "images/prometheus"
    ),
    OfflineImage("PROMKIT_REDIS_IMAGE", "promkit/redis:7.0-debian12", ROOT / "images/redis"),
    OfflineImage("PROMKIT_APP_IMAGE", f"{APP_IMAGE}-debian12", ROOT / "sample_app"),
)


def base_packages() -> list[str]:
    """The Debian packages of the offline base image."""
    lines = BASE_PACKAGES_FILE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def base_tag() -> str:
    """The base image's tag: it changes whenever the package list or suite does."""
    digest = hashlib.sha256(f"{DEBIAN_SUITE}:{base_packages()}".encode()).hexdigest()[:12]
    return f"promkit/debian-base:{DEBIAN_SUITE}-{digest}"


def image_exists(c: Context, image: str) -> bool:
    """Whether the Docker engine has ``image`` locally."""
    return runner.run(c, ["docker", "image", "inspect", image], check=False).ok


def build_base(c: Context, cache_dir: Path, *, dry_run: bool = False) -> str:
    """Make the offline base image unless it exists; the rootfs tarball is cached."""
    tag = base_tag()
    if image_exists(c, tag):
        print(f"base image {tag} present")
        return tag
    tarball = cache_dir / f"{tag.rsplit(':', 1)[1]}.tar"
    if not tarball.is_file():
        make_rootfs_tarball(c, tarball, dry_run=dry_run)
    runner.run(
        c, ["docker", "import", str(tarball), tag], dry_run=dry_run, what="importing the base"
    )
    return tag


def make_rootfs_tarball(c: Context, tarball: Path, *, dry_run: bool = False) -> None:
    """debootstrap a minimal Debian with the base packages into ``tarball``."""
    if not dry_run and shutil.which("debootstrap") is None:
        raise PromkitError("debootstrap not found: `apt-get install debootstrap` (as root)")
    rootfs = tarball.with_suffix(".rootfs")
    partial = tarball.with_suffix(".partial")
    steps = [
        ["rm", "-rf", str(rootfs)],
        ["mkdir", "-p", str(tarball.parent)],
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(base_packages())}",
            DEBIAN_SUITE,
            str(rootfs),
            DEBIAN_MIRROR,
        ],
        ["rm", "-rf", f"{rootfs}/var/cache/apt/archives", f"{rootfs}/var/lib/apt/lists"],
        ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."],
        ["mv", str(partial), str(tarball)],
        ["rm", "-rf", str(rootfs)],
    ]
    for argv in steps:
        runner.run(c, argv, dry_run=dry_run, hide=argv[0] != "debootstrap", what=argv[0])


def requirements_digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def fill_wheelhouse(c: Context, *, dry_run: bool = False) -> None:
    """Download the sample app's pinned wheels into sample_app/wheels (skipped when current)."""
    stamp = WHEELS / ".requirements.sha256"
    if not dry_run and stamp.is_file() and stamp.read_text() == requirements_digest():
        print("wheelhouse is current")
        return
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--platform",
        "manylinux2014_x86_64",
        "--platform",
        "manylinux_2_28_x86_64",
        "--platform",
        "manylinux_2_17_x86_64",
        "-r",
        str(REQUIREMENTS),
        "-d",
        str(WHEELS),
    ]
    runner.run(c, argv, dry_run=dry_run, hide=False, what="downloading the app's wheels")
    if not dry_run:
        stamp.write_text(requirements_digest())


def build_offline(c: Context, cache_dir: Path, *, dry_run: bool = False) -> dict[str, str]:
    """Build every image of the stack without a registry; returns variable -> image."""
    base = build_base(c, cache_dir, dry_run=dry_run)
    fill_wheelhouse(c, dry_run=dry_run)
    for image in OFFLINE_IMAGES:
        argv = [
            "docker",
            "build",
            "--network",
            "none",
            "--build-arg",
            f"BASE_IMAGE={base}",
            "--tag",
            image.tag,
            str(image.context),
        ]
        runner.run(c, argv, dry_run=dry_run, env=BUILD_ENV, what=f"building {image.tag}")
        if not dry_run:
            print(f"built {image.tag}")
    chosen = {image.variable: image.tag for image in OFFLINE_IMAGES}
    write_compose_env(chosen, dry_run=dry_run)
    return chosen


def write_compose_env(images: dict[str, str], *, dry_run: bool = False) -> None:
    """Point docker compose at ``images`` through compose/.env."""
    text = "# Written by `inv images.build --offline`; delete it to use upstream images.\n"
    text += "".join(f"{name}={image}\n" for name, image in images.items())
    if dry_run:
        print(f"[dry-run] write {COMPOSE_ENV}:\n{text}", end="")
        return
    COMPOSE_ENV.write_text(text)


def forget_offline_images(*, dry_run: bool = False) -> None:
    """Remove compose/.env, so compose uses the pinned upstream images again."""
    if COMPOSE_ENV.exists():
        print(f"removing {COMPOSE_ENV} (it pointed compose at offline images)")
        if not dry_run:
            COMPOSE_ENV.unlink()


def build_online(c: Context, upstream: list[str], *, dry_run: bool = False) -> None:
    """Pull the pinned upstream images and build the sample app on its upstream base."""
    for image in upstream:
        runner.run(
            c, ["docker", "pull", image], dry_run=dry_run, hide=False, what=f"pulling {image}"
        )
    argv = ["docker", "build", "--tag", APP_IMAGE, str(ROOT / "sample_app")]
    runner.run(c, argv, dry_run=dry_run, hide=False, env=BUILD_ENV, what=f"building {APP_IMAGE}")
