"""`ddiag compose --matrix`: can each service reach each other service, port by port?

Not a check (it yields no findings): a view of the whole stack's reachability, observed
like the edges, from each source's network namespace with one `reach` task per target and
port (hosts file, DNS, connect). Ports are those the target listens on outside loopback.
A target on no network shared with the source is not asked for: its name would be
forwarded off the machine, and the engine already says it cannot resolve.
"""

from __future__ import annotations

from dataclasses import dataclass

from diag.checks._edges import local_networks, netns_owner
from diag.checks.port._sockets import is_loopback, listening
from diag.model.context import CheckContext
from diag.model.observations import ReachAnswer
from diag.model.tasks import LISTENING, Planned, Task, reach
from diag.model.topology import Container


@dataclass(frozen=True)
class Cell:
    source: str
    target: str
    port: int
    reachable: bool
    detail: str


def _services(ctx: CheckContext) -> dict[str, Container]:
    found: dict[str, Container] = {}
    for container in ctx.target.containers:
        if container.service and container.running and container.service not in found:
            found[container.service] = container
    return dict(sorted(found.items()))


def _registered(ctx: CheckContext, source: Container, target: Container, name: str) -> bool:
    owner = netns_owner(ctx, source)
    for network in ctx.topology.networks:
        if owner.endpoint(network) is None or not network.has_embedded_dns:
            continue
        endpoint = target.endpoint(network)
        if endpoint and endpoint.ip and name in {n.lower() for n in endpoint.dns_names}:
            return True
    return False


def _ports(ctx: CheckContext, target: Container) -> list[int]:
    return sorted({s.port for s in listening(ctx, target) or [] if not is_loopback(s.address)})


def _task(ctx: CheckContext, name: str, port: int) -> Task[ReachAnswer]:
    return reach(name, port, True, local_networks(ctx))


def plan(ctx: CheckContext) -> list[Planned]:
    if not ctx.target.matrix:
        return []
    services = _services(ctx)
    planned: list[Planned] = [(ctx.netns_placement(c), LISTENING) for c in services.values()]
    for source in services.values():
        at = ctx.netns_placement(netns_owner(ctx, source))
        for name, target in services.items():
            if target is source or not _registered(ctx, source, target, name.lower()):
                continue
            planned += [(at, _task(ctx, name, port)) for port in _ports(ctx, target)]
    return planned


def cells(ctx: CheckContext) -> list[Cell]:
    found = []
    services = _services(ctx)
    for source_name, source in services.items():
        at = ctx.netns_placement(netns_owner(ctx, source))
        for name, target in services.items():
            if target is source:
                continue
            registered = _registered(ctx, source, target, name.lower())
            for port in _ports(ctx, target):
                if not registered:
                    found.append(Cell(source_name, name, port, False, "no shared network"))
                    continue
                result = ctx.observations.get(at, _task(ctx, name, port))
                statuses = [r.status for r in result.connects.values()] if result else []
                if result is None:
                    detail = "not observed"
                elif not statuses:
                    detail = "not resolved"
                else:
                    detail = "open" if "open" in statuses else str(statuses[0])
                found.append(Cell(source_name, name, port, detail == "open", detail))
    return found
