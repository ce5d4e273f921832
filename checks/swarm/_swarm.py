"""What the swarm checks share: the manager's view of the swarm, the services a run is
about, and where a service's tasks can be tried from.

Only a manager knows nodes, services and tasks (`Topology.swarm` on a worker holds none),
so every swarm check says nothing on a worker or outside a swarm.
"""

from __future__ import annotations

from diag.model.context import CheckContext
from diag.model.edges import references_in_env
from diag.model.tasks import Placement
from diag.model.topology import SWARM_SERVICE_ID, Network, Swarm, SwarmService, SwarmTask

MAX_TASKS = 8  # tasks tried per service and network: enough to tell "some answer"


def manager_view(ctx: CheckContext) -> Swarm | None:
    swarm = ctx.topology.swarm
    return swarm if swarm is not None and swarm.manager else None


def services(ctx: CheckContext) -> list[SwarmService]:
    """The services the run is about: attached to one of the target's networks, of the
    stack `ddiag compose -p STACK` names, or running one of the target's containers."""
    swarm = manager_view(ctx)
    if swarm is None:
        return []
    running = {c.labels.get(SWARM_SERVICE_ID) for c in ctx.target.containers}
    stack = ctx.target.project.name if ctx.target.project is not None else None
    return [
        s
        for s in swarm.services
        if s.id in running
        or (stack is not None and s.stack == stack)
        or any(s.on(n) or s.vip(n) for n in ctx.target.networks)
    ]


def networks_of(ctx: CheckContext, service: SwarmService) -> list[Network]:
    """The service's own overlays (the routing mesh's `ingress` is not one of them)."""
    found = [ctx.topology.network_named(target) for target in service.networks]
    return [n for n in found if n is not None and not n.ingress]


def vantage(ctx: CheckContext, network: Network) -> Placement | None:
    """Where a peer of `network` runs: an anchor container on the manager when the overlay
    is attachable, else a probe task the swarm schedules on the manager's node."""
    swarm = manager_view(ctx)
    if swarm is None or network.ingress:
        return None
    if network.attachable:
        return ctx.peer_placement(network)
    node = swarm.node(swarm.node_id)
    return ctx.node_placement(network, swarm.node_id, node.hostname if node else swarm.node_id)


def task_addresses(
    swarm: Swarm, service: SwarmService, network: Network
) -> list[tuple[SwarmTask, str]]:
    """Running tasks of the service and their address on `network` (a few at most)."""
    found = [(t, t.address(network)) for t in swarm.running_tasks(service)]
    return [(task, address) for task, address in found if address][:MAX_TASKS]


def node_label(swarm: Swarm, node_id: str) -> str:
    node = swarm.node(node_id)
    return node.hostname if node is not None else node_id[:12]


def referenced_ports(ctx: CheckContext, service: SwarmService) -> set[int]:
    """Ports the target's containers (and the stack's services) name the service with:
    `http://api:8000` in an environment variable, by its name or one of its aliases."""
    names = {name.lower() for name in service.names()}
    envs: list[dict[str, str]] = [c.env for c in ctx.target.containers]
    swarm = manager_view(ctx)
    if swarm is not None and ctx.target.project is not None:
        envs += [s.env for s in swarm.services if s.stack == ctx.target.project.name]
    return {
        ref.port
        for env in envs
        for ref in references_in_env(env)
        if ref.port and ref.host.lower() in names
    }


def tcp_ports(ctx: CheckContext, service: SwarmService) -> list[int]:
    """The ports a service is known to serve: those it publishes (their target), those its
    clients reference, and those its local tasks' images expose."""
    ports = {p.target for p in service.ports if p.protocol == "tcp"}
    ports |= referenced_ports(ctx, service)
    for container in ctx.topology.containers:
        if container.labels.get(SWARM_SERVICE_ID) == service.id:
            ports |= {port for port, proto in container.exposed if proto == "tcp"}
    return sorted(ports)


def called(service: SwarmService, network: Network) -> str:
    """What its peers on `network` call it: a stack's alias there (`api`), else its name."""
    aliases = [a for target, a in service.aliases if target in (network.id, network.name)]
    return aliases[0] if aliases else service.name
