"""promkit's tasks: `inv --list` shows them; the logic lives in src/promkit."""

from promkit.core.console import quiet_on_closed_pipe
from promkit.tasks import check_settings_files, namespace

# `inv --list | head -1`: Invoke's own main loop meets the closed pipe, so the hook is
# Python's (sys.excepthook): exit 141 quietly instead of a BrokenPipeError traceback.
quiet_on_closed_pipe()
check_settings_files()
ns = namespace()
