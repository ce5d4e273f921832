"""The immutable picture of the engine that every check reads.

Built once per run by `diag.discover`; nothing downstream talks to the engine, so checks can
be unit-tested with a topology made from recorded inspect JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"
ICC_OPTION = "com.docker.network.bridge.enable_icc"
GO_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


@dataclass(frozen=True)
class EngineInfo:
    version: str
    api_version: str


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
        return self.labels.get(COMPOSE_SERVICE)

    @property
    def project(self) -> str | None:
        return self.labels.get(COMPOSE_PROJECT)

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
class Topology:
    engine: EngineInfo
    networks: tuple[Network, ...]
    containers: tuple[Container, ...]

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

    def members(self, network: Network) -> list[tuple[Container, Endpoint]]:
        """Every container with an endpoint entry on `network`, stopped ones included."""
        pairs = []
        for container in self.containers:
            endpoint = container.endpoint(network)
            if endpoint is not None:
                pairs.append((container, endpoint))
        return sorted(pairs, key=lambda pair: pair[0].name)

    def owner_of(self, network: Network, ip: str) -> Container | None:
        for container, endpoint in self.members(network):
            if endpoint.ip == ip:
                return container
        return None
