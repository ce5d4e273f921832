"""A referenced name is defined on the host, not in the container.

A name in the host's /etc/hosts (a machine of the LAN, a VM, a name added by a VPN client)
resolves for programs on the host, so the configuration works when the program runs there.
A container has its own /etc/hosts, written by the engine, and never sees the host's: the
same name is "not found" once the program runs in a container.

Detected from both sides: the source's /etc/hosts has no entry for the name and no
container holds it; the host's /etc/hosts, read in the engine host's namespace, has one.
The name is never asked of DNS: the embedded DNS would forward it off this machine.

A name with dots (`legacy.corp.lan`) becomes an edge only when the engine's host is this
machine and its /etc/hosts defines it (diag/engine/engine_host.py); otherwise it is an
outside host, left alone. The container then asks DNS for it, and the engine forwards that
to the host's resolvers, which may know the name too (a company's DNS often does): ddiag
does not send that query (it would leave the machine), so a dotted name is a warning that
says so, and a bare name, which no public resolver answers, stays an error.

Fix: give the service the host's entry with `extra_hosts` (`NAME:ADDRESS`, the address the
host's file gives it; `NAME:host-gateway` when that address is the host's own loopback).
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_evidence, edge_subjects, states
from diag.checks._edges import plan as edges_plan
from diag.checks.port._sockets import is_loopback
from diag.model.context import CheckContext
from diag.model.edges import HOST_GATEWAY
from diag.model.findings import Result, Severity
from diag.model.tasks import HOSTS, Planned

ID = "dns.host-only-name"
SEVERITY = "error"
TITLE = "Name defined on the host only"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def _unknown(state: EdgeState) -> bool:
    """The source's /etc/hosts was read and lacks the name, and no container holds it."""
    edge = state.edge
    plain = not (edge.is_localhost or edge.to_host or state.holders or state.oneoff_holders)
    return plain and state.hosts_ips == []


def plan(ctx: CheckContext) -> list[Planned]:
    wanted = any(_unknown(state) for state in states(ctx))
    return edges_plan(ctx) + ([(ctx.host_placement(), HOSTS)] if wanted else [])


def _host_addresses(ctx: CheckContext, name: str) -> list[str]:
    result = ctx.observations.get(ctx.host_placement(), HOSTS)
    if not result or result.status != "ok":
        return []
    lowered = name.lower()
    return [e.ip for e in result.entries if lowered in (n.lower() for n in e.names)]


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    if not _unknown(state):
        return None
    edge = state.edge
    addresses = _host_addresses(ctx, edge.name)
    if not addresses:
        return None
    address = addresses[0]
    # The host's loopback is the container's own inside it: host-gateway is the host.
    target = HOST_GATEWAY if is_loopback(address) else address
    service = state.netns.service or state.netns.name
    dotted = "." in edge.name.strip(".")
    unless = (
        ": unless the host's DNS servers know the name too, it does not resolve there"
        if dotted
        else ""
    )
    return Result(
        subjects=edge_subjects(state, edge.name),
        summary=(
            f"{edge.source_label} uses {edge.name}, which the host's /etc/hosts maps to "
            f"{', '.join(addresses)}; the container's /etc/hosts has no entry for it{unless}"
        ),
        evidence=edge_evidence(
            state,
            host_hosts_file=[f"{ip} {edge.name}" for ip in addresses],
            hosts_file=f"no entry for {edge.name}",
            dns="not asked: the engine would forward the query off this machine",
        ),
        severity=Severity.WARNING if dotted else None,
        fix=(
            f"Give {service} the host's entry, then `docker compose up -d {service}`:\n"
            f'  {service}:\n    extra_hosts:\n      - "{edge.name}:{target}"'
        ),
    )


# Before dns.name-confusion (60), which would call it a misspelt container name.
EXPLAINS = Explainer(rank=57, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
