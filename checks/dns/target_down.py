"""A name vanished because its container is not running.

The embedded DNS answers only for running containers: when `db` crashes, exits or is
stopped, `db` stops resolving ("Name or service not known", "could not translate host
name"), and the dependent reports a DNS error for what is really a dead container.

Detected from the engine: the referenced name belongs to containers (service name,
container name or alias) none of which is running. `container.not-running` reports the
container itself with its exit code and last log lines.

Fix: find out why it stopped (`docker compose logs SERVICE`) and start it again.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_evidence, edge_subjects, plan
from diag.model.context import CheckContext
from diag.model.findings import Result

ID = "dns.target-down"
SEVERITY = "error"
TITLE = "Name does not resolve: its container is not running"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    if not state.holders or state.running_holders:
        return None
    edge = state.edge
    holder = state.holders[0]
    states = [
        f"{c.name}: {c.status}" + (f" (exit code {c.exit_code})" if c.status == "exited" else "")
        for c in state.holders
    ]
    project = f"-p {holder.project} " if holder.project else ""
    return Result(
        subjects=edge_subjects(state),
        summary=(
            f"{edge.source_label} uses {edge.name}, which does not resolve: {', '.join(states)}"
        ),
        evidence=edge_evidence(state, target=states),
        fix=(
            f"See why it stopped: `docker compose {project}logs {holder.service}`; then "
            f"`docker compose {project}up -d {holder.service}`"
            if holder.service
            else f"See why it stopped: `docker logs {holder.name}`; "
            f"then `docker start {holder.name}`"
        ),
    )


EXPLAINS = Explainer(rank=50, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
