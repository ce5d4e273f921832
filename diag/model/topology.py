"""The immutable picture of the engine that every check reads.

Built once per run by `diag.engine.discover`; nothing downstream talks to the engine, so checks can
be unit-tested with a topology made from recorded inspect JSON.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"
STACK_NAMESPACE = "com.docker.stack.namespace"  # `docker stack deploy`: services, networks, tasks
SWARM_SERVICE_NAME = "com.docker.swarm.service.name"  # on a swarm task's container
SWARM_SERVICE_ID = "com.docker.swarm.service.id"
SWARM_TASK_ID = "com.docker.swarm.task.id"
ICC_OPTION = "com.docker.network.bridge.enable_icc"
GO_FALSE = {"0", "f", "F", "false", "FALSE", "False"}
T = TypeVar("T")


@dataclass(frozen=True)
class EngineInfo:
    version: str
    api_version: str
    # The engine host's own addresses (and a tcp:// engine's name), where ddiag can know
    # them: diag/engine/engine_host.py. A reference to one is an edge to the host.
    host_addresses: frozenset[str] = frozenset()
    # The dotted names the engine host's /etc/hosts defines (same module): edges, not
    # outside hosts, so that dns.host-only-name can explain them.
    hosts_file_names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Subnet:
    subnet: str
    gateway: str | None
    ip_range: str | None = None  # IPAM `IPRange`: where the engine hands out addresses


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    driver: str
    scope: str
    internal: bool
    attachable: bool
    enable_ipv6: bool
    subnets: tuple[Subnet, ...]
    options: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    ingress: bool = False  # the swarm's routing-mesh network (`Ingress`)

    @property
    def encrypted(self) -> bool:
        """An overlay created with `--opt encrypted`: its VXLAN traffic goes through IPsec ESP."""
        return self.driver == "overlay" and "encrypted" in self.options

    @property
    def bridge_interface(self) -> str:
        """The host interface of a bridge network: its `bridge.name` option (the default
        bridge's says docker0), else docker0 for the default bridge, else br-<id[:12]>."""
        named = self.options.get("com.docker.network.bridge.name")
        if named:
            return named
        return "docker0" if self.is_default_bridge else f"br-{self.id[:12]}"

    @property
    def is_default_bridge(self) -> bool:
        """The engine's `bridge` network: no embedded DNS, names do not resolve there."""
        return self.options.get("com.docker.network.bridge.default_bridge") == "true" or (
            self.name == "bridge" and self.driver == "bridge"
        )

    @property
    def has_embedded_dns(self) -> bool:
        """User-defined bridge and overlay networks answer container names at 127.0.0.11."""
        return self.driver not in ("host", "null", "none") and not self.is_default_bridge

    @property
    def icc_disabled(self) -> bool:
        """A bridge created with `com.docker.network.bridge.enable_icc=false` (any spelling
        Go's ParseBool reads as false): the engine drops traffic between its members."""
        return self.driver == "bridge" and self.options.get(ICC_OPTION) in GO_FALSE


@dataclass(frozen=True)
class PortBinding:
    """A container port published on the host: `NetworkSettings.Ports` (as granted) or
    `HostConfig.PortBindings` (as asked)."""

    container_port: int
    proto: str
    host_ip: str
    host_port: str


@dataclass(frozen=True)
class Endpoint:
    """A container's attachment to one network, as its own inspect reports it."""

    network_id: str
    network_name: str
    ip: str
    ip_prefix_len: int
    ipv6: str
    mac: str
    dns_names: tuple[str, ...]
    aliases: tuple[str, ...]
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class Health:
    status: str
    failing_streak: int
    last_output: str


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    image: str
    status: str
    exit_code: int
    error: str
    restart_count: int
    health: Health | None
    network_mode: str
    endpoints: tuple[Endpoint, ...]
    exposed: tuple[tuple[int, str], ...]
    published: tuple[PortBinding, ...]
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    last_logs: tuple[str, ...] = ()
    healthcheck: bool = False
    links: tuple[str, ...] = ()
    port_bindings: tuple[PortBinding, ...] = ()  # HostConfig.PortBindings: as asked, always
    healthcheck_test: tuple[str, ...] = ()  # the effective Healthcheck.Test, e.g. CMD-SHELL x
    pid: int = field(default=0, compare=False)  # State.Pid: where a shared probe enters its netns
    started_at: str = field(default="", compare=False)  # State.StartedAt, RFC 3339 in UTC

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def service(self) -> str | None:
        """The compose service; for a task of a `docker stack deploy` stack, its service's
        name within the stack (`web` of `shop_web`), which is also its DNS alias there."""
        found = self.labels.get(COMPOSE_SERVICE)
        stack, swarm_service = self.labels.get(STACK_NAMESPACE), self.labels.get(SWARM_SERVICE_NAME)
        if found is None and stack and swarm_service:
            found = swarm_service.removeprefix(f"{stack}_")
        return found

    @property
    def project(self) -> str | None:
        """The compose project, or the stack a swarm task belongs to (a stack is deployed
        from a compose file, and `ddiag compose -p STACK` diagnoses it the same way)."""
        return self.labels.get(COMPOSE_PROJECT) or self.labels.get(STACK_NAMESPACE)

    @property
    def is_oneoff(self) -> bool:
        return self.labels.get(COMPOSE_ONEOFF, "").lower() == "true"

    @property
    def subjects(self) -> tuple[str, ...]:
        """How findings name this container: its compose service first, then its own name."""
        return (self.service, self.name) if self.service else (self.name,)

    @property
    def link_targets(self) -> dict[str, str]:
        """alias → target container name, from every legacy link this container has:
        `HostConfig.Links` (`/target:/self/alias`, default bridge) and its endpoints' `Links`
        (`target:alias`, what compose sets on user-defined networks)."""
        found: dict[str, str] = {}
        for link in self.links:
            target, _, alias_path = link.partition(":")
            found[alias_path.rsplit("/", 1)[-1]] = target.lstrip("/")
        for endpoint in self.endpoints:
            for link in endpoint.links:
                target, _, alias = link.partition(":")
                found[alias or target] = target
        return found

    @property
    def link_aliases(self) -> tuple[str, ...]:
        return tuple(self.link_targets)

    def endpoint(self, network: Network) -> Endpoint | None:
        for endpoint in self.endpoints:
            if endpoint.network_id == network.id or (
                not endpoint.network_id and endpoint.network_name == network.name
            ):
                return endpoint
        return None

    def exposed_tcp_ports(self) -> set[int]:
        return {port for port, proto in self.exposed if proto == "tcp"} | {
            binding.container_port for binding in self.published if binding.proto == "tcp"
        }

    def published_tcp(self) -> list[PortBinding]:
        return [binding for binding in self.published if binding.proto == "tcp"]


@dataclass(frozen=True)
class SwarmNode:
    """One node of the swarm, as the managers know it (`GET /nodes`)."""

    id: str
    hostname: str
    role: str  # manager | worker
    addr: str  # Status.Addr: where the other nodes reach its 7946 (gossip) and 4789 (VXLAN)
    availability: str  # active | pause | drain
    state: str  # ready | down | unknown | disconnected
    manager_addr: str = ""  # ManagerStatus.Addr, HOST:2377, managers only

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"


@dataclass(frozen=True)
class ServicePort:
    """A published port of a service (`Endpoint.Ports`): `ingress` answers on every node
    through the routing mesh, `host` only on the nodes that run a task."""

    target: int
    published: int
    protocol: str
    mode: str  # ingress | host


@dataclass(frozen=True)
class SwarmService:
    """A swarm service (`GET /services`): how its name resolves, where it is published."""

    id: str
    name: str
    endpoint_mode: str  # vip: its name resolves to one virtual IP; dnsrr: to its tasks' IPs
    vips: tuple[tuple[str, str], ...]  # (network id, address/prefix), ingress included
    ports: tuple[ServicePort, ...]
    networks: tuple[str, ...]  # TaskTemplate.Networks targets: network ids (or names)
    aliases: tuple[tuple[str, str], ...] = ()  # (network target, alias): a stack's short names
    labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    env: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def stack(self) -> str | None:
        return self.labels.get(STACK_NAMESPACE)

    def vip(self, network: Network) -> str | None:
        """Its virtual IP on `network` (without the prefix), if it has one there."""
        for network_id, address in self.vips:
            if network_id == network.id:
                return address.split("/")[0]
        return None

    def on(self, network: Network) -> bool:
        return any(target in (network.id, network.name) for target in self.networks)

    def names(self) -> tuple[str, ...]:
        """What its tasks' peers call it: its name and its aliases (`web` in stack `shop`)."""
        return tuple(dict.fromkeys((self.name, *(alias for _, alias in self.aliases))))


@dataclass(frozen=True)
class SwarmTask:
    """A task the swarm wants running (`GET /tasks`, desired state running), on any node."""

    id: str
    service_id: str
    node_id: str
    state: str  # running, or on its way (pending, starting) or failing (failed, rejected)
    container_id: str
    addresses: tuple[tuple[str, str], ...]  # (network id, address/prefix) per attachment

    def address(self, network: Network) -> str | None:
        for network_id, address in self.addresses:
            if network_id == network.id:
                return address.split("/")[0]
        return None


@dataclass(frozen=True)
class Swarm:
    """The swarm the engine is part of. Nodes, services and tasks are known to managers
    only: on a worker (`manager` false) they are empty, and the checks that need them say
    nothing; so they are on a manager whose cluster state could not be read (no quorum)."""

    node_id: str
    node_addr: str  # Swarm.NodeAddr: this node's address for the other nodes
    manager: bool  # Swarm.ControlAvailable, and the cluster state was read
    nodes: tuple[SwarmNode, ...] = ()
    services: tuple[SwarmService, ...] = ()
    tasks: tuple[SwarmTask, ...] = ()

    def node(self, node_id: str) -> SwarmNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def service(self, service_id: str) -> SwarmService | None:
        return next((s for s in self.services if s.id == service_id), None)

    def running_tasks(self, service: SwarmService) -> list[SwarmTask]:
        return [t for t in self.tasks if t.service_id == service.id and t.state == "running"]


@dataclass(frozen=True)
class Topology:
    engine: EngineInfo
    networks: tuple[Network, ...]
    containers: tuple[Container, ...]
    swarm: Swarm | None = None  # None: the engine is not part of a swarm

    def subnets_holding(self, address: str) -> Iterator[tuple[Network, Subnet]]:
        """Every (network, subnet) whose subnet holds `address`, in the networks' order;
        nothing for a text that is no address. Subnets the engine reports malformed are
        skipped rather than trusted."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return
        for network in self.networks:
            for subnet in network.subnets:
                try:
                    inside = ip in ipaddress.ip_network(subnet.subnet, strict=False)
                except ValueError:
                    continue
                if inside:
                    yield network, subnet

    def network_named(self, name_or_id: str) -> Network | None:
        """Find a network as the docker CLI does: exact name, exact id, then unique id prefix."""
        for network in self.networks:
            if name_or_id in (network.name, network.id):
                return network
        prefixed = [n for n in self.networks if n.id.startswith(name_or_id)]
        return prefixed[0] if len(prefixed) == 1 else None

    def container_named(self, name_or_id: str) -> Container | None:
        for container in self.containers:
            if name_or_id in (container.name, container.id):
                return container
        prefixed = [c for c in self.containers if c.id.startswith(name_or_id)]
        return prefixed[0] if len(prefixed) == 1 else None

    @cached_property
    def _derived(self) -> dict[str, Any]:
        return {}

    def derived(self, key: str, compute: Callable[[Topology], T]) -> T:
        """`compute(self)`, once: a topology never changes, while every planning wave of
        every check asks for the same views of it (a network's members, every name on the
        engine); on a host with hundreds of containers, recomputing them cost seconds."""
        if key not in self._derived:
            self._derived[key] = compute(self)
        return self._derived[key]

    def members(self, network: Network) -> list[tuple[Container, Endpoint]]:
        """Every container with an endpoint entry on `network`, stopped ones included."""

        def on_network(topology: Topology) -> list[tuple[Container, Endpoint]]:
            pairs = [
                (container, endpoint)
                for container in topology.containers
                if (endpoint := container.endpoint(network)) is not None
            ]
            return sorted(pairs, key=lambda pair: pair[0].name)

        return list(self.derived(f"members:{network.id}:{network.name}", on_network))

    def owner_of(self, network: Network, ip: str) -> Container | None:
        for container, endpoint in self.members(network):
            if endpoint.ip == ip:
                return container
        return None
