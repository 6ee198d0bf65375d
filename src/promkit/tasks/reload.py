"""reload.*: apply a changed Prometheus config to the running server, without a restart."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from promkit.tasks.common import reports_errors


@task(help={"url": "Prometheus base URL (default: setting prometheus.url)"})
@reports_errors
def local(c: Context, url: str | None = None) -> None:
    """Check the Prometheus config with promtool, then reload it into the local Prometheus."""
    from promkit.core import settings
    from promkit.local import stack as local_stack
    from promkit.verify import client as prom

    client = prom.client_from_settings(settings.load(c.config).prometheus, url)
    print(local_stack.reload(c, c.config, client))


ns = Collection("reload")
ns.add_task(local)
