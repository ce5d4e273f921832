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

from checks.port._sockets import connect_failures, listening_texts, plan
from diag.context import CheckContext
from diag.findings import Result, subjects

ID = "port.filtered"
SEVERITY = "error"
TITLE = "Connection attempts time out"

__all__ = ["ID", "SEVERITY", "TITLE", "evaluate", "plan"]


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for member, port, result, sockets in connect_failures(ctx, {"timeout", "unreachable"}):
        container = member.container
        address = f"{member.endpoint.ip}:{port}"
        status = "timed out" if result["status"] == "timeout" else "host unreachable"
        elapsed = result.get("elapsed_ms")
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
            fix=(
                "Look for DROP rules: `iptables -S DOCKER-USER` on the host and `docker run "
                f"--rm --network container:{container.name} --cap-add NET_ADMIN "
                "nicolaka/netshoot iptables -S` in the container's namespace."
            ),
        )
