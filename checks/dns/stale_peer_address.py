"""A container still talks to an address its peer held before it was recreated.

A client that resolves a name once (at start, or when it opens a connection pool) and then
keeps the address goes on using it after the target is recreated: `docker compose up -d`
after an image or configuration change, a crash under `restart: always` that removed the
container, a scale down and up. The new container gets another address, the embedded DNS
answers the new one, and the client keeps an idle connection to a container that is gone,
or keeps reconnecting to the old address: timeouts and 502s until it is restarted. nginx's
`proxy_pass http://api:8080;` is the classic case: nginx resolves upstream names when it
loads its configuration, never again. Connection pools (JDBC, Redis, pgbouncer) and
long-lived clients that resolve once do the same.

Detected from each running container's network namespace: its TCP sockets that are
ESTABLISHED or SYN_SENT (outgoing: not on one of its own listening ports) whose peer
address lies on one of its bridge networks, is not the network's gateway, and belongs to
no container the engine knows, while a running container on that network now answers for
the port (a name the container's configuration references at that port, else a container
that exposes or listens on it). The evidence is the sockets, the name's current holders and
their addresses.

Fix: restart the client (`docker compose restart web`) to make it resolve again, then make
it resolve per request: in nginx, the embedded DNS as resolver and the upstream in a
variable (`resolver 127.0.0.11 valid=10s; set $api http://api:8080; proxy_pass $api;`);
elsewhere, a pool that re-resolves on reconnect or a shorter connection lifetime.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from diag.checks._services import target_containers
from diag.checks.port._sockets import listening
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.observations import Connection
from diag.model.tasks import CONNECTIONS, LISTENING, Planned
from diag.model.topology import Container, Network

ID = "dns.stale-peer-address"
SEVERITY = "error"
TITLE = "Container holds connections to an address its peer no longer has"

MAX_SHOWN = 10


@dataclass(frozen=True)
class _Stale:
    """A source's connections to one vanished address and port on one network."""

    network: Network
    peer: str
    port: int
    connections: tuple[Connection, ...]


def _running(ctx: CheckContext) -> list[Container]:
    return [c for c in target_containers(ctx) if c.running and c.endpoints]


def plan(ctx: CheckContext) -> list[Planned]:
    planned: list[Planned] = []
    for container in _running(ctx):
        placement = ctx.netns_placement(container)
        planned += [(placement, LISTENING), (placement, CONNECTIONS)]
    return planned


def _network_of(ctx: CheckContext, source: Container, address: str) -> Network | None:
    """The source's bridge network whose subnet holds `address` (not its gateway)."""
    own = {endpoint.network_id for endpoint in source.endpoints}
    held = ctx.topology.subnets_holding(address)
    return next(
        (n for n, s in held if n.id in own and n.driver == "bridge" and address != s.gateway),
        None,
    )


def _stale(ctx: CheckContext, source: Container) -> list[_Stale]:
    placement = ctx.netns_placement(source)
    answer = ctx.observations.get(placement, CONNECTIONS)
    if not answer or answer.status != "ok":
        return []
    sockets = listening(ctx, source)
    if sockets is None:
        return []
    serving = {sock.port for sock in sockets}
    groups: dict[tuple[str, str, int], list[Connection]] = {}
    networks: dict[str, Network] = {}
    for conn in answer.connections:
        if conn.port in serving:
            continue  # a client's connection to this container, not one it made
        network = _network_of(ctx, source, conn.peer)
        if network is None or ctx.topology.owner_of(network, conn.peer) is not None:
            continue
        networks[network.id] = network
        groups.setdefault((network.id, conn.peer, conn.peer_port), []).append(conn)
    return [
        _Stale(networks[net], peer, port, tuple(conns))
        for (net, peer, port), conns in sorted(groups.items())
    ]


def _holders(
    ctx: CheckContext, source: Container, stale: _Stale
) -> tuple[str, list[tuple[Container, str]]]:
    """The name the source uses for that port and who holds it on the network now (running
    containers and their addresses); the name is '' when no reference says which."""
    members = [
        (container, endpoint)
        for container, endpoint in ctx.topology.members(stale.network)
        if container.running and container.id != source.id and endpoint.ip
    ]
    for edge in ctx.target.edges:
        if edge.source.id != source.id or edge.port != stale.port:
            continue
        name = edge.name.lower()
        held = [(c, ep.ip) for c, ep in members if name in {n.lower() for n in ep.dns_names}]
        if held:
            return edge.name, held
    serving = []
    for container, endpoint in members:
        ports = container.exposed_tcp_ports() | {s.port for s in listening(ctx, container) or []}
        if stale.port in ports:
            serving.append((container, endpoint.ip))
    return "", serving


def _connection_text(conn: Connection) -> str:
    return f"{conn.address}:{conn.port} -> {conn.peer}:{conn.peer_port} {conn.state.upper()}"


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for source in _running(ctx):
        for stale in _stale(ctx, source):
            name, held = _holders(ctx, source, stale)
            if not held:
                continue
            yield _finding(source, stale, name, held)


def _finding(
    source: Container, stale: _Stale, name: str, held: list[tuple[Container, str]]
) -> Result:
    label = source.service or source.name
    targets = list(dict.fromkeys(c.service or c.name for c, _ in held))
    name = name or (targets[0] if len(targets) == 1 else "the service")
    now = ", ".join(sorted({ip for _, ip in held}))
    states = sorted({conn.state.upper() for conn in stale.connections})
    shown = [_connection_text(conn) for conn in stale.connections[:MAX_SHOWN]]
    if len(stale.connections) > MAX_SHOWN:
        shown.append(f"... and {len(stale.connections) - MAX_SHOWN} more")
    restart = (
        f"docker compose -p {source.project} restart {source.service}"
        if source.project and source.service
        else f"docker restart {source.name}"
    )
    return Result(
        subjects=subjects(
            source.service,
            targets,
            source.name,
            [c.name for c, _ in held],
            stale.network.name,
        ),
        summary=(
            f"{label} holds {len(stale.connections)} connection(s) "
            f"({'/'.join(states)}) to {stale.peer}:{stale.port} on {stale.network.name}, an "
            f"address no container has any more; {name} is now at {now}: {label} resolved it "
            "before its target was recreated and kept the address"
        ),
        evidence={
            "connections": shown,
            "stale_address": f"{stale.peer} (no container on {stale.network.name} has it)",
            "now": [f"{c.name} {ip}" for c, ip in held],
        },
        fix="\n".join(
            [
                f"Make {label} resolve {name} again: `{restart}`. Then keep it from caching "
                "the address: resolve per request or per connection. For nginx:",
                "    resolver 127.0.0.11 valid=10s;",
                f"    set $upstream http://{name}:{stale.port};",
                "    proxy_pass $upstream;",
            ]
        ),
    )
