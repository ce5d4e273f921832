"""A compose service's container is not running.

Exited, restarting (crash loop), paused or dead: its DNS names vanish from the embedded DNS
and every dependent gets "name not found" or refused connections, which is often reported
as a network problem. A one-shot container that exited with code 0 (a migration, an init
job) is reported as info.

Detected from the engine: the target's containers of a compose project (those on the
networks for `ddiag network`, the project's for `ddiag compose`, so a stopped service that
holds no endpoint is still seen; the container for `ddiag container`) in a state other than
running, with the exit code, the engine's error and the last lines of their log as
evidence.

Fix: read why it stopped (`docker compose logs SERVICE`), fix it, and start it again
(`docker compose up -d SERVICE`).
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.model.context import CheckContext
from diag.model.findings import Result, Severity, subjects

ID = "container.not-running"
SEVERITY = "error"
TITLE = "Container is not running"


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    seen = set()
    for container in ctx.target.containers:
        if container.running or not container.project or container.is_oneoff:
            continue
        if container.id in seen:
            continue
        seen.add(container.id)
        networks = [n.name for n in ctx.target.networks if container.endpoint(n) is not None]
        completed = container.status == "exited" and container.exit_code == 0
        state = container.status + (
            f" (exit code {container.exit_code})" if container.status == "exited" else ""
        )
        evidence: dict[str, object] = {"state": state, "restarts": container.restart_count}
        if container.error:
            evidence["error"] = container.error
        if container.last_logs:
            evidence["last_logs"] = list(container.last_logs)
        project = f"-p {container.project} "
        yield Result(
            subjects=subjects(container.subjects, networks),
            summary=f"{container.service or container.name} is {state}"
            + (f": {container.error}" if container.error else ""),
            evidence=evidence,
            fix=(
                f"See why: `docker compose {project}logs {container.service}`; after fixing "
                f"it, start it: `docker compose {project}up -d {container.service}`"
            ),
            severity=Severity.INFO if completed else None,
        )
