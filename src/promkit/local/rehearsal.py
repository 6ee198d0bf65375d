"""An upgrade rehearsal: two Prometheus binaries side by side on the user's config.

Each gets a copy of the config and its rule files, the user's flags, an empty TSDB in a
temp folder of its own and a loopback port of its own; both scrape the same targets.
A version that refuses something at startup is named (promkit.verify.upgrade.refusal),
and restarted with that one thing worked around, so the rest can still be compared. Both
processes are stopped by pid and their folders removed on every exit (Ctrl-C, SIGTERM,
failure). Binaries only: images are out of scope.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from invoke.context import Context

from promkit.core import console, runner
from promkit.core.deadline import Deadline
from promkit.core.errors import ConfigError, PromkitError
from promkit.rules.files import rule_file_paths
from promkit.verify import rehearsal
from promkit.verify.client import PrometheusClient, PrometheusError
from promkit.verify.queries import DocumentedQuery
from promkit.verify.upgrade import Comparison, Refusal, Side, compare, refusal

#: Debian's Prometheus, the version most users upgrade from.
DEBIAN_PROMETHEUS = "/usr/bin/prometheus"
#: How many refusals of one version are worked around before giving up.
MAX_ATTEMPTS = 8
_IMAGE = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[\w.-]+)?(@sha256:[0-9a-f]{64})?$")
_VERSION = re.compile(r"^prometheus, version (\S+)", re.MULTILINE)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_binary(c: Context, path: str, option: str) -> str:
    """The version of the Prometheus binary ``path``, or a PromkitError saying what it is."""
    if not os.path.exists(path) and ":" in path and _IMAGE.match(path):
        raise ConfigError(
            f"{option} {path} looks like an image: verify.upgrade rehearses binaries only "
            "(images are out of scope); give the path of a prometheus binary"
        )
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise ConfigError(f"{option} {path} is not an executable file: give a prometheus binary")
    try:
        done = runner.run(c, [path, "--version"], check=False, timeout=20)
    except runner.CommandNotFound:  # an executable text file whose first word is no program
        raise ConfigError(
            f"{option} {path} is not Prometheus: `{path} --version` does not run"
        ) from None
    found = _VERSION.search(done.stdout + done.stderr)
    if not found:
        said = runner.last_line(done.stdout + done.stderr) or "nothing"
        raise ConfigError(f"{option} {path} is not Prometheus: `{path} --version` said {said!r}")
    return found.group(1).split("+")[0]


def default_from() -> str:
    """``--from``'s default: Debian's Prometheus if installed, else the user must say."""
    if os.path.isfile(DEBIAN_PROMETHEUS):
        return DEBIAN_PROMETHEUS
    raise ConfigError(
        f"{DEBIAN_PROMETHEUS} is not installed: give --from PATH (the version in use)"
    )


def _load_config(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the Prometheus config {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"the Prometheus config {path} is not YAML: {exc}".splitlines()[0]
        ) from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"the Prometheus config {path} is not a YAML mapping")
    return loaded


@dataclass
class Server:
    """One side: its binary, its folder (config copy, rules, TSDB, log), port and process."""

    name: str
    binary: str
    config: dict[str, Any]
    rule_files: dict[str, str]
    flags: list[str]
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="promkit-upgrade-")))
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write(self) -> Path:
        rules = self.folder / "rules"
        rules.mkdir(exist_ok=True)
        for name, text in self.rule_files.items():
            (rules / name).write_text(text, encoding="utf-8")
        config = dict(self.config)
        config["rule_files"] = [str(rules / name) for name in self.rule_files]
        path = self.folder / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def argv(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self._write()}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            *self.flags,
        ]

    def start(self) -> None:
        self.stop()
        shutil.rmtree(self.folder / "data", ignore_errors=True)
        log = (self.folder / "prometheus.log").open("wb")
        console.say(f"[upgrade] {self.name}: {' '.join(self.argv())}")
        # Its own session: a Ctrl-C reaches promkit, which stops it by pid (stop()).
        self.process = subprocess.Popen(
            self.argv(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def log(self) -> str:
        with suppress(OSError):
            return (self.folder / "prometheus.log").read_text(encoding="utf-8", errors="replace")
        return ""

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self) -> None:
        """TERM by pid, KILL after 10 s."""
        if self.process is not None:
            runner.stop_process(self.process, 10)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def work_around(self, refused: Refusal) -> bool:
        """Change this side's copy so it gets past ``refused``; False if nothing can."""
        found = refused.workaround
        if found is None:
            return False
        if found.kind == "drop-flag" and found.argument in self.flags:
            self.flags.remove(found.argument)
            return True
        if found.kind == "alertmanager-v2":
            alerting = self.config.get("alerting") or {}
            for manager in alerting.get("alertmanagers") or []:
                manager["api_version"] = found.argument
            return True
        if found.kind == "drop-rule":
            return self._drop_rule(found.argument)
        return False

    def groups(self) -> int:
        """How many rule groups its rule files hold (the server shows each one)."""
        count = 0
        for text in self.rule_files.values():
            data = yaml.safe_load(text) or {}
            count += len(data.get("groups") or []) if isinstance(data, dict) else 0
        return count

    def _drop_rule(self, name: str) -> bool:
        for file, text in self.rule_files.items():
            data = yaml.safe_load(text) or {}
            for group in data.get("groups") or []:
                kept = [
                    r
                    for r in group.get("rules") or []
                    if name not in (r.get("record"), r.get("alert"))
                ]
                if len(kept) != len(group.get("rules") or []):
                    group["rules"] = kept
                    self.rule_files[file] = yaml.safe_dump(data, sort_keys=False)
                    return True
        return False


def _servers(
    config_file: Path, binaries: Sequence[tuple[str, str]], flags: Sequence[str]
) -> list[Server]:
    config = _load_config(config_file)
    texts: dict[str, str] = {}
    for index, path in enumerate(rule_file_paths(config_file)):
        texts[f"{index:02d}-{path.name}"] = path.read_text(encoding="utf-8")
    return [
        Server(name, binary, yaml.safe_load(yaml.safe_dump(config)), dict(texts), list(flags))
        for name, binary in binaries
    ]


def _wait_ready(server: Server, deadline: Deadline) -> bool:
    """Until its /-/ready answers (True) or it exits (False)."""
    while not deadline.passed():
        if server.exited():
            return False
        client = PrometheusClient(server.url, timeout=2)
        with suppress(PrometheusError):
            if client.probe("/-/ready").status == 200:
                return True
        time.sleep(0.25)
    raise PromkitError(
        f"Prometheus {server.name} did not get ready within the timeout: {server.log()[-300:]}"
    )


def _start(server: Server, deadline: Deadline) -> bool:
    """Start it, working around each refusal; False if it refused what nothing gets past."""
    for _attempt in range(MAX_ATTEMPTS):
        server.start()
        if _wait_ready(server, deadline):
            return True
        refused = refusal(server.log(), server.flags)
        server.refusals.append(refused)
        if not server.work_around(refused):
            return False
    return False


def _settle(servers: Sequence[Server], deadline: Deadline) -> None:
    """Until every running side scraped each target 3x and evaluated each group twice."""
    progress = {
        s.name: rehearsal.Progress(s.groups(), bool(s.config.get("scrape_configs")))
        for s in servers
    }
    clients = {s.name: PrometheusClient(s.url, timeout=5) for s in servers}
    while True:
        for name, client in clients.items():
            rehearsal.poll(client, progress[name])
        if all(p.done() for p in progress.values()):
            return
        if deadline.passed():
            waiting = "; ".join(f"{n}: {p.missing()}" for n, p in progress.items() if not p.done())
            raise PromkitError(
                f"the servers did not settle within --timeout ({waiting}): give a longer --timeout"
            )
        time.sleep(0.5)


@contextmanager
def _terminated_raises() -> Iterator[None]:
    """SIGTERM stops promkit like Ctrl-C does, so the servers are removed either way."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def rehearse(
    old: tuple[str, str],
    new: tuple[str, str],
    config_file: Path,
    flags: Sequence[str],
    queries: Sequence[DocumentedQuery],
    timeout: float,
) -> Comparison:
    """Run ``old`` and ``new`` ((version, binary)) on ``config_file`` and compare them."""
    servers = _servers(config_file, [old, new], flags)
    deadline = Deadline(timeout)
    with _terminated_raises():
        try:
            return _rehearse(servers, queries, deadline)
        finally:
            for server in servers:
                server.remove()


def _rehearse(
    servers: list[Server], queries: Sequence[DocumentedQuery], deadline: Deadline
) -> Comparison:
    started = [_start(server, deadline) for server in servers]
    before, after = servers
    if not started[0]:
        lines = f"{before.refusals[-1].line}"
        if not started[1]:
            raise ConfigError(
                f"no version loads the config: {before.name}: {lines}; "
                f"{after.name}: {after.refusals[-1].line}"
            )
        raise ConfigError(f"{before.name} (--from) does not load the config: {lines}")
    running = [s for s, ok in zip(servers, started, strict=True) if ok]
    _settle(running, deadline)
    sides: list[Side] = []
    for server, ok in zip(servers, started, strict=True):
        refused = tuple(server.refusals)
        if not ok:
            sides.append(rehearsal.not_running(server.name, refused))
            continue
        client = PrometheusClient(server.url, timeout=10)
        sides.append(rehearsal.observe(client, server.name, queries, refused))
    return compare(sides[0], sides[1], queries)
