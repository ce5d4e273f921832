"""A server on `::` refuses IPv4, or a reference needs IPv6 where there is none.

Docker networks are IPv4-only unless created with `enable_ipv6` (and an IPv6 subnet);
in their containers the engine even turns IPv6 off (`disable_ipv6=1`, not even `::1`).

- **A server listens on `[::]:PORT` with IPV6_V6ONLY.** A socket bound to `::` accepts
  IPv4 too (as `::ffff:a.b.c.d`) unless the option IPV6_V6ONLY is set, which some servers
  do by default (nginx's `listen [::]:80`) or the `net.ipv6.bindv6only=1` sysctl imposes.
  Such a server accepts IPv6 only: on a network without IPv6 no peer can reach it, and
  every connect is "refused" although it listens.
- **A reference needs IPv6:** an IPv6 literal (`http://[fd00::5]:80`) in a container's
  environment, or a name that its /etc/hosts maps to IPv6 addresses only, while the
  container's namespace has no IPv6 address: the connect fails with "Network is
  unreachable".

Detected from the probe. /proc/net/tcp6 lists a `::` listener the same way whether it is
dual-stack or IPv6-only: only a refused IPv4 connect tells them apart. So a port whose only
listener is `::` (no IPv4 socket) is V6ONLY when a peer's IPv4 connect to it is refused
and a connect to 127.0.0.1:PORT from inside the container's own namespace is refused too
(a dual-stack listener accepts it; a firewall on the network path does not explain it).
Error on a network without IPv6, warning on one with IPv6 (only IPv4 clients fail there).
It replaces the `port.refused` those connects would otherwise get. For references: the
interfaces read in the container's namespace hold no IPv6 address other than loopback and
link-local. Names are not looked up as AAAA (the embedded DNS forwards what it does not
know to resolvers outside this machine), so a name is judged by its /etc/hosts entries.

Fix: make the server accept IPv4 (bind 0.0.0.0, or `::` with IPV6_V6ONLY off: nginx
`listen [::]:80 ipv6only=off;`, compose `sysctls: {net.ipv6.bindv6only: 0}`), use an IPv4
address or a name with one in references, or give the network IPv6:

    networks:
      back:
        enable_ipv6: true
        ipam:
          config:
            - subnet: fd00:db8:1::/64
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from diag.checks._arbiter import Explainer, PortFinding, Symptom, merged, peer_symptoms
from diag.checks._edges import (
    EdgeState,
    edge_evidence,
    edge_subjects,
    netns_owner,
    network_key,
    states,
)
from diag.checks._edges import plan_with_ports as edges_plan
from diag.checks._members import Member
from diag.checks._netview import addresses, brief
from diag.checks.port._sockets import connect_texts, listening, listening_texts
from diag.model.context import CheckContext
from diag.model.edges import Reference, references_in_env
from diag.model.findings import Result, Severity, subjects
from diag.model.observations import ConnectAnswer, Socket
from diag.model.tasks import INTERFACES, Planned, connect
from diag.model.topology import Container
from diag.model.wording import names_verb

ID = "net.ipv6"
SEVERITY = "error"
TITLE = "IPv6-only listener or reference where IPv6 is missing"

__all__ = ["ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan", "v6_only"]

LOOPBACK4 = "127.0.0.1"
ENABLE_IPV6 = (
    "  networks:\n    {key}:\n      enable_ipv6: true\n      ipam:\n        config:\n"
    "          - subnet: fd00:db8:1::/64"
)


# --- a `::` listener that refuses IPv4 -----------------------------------------------------


def _on_wildcard6_only(sockets: list[Socket], port: int) -> bool:
    """`[::]:PORT` listens and no IPv4 socket does (an IPv4-mapped one reads as IPv4)."""
    bound = {s.address for s in sockets if s.port == port}
    return "::" in bound and not any("." in a for a in bound)


def _loopback_connect(ctx: CheckContext, container: Container, port: int) -> ConnectAnswer | None:
    return ctx.observations.get(ctx.netns_placement(container), connect(LOOPBACK4, port))


def v6_only(ctx: CheckContext, container: Container, port: int) -> bool:
    """The container's only listener on `port` is `::`, and it refuses IPv4 even from
    inside the container's own namespace: IPV6_V6ONLY."""
    sockets = listening(ctx, container)
    if sockets is None or not _on_wildcard6_only(sockets, port):
        return False
    result = _loopback_connect(ctx, container, port)
    return result is not None and result.status == "refused"


def _wildcard6_ports(ctx: CheckContext) -> Iterator[tuple[Container, int]]:
    """Every (container, port) whose sockets were read and listen on `::` only."""
    for container in ctx.topology.containers:
        sockets = listening(ctx, container) if container.running else None
        for port in sorted({s.port for s in sockets or []}):
            if _on_wildcard6_only(sockets or [], port):
                yield container, port


def _v6only_fix(name: str, port: int) -> str:
    return (
        f"Make {name} accept IPv4 as well: bind it to 0.0.0.0:{port}, or keep [::]:{port} "
        f"with IPV6_V6ONLY off (nginx: `listen [::]:{port} ipv6only=off;`; in code: "
        "`setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 0)`; for servers that follow the system "
        f"default, compose `sysctls: {{net.ipv6.bindv6only: 0}}` on {name})."
    )


def _network_texts(ctx: CheckContext, container: Container) -> list[str]:
    return [
        f"{n.name}: EnableIPv6 {str(n.enable_ipv6).lower()}"
        for n in ctx.topology.networks
        if container.endpoint(n) is not None
    ]


def _v6only_results(ctx: CheckContext) -> Iterator[PortFinding]:
    """One finding per (container, port) that a peer was refused at."""
    refused: dict[tuple[str, int], list[Member]] = {}
    for symptom in peer_symptoms(ctx, ID):
        if symptom.member is not None:
            key = (symptom.member.container.id, symptom.port)
            refused.setdefault(key, []).append(symptom.member)
    for (_, port), members in refused.items():
        container = members[0].container
        name = container.service or container.name
        networks = [m.network for m in members]
        without = [n.name for n in networks if not n.enable_ipv6]
        yield PortFinding(
            container,
            port,
            [n.name for n in networks],
            summary=(
                f"{name} listens on [::]:{port} for IPv6 only (IPV6_V6ONLY): IPv4 connects "
                "are refused"
                + (
                    f", and {names_verb(without, 'has', 'have')} no IPv6, so no peer can reach it"
                    if without
                    else "; IPv4 clients fail"
                )
            ),
            evidence={
                "listening": listening_texts(
                    s for s in listening(ctx, container) or [] if s.port == port
                ),
                "probe": [
                    *connect_texts(ctx, members, port),
                    f"connect {LOOPBACK4}:{port} refused (inside {name}'s own netns)",
                ],
                "networks": _network_texts(ctx, container),
            },
            fix=_v6only_fix(name, port),
            severity=None if without else Severity.WARNING,
        )


# --- references that need IPv6 -------------------------------------------------------------


def _needs_ipv6(host: str) -> bool:
    """A global (or unique-local) IPv6 address: reachable only over an IPv6 route."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 6 and not (
        address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.ipv4_mapped is not None
    )


def _ipv6_interfaces(ctx: CheckContext, netns: Container) -> list[str] | None:
    """The namespace's interfaces (`ip -br addr` lines) when it has no usable IPv6 address;
    None when it has one, or when its interfaces were not read."""
    result = ctx.observations.get(ctx.netns_placement(netns), INTERFACES)
    if not result or result.status != "ok":
        return None
    interfaces = list(result.interfaces)
    if any(_needs_ipv6(address) for address in addresses(interfaces)):
        return None
    return brief(interfaces)


def _literal_references(ctx: CheckContext) -> list[tuple[Container, list[Reference]]]:
    """Running containers of the target with IPv6 literals in their environment (parsed
    once per run: the runner plans again after every batch of answers)."""
    if "ipv6-literals" not in ctx.memo:
        found = []
        for container in ctx.target.containers:
            refs = [r for r in references_in_env(container.env) if _needs_ipv6(r.host)]
            if refs and container.running:
                found.append((container, refs))
        ctx.memo["ipv6-literals"] = found
    return ctx.memo["ipv6-literals"]


def _hosts_ipv6_only(state: EdgeState) -> bool:
    return bool(state.hosts_ips) and all(_needs_ipv6(ip) for ip in state.hosts_ips or [])


def _enable_fix(ctx: CheckContext, netns: Container, what: str) -> str:
    keys = [network_key(ctx, ep.network_name) for ep in netns.endpoints]
    snippet = "\n".join(ENABLE_IPV6.format(key=key) for key in keys[:1])
    return f"Use {what}, or give {netns.service or netns.name}'s network IPv6 (and recreate it)" + (
        f":\n{snippet}" if snippet else "."
    )


def _reference_results(ctx: CheckContext) -> Iterator[Result]:
    for container, refs in _literal_references(ctx):
        netns = netns_owner(ctx, container)
        interfaces = _ipv6_interfaces(ctx, netns)
        if interfaces is None:
            continue
        label = container.service or container.name
        texts = [f"[{r.host}]" + (f":{r.port}" if r.port else "") + f" ({r.origin})" for r in refs]
        yield Result(
            subjects=subjects(
                container.service, container.name, [ep.network_name for ep in netns.endpoints]
            ),
            summary=(
                f"{label} references {', '.join(texts)}, an IPv6 address, but its network "
                "namespace has no IPv6 address: the connect fails (Network is unreachable)"
            ),
            evidence={
                "references": texts,
                "interfaces": interfaces,
                "networks": _network_texts(ctx, netns),
            },
            fix=_enable_fix(ctx, netns, "an IPv4 address or a name that has one"),
        )


# --- the check -----------------------------------------------------------------------------


def plan(ctx: CheckContext) -> list[Planned]:
    planned = edges_plan(ctx)
    planned += [
        (ctx.netns_placement(container), connect(LOOPBACK4, port))
        for container, port in _wildcard6_ports(ctx)
    ]
    netns = [netns_owner(ctx, c) for c, _ in _literal_references(ctx)]
    netns += [s.netns for s in states(ctx) if _hosts_ipv6_only(s)]
    planned += [(ctx.netns_placement(c), INTERFACES) for c in netns if c.running]
    return planned


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    edge = state.edge
    for ip, result in state.failed_connects().items():
        owner = state.owner_of(ip)
        if (
            edge.port
            and result.status == "refused"
            and owner is not None
            and v6_only(ctx, owner, edge.port)
        ):
            return Result(
                subjects=edge_subjects(state),
                summary=(
                    f"{owner.service or owner.name} listens on [::]:{edge.port} for IPv6 only "
                    f"(IPV6_V6ONLY): {edge.source_label}'s IPv4 connect is refused"
                ),
                evidence=edge_evidence(state, probe=state.connect_text()),
                fix=_v6only_fix(owner.service or owner.name, edge.port),
            )
    interfaces = _ipv6_interfaces(ctx, state.netns) if _hosts_ipv6_only(state) else None
    if interfaces is None:
        return None
    return Result(
        subjects=edge_subjects(state),
        summary=(
            f"{edge.source_label}'s /etc/hosts maps {edge.name} to IPv6 only "
            f"({', '.join(state.hosts_ips or [])}), but its network namespace has no IPv6 "
            "address: the connect fails (Network is unreachable)"
        ),
        evidence=edge_evidence(state, hosts=state.hosts_ips, interfaces=interfaces),
        fix=_enable_fix(ctx, state.netns, f"an IPv4 address for {edge.name} (extra_hosts)"),
    )


def explains_peer(symptom: Symptom, ctx: CheckContext) -> bool:
    """A peer's IPv4 connect refused by a `::` listener that is IPv6-only."""
    return (
        symptom.status == "refused"
        and symptom.member is not None
        and v6_only(ctx, symptom.member.container, symptom.port)
    )


EXPLAINS = Explainer(rank=110, edge=explains, peer=explains_peer)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from merged(ctx, ID, _v6only_results(ctx))
    yield from _reference_results(ctx)
