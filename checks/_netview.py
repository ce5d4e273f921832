"""The interfaces-and-routes view: what `ip -br addr` and `ip route` show in each netns.

Not a check (it yields no findings): the report's picture of where each container's
packets can go, read in its network namespace by the probe (diag.agent.netif) for every
running container of the target, once per namespace (containers sharing one, through
`network_mode: container:X` or `service:X`, are shown under its owner; one left behind in
a namespace X no longer has, see net.service-netns-stale, is shown on its own).
"""

from __future__ import annotations

from diag.checks._edges import netns_owner
from diag.model.context import CheckContext
from diag.model.observations import Interface
from diag.model.tasks import INTERFACES, Planned
from diag.model.topology import Container


def _owners(ctx: CheckContext) -> list[Container]:
    owners = {netns_owner(ctx, c).id: netns_owner(ctx, c) for c in ctx.target.containers}
    return sorted((c for c in owners.values() if c.running), key=lambda c: c.name)


def plan(ctx: CheckContext) -> list[Planned]:
    return [(ctx.netns_placement(container), INTERFACES) for container in _owners(ctx)]


def view(ctx: CheckContext) -> list[dict[str, object]]:
    """One entry per observed namespace: its interfaces (name, up, mtu, addresses) and
    IPv4 routes (dst, dev, via, metric), in the shape the agent wrote them."""
    found: list[dict[str, object]] = []
    for container in _owners(ctx):
        result = ctx.observations.get(ctx.netns_placement(container), INTERFACES)
        if result and result.status == "ok":
            found.append(
                {
                    "container": container.name,
                    "service": container.service,
                    "interfaces": [interface.to_dict() for interface in result.interfaces],
                    "routes": [route.to_dict() for route in result.routes],
                }
            )
    return found


def netns_interfaces(ctx: CheckContext, container: Container) -> list[Interface]:
    """The interfaces read in `container`'s netns (its owner's, when it shares one)."""
    owner = netns_owner(ctx, container)
    result = ctx.observations.get(ctx.netns_placement(owner), INTERFACES)
    return list(result.interfaces) if result and result.status == "ok" else []


def brief(interfaces: list[Interface]) -> list[str]:
    """What `ip -br addr` shows, a line per interface: `eth0 10.1.0.3/24`."""
    return [f"{i.name} {' '.join(i.addresses) or '(no address)'}" for i in interfaces]


def addresses(interfaces: list[Interface]) -> set[str]:
    """Every address on the interfaces, without its prefix length."""
    return {a.split("/")[0] for i in interfaces for a in i.addresses}
