"""Connection refused although the port should be served.

A peer on the network connects to the container's address and port and gets a TCP reset,
while nothing more specific explains it: the container does listen on that port on all
addresses (or its sockets could not be read). Typical causes: a firewall rule inside the
container's namespace (`iptables -j REJECT`), a server that accepts on another address
family only, or one that was restarting at that moment.

Detected by a TCP connect from a probe attached to the network. Refusals that a more
specific check explains (lower rank in `ddiag checks --order`: a loopback-only or missing
listener, an IPv6-only socket) are theirs.

Fix: look at the container's own filter rules
(`docker run --rm --network container:NAME --cap-add NET_ADMIN nicolaka/netshoot iptables -S`)
and at the server's logs around the time of the run.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import (
    Explainer,
    PortFinding,
    Symptom,
    merged,
    peer_refusal,
    peer_symptoms,
)
from diag.checks._edges import EdgeState, edge_evidence, edge_subjects
from diag.checks._edges import plan_with_ports as plan
from diag.checks.port._sockets import listening, listening_texts, own_ips, reach
from diag.model.context import CheckContext
from diag.model.findings import Result

ID = "port.refused"
SEVERITY = "error"
TITLE = "Connection refused"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def _fix(name: str) -> str:
    return (
        f"Check filter rules in {name}'s namespace: `docker run --rm "
        f"--network container:{name} --cap-add NET_ADMIN nicolaka/netshoot "
        f"iptables -S`, and the server's logs: `docker logs {name}`."
    )


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    edge = state.edge
    refused = [ip for ip, r in state.failed_connects().items() if r.status == "refused"]
    if not refused or not edge.port:
        return None
    owner = state.owner_of(refused[0])
    sockets = listening(ctx, owner) if owner is not None else None
    if (
        owner is not None
        and sockets is not None
        and reach(sockets, edge.port, own_ips(owner)) != "reachable"
    ):
        return None
    name = owner.name if owner is not None else edge.name
    return Result(
        subjects=edge_subjects(state),
        summary=f"{edge.source_label} is refused at {edge.name}:{edge.port} ({refused[0]})",
        evidence=edge_evidence(
            state,
            probe=state.connect_text(),
            listening=listening_texts(sockets) if sockets is not None else "unknown",
        ),
        fix=_fix(name),
    )


def explains_peer(symptom: Symptom, ctx: CheckContext) -> bool:
    """A peer is refused at a port the member listens on for every address (or whose
    sockets could not be read)."""
    return peer_refusal(symptom) in ("reachable", "unknown")


EXPLAINS = Explainer(rank=150, edge=explains, peer=explains_peer)


def _per_port(ctx: CheckContext) -> Iterator[PortFinding]:
    for symptom in peer_symptoms(ctx, ID):
        assert symptom.member is not None
        member, port, sockets = symptom.member, symptom.port, symptom.sockets
        container = member.container
        address = f"{member.endpoint.ip}:{port}"
        yield PortFinding(
            container,
            port,
            [member.network.name],
            summary=(
                f"peers on {member.network.name} are refused at {address} "
                f"({container.service or container.name})"
                + (" although it listens on that port" if sockets is not None else "")
            ),
            evidence={
                "probe": f"connect {address} refused (from a peer on {member.network.name})",
                "listening": listening_texts(sockets) if sockets is not None else "unknown",
            },
            fix=_fix(container.name),
        )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from merged(ctx, ID, _per_port(ctx))
