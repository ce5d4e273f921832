"""The host's side of an edge to the host: what listens where the engine runs, and the
refused connects that reading explains (host.service-loopback,
host.service-other-address, host.not-listening).

A container reaches a service on the host at the host's address on a bridge (the gateway
address its /etc/hosts gives host.docker.internal, or one the configuration writes). The
host placement's listening sockets say whether anything listens on that port, and on which
addresses: a refusal from a host that listens on loopback only, or on nothing, is the host
service's doing, not a container's.
"""

from __future__ import annotations

from dataclasses import dataclass

from diag.checks._edges import EdgeState, edge_evidence
from diag.checks.port._sockets import is_loopback, listening_texts
from diag.model.context import CheckContext
from diag.model.observations import Socket
from diag.model.tasks import LISTENING
from diag.model.topology import Network, Subnet


@dataclass(frozen=True)
class HostRefusal:
    """A host edge refused at `address` (what the source's /etc/hosts or configuration
    gave it), with the host's listening sockets on the edge's port."""

    address: str
    port: int
    sockets: list[Socket]
    subnet: Subnet | None  # the engine network's subnet that holds `address`


def host_sockets(ctx: CheckContext) -> list[Socket] | None:
    """The engine host's TCP listeners, or None when its netns could not be read."""
    result = ctx.observations.get(ctx.host_placement(), LISTENING)
    return list(result.sockets) if result and result.status == "ok" else None


def holder(ctx: CheckContext, address: str) -> tuple[Network, Subnet] | None:
    """The local bridge network, and its subnet, that hold `address` (a gateway's); None
    for another address of the host (its uplink's), which no engine network holds."""
    held = ctx.topology.subnets_holding(address)
    return next(((n, s) for n, s in held if n.driver == "bridge"), None)


def refusal(state: EdgeState, ctx: CheckContext) -> HostRefusal | None:
    """The first refused connect of a host edge whose host sockets were read; None for any
    other edge, or when nothing was refused or the host was not read."""
    edge = state.edge
    refused = [ip for ip, r in state.failed_connects().items() if r.status == "refused"]
    sockets = host_sockets(ctx)
    if not edge.to_host or not edge.port or not refused or sockets is None:
        return None
    on_port = [s for s in sockets if s.port == edge.port]
    held = holder(ctx, refused[0])
    return HostRefusal(refused[0], edge.port, on_port, held[1] if held else None)


def only_loopback(found: HostRefusal) -> bool:
    return bool(found.sockets) and all(is_loopback(s.address) for s in found.sockets)


def host_evidence(state: EdgeState, found: HostRefusal) -> dict[str, object]:
    return edge_evidence(
        state,
        hosts_file=[f"{ip} {state.edge.name}" for ip in state.hosts_ips or []],
        probe=state.connect_text(),
        host_listening=listening_texts(found.sockets) or f"nothing on port {found.port}",
    )
