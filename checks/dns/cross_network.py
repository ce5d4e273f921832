"""The source and the target share no network.

Each compose network is its own DNS scope: a service resolves only the containers on its
own networks. Listing `networks:` for a service removes it from `default`, which is the
classic way for `web` (on `front`) to lose sight of `db` (on `back`). The client gets
"name not found" although both containers are running.

Detected from the engine: the name's containers are running, but none is registered under
that name on any network the source is attached to. Not queried (see dns.name-confusion).

Fix: attach the source (or the target) to a common network: a compose snippet names it.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import (
    EdgeState,
    edge_evidence,
    edge_subjects,
    network_key,
    plan,
)
from diag.model.context import CheckContext
from diag.model.findings import Result

ID = "dns.cross-network"
SEVERITY = "error"
TITLE = "Source and target share no network"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    if not state.running_holders or state.registrations or state.hosts_ips:
        return None
    edge = state.edge
    source_nets = [ep.network_name for ep in state.netns.endpoints]
    target_nets = sorted({ep.network_name for c in state.running_holders for ep in c.endpoints})
    keys = [network_key(ctx, n) for n in source_nets]
    add = network_key(ctx, target_nets[0]) if target_nets else "<target's network>"
    return Result(
        subjects=edge_subjects(state, source_nets, target_nets),
        summary=(
            f"{edge.source_label} (on {', '.join(source_nets) or 'no network'}) cannot "
            f"resolve {edge.name} (on {', '.join(target_nets)}): they share no network"
        ),
        evidence=edge_evidence(state, source_networks=source_nets, target_networks=target_nets),
        fix=(
            f"Attach {edge.source_label} to {add} as well:\n  {edge.source_label}:\n"
            f"    networks: [{', '.join([*keys, add])}]\n"
            + ("(and declare it under top-level `networks:` if it is external)")
        ),
    )


EXPLAINS = Explainer(rank=70, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
