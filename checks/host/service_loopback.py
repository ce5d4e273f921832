"""A service on the host listens on loopback only, so containers are refused.

A container reaches the host at the host's address on a bridge: the address its
/etc/hosts gives host.docker.internal (with `host-gateway`, the DEFAULT bridge's gateway,
docker0's 172.17.0.1 typically, whatever network the container is on) or the gateway
address its configuration writes. A host service bound to 127.0.0.1 or ::1 (the default of
many development servers and databases) accepts none of those: the container is refused,
although `curl localhost:PORT` works on the host.

Detected from both sides: the connect from the source's network namespace to the host's
address is refused, and the listening sockets read in the engine host's network namespace
hold that port on loopback addresses only.

Fix: bind the host service to the address the container connected to (named in the
finding), or to all addresses (0.0.0.0) with a firewall rule that admits only the engine's
networks.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_subjects, plan
from diag.checks.host._side import HostRefusal, host_evidence, only_loopback, refusal
from diag.model.context import CheckContext
from diag.model.findings import Result

ID = "host.service-loopback"
SEVERITY = "error"
TITLE = "Host service listens on loopback only"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def _fix(found: HostRefusal) -> str:
    address, port = found.address, found.port
    text = (
        f"Make the host service listen on {address}:{port}, the address the container "
        f"connects to (e.g. `--host {address}`), or on 0.0.0.0:{port} and keep other "
        "machines out with a firewall rule"
    )
    if found.subnet is None:
        return text + " that admits only the engine's networks."
    return (
        f"{text}:\n  sudo iptables -I INPUT -p tcp --dport {port} "
        f"! -s {found.subnet.subnet} ! -i lo -j DROP"
    )


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    found = refusal(state, ctx)
    if found is None or not only_loopback(found):
        return None
    edge = state.edge
    bound = ", ".join(sorted({s.address for s in found.sockets}))
    return Result(
        subjects=edge_subjects(state, edge.name),
        summary=(
            f"the host listens on {bound} only for port {found.port}: {edge.source_label} "
            f"is refused at {edge.name} ({found.address}:{found.port})"
        ),
        evidence=host_evidence(state, found),
        fix=_fix(found),
    )


# Before port.not-listening (130) and port.refused (150), which know no host.
EXPLAINS = Explainer(rank=115, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
