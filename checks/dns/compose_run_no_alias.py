"""The service only runs as a `docker compose run` container, which has no service alias.

`docker compose run SERVICE` starts a one-off container that is *not* registered under the
service name (only under its own generated name), unless `--use-aliases` is given. Other
services that use the service name get "name not found" although a container of the
service is plainly running.

Detected from the engine: the referenced name is a service whose only running containers
are one-off (`com.docker.compose.oneoff=True`).

Fix: `docker compose run --use-aliases SERVICE ...`, or `docker compose up -d SERVICE`.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_evidence, plan
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects

ID = "dns.compose-run-no-alias"
SEVERITY = "error"
TITLE = "Service runs only as a one-off without its alias"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    running_oneoffs = [c for c in state.oneoff_holders if c.running]
    if state.running_holders or not running_oneoffs:
        return None
    edge = state.edge
    service = running_oneoffs[0].service or edge.name
    return Result(
        subjects=subjects(
            edge.source.service, service, edge.source.name, [c.name for c in running_oneoffs]
        ),
        summary=(
            f"{edge.source_label} uses {edge.name}, but {service} only runs as the one-off "
            f"{', '.join(c.name for c in running_oneoffs)}, which `compose run` did not "
            f"register as {edge.name}"
        ),
        evidence=edge_evidence(
            state,
            one_off=[f"{c.name} (running, no alias {edge.name})" for c in running_oneoffs],
            resolve=state.resolved.rcode if state.resolved else None,
        ),
        fix=(
            f"Start it with its alias: `docker compose run --use-aliases {service} ...`, or "
            f"as a service: `docker compose up -d {service}`."
        ),
    )


EXPLAINS = Explainer(rank=40, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
