"""Dependency edges as observed from their source's network namespace, and which check
explains each failure.

For an edge `web → db:5432` the source's netns is where the truth is: web's /etc/hosts
(extra_hosts, links), web's resolv.conf (dns:, dns_search:, ndots), the embedded DNS as web
sees it (only web's networks), and a TCP connect from there. `plan()` asks for those
observations; `states()` assembles them per edge. Which check explains a failing edge is the
arbiter's decision (checks/_arbiter.py), so that one broken dependency is one finding, under
the id that says why.

Only names the engine registers on one of the source's networks are sent to its DNS: any
other name would be forwarded by the embedded DNS to resolvers outside this machine.

An edge to the host (`Edge.to_host`: host.docker.internal, a gateway address, a name that
extra_hosts maps to the host) is observed the same way, from the source's /etc/hosts only
(never DNS), with a connect to the address found there: the host's own address on a
bridge, inside an engine network's subnet. Its other side is read where the engine runs:
the host placement's listening sockets (checks/host/_side.py).

An edge whose configuration names no port is tried on the port its client would use
(checks/_edge_port.py): `EdgeState.edge` is the edge with that port, and an edge whose port
cannot be known is looked up only and listed as "not checked" (`status()`), never as working.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from diag.checks._edge_port import choose
from diag.checks.port._sockets import is_loopback, listening
from diag.checks.port._sockets import plan as sockets_plan
from diag.model.compose import NETWORK_LABEL
from diag.model.context import CheckContext
from diag.model.edges import Edge, EdgeStatus
from diag.model.findings import subjects
from diag.model.observations import ConnectAnswer, ReachAnswer, ResolveAnswer, Socket
from diag.model.tasks import LISTENING, RESOLV_CONF, Placement, Planned, Task, reach
from diag.model.topology import Container, Endpoint, Network

STARTED_AT = re.compile(
    r"(?P<date>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<nanos>\d{1,9}))?"
    r"(?P<zone>Z|[+-]\d\d:\d\d)"
)


@dataclass(frozen=True)
class Registration:
    """A running holder of the edge's name, registered on a network the source is on."""

    network: Network
    container: Container
    endpoint: Endpoint


@dataclass
class EdgeState:
    edge: Edge  # as tried: with the port its client would use when none is configured
    netns: Container  # whose network namespace the source lives in
    holders: list[Container] = field(default_factory=list)
    oneoff_holders: list[Container] = field(default_factory=list)
    registrations: list[Registration] = field(default_factory=list)
    hosts_ips: list[str] | None = None
    resolved: ResolveAnswer | None = None
    connects: dict[str, ConnectAnswer] = field(default_factory=dict)
    # For a `reachable: false` rule without a port: port → ip → connect, over every port
    # the target listens on (a rule about "any port" has to try them all).
    port_connects: dict[int, dict[str, ConnectAnswer]] = field(default_factory=dict)
    no_port: str = ""  # why the port its client uses cannot be known (then: looked up only)

    def open_connects(self) -> list[str]:
        """`ip:port` of every connect that succeeded, whichever way the edge was tried."""
        found = [f"{ip}:{self.edge.port}" for ip, r in self.connects.items() if _open(r)]
        for port, results in sorted(self.port_connects.items()):
            found += [f"{ip}:{port}" for ip, r in results.items() if _open(r)]
        return found

    @property
    def running_holders(self) -> list[Container]:
        return [c for c in self.holders if c.running]

    @property
    def registered_ips(self) -> set[str]:
        return {r.endpoint.ip for r in self.registrations}

    def owner_of(self, ip: str) -> Container | None:
        if self.edge.is_localhost:
            return self.netns
        for registration in self.registrations:
            if registration.endpoint.ip == ip:
                return registration.container
        return next((h for h in self.running_holders for ep in h.endpoints if ep.ip == ip), None)

    def failed_connects(self) -> dict[str, ConnectAnswer]:
        return {ip: r for ip, r in self.connects.items() if r.status != "open"}

    def addresses(self) -> list[str]:
        """What the name came to in the source: its hosts file's entry, else the DNS answer."""
        resolved = list(self.resolved.addresses) if self.resolved is not None else []
        return list(self.hosts_ips or []) or resolved

    def status(self, check: str | None) -> tuple[EdgeStatus, str]:
        """How the report lists the edge, `check` being the one that explains its failure:
        with the reason when it is "not checked". "ok" only when a connect to the port its
        client uses was open (or, for an edge declared unreachable, none was; for one that
        only shares a namespace, its name resolved); "failed" also when nothing names why."""
        if not self.netns.running:
            return "not checked", f"{self.netns.service or self.netns.name} is not running"
        if check is not None:
            return "failed", ""
        if self.hosts_ips is None:
            where = f"{self.edge.source_label}'s network namespace"
            return "not checked", f"nothing was observed from {where}"
        if self.edge.expected is False or self.open_connects():
            return "ok", ""
        addresses = self.addresses()
        if not addresses:
            return "failed", ""
        if self.edge.port is None:
            return ("not checked", self.no_port) if self.no_port else ("ok", "")
        if not self.connects:
            outside = ", ".join(addresses)
            return "not checked", f"never contacted: {outside}, outside this engine's networks"
        return "failed", ""

    def connect_text(self) -> str:
        where = f"from {self.edge.source_label}'s netns"
        return "; ".join(
            f"connect {ip}:{self.edge.port} {r.status} ({where})" for ip, r in self.connects.items()
        )


def _open(result: ConnectAnswer) -> bool:
    return result.status == "open"


def joined(container: Container) -> str:
    """X of `network_mode: container:X` (compose writes `service:X` so, with X's id); ''."""
    mode = container.network_mode
    return mode.split(":", 1)[1] if mode.startswith("container:") else ""


def _instant(text: str) -> tuple[datetime, int] | None:
    """`State.StartedAt` (RFC 3339, up to nanoseconds) as a comparable value; None if unset.
    Compared as text, `...21.92876Z` would sort after `...21.928762039Z`."""
    match = STARTED_AT.fullmatch(text)
    if match is None or match["date"].startswith("0001-"):  # Go's zero time: never started
        return None
    zone = "+00:00" if match["zone"] == "Z" else match["zone"]
    return datetime.fromisoformat(match["date"] + zone), int((match["nanos"] or "").ljust(9, "0"))


def left_behind(ctx: CheckContext, container: Container) -> str:
    """Why a running `network_mode: container:X` container no longer shares X's namespace,
    from the engine; '' when nothing says so. It joins the namespace once, when it starts,
    and keeps it: if X is then recreated (its id is gone), stopped, or restarted (started
    after it), X has a new namespace or none, and the old one keeps nothing but lo."""
    ref = joined(container)
    if not ref or not container.running:
        return ""
    owner = ctx.topology.container_named(ref)
    if owner is None:
        return f"its network_mode names container {ref[:12]}, which no longer exists"
    if not owner.running:
        return f"{owner.name}, whose namespace it joined, is {owner.status or 'not running'}"
    mine, theirs = _instant(container.started_at), _instant(owner.started_at)
    if mine is not None and theirs is not None and theirs > mine:
        return (
            f"{owner.name} started at {owner.started_at}, after {container.name} "
            f"({container.started_at})"
        )
    return ""


def netns_owner(ctx: CheckContext, container: Container) -> Container:
    """`network_mode: container:X` / `service:X` live in X's namespace, unless they were
    left behind in an old one (see `left_behind`): then in their own."""
    ref = joined(container)
    owner = ctx.topology.container_named(ref) if ref else None
    if owner is None or left_behind(ctx, container):
        return container
    return owner


def _name_index(ctx: CheckContext) -> dict[str, list[int]]:
    """Each name (lowercased) to the indexes of the containers that hold it: their own name,
    DNS names and aliases; `service@project` keys a compose service. Built once per run: a
    scan of every container for every edge was quadratic (4 s a plan at 200 containers)."""
    if "edge-name-index" not in ctx.memo:
        index: dict[str, list[int]] = {}
        for number, container in enumerate(ctx.topology.containers):
            names = {container.name.lower()} | {
                n.lower() for ep in container.endpoints for n in (*ep.dns_names, *ep.aliases)
            }
            if container.service:
                names.add(f"{container.service.lower()}@{container.project}")
            for name in names:
                index.setdefault(name, []).append(number)
        ctx.memo["edge-name-index"] = index
    return ctx.memo["edge-name-index"]


def holders_of(ctx: CheckContext, name: str, project: str | None) -> list[Container]:
    """The containers that hold `name` (their own name, a DNS name or alias, or the service
    of that name in `project`), stopped and one-off ones included; only those of `project`
    when it has any, since a client's own project answers first."""
    index = _name_index(ctx)
    key = name.lower()
    numbers = sorted(set(index.get(key, [])) | set(index.get(f"{key}@{project}", [])))
    found = [ctx.topology.containers[number] for number in numbers]
    own = [c for c in found if c.project and c.project == project]
    return own or found


def _registered(ctx: CheckContext) -> dict[tuple[str, str], list[tuple[Container, Endpoint]]]:
    """(network id, DNS name) to the running members the embedded DNS answers it with."""
    if "edge-registrations" not in ctx.memo:
        found: dict[tuple[str, str], list[tuple[Container, Endpoint]]] = {}
        for network in ctx.topology.networks:
            for container, endpoint in ctx.topology.members(network):
                if container.running and endpoint.ip:
                    for dns_name in {n.lower() for n in endpoint.dns_names}:
                        found.setdefault((network.id, dns_name), []).append((container, endpoint))
        ctx.memo["edge-registrations"] = found
    return ctx.memo["edge-registrations"]


def _state(ctx: CheckContext, edge: Edge) -> EdgeState:
    name = edge.name.lower()
    netns = netns_owner(ctx, edge.source)
    state = EdgeState(edge, netns)
    if not edge.is_localhost:
        for container in holders_of(ctx, name, edge.source.project):
            (state.oneoff_holders if container.is_oneoff else state.holders).append(container)
        linked = {a.lower(): t for a, t in edge.source.link_targets.items()}.get(name)
        if linked is not None:  # a legacy link alias: the source's own name for its target
            state.holders = [c for c in ctx.topology.containers if c.name == linked]
        for network in ctx.topology.networks:
            if not network.has_embedded_dns or netns.endpoint(network) is None:
                continue
            if linked is not None:  # the link alias answers for the linked container only
                state.registrations += [
                    Registration(network, container, endpoint)
                    for container, endpoint in ctx.topology.members(network)
                    if container.name == linked and container.running and endpoint.ip
                ]
                continue
            state.registrations += [
                Registration(network, container, endpoint)
                for container, endpoint in _registered(ctx).get((network.id, name), [])
            ]
    choice = choose(ctx, edge, state.running_holders)
    if edge.port is None and choice.port is not None:
        state.edge = replace(edge, port=choice.port, port_from=choice.how)
    else:
        state.no_port = choice.how
    at = ctx.netns_placement(netns)
    observed = ctx.observations.get(at, _reach_task(ctx, state))
    if observed and observed.status == "ok":
        state.hosts_ips = list(observed.hosts_ips)
        state.resolved = observed.resolve
        state.connects = dict(observed.connects)
    for port in _any_port_ports(ctx, state):
        result = ctx.observations.get(at, _reach_task(ctx, state, port))
        if result and result.status == "ok":
            state.port_connects[port] = dict(result.connects)
    return state


def _any_port_ports(ctx: CheckContext, state: EdgeState) -> list[int]:
    """The ports a port-less `reachable: false` rule is tried on: all the target serves."""
    if state.edge.port or state.edge.expected is not False:
        return []
    ports: set[int] = set()
    for holder in state.running_holders:
        ports |= holder.exposed_tcp_ports()
        ports |= {
            sock.port for sock in listening(ctx, holder) or [] if not is_loopback(sock.address)
        }
    return sorted(ports)


def local_networks(ctx: CheckContext) -> tuple[str, ...]:
    """Every subnet of the engine's networks, and every address of the engine's host
    (diag/engine/engine_host.py): the only addresses a probe may connect to."""

    def compute() -> tuple[str, ...]:
        subnets = {s.subnet for n in ctx.topology.networks for s in n.subnets}
        for address in ctx.topology.engine.host_addresses:
            with contextlib.suppress(ValueError):  # a tcp:// engine's name is no network
                subnets.add(str(ipaddress.ip_network(address)))
        return tuple(sorted(subnets))

    return ctx.once("local-networks", compute)


def _reach_task(ctx: CheckContext, state: EdgeState, port: int | None = None) -> Task[ReachAnswer]:
    """One task does what the source would: hosts file, DNS, connect. DNS only for names the
    engine registers on the source's networks (answered locally, never forwarded)."""
    use_dns = bool(state.registrations) and not state.edge.to_host
    return reach(state.edge.name, port or state.edge.port, use_dns, local_networks(ctx))


def states(ctx: CheckContext) -> list[EdgeState]:
    """Every edge's state."""
    return ctx.per_observations(
        "edge-states", lambda: [_state(ctx, edge) for edge in ctx.target.edges]
    )


def plan(ctx: CheckContext) -> list[Planned]:
    """What every edge check needs observed (the same for all of them: planned once)."""
    return ctx.per_observations("edge-plan", lambda: _plan(ctx))


def _plan(ctx: CheckContext) -> list[Planned]:
    planned: list[Planned] = []
    for state in states(ctx):
        if not state.netns.running:
            continue
        at: Placement = ctx.netns_placement(state.netns)
        planned += [(at, RESOLV_CONF), (at, LISTENING), (at, _reach_task(ctx, state))]
        planned += [(at, _reach_task(ctx, state, p)) for p in _any_port_ports(ctx, state)]
        planned += [(ctx.netns_placement(h), LISTENING) for h in state.running_holders]
        if state.edge.to_host:
            planned.append((ctx.host_placement(), LISTENING))
    return planned


def plan_with_ports(ctx: CheckContext) -> list[Planned]:
    """For the port checks: every member's sockets and ports, and every edge."""
    return ctx.per_observations("ports-and-edges-plan", lambda: sockets_plan(ctx) + plan(ctx))


def port_subjects(
    container: Container, clients: list[EdgeState], networks: list[str]
) -> tuple[str, ...]:
    """A per-port finding's subjects: the target and every client that fails there
    (services, then containers), then the networks."""
    return subjects(
        container.service,
        [e.edge.source.service for e in clients],
        container.name,
        [e.edge.source.name for e in clients],
        networks,
    )


def clients_text(states: list[EdgeState]) -> list[str]:
    return [
        f"{s.edge.describe()} ({', '.join(s.edge.origins)}): {s.connect_text()}" for s in states
    ]


def target_listening(ctx: CheckContext, state: EdgeState) -> list[tuple[Container, list[Socket]]]:
    """Each container the failed connects went to, with its listening sockets (if read)."""
    found = []
    for ip in state.failed_connects():
        owner = state.owner_of(ip)
        if owner is not None:
            sockets = listening(ctx, owner)
            if sockets is not None:
                found.append((owner, sockets))
    return found


def network_key(ctx: CheckContext, engine_name: str) -> str:
    """The compose key of an engine network (`shop_back` → `back`), for YAML snippets: from
    the project's model, else from the network's compose label (a `ddiag container` or
    `ddiag network` run has no model), else the engine name itself."""
    project = ctx.target.project
    if project is not None:
        for key, name in project.networks.items():
            if name == engine_name:
                return key
    network = next((n for n in ctx.topology.networks if n.name == engine_name), None)
    return network.labels.get(NETWORK_LABEL, engine_name) if network else engine_name


def edge_subjects(state: EdgeState, *more: object) -> tuple[str, ...]:
    """Source service, target name, then containers and networks involved."""
    targets = state.running_holders or state.holders
    return subjects(
        state.edge.source.service,
        [c.service for c in targets if c.service],
        state.edge.source.name,
        [c.name for c in targets],
        [r.network.name for r in state.registrations],
        *more,
    )


def edge_evidence(state: EdgeState, **extra: object) -> dict[str, object]:
    evidence: dict[str, object] = {
        "edge": state.edge.describe(),
        "from": ", ".join(state.edge.origins),
    }
    if state.edge.port_from:  # no value wrote the port: say where it came from
        evidence["port"] = f"{state.edge.port}, {state.edge.port_from}"
    evidence.update({k: v for k, v in extra.items() if v not in (None, "", [])})
    return evidence
