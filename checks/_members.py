"""Who a run is about: the containers on the target's networks, as checks iterate them (those
the target observes: all, unless `ddiag compose SERVICE...` named some)."""

from __future__ import annotations

from dataclasses import dataclass

from diag.model.context import CheckContext
from diag.model.topology import Container, Endpoint, Network


@dataclass(frozen=True)
class Member:
    network: Network
    container: Container
    endpoint: Endpoint

    @property
    def reachable(self) -> bool:
        """Running with an address on the network: something a peer can try to talk to."""
        return self.container.running and bool(self.endpoint.ip)


def members(ctx: CheckContext) -> list[Member]:
    return [
        Member(network, container, endpoint)
        for network in ctx.target.networks
        for container, endpoint in ctx.topology.members(network)
        if ctx.target.observes(container)
    ]


def reachable_members(ctx: CheckContext) -> list[Member]:
    return [member for member in members(ctx) if member.reachable]


def running_containers(ctx: CheckContext) -> dict[Container, list[Member]]:
    """Each running container on the target once, with its memberships (one per network)."""
    grouped: dict[Container, list[Member]] = {}
    for member in reachable_members(ctx):
        grouped.setdefault(member.container, []).append(member)
    return grouped
