"""What the port checks share: listening sockets read in each member's netns, and connects
from a peer on each network to every exposed or listening port.

All port checks plan the same observations (the runner runs each once), so that any one of
them selected alone still has what it needs, and each can tell which failures a more
specific check already explains.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Literal

from diag.checks._members import Member, reachable_members, running_containers
from diag.model.context import CheckContext
from diag.model.observations import ConnectAnswer, ConnectStatus, Socket
from diag.model.tasks import LISTENING, Planned, connect
from diag.model.topology import Container

Reach = Literal["reachable", "loopback", "absent", "elsewhere"]
WILDCARDS = {"0.0.0.0", "::"}
# The engine's embedded DNS listens for TCP on 127.0.0.11 at a random port inside every
# container on a user-defined network (port 53 is NATed to it): not the application's.
EMBEDDED_DNS = "127.0.0.11"


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def socket_text(sock: Socket) -> str:
    address = sock.address
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{sock.port}"


def listening(ctx: CheckContext, container: Container) -> list[Socket] | None:
    """The container's TCP listeners, or None when its netns could not be read."""
    result = ctx.observations.get(ctx.netns_placement(container), LISTENING)
    if not result or result.status != "ok":
        return None
    return [sock for sock in result.sockets if sock.address != EMBEDDED_DNS]


def containers_with_sockets(
    ctx: CheckContext,
) -> Iterable[tuple[Container, list[Member], list[Socket]]]:
    """Each running container whose sockets were read, with its memberships and sockets."""
    for container, memberships in running_containers(ctx).items():
        sockets = listening(ctx, container)
        if sockets is not None:
            yield container, memberships, sockets


def serving(ctx: CheckContext, port: int, exclude: str) -> list[Container]:
    """The target's running containers (but `exclude`, an id) that expose, publish or
    listen on `port`: who a client probably meant when it found nothing there."""
    found = []
    for container in ctx.target.containers or ctx.topology.containers:
        if container.id == exclude or not container.running:
            continue
        sockets = listening(ctx, container) or []
        if port in container.exposed_tcp_ports() or any(s.port == port for s in sockets):
            found.append(container)
    return found


def listening_texts(sockets: Iterable[Socket]) -> list[str]:
    return sorted({socket_text(sock) for sock in sockets})


def reach(sockets: list[Socket], port: int, own_ips: set[str]) -> Reach:
    """Can a peer reach `port`, judging by who listens on it inside the container?"""
    addresses = {sock.address for sock in sockets if sock.port == port}
    if not addresses:
        return "absent"
    if addresses & (WILDCARDS | own_ips):
        return "reachable"
    if all(is_loopback(address) for address in addresses):
        return "loopback"
    return "elsewhere"


def own_ips(container: Container) -> set[str]:
    return {ep.ip for ep in container.endpoints if ep.ip} | {
        ep.ipv6 for ep in container.endpoints if ep.ipv6
    }


def ports_to_probe(ctx: CheckContext, container: Container) -> set[int]:
    sockets = listening(ctx, container) or []
    return container.exposed_tcp_ports() | {sock.port for sock in sockets}


def plan(ctx: CheckContext) -> list[Planned]:
    """Every member's sockets and its ports from a peer (shared by the port checks)."""
    return ctx.per_observations("sockets-plan", lambda: _plan(ctx))


def _plan(ctx: CheckContext) -> list[Planned]:
    planned: list[Planned] = [
        (ctx.netns_placement(container), LISTENING) for container in running_containers(ctx)
    ]
    for member in reachable_members(ctx):
        peer = ctx.peer_placement(member.network)
        for port in sorted(ports_to_probe(ctx, member.container)):
            planned.append((peer, connect(member.endpoint.ip, port)))
    return planned


def connect_result(ctx: CheckContext, member: Member, port: int) -> ConnectAnswer | None:
    return ctx.observations.get(
        ctx.peer_placement(member.network), connect(member.endpoint.ip, port)
    )


def connect_texts(ctx: CheckContext, members: Iterable[Member], port: int) -> list[str]:
    """`connect 10.1.0.3:8000 refused (from a peer on shop_back)` for each observed network."""
    texts = []
    for member in members:
        result = connect_result(ctx, member, port)
        if result:
            texts.append(
                f"connect {member.endpoint.ip}:{port} {result.status} "
                f"(from a peer on {member.network.name})"
            )
    return texts


def connect_failures(
    ctx: CheckContext, statuses: set[ConnectStatus]
) -> Iterable[tuple[Member, int, ConnectAnswer, list[Socket] | None]]:
    """Each (member, port) whose connect from a peer ended in one of `statuses`."""
    for member in reachable_members(ctx):
        sockets = listening(ctx, member.container)
        for port in sorted(ports_to_probe(ctx, member.container)):
            result = connect_result(ctx, member, port)
            if result and result.status in statuses:
                yield member, port, result, sockets
