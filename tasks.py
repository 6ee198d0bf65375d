"""promkit's tasks: `inv --list` shows them; the logic lives in src/promkit."""

from promkit.tasks import namespace

ns = namespace()
