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

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_evidence, holders_of, network_key, plan
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.topology import Container, Network

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


def _dns_networks(ctx: CheckContext, containers: list[Container]) -> list[Network]:
    """The networks with an embedded DNS (where an alias means anything) that any of
    `containers` is on, in the engine's order."""
    return [
        n
        for n in ctx.topology.networks
        if n.has_embedded_dns and any(c.endpoint(n) is not None for c in containers)
    ]


def _alias_snippet(ctx: CheckContext, state: EdgeState, suggestion: str) -> str:
    """The compose snippet that gives the intended service the missing name as an alias.

    The embedded DNS answers an alias only on the network it is declared under, so it goes
    under a network the intended service shares with the source (each of them, if several),
    never under a fixed `default`. The snippet lists all of the service's networks: listing
    some under `networks:` would take the service off the others. When the two share no
    network, the alias goes under the service's first one, and the source must join it
    whichever name it uses; when no container holds the suggested name (a service not
    created, or no suggestion at all), under the source's first network, which the service
    must then join.
    """
    source, name = state.edge.source_label, state.edge.name
    source_networks = _dns_networks(ctx, [state.netns])
    holders = holders_of(ctx, suggestion, state.edge.source.project)
    intended = [c for c in holders if not c.is_oneoff] or holders
    service = next((c.service or c.name for c in intended), suggestion)
    networks = _dns_networks(ctx, intended) or source_networks[:1]
    shared = [n for n in networks if n in source_networks]
    aliased = shared or networks[:1]
    keys = {n: network_key(ctx, n.name) for n in networks}
    lines = [f"  {service}:", "    networks:"]
    for network, key in keys.items():
        alias = f"\n        aliases: [{name}]" if network in aliased else " {}"
        lines.append(f"      {key}:{alias}")
    if not networks:  # the source is on no network with an embedded DNS either
        lines.append(f"      <a network of {source}>:\n        aliases: [{name}]")
    elif not shared:
        join = keys[aliased[0]]
        own = [network_key(ctx, n.name) for n in source_networks]
        lines.append(
            f"Either way, {source} shares no network with {service}: attach it to {join}:\n"
            f"  {source}:\n"
            f"    networks: [{', '.join([*own, join])}]"
        )
    return "\n".join(lines)


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    if state.edge.is_localhost or state.edge.to_host or state.holders or state.oneoff_holders:
        return None  # the host is no container (host.gateway-name judges its names)
    if state.hosts_ips:
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
            f"or give the intended service the alias:\n{_alias_snippet(ctx, state, suggestion)}"
            if edge.origins[0].startswith("environment")
            else f"Use an existing name (one of: {', '.join(valid[:6])})."
        ),
    )


EXPLAINS = Explainer(rank=60, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
