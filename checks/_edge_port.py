"""The port of a dependency edge whose configuration names none, as its client would use.

The commonest references name a host and no port (`WORDPRESS_DB_HOST=db`, `REDIS_HOST=cache`,
`depends_on` alone). A client then connects to its protocol's default port: the edge model
already took that from the variable's name or the URL's scheme (`MYSQL_HOST` → 3306,
diag/model/edges.py). What is left has no protocol to go by, and the target decides, in
this order:

1. the TCP ports its running containers expose (`expose:`, the image's `EXPOSE`) or publish;
2. else the ports they listen on, as read in their netns: those others can reach (not bound
   to loopback) first, else the loopback ones (the client is then refused, and
   `port.app-loopback` says why).

Exactly one candidate is the port. Of several, the target's own protocol picks one when
exactly one candidate is that protocol's default port: the protocol as the target's image
name or its environment's variable names say it (`mysql:8`, `MYSQL_ROOT_PASSWORD` → 3306,
the one table of diag/model/edges.py), as a person reading the compose file would: a
MariaDB exposing 3306 and 33060 is reached on 3306 by `WORDPRESS_DB_HOST=db`. Otherwise
several are not guessed between: a client uses one of them, and which one only its
configuration knows, so the edge is "not checked", with the candidates in the reason
(trying them all would call the edge healthy when any port answers, the one it uses
perhaps not). No candidate, a localhost reference (the source's
own namespace says nothing about which port it meant), or sockets that could not be read:
"not checked" too. The name is still looked up, so a name that does not resolve is a
failure whatever the port.

Edges that need no port are left alone: those declared unreachable (a rule without a port
is tried on every port the target serves) and those that only share a namespace
(`network_mode: service:X`, judged by `net.service-netns-stale`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from diag.checks.port._sockets import is_loopback, listening
from diag.model.context import CheckContext
from diag.model.edges import DEFAULT_PORTS, Edge
from diag.model.topology import Container

# An edge from these origins alone is a shared namespace (compose adds the depends_on).
NETNS_ONLY = frozenset({"network_mode", "depends_on"})
# Protocol words that name what a client speaks, not what a server is: a target's
# `HTTP_PROXY` or `SMTP_HOST` says nothing about the port it serves.
CLIENT_WORDS = frozenset({"http", "https", "ws", "wss", "ftp", "smtp"})
WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class PortChoice:
    """The port an edge is tried on: its own, or one inferred (`how`); or None, with `how`
    saying why none can be known ('' when the edge needs none)."""

    port: int | None
    how: str = ""


def needs_inference(edge: Edge) -> bool:
    shares_netns = "network_mode" in edge.origins and set(edge.origins) <= NETNS_ONLY
    return edge.port is None and edge.expected is not False and not shares_netns


def choose(ctx: CheckContext, edge: Edge, holders: Sequence[Container]) -> PortChoice:
    """The port `edge` is tried on, `holders` being the running containers its name
    stands for (the module's rules)."""
    if not needs_inference(edge):
        return PortChoice(edge.port)
    hint = f"name its port in {edge.source_label}'s configuration ({edge.name}:PORT)"
    if edge.is_localhost or edge.to_host:
        return PortChoice(None, f"no port is configured for {edge.name}: {hint}")
    if not holders:
        return PortChoice(None, f"no running container holds {edge.name}")
    exposed = sorted(set().union(*(h.exposed_tcp_ports() for h in holders)))
    if exposed:
        return _one(edge, exposed, "exposes", hint, holders)
    read = [sockets for h in holders if (sockets := listening(ctx, h)) is not None]
    if not read:
        return PortChoice(
            None, f"{edge.name} exposes no port, and its listening sockets could not be read"
        )
    sockets = [s for found in read for s in found]
    open_ports = sorted({s.port for s in sockets if not is_loopback(s.address)})
    loopback_ports = sorted({s.port for s in sockets})
    if open_ports or loopback_ports:
        return _one(edge, open_ports or loopback_ports, "listens on", hint, holders)
    return PortChoice(None, f"{edge.name} exposes no port and listens on none")


def _protocols(holders: Sequence[Container]) -> dict[int, str]:
    """Default port → protocol word, for what the holders' image names and environment
    variable names say they serve (`mariadb:11`, `MYSQL_DATABASE` → {3306: "mysql"})."""
    found: dict[int, str] = {}
    for holder in holders:
        repository = holder.image.rsplit("/", 1)[-1].split("@")[0].split(":")[0].lower()
        words = WORD.findall(repository) + [name.split("_", 1)[0].lower() for name in holder.env]
        for word in words:
            if word in DEFAULT_PORTS and word not in CLIENT_WORDS:
                found.setdefault(DEFAULT_PORTS[word], word)
    return found


def _one(
    edge: Edge, ports: list[int], verb: str, hint: str, holders: Sequence[Container]
) -> PortChoice:
    if len(ports) == 1:
        return PortChoice(ports[0], f"the only port {edge.name} {verb}")
    protocols = _protocols(holders)
    served = [port for port in ports if port in protocols]
    if len(served) == 1:
        port = served[0]
        others = ", ".join(str(p) for p in ports if p != port)
        return PortChoice(
            port, f"the {protocols[port]} port, which {edge.name} {verb} (also: {others})"
        )
    listed = ", ".join(map(str, ports))
    return PortChoice(None, f"{edge.name} {verb} {listed}, and no port is configured: {hint}")
