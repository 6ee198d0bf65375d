"""The ``promkit`` command: promkit's tasks from any folder, without tasks.py or a checkout.

An Invoke ``Program`` serving ``promkit.tasks.namespace()`` (the namespace ``inv``
serves in the repository), as Fabric's ``fab`` does. On top of Invoke's own flags:

- ``--context NAME``: the Kubernetes context for every task on the line, and the
  setting ``k8s.context``;
- ``promkit.yaml`` (or ``invoke.yaml``; .yml and .json too) in the current folder as
  the project's settings, checked first so a broken one is one line, not a traceback;
- every ``PromkitError``, from any phase, is ``promkit: <message>`` and its exit code.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

from invoke.config import Config
from invoke.parser.argument import Argument
from invoke.program import Program

from promkit.core import settings_files
from promkit.core.errors import PromkitError
from promkit.core.settings_env import check_environment, check_ports

_CONTEXT_HELP = "Kubernetes context for every task on the line that takes one (sets k8s.context)"


class PromkitConfig(Config):
    """Invoke's configuration, its project file taken from the current folder.

    Environment variables (INVOKE_<SECTION>_<KEY>), ``-f FILE`` and the user's and
    system's invoke.yaml work as they do for ``inv``.
    """

    def load_project(self, merge: bool = True) -> None:
        """Load promkit.yaml or invoke.yaml from the current folder, if there is one."""
        path = settings_files.project_file(Path.cwd())
        data = settings_files.load(path) if path is not None else None
        # The project level of Invoke's config, as Config._load_file would set it.
        self._set(_project=data or {}, _project_path=None if path is None else str(path))
        self._set(_project_found=path is not None)
        if merge:
            self.merge()


class Promkit(Program):
    """``inv`` with promkit's namespace bundled, a ``--context`` flag and one error handler."""

    #: The context named on the command line (see ``_spread_context``).
    context: str | None = None

    def core_args(self) -> list[Argument]:
        """Invoke's core flags plus ``--context``."""
        return [*super().core_args(), Argument(names=("context",), help=_CONTEXT_HELP)]

    def run(self, argv: list[str] | None = None, exit: bool = True) -> None:
        """Run the command line; a PromkitError anywhere is one line and its exit code."""
        try:
            super().run(argv, exit)
        except PromkitError as exc:
            print(f"promkit: {exc}", file=sys.stderr)
            if exit:
                sys.exit(exc.exit_code)

    def parse_collection(self) -> None:
        """The bundled namespace, the project settings of the current folder, then every
        other source checked: the ``-f`` file and the environment.

        Here, not in ``update_config``: ``--list`` and ``--help`` end before that, and a
        misspelt ``INVOKE_*`` variable is refused by ``inv --list`` too (tasks.py).
        """
        super().parse_collection()
        self.config.load_project()
        given = self.args.config.value or os.environ.get("INVOKE_RUNTIME_CONFIG")
        settings_files.check_runtime_file(given, program="promkit")
        # Before Invoke casts INVOKE_* variables (int("soon") would be a traceback).
        project = self.config._project  # the current folder's file, loaded just above
        check_environment(os.environ, settings_files.known_settings([project]))
        check_ports(os.environ)

    def parse_tasks(self) -> None:
        """Parse the tasks, then hand the one context named on the line to each of them."""
        super().parse_tasks()
        self.context = self._spread_context()

    def update_config(self, merge: bool = True) -> None:
        """Invoke's runtime settings (checked in ``parse_collection``), then ``k8s.context``."""
        super().update_config(merge)
        if self.context is not None:
            # A modification: it outlives Invoke's later merges (the collection's settings
            # are loaded into each task's clone) and merges into the k8s section.
            self.config["k8s"] = {"context": self.context}  # type: ignore[assignment]

    def _spread_context(self) -> str | None:
        """Fill in ``--context`` of every task that takes one and was not given its own.

        The context is the core flag's, else the single one given to a task: Invoke
        hands a flag only to the task it follows, so in ``deploy.k8s verify.all
        --context X`` deploy.k8s would not see X. Two different ones count as none.
        """
        taking = [task.args["context"] for task in self.tasks if "context" in task.args]
        given = {arg.value for arg in taking if arg.got_value}
        chosen = self.args.context.value or (given.pop() if len(given) == 1 else None)
        for arg in taking:
            if chosen is not None and not arg.got_value:
                arg.value = chosen
        return chosen


def make_program() -> Promkit:
    """The ``promkit`` program, serving the namespace ``inv`` serves in the repository."""
    from promkit.tasks import namespace

    return Promkit(
        name="promkit",
        binary="promkit",
        binary_names=["promkit"],
        version=metadata.version("promkit"),
        namespace=namespace(),
        config_class=PromkitConfig,
    )


def main() -> None:
    """The console script; a closed standard output (``promkit --list | head -1``) ends it
    quietly with exit code 141, as SIGPIPE ends a C tool, not in a BrokenPipeError
    traceback (exit 1 would read as a failed verification).
    """
    from promkit.core.console import closed_pipe_exit

    try:
        try:
            make_program().run()
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not in Python's flush at exit
    except BrokenPipeError:
        closed_pipe_exit()
