"""One name, several containers of different services or projects.

When two containers of different services (or of two compose projects on a shared
external network) hold the same name, the embedded DNS answers with all their addresses,
shuffled: half the connections of `api` go to the other project's `db`. Replicas of one
service sharing their service name are intended round-robin and are not reported.

Detected from the engine (the name is registered on a network the source is on by
containers of more than one project/service) and shown with the answer the source's DNS
gives.

Fix: give the services distinct names or aliases, or put the projects on separate networks.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_evidence, edge_subjects, network_key, plan
from diag.model.context import CheckContext
from diag.model.findings import Result

ID = "dns.duplicate-alias"
SEVERITY = "warning"
TITLE = "Name held by containers of different services"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    owners = {
        (r.container.project or "", r.container.service or r.container.name): r
        for r in state.registrations
    }
    if len(owners) < 2:
        return None
    edge = state.edge
    # where the name collides: the alias is declared per network, under its compose key
    shared_key = network_key(ctx, state.registrations[0].network.name)
    holders = [
        f"{r.container.name} ({r.container.project or 'no project'}) {r.endpoint.ip} "
        f"on {r.network.name}"
        for r in owners.values()
    ]
    return Result(
        subjects=edge_subjects(state),
        summary=(
            f"{edge.name}, used by {edge.source_label}, is held by {len(owners)} different "
            f"services: answers are shuffled between them"
        ),
        evidence=edge_evidence(
            state,
            holders=holders,
            answer=list(state.resolved.addresses) if state.resolved else None,
        ),
        fix=(
            "Make the name unique: rename the alias or service in one project, or keep the "
            "projects off a shared network, e.g.:\n  <other service>:\n    networks:\n"
            f"      {shared_key}:\n        aliases: [{edge.name}-other]"
        ),
    )


EXPLAINS = Explainer(rank=80, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
