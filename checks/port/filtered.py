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

from checks._edges import EdgeState, edge_evidence, edge_subjects, uncovered_results
from checks._edges import plan_with_ports as plan
from checks.port._sockets import connect_failures, listening_texts
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.observations import ConnectStatus

ID = "port.filtered"
SEVERITY = "error"
TITLE = "Connection attempts time out"
DROPPED: set[ConnectStatus] = {"timeout", "unreachable"}

__all__ = ["ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def _fix(name: str) -> str:
    return (
        "Look for DROP rules: `iptables -S DOCKER-USER` on the host and `docker run "
        f"--rm --network container:{name} --cap-add NET_ADMIN "
        "nicolaka/netshoot iptables -S` in the container's namespace."
    )


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    dropped = [ip for ip, r in state.failed_connects().items() if r.status in DROPPED]
    if not dropped:
        return None
    edge = state.edge
    owner = state.owner_of(dropped[0])
    return Result(
        subjects=edge_subjects(state),
        summary=(
            f"{edge.source_label}'s connects to {edge.name}:{edge.port} ({dropped[0]}) get no "
            "answer: packets are dropped"
        ),
        evidence=edge_evidence(state, probe=state.connect_text()),
        fix=_fix(owner.name if owner is not None else edge.name),
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    covered: set[tuple[str, int]] = set()
    for member, port, result, sockets in connect_failures(ctx, DROPPED):
        if member.network.icc_disabled:
            continue  # the engine drops peers' packets there by design: net.icc-disabled
        container = member.container
        covered.add((container.id, port))
        address = f"{member.endpoint.ip}:{port}"
        status = "timed out" if result.status == "timeout" else "host unreachable"
        elapsed = result.elapsed_ms
        yield Result(
            subjects=subjects(container.subjects, member.network.name),
            summary=(
                f"connects from {member.network.name} to {address} "
                f"({container.service or container.name}) {status}: packets are dropped"
            ),
            evidence={
                "probe": f"connect {address} {status} after {elapsed} ms "
                f"(from a peer on {member.network.name})",
                "listening": listening_texts(sockets) if sockets is not None else "unknown",
            },
            fix=_fix(container.name),
        )
    yield from uncovered_results(ctx, ID, covered)
