"""A referenced name is not a name of any container.

Containers are reachable by their service name, container name and network aliases, and
by nothing else: not by the image name, not by `container_name` of another project, not
by the name a tutorial used (`database` for a service called `db`). The client gets "name
not found".

Detected from the engine: the referenced name is held by no container, service or alias
on this engine, and the source's /etc/hosts has no entry for it. The names that do exist
are suggested, closest first. The name is not sent to any DNS server: the embedded DNS
would forward an unknown name to resolvers outside this machine.

Fix: use one of the existing names, or add the name as an alias of the intended service.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from checks._arbiter import Explainer, edge_results
from checks._edges import EdgeState, edge_evidence, plan
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects

ID = "dns.name-confusion"
SEVERITY = "error"
TITLE = "Referenced name is not a container's name"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def _valid_names(ctx: CheckContext, state: EdgeState) -> list[str]:
    """Names the source could use: services of its project, then names on its networks."""
    names: list[str] = []
    project = ctx.target.project
    if project is not None:
        names += list(project.services)
    for network in ctx.topology.networks:
        if state.netns.endpoint(network) is None:
            continue
        for container, endpoint in ctx.topology.members(network):
            names += [n for n in endpoint.dns_names if n != container.short_id]
    return list(dict.fromkeys(names))


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    if state.edge.is_localhost or state.holders or state.oneoff_holders or state.hosts_ips:
        return None
    edge = state.edge
    valid = _valid_names(ctx, state)
    close = difflib.get_close_matches(edge.name, valid, n=3, cutoff=0.4)
    suggestion = close[0] if close else "<service name>"
    origin = edge.origins[0].removeprefix("environment ").split(" + ")[0]
    return Result(
        subjects=subjects(edge.source.service, edge.source.name, edge.name),
        summary=(
            f"{edge.source_label} uses {edge.name}, which is no container's name"
            + (f"; did you mean {' or '.join(close)}?" if close else "")
        ),
        evidence=edge_evidence(state, valid_names=valid[:12], closest=close),
        fix=(
            f"Use an existing name, e.g.:\n  {edge.source_label}:\n    environment:\n"
            f"      {origin}: <same value with {edge.name} replaced by {suggestion}>\n"
            f"or give the intended service the alias:\n  {suggestion}:\n    networks:\n"
            f"      default:\n        aliases: [{edge.name}]"
            if edge.origins[0].startswith("environment")
            else f"Use an existing name (one of: {', '.join(valid[:6])})."
        ),
    )


EXPLAINS = Explainer(rank=60, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
