"""A service on the host listens on other addresses than the one containers connect to.

`host-gateway` maps a name (host.docker.internal) to the DEFAULT bridge's gateway,
docker0's 172.17.0.1 typically, whatever network the container is on. A host service bound
to the compose network's gateway (or to the host's uplink address, or to another bridge's)
is then refused through host.docker.internal, although it listens on an address of the
host and a container of that network could reach it there. The same happens to a
configuration that writes one gateway address while the service binds another.

Detected from both sides: the connect from the source's network namespace to the host's
address is refused, and the listening sockets read in the engine host's network namespace
hold that port on other addresses only: neither the one connected to nor a wildcard
(loopback-only is host.service-loopback; nothing at all is host.not-listening).

Fix: when the service listens on the gateway of a network the source is on, point the
source there (`extra_hosts: ["host.docker.internal:<that gateway>"]`, or that address in
the configuration); otherwise bind the service to the address the container connects to,
or to all addresses with a firewall rule that admits only the engine's networks.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_subjects, plan
from diag.checks.host._side import HostRefusal, holder, host_evidence, only_loopback, refusal
from diag.checks.port._sockets import WILDCARDS
from diag.model.context import CheckContext
from diag.model.findings import Result
from diag.model.targets import gateways

ID = "host.service-other-address"
SEVERITY = "error"
TITLE = "Host service listens on another address"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def _elsewhere(found: HostRefusal) -> list[str]:
    """The addresses the host listens on for the port, when none of them is the one
    connected to or a wildcard and not all are loopback; else nothing."""
    bound = sorted({s.address for s in found.sockets})
    if not bound or only_loopback(found) or set(bound) & (WILDCARDS | {found.address}):
        return []
    return bound


def _reachable(state: EdgeState, ctx: CheckContext, bound: list[str]) -> str | None:
    """One of `bound` that is the gateway of a network the source is on: the address the
    source could use instead."""
    own = {e.network_id for e in state.netns.endpoints}
    for address in bound:
        held = holder(ctx, address)
        if held is not None and held[0].id in own and address in gateways(ctx.topology):
            return address
    return None


def _fix(state: EdgeState, found: HostRefusal, usable: str | None) -> str:
    edge, port = state.edge, found.port
    bind = (
        f"make the host service listen on {found.address}:{port} (the address "
        f"{edge.source_label} connects to) or on 0.0.0.0:{port} with a firewall rule that "
        "admits only the engine's networks"
    )
    if usable is None:
        return bind[0].upper() + bind[1:] + "."
    if edge.name == found.address:
        return f"Use {usable} in {edge.source_label}'s {edge.origins[0]}, or {bind}."
    service = state.netns.service or state.netns.name
    return (
        f"Map {edge.name} to {usable}, where the service listens, or {bind}. The mapping, "
        f"then `docker compose up -d {service}`:\n  {service}:\n    extra_hosts:\n"
        f'      - "{edge.name}:{usable}"'
    )


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    found = refusal(state, ctx)
    if found is None:
        return None
    bound = _elsewhere(found)
    if not bound:
        return None
    edge = state.edge
    return Result(
        subjects=edge_subjects(state, edge.name),
        summary=(
            f"the host listens on {', '.join(bound)} for port {found.port}, not on "
            f"{found.address}: {edge.source_label} is refused at {edge.name} "
            f"({found.address}:{found.port})"
        ),
        evidence=host_evidence(state, found),
        fix=_fix(state, found, _reachable(state, ctx, bound)),
    )


# Beside host.service-loopback (115), which claims loopback-only listeners; before
# host.not-listening (125), port.not-listening (130) and port.refused, which know no host.
EXPLAINS = Explainer(rank=116, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
