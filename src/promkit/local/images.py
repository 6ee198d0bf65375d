"""Build the images the local stack needs, from upstream registries or fully offline.

Offline, everything comes from package registries: ``debootstrap`` makes a minimal
Debian rootfs with Prometheus, Python and Redis, ``docker import`` turns it into a
base image, and the stack's images are built on it with ``--network none`` (the
sample app from a wheelhouse made by ``pip download``). The offline image names
are written to the compose project's env file (``<compose.state_dir>/<project>/.env``),
which promkit passes to docker compose with ``--env-file``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from invoke.context import Context

from promkit.core import console, runner
from promkit.core.errors import PromkitError
from promkit.core.settings import ROOT, checkout_path

BASE_PACKAGES_FILE = ROOT / "images" / "base" / "packages.txt"
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
    #: Repository and version, e.g. promkit/redis:7.0-debian12.
    name: str
    context: Path
    #: The locally built programs copied into the context before the build, if any.
    binaries: Binaries | None = None

    @property
    def tag(self) -> str:
        """The name plus a digest of what goes into the image, so an edit means a rebuild.

        deploy.local builds only the images it lacks: a tag that stayed the same after
        the sample app's code changed would keep running the old code.
        """
        return f"{self.name}-{context_digest(self.context)}"


#: Files of a build context that never reach the image.
_NOT_IN_IMAGE = ("wheels", "__pycache__", ".dockerignore")


def context_digest(context: Path) -> str:
    """12 hex digits over the context's files (paths and bytes) and the base image."""
    digest = hashlib.sha256(base_tag().encode())
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        relative = path.relative_to(context)
        if relative.parts[0] in _NOT_IN_IMAGE or "__pycache__" in relative.parts:
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class Binaries:
    """Programs built from their Go module (a build script, cached by version), or prebuilt
    ones named by an environment variable, that an offline image carries."""

    #: What they are, for messages: "Prometheus".
    what: str
    version: str
    #: The file names, the first one the program the variable names (the rest beside it).
    files: tuple[str, ...]
    #: Prints the folder holding ``files`` (built if not cached).
    script: Path
    #: Names a prebuilt first file instead of ``script``.
    env: str
    #: The variable ``script`` reads the version from.
    version_env: str


#: The Prometheus the offline image carries: the version of compose/ and k8s/ upstream tag.
PROMETHEUS_VERSION = "3.16.0"
#: Builds prometheus and promtool (web UI embedded) and prints their folder.
PROMETHEUS_BUILD = ROOT / "scripts" / "build-prometheus3.sh"
#: A prometheus binary built elsewhere (promtool beside it) instead of PROMETHEUS_BUILD.
PROMETHEUS_BIN_ENV = "PROMKIT_PROMETHEUS3_BIN"
PROMETHEUS = Binaries(
    "Prometheus",
    PROMETHEUS_VERSION,
    ("prometheus", "promtool"),
    PROMETHEUS_BUILD,
    PROMETHEUS_BIN_ENV,
    "PROMETHEUS3_VERSION",
)
#: The Alertmanager of the offline image: compose's upstream tag, prom/alertmanager:v0.35.0.
ALERTMANAGER_VERSION = "0.35.0"
ALERTMANAGER = Binaries(
    "Alertmanager",
    ALERTMANAGER_VERSION,
    ("alertmanager", "amtool"),
    ROOT / "scripts" / "build-alertmanager.sh",
    "PROMKIT_ALERTMANAGER_BIN",
    "ALERTMANAGER_VERSION",
)

OFFLINE_IMAGES = (
    OfflineImage(
        "PROMKIT_PROMETHEUS_IMAGE",
        f"promkit/prometheus:{PROMETHEUS_VERSION}-ui-debian12",
        ROOT / "images/prometheus",
        binaries=PROMETHEUS,
    ),
    OfflineImage(
        "PROMKIT_ALERTMANAGER_IMAGE",
        f"promkit/alertmanager:{ALERTMANAGER_VERSION}-debian12",
        ROOT / "images/alertmanager",
        binaries=ALERTMANAGER,
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
        console.say(f"base image {tag} present")
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
        console.say("wheelhouse is current")
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


def prometheus_binaries(c: Context, cache_dir: Path, *, dry_run: bool = False) -> Path:
    """The folder holding prometheus and promtool 3.x with the web UI compiled in."""
    return built_binaries(c, PROMETHEUS, cache_dir, dry_run=dry_run)


def built_binaries(
    c: Context, binaries: Binaries, cache_dir: Path, *, dry_run: bool = False
) -> Path:
    """The folder holding ``binaries``: the one of the prebuilt program ``binaries.env``
    names, else the build of ``binaries.script`` (from the Go module, cached by version)."""
    prebuilt = os.environ.get(binaries.env)
    if prebuilt:
        folder = Path(prebuilt).parent
        if not all((folder / name).is_file() for name in binaries.files):
            first, *rest = binaries.files
            raise PromkitError(
                f"{binaries.env}={prebuilt} is not the {first} binary with {', '.join(rest)} "
                f"beside it: unset it or run {binaries.script.relative_to(ROOT)}"
            )
        return folder
    env = {"PROMKIT_CACHE": str(cache_dir), binaries.version_env: binaries.version}
    what = f"building {binaries.what} {binaries.version} (first time: minutes)"
    done = runner.run(c, ["bash", str(binaries.script)], dry_run=dry_run, env=env, what=what)
    return Path(runner.last_line(done.stdout) or cache_dir / f"{binaries.files[0]}-build")


@contextmanager
def build_context(
    c: Context, image: OfflineImage, cache_dir: Path, *, dry_run: bool
) -> Iterator[Path]:
    """The folder to build ``image`` from; its binaries, if any, copied in beside its files."""
    if image.binaries is None:
        yield image.context
        return
    folder_of = built_binaries(c, image.binaries, cache_dir, dry_run=dry_run)
    prefix = f"promkit-{image.binaries.files[0]}-image-"
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        context = Path(folder)
        for source in sorted(p for p in image.context.iterdir() if p.is_file()):
            shutil.copy2(source, context / source.name)
        if not dry_run:
            for name in image.binaries.files:
                shutil.copy2(folder_of / name, context / name)
        yield context


def build_offline_image(
    c: Context, image: OfflineImage, base: str, cache_dir: Path, *, dry_run: bool = False
) -> None:
    """Build one image of the stack on the offline base, with no network."""
    with build_context(c, image, cache_dir, dry_run=dry_run) as context:
        argv = [
            "docker",
            "build",
            "--network",
            "none",
            "--force-rm",
            "--build-arg",
            f"BASE_IMAGE={base}",
            "--tag",
            image.tag,
            str(context),
        ]
        runner.run(c, argv, dry_run=dry_run, env=BUILD_ENV, what=f"building {image.tag}")
    if not dry_run:
        console.say(f"built {image.tag}")


def build_offline_images(
    c: Context, cache_dir: Path, *, only_missing: bool = False, dry_run: bool = False
) -> dict[str, str]:
    """Build the stack's images without a registry (``only_missing``: those Docker lacks).

    Returns variable -> image; the env file is left alone (``build_offline`` writes it).
    """
    wanted = [
        image for image in OFFLINE_IMAGES if not (only_missing and image_exists(c, image.tag))
    ]
    if wanted:
        for folder in ("images", "sample_app"):  # the build contexts are not in the package
            checkout_path(folder, "building the offline images")
        base = build_base(c, cache_dir, dry_run=dry_run)
        fill_wheelhouse(c, dry_run=dry_run)
        for image in wanted:
            build_offline_image(c, image, base, cache_dir, dry_run=dry_run)
    return {image.variable: image.tag for image in OFFLINE_IMAGES}


def build_offline(
    c: Context,
    cache_dir: Path,
    env_file: Path,
    *,
    only_missing: bool = False,
    dry_run: bool = False,
) -> dict[str, str]:
    """Build every image of the stack without a registry (``only_missing``: those Docker
    lacks) and point ``env_file`` at them."""
    chosen = build_offline_images(c, cache_dir, only_missing=only_missing, dry_run=dry_run)
    write_compose_env(chosen, env_file, dry_run=dry_run)
    return chosen


def write_compose_env(images: dict[str, str], env_file: Path, *, dry_run: bool = False) -> None:
    """Point docker compose at ``images`` through the project's ``env_file``."""
    text = "# Written by `inv images.build --offline`; delete it to use upstream images.\n"
    text += "".join(f"{name}={image}\n" for name, image in images.items())
    if dry_run:
        console.say(f"[dry-run] write {env_file}:\n{text}", end="")
        return
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text(text)


def forget_offline_images(env_file: Path, *, dry_run: bool = False) -> None:
    """Remove ``env_file``, so compose uses the pinned upstream images again."""
    if env_file.exists():
        console.say(f"removing {env_file} (it pointed compose at offline images)")
        if not dry_run:
            env_file.unlink()


def build_online(c: Context, upstream: list[str], *, dry_run: bool = False) -> None:
    """Pull the pinned upstream images and build the sample app on its upstream base."""
    fetch_upstream(c, [*upstream, APP_IMAGE], dry_run=dry_run)


# -- what deploy.local does about images it lacks ------------------------------------


#: images.offline: build without a registry always, never, or when a pull fails.
def missing_images(c: Context, images: Mapping[str, str]) -> dict[str, list[str]]:
    """Image -> the services using it, for every image the Docker engine lacks."""
    missing: dict[str, list[str]] = {}
    for service, image in sorted(images.items()):
        if image and (image in missing or not image_exists(c, image)):
            missing.setdefault(image, []).append(service)
    return missing


def _described(missing: Mapping[str, list[str]]) -> str:
    return ", ".join(f"{image} ({', '.join(services)})" for image, services in missing.items())


def ensure_images(
    c: Context,
    images: Mapping[str, str],
    mode: str,
    cache_dir: Path,
    env_file: Path,
    *,
    dry_run: bool = False,
) -> bool:
    """Pull or build the images the stack lacks, saying which and why.

    ``mode`` is settings.images.offline. True when the offline images were built, so
    ``env_file`` changed and the caller must render the compose model again.
    """
    stale = stale_offline_images(env_file)
    if stale and mode != "never":
        console.say(f"out of date: {', '.join(stale)} (their sources changed): rebuilding them")
        _build_offline_or_explain(c, cache_dir, env_file, dry_run=dry_run)
        return True
    missing = missing_images(c, images)
    if not missing:
        return False
    if mode == "always" or set(missing) <= offline_tags():
        console.say(f"not built yet: {_described(missing)}: building the offline images")
        _build_offline_or_explain(c, cache_dir, env_file, dry_run=dry_run)
        return True
    console.say(f"not present yet: {_described(missing)}: pulling/building them")
    try:
        fetch_upstream(c, sorted(missing), dry_run=dry_run)
    except PromkitError as exc:
        if mode != "auto":
            raise PromkitError(
                f"{exc}; without a registry, build every image from package registries: "
                "set images.offline: true (INVOKE_IMAGES_OFFLINE=1); nothing was started"
            ) from None
        console.say(f"{exc}: building the offline images instead (images.offline: auto)")
        _build_offline_or_explain(c, cache_dir, env_file, dry_run=dry_run)
        return True
    return False


def offline_tags() -> set[str]:
    """The tags of the offline images, from their sources; none without a checkout (an
    installed wheel carries no sources to build them from, nor to name them by)."""
    if not BASE_PACKAGES_FILE.is_file():
        return set()
    return {image.tag for image in OFFLINE_IMAGES}


def stale_offline_images(env_file: Path) -> list[str]:
    """The offline images ``env_file`` names that are older than their sources."""
    if not env_file.is_file() or not BASE_PACKAGES_FILE.is_file():
        return []
    lines = env_file.read_text().splitlines()
    named = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    found = [(named.get(image.variable, ""), image) for image in OFFLINE_IMAGES]
    return [tag for tag, image in found if tag.startswith(image.name) and tag != image.tag]


def fetch_upstream(c: Context, images: list[str], *, dry_run: bool = False) -> None:
    """Pull each of ``images``, building the sample app's (it is never pulled)."""
    for image in images:
        if image == APP_IMAGE:
            context = checkout_path("sample_app", f"building {APP_IMAGE}")
            argv = ["docker", "build", "--tag", APP_IMAGE, str(context)]
            what = f"cannot build {APP_IMAGE} (its base image comes from a registry)"
            runner.run(c, argv, dry_run=dry_run, hide="err", env=BUILD_ENV, what=what)
        else:
            # Progress shows; the error is said once, in promkit's own line.
            argv = ["docker", "pull", image]
            runner.run(c, argv, dry_run=dry_run, hide="err", what=f"cannot pull {image}")


def _build_offline_or_explain(
    c: Context, cache_dir: Path, env_file: Path, *, dry_run: bool
) -> None:
    # A tag names its sources' digest: one already built (for another compose project,
    # whose state folder named it) is this project's image too.
    try:
        build_offline(c, cache_dir, env_file, only_missing=True, dry_run=dry_run)
    except PromkitError as exc:
        raise PromkitError(
            f"could not build the offline images, nothing was started: {exc}; `inv "
            "images.build --offline` needs root, debootstrap, Go and npm (see README.md)"
        ) from None
