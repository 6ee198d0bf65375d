"""promkit's tasks: `inv --list` shows them; the logic lives in src/promkit."""

from promkit.tasks import check_settings_files, namespace

check_settings_files()
ns = namespace()
