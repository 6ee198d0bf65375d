"""auth.*: basic auth in front of the local Prometheus, from a password in the environment."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from promkit.tasks.common import reports_errors


@task(help={"dry-run": "say which files would be written, write nothing"})
@reports_errors
def local(c: Context, dry_run: bool = False) -> None:
    """Write the web config (bcrypt hash of $PROMKIT_PROMETHEUS_PASSWORD) for compose.auth."""
    from promkit import auth, compose
    from promkit.settings import section

    user, password = auth.password_from_environment(section(c.config, "prometheus"))
    project = compose.Project.from_config(c.config)
    paths = auth.paths_for(project.file, project.name)
    if dry_run:
        print(f"[dry-run] would write {paths.web_config} (user {user}) and {paths.self_password}")
        return
    written = auth.write_web_config(paths, user, password)
    print(f"wrote {written}: basic auth for user {user} (bcrypt hash; the password is not stored)")
    if not section(c.config, "compose").get("auth"):
        print("turn it on with the setting compose.auth: true (or INVOKE_COMPOSE_AUTH=1)")
    print("then `inv deploy.local`; verify.* read the same environment variables")


ns = Collection("auth")
ns.add_task(local)
