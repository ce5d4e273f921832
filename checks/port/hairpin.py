"""A container reaches a sibling through the host's address and a published port.

`API_URL=http://host.docker.internal:8080` (or the gateway's address) where 8080 is the
port another container publishes: the traffic leaves the container network for the host
and comes back in through Docker's port publishing (the userland proxy, or a hairpin NAT
rule). It breaks when the port is published on another address (`127.0.0.1:8080:80` is
refused at the gateway), when the userland proxy is off and hairpin NAT is not set up, or
when the host's firewall drops it; and where it works it depends on all of that, and on
the published port never changing. Containers reach each other directly by name.

Detected from the edge's configuration and the engine: an edge to the host on a port that
a running container publishes. A failed connect is an error; one that works is a warning
(it works through the host, not the container network).

Fix: use the sibling's service name and container port on a network both are on
(`http://api:80`), or put both on one network first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_evidence, plan, states
from diag.model.context import CheckContext
from diag.model.findings import Result, Severity, subjects
from diag.model.topology import Container, PortBinding

ID = "port.hairpin"
SEVERITY = "error"
TITLE = "Container reaches a sibling through the host's published port"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


@dataclass(frozen=True)
class Hairpin:
    """The sibling that publishes the host port an edge to the host uses."""

    sibling: Container
    binding: PortBinding
    shared: list[str]  # networks the source and the sibling are both on


def _hairpin(state: EdgeState, ctx: CheckContext) -> Hairpin | None:
    edge = state.edge
    if not edge.to_host or not edge.port:
        return None
    for container in ctx.topology.containers:
        if not container.running or container.id == state.netns.id:
            continue
        for binding in container.published_tcp():
            if binding.host_port == str(edge.port):
                mine = {ep.network_name for ep in state.netns.endpoints}
                shared = sorted(mine & {ep.network_name for ep in container.endpoints})
                return Hairpin(container, binding, shared)
    return None


def _result(state: EdgeState, found: Hairpin, failed: bool) -> Result:
    edge, sibling = state.edge, found.sibling
    name = sibling.service or sibling.name
    direct = f"{name}:{found.binding.container_port}"
    published = f"{found.binding.host_ip or '0.0.0.0'}:{found.binding.host_port}"
    how = "fails" if failed else "works only through the host"
    fix = f"Point {edge.source_label} at {direct} (`{edge.name}` → `{name}`, port "
    fix += f"{edge.port} → {found.binding.container_port})"
    fix += (
        f", on the network they share ({', '.join(found.shared)})."
        if found.shared
        else f"; they share no network, so put {edge.source_label} on one of {name}'s first."
    )
    return Result(
        subjects=subjects(
            edge.source.service, sibling.service, edge.source.name, sibling.name, found.shared
        ),
        summary=(
            f"{edge.source_label} reaches {name} through the host ({edge.name}:{edge.port}, "
            f"published by {name} as {published}->{found.binding.container_port}/tcp): {how}"
        ),
        evidence=edge_evidence(
            state,
            probe=state.connect_text(),
            published=f"{sibling.name}: {published}->{found.binding.container_port}/tcp",
            shared_networks=found.shared or "none",
        ),
        fix=fix,
        severity=None if failed else Severity.WARNING,
    )


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    found = _hairpin(state, ctx) if state.failed_connects() else None
    return _result(state, found, failed=True) if found is not None else None


# Before the host's own explanations (115 and on): the port is a container's, not the host's.
EXPLAINS = Explainer(rank=112, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
    for state in states(ctx):  # the ones that work, through the host: a warning
        if state.netns.running and state.connects and not state.failed_connects():
            found = _hairpin(state, ctx)
            if found is not None:
                yield _result(state, found, failed=False)
