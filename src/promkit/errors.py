"""The errors promkit reports to a user as one line and exit code 2."""

from __future__ import annotations


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
