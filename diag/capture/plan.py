"""What `ddiag capture SOURCE TARGET:PORT` is about, read from the topology (pure).

The source is a running container (by name, id or compose service). The target is a name
as the source's application would write it, or an address; when it designates a container
(a name the engine registers on a network the source shares, or one of its addresses), the
capture also runs in that container's namespace, and its listening sockets are read.

DNS: ddiag asks for the name only when nothing leaves the machine (SECURITY.md): the
engine registers it (the embedded DNS answers itself), or every `dns:` server of the
source is on loopback or inside an engine network (the embedded DNS forwards only to
those). Otherwise the attempt uses /etc/hosts or an address only, and says so; `--passive`
watches the application's own lookups instead.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from diag.errors import DiagError
from diag.model.egress import is_address
from diag.model.topology import Container, Topology

EMBEDDED_DNS = "127.0.0.11"
DNS_PORT = 53


@dataclass(frozen=True)
class CapturePlan:
    source: Container
    name: str  # the target as written
    port: int
    target: Container | None
    target_ips: tuple[str, ...]  # the target container's addresses the source may use
    allow: tuple[str, ...]  # the engine's subnets: the only addresses an attempt connects to
    dns: bool
    dns_why: str  # why DNS is or is not asked
    resolvers: tuple[str, ...]

    def shared_networks(self) -> tuple[str, ...] | None:
        """The networks both sides are on (None: the target is no container)."""
        if self.target is None:
            return None
        theirs = {e.network_id for e in self.target.endpoints}
        return tuple(e.network_name for e in self.source.endpoints if e.network_id in theirs)

    def filter_hosts(self) -> list[str]:
        return list(dict.fromkeys([*self.resolvers, *self.target_ips]))

    def filter_ports(self) -> list[int]:
        return [self.port, DNS_PORT]


def find_container(topology: Topology, name: str) -> Container | None:
    """A container by name or id, else the running container of a compose service."""
    found = topology.container_named(name)
    if found is not None:
        return found
    serving = [c for c in topology.containers if c.service == name]
    serving.sort(key=lambda c: (not c.running, c.name))
    return serving[0] if serving else None


def split_target(spec: str) -> tuple[str, int]:
    name, sep, port = spec.rpartition(":")
    if not sep or not name or not port.isdigit() or not 0 < int(port) < 65536:
        raise DiagError(f"TARGET must be NAME:PORT or ADDRESS:PORT, not {spec!r}")
    return name.strip("[]"), int(port)


def _shared_names(topology: Topology, source: Container) -> dict[str, Container]:
    """Every name the engine answers for on the source's networks → its container."""
    names: dict[str, Container] = {}
    networks = {e.network_id for e in source.endpoints}
    for container in topology.containers:
        for endpoint in container.endpoints:
            if endpoint.network_id in networks and endpoint.ip:
                for alias in (*endpoint.dns_names, *endpoint.aliases, container.name):
                    names.setdefault(alias.lower(), container)
    return names


def _subnets(topology: Topology) -> tuple[str, ...]:
    return tuple(s.subnet for n in topology.networks for s in n.subnets if s.subnet)


def _local(address: str, subnets: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or any(ip in ipaddress.ip_network(s, strict=False) for s in subnets)


def plan_capture(topology: Topology, source_name: str, target_spec: str) -> CapturePlan:
    source = find_container(topology, source_name)
    if source is None:
        raise DiagError(f"no container or compose service named {source_name!r}")
    if not source.running:
        raise DiagError(f"{source.name} is {source.status}: capture needs it running")
    name, port = split_target(target_spec)
    subnets = _subnets(topology)
    source_nets = {e.network_id for e in source.endpoints}
    target: Container | None = None
    registered = False
    if is_address(name):
        target = next(
            (c for c in topology.containers for e in c.endpoints if e.ip == name and c.running),
            None,
        )
    else:
        target = _shared_names(topology, source).get(name.lower().rstrip("."))
        registered = target is not None
        if target is None:
            target = find_container(topology, name)
    target_ips = tuple(
        e.ip for e in (target.endpoints if target else ()) if e.ip and e.network_id in source_nets
    ) or tuple(e.ip for e in (target.endpoints if target else ()) if e.ip)
    if is_address(name):
        dns, why = False, "an address: nothing to look up"
    elif registered:
        dns, why = True, "the engine registers the name: its embedded DNS answers itself"
    elif source.dns and all(_local(server, subnets) for server in source.dns):
        dns, why = True, "every dns: server of the source is on this engine's networks"
    else:
        dns = False
        why = (
            "the engine does not register the name, and the embedded DNS would forward the "
            "query to resolvers off this machine: ddiag does not send it (use --passive to "
            "watch your application's own lookups)"
        )
    resolvers = (EMBEDDED_DNS, *source.dns)
    return CapturePlan(source, name, port, target, target_ips, subnets, dns, why, resolvers)
