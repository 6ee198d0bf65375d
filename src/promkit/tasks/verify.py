"""Placeholder: filled in by its owner."""

from invoke.collection import Collection

ns = Collection("verify")
