"""A container's DNS name does not resolve to its address on the network.

On a user-defined network the embedded DNS server (127.0.0.11) answers each container's
names (container name, service name, aliases, short id) with its address on that network.
When a peer's answer differs from what the engine reports, clients connect to the wrong
place or nowhere: a stale record after a fast restart, an `extra_hosts`-style override, a
name held by a container of another project, or a broken embedded DNS.

Detected by asking the embedded DNS directly, from a probe attached to the network, for
the A record of every name of every running member, and comparing the answer with the
addresses the engine assigns that name on that network. Only names the engine says exist
are queried: a name unknown to the engine would be forwarded to upstream servers.

Fix: recreate the container (`docker compose up -d --force-recreate SERVICE`); if the
answer holds an address of another container, give the name to one container only.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_evidence, edge_subjects
from diag.checks._edges import plan as edges_plan
from diag.checks._members import reachable_members
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.tasks import Planned, resolve
from diag.model.topology import Container

ID = "dns.wrong-address"
SEVERITY = "error"
TITLE = "Name does not resolve to the container's address"


def _expected(ctx: CheckContext) -> dict[tuple[str, str], set[str]]:
    """(network id, lowercased name) -> the IPs the engine gives that name there."""
    expected: dict[tuple[str, str], set[str]] = {}
    for member in reachable_members(ctx):
        if not member.network.has_embedded_dns:
            continue
        for name in member.endpoint.dns_names:
            expected.setdefault((member.network.id, name.lower()), set()).add(member.endpoint.ip)
    return expected


def plan(ctx: CheckContext) -> list[Planned]:
    return edges_plan(ctx) + [
        (ctx.peer_placement(member.network), resolve(name))
        for member in reachable_members(ctx)
        if member.network.has_embedded_dns
        for name in member.endpoint.dns_names
    ]


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    """From the source's netns: the answer for a registered name misses its holders."""
    result = state.resolved
    if not state.registrations or state.hosts_ips or not result:
        return None
    if result.status in ("timeout", "error"):
        return None
    answer = set(result.addresses)
    want = state.registered_ips
    if answer & want and answer <= want:
        return None
    edge = state.edge
    got = ", ".join(sorted(answer)) or f"no address ({result.rcode or '?'})"
    return Result(
        subjects=edge_subjects(state),
        summary=(
            f"{edge.name} resolves to {got} from {edge.source_label}; the engine says "
            f"{', '.join(sorted(want))}"
        ),
        evidence=edge_evidence(
            state,
            query=f"{edge.name} A @{result.server or '127.0.0.11'}",
            answer=sorted(answer),
            rcode=result.rcode,
            engine=sorted(want),
        ),
        fix=_fix(state.registrations[0].container, state.registrations[0].network.name),
    )


EXPLAINS = Explainer(rank=90, edge=explains)


def _fix(container: Container, network: str) -> str:
    if container.service:
        return (
            "Recreate the container so the engine re-registers its names: "
            f"`docker compose up -d --force-recreate {container.service}`"
        )
    return (
        f"Reconnect it: `docker network disconnect {network} {container.name} && "
        f"docker network connect {network} {container.name}`"
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from _peer_results(ctx)
    yield from edge_results(ctx, ID)


def _peer_results(ctx: CheckContext) -> Iterator[Result]:
    expected = _expected(ctx)
    for member in reachable_members(ctx):
        network = member.network
        if not network.has_embedded_dns:
            continue
        for name in member.endpoint.dns_names:
            result = ctx.observations.get(ctx.peer_placement(network), resolve(name))
            if not result or result.status in ("timeout", "error"):
                continue  # no answer is not a wrong answer; the report lists it as inconclusive
            answer = set(result.addresses)
            want = expected[(network.id, name.lower())]
            if member.endpoint.ip in answer and answer <= want:
                continue
            got = ", ".join(sorted(answer)) or f"no address ({result.rcode or '?'})"
            yield Result(
                subjects=subjects(member.container.subjects, network.name),
                summary=(
                    f"{name} resolves to {got} on {network.name}; the engine says "
                    f"{', '.join(sorted(want))}"
                ),
                evidence={
                    "query": f"{name} A @{result.server or '127.0.0.11'}",
                    "answer": sorted(answer),
                    "rcode": result.rcode,
                    "engine": sorted(want),
                },
                fix=_fix(member.container, network.name),
            )
