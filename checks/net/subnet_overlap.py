"""A network's subnet overlaps a route of the Docker host or another Docker network.

Addresses in the overlap have two homes. When a Docker network takes a range that the
host already reaches another way (a VPN such as 10.0.0.0/8, a corporate LAN, a cloud VPC
peering), the host's connected route to the bridge wins for the overlapping addresses:
the host and every container lose the real machines in that range, usually discovered
as "the database on the VPN is unreachable since Docker started". Two Docker networks
that overlap (an overlay in the swarm's address space and a local bridge; a second
engine on the same host) make the same addresses mean two things, and which one a
packet reaches depends on the interface it leaves by.

Detected by comparing each IPv4 subnet of the target's networks with every other network
of the engine and with the routes of the Docker host, read in the host's own network
namespace by the probe (so a remote engine's host is the one judged). The network's own
bridge route and the default route do not count; a route to another Docker network's
bridge is reported as an overlap of the two networks.

Fix: move the network to a free range (ddiag names one, free of every engine network and
host route), and keep the engine's automatic choices away from the host's ranges:

    networks:
      back:
        ipam:
          config:
            - subnet: 172.29.0.0/24

and in /etc/docker/daemon.json: `"default-address-pools": [{"base": "172.29.0.0/16",
"size": 24}]`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence

from diag.checks.net._subnets import PRIVATE, free_subnet
from diag.checks.net.duplicate_ip import ipv4_subnets
from diag.model.context import CheckContext
from diag.model.findings import Result
from diag.model.observations import InterfacesAnswer
from diag.model.tasks import INTERFACES, Planned
from diag.model.topology import Network

ID = "net.subnet-overlap"
SEVERITY = "error"
TITLE = "Subnet overlaps a host route or another network"

IPv4Net = ipaddress.IPv4Network


def _nets(network: Network) -> list[IPv4Net]:
    return [IPv4Net(s, strict=False) for s in ipv4_subnets(network)]


def plan(ctx: CheckContext) -> list[Planned]:
    return [(ctx.host_placement(), INTERFACES)] if ctx.target.networks else []


def host_routes(result: InterfacesAnswer) -> list[tuple[IPv4Net, str]]:
    """(destination, device) of the host's IPv4 routes, the default route left out."""
    routes = []
    for route in result.routes:
        if route.dst not in ("", "default"):
            try:
                routes.append((IPv4Net(route.dst, strict=False), route.dev))
            except ValueError:
                continue
    return routes


def _free(prefixlen: int, taken: Sequence[IPv4Net]) -> str | None:
    found = free_subnet([p for p in PRIVATE if p.version == 4], prefixlen, list(taken))
    return str(found) if found is not None else None


def _snippet(network: Network, free: str | None) -> str:
    if free is None:
        return "Move the network to a range that no route of the host uses."
    return (
        f"Move {network.name} to {free}: networks: {network.name}: ipam: config: "
        f"[{{subnet: {free}}}]  (ddiag checked it against every network and host route); "
        "recreate it with `docker compose down && docker compose up -d`"
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    result = ctx.observations.get(ctx.host_placement(), INTERFACES)
    routes = host_routes(result) if result and result.status == "ok" else []
    by_device = {n.bridge_interface: n for n in ctx.topology.networks if n.driver == "bridge"}
    taken = [net for n in ctx.topology.networks for net in _nets(n)] + [r for r, _ in routes]
    reported: set[frozenset[str]] = set()
    for network in ctx.target.networks:
        for subnet in _nets(network):
            for other in ctx.topology.networks:
                pair = frozenset((network.id, other.id))
                overlapping = [o for o in _nets(other) if o.overlaps(subnet)]
                if other.id == network.id or not overlapping or pair in reported:
                    continue
                reported.add(pair)
                yield Result(
                    subjects=(network.name, other.name),
                    summary=(
                        f"{network.name} ({subnet}) overlaps Docker network {other.name} "
                        f"({overlapping[0]}): addresses in the overlap mean two things"
                    ),
                    evidence={
                        "engine": f"{network.name}: {subnet} ({network.driver}); "
                        f"{other.name}: {overlapping[0]} ({other.driver})"
                    },
                    fix=_snippet(network, _free(subnet.prefixlen, taken)),
                )
            own = network.bridge_interface
            for route, device in routes:
                if device == own or device in by_device or not route.overlaps(subnet):
                    continue
                yield Result(
                    subjects=(network.name,),
                    summary=(
                        f"{network.name} ({subnet}) overlaps the Docker host's route to {route} "
                        f"(dev {device}): the host and its containers lose whatever that route "
                        "leads to in the overlap"
                    ),
                    evidence={
                        "probe": f"host route {route} dev {device} (read in the Docker host's "
                        "network namespace)",
                        "engine": f"{network.name}: {subnet}",
                    },
                    fix=_snippet(network, _free(subnet.prefixlen, taken)),
                )
