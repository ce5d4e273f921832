"""Turn what the user typed into a `Target`, or a DiagError that suggests what they meant."""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import replace

from diag.errors import DiagError
from diag.model.compose import ComposeProject, Service
from diag.model.context import Focus, Target
from diag.model.edges import (
    HOST_ALIASES,
    Edge,
    Reference,
    extra_host,
    is_localhost,
    means_host,
    merge_edges,
    references_in_env,
)
from diag.model.expectations import Rule, check_services, parse_rules
from diag.model.topology import (
    STACK_NAMESPACE,
    SWARM_TASK_ID,
    Container,
    Network,
    Subnet,
    Topology,
)


def _members(topology: Topology, networks: Iterable[Network]) -> tuple[Container, ...]:
    found = {c.id: c for n in networks for c, _ in topology.members(n)}
    return tuple(sorted(found.values(), key=lambda c: c.name))


def network_target(topology: Topology, names: Sequence[str]) -> Target:
    found = []
    for name in names:
        network = topology.network_named(name)
        if network is None:
            raise DiagError(_unknown(name, "network", [n.name for n in topology.networks]))
        if network.driver in ("host", "null"):
            raise DiagError(
                f"Network {network.name} uses the {network.driver} driver: it has no peers to "
                "probe. Diagnose a container that uses it with `ddiag container NAME`."
            )
        found.append(network)
    networks = tuple(dict.fromkeys(found))
    return Target(
        "network", tuple(n.name for n in networks), networks, _members(topology, networks)
    )


def _unknown(name: str, kind: str, known: Sequence[str], where: str = "on this engine") -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = (
        f" Did you mean {' or '.join(close)}?"
        if close
        else f" {kind.capitalize()}s {where}: {', '.join(known) or 'none'}."
    )
    listing = {
        "network": "docker network ls",
        "container": "docker ps -a",
        "service": "docker compose config --services",
    }[kind]
    return f"No {kind} named {name!r} {where}.{hint} (`{listing}` lists them.)"


def _container_names(containers: Iterable[Container]) -> set[str]:
    names = set()
    for container in containers:
        names.add(container.name.lower())
        if container.service:
            names.add(container.service.lower())
        for endpoint in container.endpoints:
            names |= {n.lower() for n in (*endpoint.dns_names, *endpoint.aliases)}
    return names


def _swarm_names(topology: Topology) -> set[str]:
    """A swarm service's names and aliases, and `tasks.NAME` for each (known to managers)."""
    swarm = topology.swarm
    names = {n.lower() for service in swarm.services for n in service.names()} if swarm else set()
    return names | {f"tasks.{name}" for name in names}


def known_names(topology: Topology) -> frozenset[str]:
    """Every name a container can be reached by somewhere on this engine (lowercased),
    swarm services' included."""
    return topology.derived(
        "known-names", lambda t: frozenset(_container_names(t.containers) | _swarm_names(t))
    )


def _is_edge_worthy(reference: Reference, names: frozenset[str], ips: frozenset[str]) -> bool:
    """Keep references to this engine's containers, localhost, and bare names (maybe typos);
    drop names with dots that nothing here holds: they are outside hosts (opt-in checks).
    (`names` holds the dotted names of the engine host's /etc/hosts too: they resolve on the
    host and nowhere else, which dns.host-only-name explains.)"""
    host = reference.host.lower()
    if host in names or reference.host in ips or is_localhost(host):
        return True
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        return "." not in host


def _engine_ips(topology: Topology) -> frozenset[str]:
    return topology.derived(
        "engine-ips",
        lambda t: frozenset(ep.ip for c in t.containers for ep in c.endpoints if ep.ip),
    )


def _swarm_only_names(topology: Topology) -> frozenset[str]:
    """Names that resolve to a swarm service (its VIP, or its tasks' addresses on any node)
    and to no standalone container: the edge checks, which compare a name's answer with the
    containers that hold it, cannot judge them; the swarm checks do (swarm.vip-vs-dnsrr)."""

    def swarm_only(t: Topology) -> frozenset[str]:
        standalone = [c for c in t.containers if SWARM_TASK_ID not in c.labels]
        return frozenset(_swarm_names(t) - _container_names(standalone))

    return topology.derived("swarm-only-names", swarm_only)


def _gateway(network: Network, subnet: Subnet) -> str | None:
    """The host's address on a local bridge network: IPAM's `Gateway`, which Engine 20.10
    writes only when it was asked for (`docker network inspect bridge` has none), else
    the address the engine gives the bridge then, the subnet's first. An overlay's gateway
    is no address of the host."""
    if network.driver != "bridge":
        return None
    if subnet.gateway:
        return subnet.gateway
    try:
        return str(next(ipaddress.ip_network(subnet.subnet, strict=False).hosts(), ""))
    except ValueError:
        return None


def gateways(topology: Topology) -> frozenset[str]:
    """Every local bridge network's gateway address: the host's own address on its bridge."""
    return topology.derived(
        "gateways",
        lambda t: frozenset(filter(None, (_gateway(n, s) for n in t.networks for s in n.subnets))),
    )


def host_addresses(topology: Topology) -> frozenset[str]:
    """Every address that is the engine's host: the gateways, and the host's other
    addresses where they are known (`EngineInfo.host_addresses`)."""
    return topology.derived("host-addresses", lambda t: gateways(t) | t.engine.host_addresses)


def _host_names(topology: Topology, containers: Iterable[Container]) -> set[str]:
    """What may name the host in rules about `containers`: the host aliases, the gateway
    addresses, and the names their extra_hosts map to the host."""
    found = set(HOST_ALIASES) | host_addresses(topology)
    for container in containers:
        for entry in container.extra_hosts:
            name = extra_host(entry)[0].lower()
            if means_host(name, container.extra_hosts, host_addresses(topology)):
                found.add(name)
    return found


def _env_edges(topology: Topology, source: Container, env: dict[str, str]) -> list[Edge]:
    names, ips = known_names(topology), _engine_ips(topology)
    worthy_names = names | topology.engine.hosts_file_names
    swarm_only = _swarm_only_names(topology)
    edges = []
    for ref in references_in_env(env):
        host = ref.host.lower() not in names and means_host(
            ref.host, source.extra_hosts, host_addresses(topology)
        )
        if host or (_is_edge_worthy(ref, worthy_names, ips) and ref.host.lower() not in swarm_only):
            edges.append(
                Edge(
                    source, ref.host, ref.port, (ref.origin,), port_from=ref.port_from, to_host=host
                )
            )
    return edges


def _representative(containers: Sequence[Container]) -> Container | None:
    """The container a service's edges are observed from: a running one if there is one."""
    regular = [c for c in containers if not c.is_oneoff]
    found = [c for c in regular if c.running] or regular
    return found[0] if found else None


def _rule_matches(rule: Rule, edge: Edge) -> bool:
    return (
        rule.source in ("*", edge.source.service)
        and rule.target.lower() == edge.name.lower()
        and rule.port in (None, edge.port)
        and not (rule.source == "*" and edge.source.service == rule.target)
    )


def _apply_rules(
    topology: Topology,
    project: ComposeProject,
    edges: list[Edge],
    rules: Sequence[Rule],
    sources: Sequence[str],
) -> tuple[Edge, ...]:
    """Add an edge per rule and source (of `sources`, the services whose edges the target
    has), then give every edge the last rule that covers it."""
    for rule in rules:
        named = [rule.source] if rule.source != "*" else list(project.services)
        for service in (s for s in named if s in sources):
            source = _representative(project.containers(topology, service))
            if source is not None and not (rule.source == "*" and service == rule.target):
                host = rule.target.lower() not in known_names(topology) and means_host(
                    rule.target, source.extra_hosts, host_addresses(topology)
                )
                edges.append(Edge(source, rule.target, rule.port, (rule.where,), to_host=host))
    governed = []
    for edge in merge_edges(edges):
        matching = [
            (rule.source != "*", rule.port is not None, index, rule)
            for index, rule in enumerate(rules)
            if _rule_matches(rule, edge)
        ]
        if matching:  # the most specific rule wins; among equals, the last one
            rule = max(matching, key=lambda item: item[:3])[3]
            origins = tuple(dict.fromkeys((*edge.origins, rule.where)))
            edge = replace(edge, expected=rule.reachable, rule=rule.where, origins=origins)
        governed.append(edge)
    return tuple(governed)


def _named_services(
    topology: Topology, project: ComposeProject, services: Sequence[str]
) -> tuple[str, ...]:
    """The services the command line named, each checked against the model (close names
    suggested); all of them when it named none."""
    for name in services:
        if name not in project.services:
            where = f"in compose project {project.name!r}"
            raise DiagError(_unknown(name, "service", list(project.services), where))
        if not project.containers(topology, name) and project.source != "stack":
            raise DiagError(
                f"Service {name!r} of compose project {project.name!r} has no container on "
                f"this engine. Start it (`docker compose up -d {name}`) and run ddiag again."
            )
    return tuple(dict.fromkeys(services)) or tuple(project.services)


def _focus(
    topology: Topology, project: ComposeProject, services: Sequence[str], edges: Sequence[Edge]
) -> Focus:
    """What a target limited to `services` looks at (their containers and those their edges
    name) and reports on."""
    containers = project.containers(topology)
    named = [c for c in containers if c.service in services]
    wanted = {edge.name.lower() for edge in edges}
    depended = [c for c in topology.containers if _container_names([c]) & wanted]
    names = frozenset({*services, *(c.name for c in named)})
    return Focus(
        services=tuple(services),
        observed=frozenset(c.id for c in (*named, *depended)),
        names=names,
        others=frozenset({*project.services, *(c.name for c in containers)}) - names,
    )


def compose_target(
    topology: Topology,
    project: ComposeProject,
    extra_rules: Sequence[Rule] = (),
    matrix: bool = False,
    services: Sequence[str] = (),
) -> Target:
    """The project's containers, networks and edges; `expect` rules from x-ddiag and
    `--expect` govern which edges must (not) work. `services`: only these services' edges
    and findings, the way `docker compose ps web api` shows only those (none: all)."""
    containers = project.containers(topology)
    if not containers and project.source != "stack":  # a stack's tasks may all be elsewhere
        raise DiagError(
            f"Compose project {project.name!r} has no containers on this engine. Start it "
            "(`docker compose up -d`) and run ddiag again."
        )
    sources = _named_services(topology, project, services)
    edges: list[Edge] = []
    for name, service in project.services.items():
        source = _representative(project.containers(topology, name))
        if source is None or name not in sources:
            continue
        edges += [Edge(source, target, None, ("depends_on",)) for target in service.depends_on]
        edges += [Edge(source, alias, None, ("links",)) for _, alias in service.links]
        if service.shares_netns_with:
            edges.append(Edge(source, service.shares_netns_with, None, ("network_mode",)))
        edges += _env_edges(topology, source, service.environment)
    rules = [*parse_rules(project.ddiag_settings.get("expect"), "x-ddiag"), *extra_rules]
    names = known_names(topology) | _engine_ips(topology) | _host_names(topology, containers)
    check_services(rules, list(project.services), names)
    governed = _apply_rules(topology, project, edges, rules, sources)
    if not project.config_files and containers:  # compose found the file; labels remember it
        label = containers[0].labels.get("com.docker.compose.project.config_files", "")
        project = replace(project, config_files=tuple(filter(None, label.split(","))))
    focus = _focus(topology, project, sources, governed) if services else None
    if focus is not None:  # the named services' networks, not the project's
        containers = [c for c in containers if c.service in sources]
        model_networks = {n for s in sources for n in project.services[s].networks}
        network_names = {project.networks.get(n, n) for n in model_networks}
    else:
        network_names = set(project.networks.values())
    network_names |= {ep.network_name for c in containers for ep in c.endpoints}
    networks = tuple(  # (the routing mesh's `ingress` is the swarm's: swarm.ingress judges it)
        n
        for n in topology.networks
        if n.name in network_names and n.driver not in ("host", "null") and not n.ingress
    )
    return Target(
        "compose",
        (project.name,),
        networks,
        tuple(c for c in containers if not c.is_oneoff),
        governed,
        project,
        matrix,
        focus,
    )


def stack_project(topology: Topology, name: str) -> ComposeProject | None:
    """A stack deployed with `docker stack deploy`, as the swarm remembers it (there is no
    compose project label, and its tasks may run on any node): its services by their name
    within the stack, their environment and networks, from the services' specs. None when
    the engine knows no such stack (no swarm, a worker, or no service in that namespace)."""
    swarm = topology.swarm
    members = [s for s in swarm.services if s.stack == name] if swarm else []
    if not members:
        return None
    names = {n.id: n.name for n in topology.networks}
    services = {
        s.name.removeprefix(f"{name}_"): Service(
            name=s.name.removeprefix(f"{name}_"),
            environment=dict(s.env),
            networks=tuple(names.get(target, target) for target in s.networks),
        )
        for s in members
    }
    networks = {
        n.name.removeprefix(f"{name}_"): n.name
        for n in topology.networks
        if n.labels.get(STACK_NAMESPACE) == name
    }
    return ComposeProject(name, dict(sorted(services.items())), networks, source="stack")


def container_target(topology: Topology, name: str) -> Target:
    container = topology.container_named(name)
    if container is None:
        raise DiagError(_unknown(name, "container", [c.name for c in topology.containers]))
    edges = _env_edges(topology, container, container.env)
    edges += [Edge(container, alias, None, ("links",)) for alias in container.link_aliases]
    networks = tuple(
        n
        for n in topology.networks
        if container.endpoint(n) is not None and n.driver not in ("host", "null")
    )
    return Target("container", (container.name,), networks, (container,), merge_edges(edges))
