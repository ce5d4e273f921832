"""Connection attempts time out (packets dropped).

A peer's TCP connect gets no answer at all within the timeout: something drops the packets
instead of refusing them. Unlike "refused", this costs every client its full connect
timeout, which is how a missing rule turns into slow, hanging requests. Typical causes: a
DROP rule in the container's namespace or on the host (`DOCKER-USER`), a server stuck and
not accepting, or a route that does not lead back.

Detected by a TCP connect from a probe attached to the network that times out (or ends in
"host unreachable").

Fix: look for DROP rules (`iptables -S DOCKER-USER` on the host; `iptables -S` in the
container's namespace) and check that the server accepts connections.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import (
    DROPPED,
    Explainer,
    PortFinding,
    Symptom,
    dropped_at,
    dropped_result,
    merged,
    peer_symptoms,
)
from diag.checks._edges import EdgeState
from diag.checks._edges import plan_with_ports as plan
from diag.checks.port._sockets import listening_texts
from diag.model.context import CheckContext
from diag.model.findings import Result

ID = "port.filtered"
SEVERITY = "error"
TITLE = "Connection attempts time out"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def _fix(name: str) -> str:
    return (
        "Look for DROP rules: `iptables -S DOCKER-USER` on the host and `docker run "
        f"--rm --network container:{name} --cap-add NET_ADMIN "
        "nicolaka/netshoot iptables -S` in the container's namespace."
    )


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    dropped = dropped_at(state)
    if not dropped:
        return None
    owner = state.owner_of(dropped[0])
    return dropped_result(
        state,
        dropped[0],
        "get no answer: packets are dropped",
        _fix(owner.name if owner is not None else state.edge.name),
    )


def explains_peer(symptom: Symptom, ctx: CheckContext) -> bool:
    return symptom.status in DROPPED


EXPLAINS = Explainer(rank=160, edge=explains, peer=explains_peer)


def _per_port(ctx: CheckContext) -> Iterator[PortFinding]:
    for symptom in peer_symptoms(ctx, ID):
        assert symptom.member is not None and symptom.connect is not None
        member, port, sockets = symptom.member, symptom.port, symptom.sockets
        container = member.container
        address = f"{member.endpoint.ip}:{port}"
        status = "timed out" if symptom.status == "timeout" else "host unreachable"
        yield PortFinding(
            container,
            port,
            [member.network.name],
            summary=(
                f"connects from {member.network.name} to {address} "
                f"({container.service or container.name}) {status}: packets are dropped"
            ),
            evidence={
                "probe": f"connect {address} {status} after {symptom.connect.elapsed_ms} ms "
                f"(from a peer on {member.network.name})",
                "listening": listening_texts(sockets) if sockets is not None else "unknown",
            },
            fix=_fix(container.name),
        )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from merged(ctx, ID, _per_port(ctx))
