"""The errors promkit reports to a user as one line and exit code 2."""

from __future__ import annotations

from promkit.core import console


class PromkitError(Exception):
    """promkit could not do its job: bad settings, a missing tool, an unreachable server.

    The message is one line naming what is wrong and what to do about it.
    Tasks turn it into exit code 2 without a traceback.
    """

    exit_code = 2


class ConfigError(PromkitError):
    """A setting (invoke.yaml, environment, flag) is missing or malformed."""


class ValidationError(PromkitError):
    """A file promkit would deploy (compose file, Prometheus config, manifest) is invalid."""


def refuse_listed(problems: list[str], what_has: str, command: str) -> None:
    """Print each problem on its own line, then raise a ValidationError counting them.

    ``what_has`` starts the message (``k8s/ has``), ``command`` is what to run once fixed.
    """
    for problem in problems:
        console.say(problem)
    if problems:
        count = len(problems)
        raise ValidationError(
            f"{what_has} {count} problem{'s' if count > 1 else ''} (listed above): fix them, "
            f"then run `{command}`"
        )
