"""A DNS server configured with `dns:` does not answer from the container.

`dns:` (`docker run --dns`) does not replace the embedded DNS on a user-defined network: the
container still asks 127.0.0.11, which answers container names itself and forwards every
other name to the configured servers, from the container's own network namespace. When
those servers do not answer (a resolver container that is down or runs no DNS server, an
address that is not reachable from the container's networks, a firewall), container
names keep resolving while every outside name fails: SERVFAIL after about 4 s per dead
server ("Temporary failure in name resolution", "getaddrinfo EAI_AGAIN"). On the default
bridge the configured servers are written to resolv.conf directly and every lookup waits
for them.

Detected by asking each configured server directly from the container's network
namespace for `localhost.` (a query any resolver answers or refuses at once without
forwarding it anywhere): a timeout or a socket error (e.g. connection refused) is a server
that does not answer; any DNS answer, even REFUSED or SERVFAIL, means it is reachable.
Only servers on this machine are contacted: a loopback address or an address inside the
subnet of one of the engine's networks. A server anywhere else is outside this machine and
is not contacted by default, so nothing is reported about it (it is listed as not contacted
when another server of the same container is reported). The embedded DNS itself
(127.0.0.11) is never queried: it would forward the query to the host's resolvers.

Severity: error when no configured server is known to answer; warning when another one
does (outside names then resolve, after waiting for the dead server on each lookup).

Fix: point `dns:` at a server that answers from the container (start the resolver, fix
its address), or remove `dns:` so that the embedded DNS uses the host's resolvers:

    services:
      web:
        # dns: [10.213.80.53]   <- remove, or list a resolver that answers
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from diag.checks._edges import netns_owner
from diag.model.context import CheckContext
from diag.model.findings import Result, Severity, subjects
from diag.model.observations import ResolveAnswer
from diag.model.tasks import Planned, Task, resolve
from diag.model.topology import Container, Topology

ID = "dns.custom-resolver-unreachable"
SEVERITY = "error"
TITLE = "Configured DNS server does not answer"

QUERY_NAME = "localhost"  # answered or refused by any resolver itself, never forwarded
EMBEDDED_DNS = "127.0.0.11"
NO_ANSWER = {"timeout", "error"}


def on_this_machine(topology: Topology, server: str) -> bool:
    """Loopback, or inside a subnet of one of the engine's networks: a server ddiag may ask."""
    try:
        address = ipaddress.ip_address(server)
    except ValueError:
        return False
    return address.is_loopback or any(topology.subnets_holding(server))


def _query(server: str) -> Task[ResolveAnswer]:
    return resolve(QUERY_NAME, "A", server=server)


def _configured(ctx: CheckContext) -> list[tuple[Container, Container]]:
    """(container, whose netns it lives in) for one running container per service with
    `dns:` servers; replicas of a service share its configuration."""
    found: dict[tuple[str, str], tuple[Container, Container]] = {}
    for container in ctx.target.containers:
        if not container.dns or not container.running or container.is_oneoff:
            continue
        netns = netns_owner(ctx, container)
        if not netns.running or netns.network_mode == "none":
            continue
        key = (container.project or "", container.service or container.id)
        found.setdefault(key, (container, netns))
    return list(found.values())


def _queried(ctx: CheckContext, container: Container) -> list[str]:
    return [
        server
        for server in dict.fromkeys(container.dns)
        if server != EMBEDDED_DNS and on_this_machine(ctx.topology, server)
    ]


def plan(ctx: CheckContext) -> list[Planned]:
    return [
        (ctx.netns_placement(netns), _query(server))
        for container, netns in _configured(ctx)
        for server in _queried(ctx, container)
    ]


def _owner(topology: Topology, ip: str) -> Container | None:
    return next(
        (c for c in topology.containers for ep in c.endpoints if ep.ip and ep.ip == ip), None
    )


def _observed(server: str, result: ResolveAnswer, where: str) -> str:
    status = result.status
    elapsed = f" after {result.elapsed_ms} ms" if result.elapsed_ms is not None else ""
    detail = f" ({result.detail})" if result.detail else ""
    return f"{server}: {status}{elapsed}{detail} (query {QUERY_NAME}. A from {where}'s netns)"


def _fix(container: Container, dead: list[str]) -> str:
    keep = [s for s in container.dns if s not in dead]
    if container.service:
        line = (
            f"dns: [{', '.join(keep)}]   # was [{', '.join(container.dns)}]"
            if keep
            else f"# dns: [{', '.join(container.dns)}]   <- remove, or list a resolver that answers"
        )
        return (
            f"Point dns: at a resolver that answers from {container.service} (or start the "
            f"one at {', '.join(dead)}), or drop it so the engine's resolvers are used:\n"
            f"  {container.service}:\n    {line}"
        )
    flags = " ".join(f"--dns {s}" for s in keep)
    return (
        f"Recreate {container.name} "
        + (f"with only {flags}" if keep else f"without --dns {' --dns '.join(dead)}")
        + f" (or start the resolver at {', '.join(dead)})."
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for container, netns in _configured(ctx):
        at = ctx.netns_placement(netns)
        dead: list[str] = []
        answering: list[str] = []
        observed: list[str] = []
        for server in _queried(ctx, container):
            result = ctx.observations.get(at, _query(server))
            if result is None:
                continue  # not observed: the runner reports the probe as inconclusive
            if result.status in NO_ANSWER and not result.rcode:
                dead.append(server)
                observed.append(_observed(server, result, netns.name))
            else:
                answering.append(server)
        if not dead:
            continue
        queried = set(_queried(ctx, container))
        outside = [s for s in dict.fromkeys(container.dns) if s not in queried]
        owners = [o for o in (_owner(ctx.topology, s) for s in dead) if o is not None]
        evidence: dict[str, object] = {
            "dns": list(container.dns),
            "no_answer": observed,
        }
        if answering:
            evidence["answering"] = answering
        if outside:
            evidence["not_contacted"] = [
                f"{s} (not on this machine: not queried by default)"
                if s != EMBEDDED_DNS
                else f"{s} (the embedded DNS)"
                for s in outside
            ]
        if owners:
            evidence["server_containers"] = [
                f"{o.name} ({'running' if o.running else o.status})" for o in owners
            ]
        label = container.service or container.name
        summary = (
            f"{label}'s DNS server{'s' if len(dead) > 1 else ''} {', '.join(dead)} "
            f"(dns:) {'do' if len(dead) > 1 else 'does'} not answer from its netns: "
            + (
                "outside names wait for it on every lookup before another server answers"
                if answering
                else "container names still resolve, but every outside name fails (SERVFAIL)"
            )
        )
        yield Result(
            subjects=subjects(
                container.service,
                [o.service for o in owners],
                container.name,
                [o.name for o in owners],
            ),
            summary=summary,
            evidence=evidence,
            fix=_fix(container, dead),
            severity=Severity.WARNING if answering else None,
        )
