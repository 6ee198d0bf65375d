"""Placeholder: filled in by its owner."""

from invoke.tasks import task


@task
def traffic(c):  # type: ignore[no-untyped-def]
    """Post sample webhooks (placeholder)."""
