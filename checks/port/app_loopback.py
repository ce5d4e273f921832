"""Service listens on loopback only.

A server bound to 127.0.0.1 (or ::1) inside its container accepts connections from that
container alone: every peer on the network, and every published host port, gets
"connection refused". The usual cause is a framework default (`flask run`, `vite`,
`uvicorn`, Rails in development) that binds to localhost.

Detected by reading the container's listening sockets from inside its network namespace
(/proc/net/tcp and tcp6) and finding a port whose listeners are all loopback addresses; a
peer's connect to the port is shown as evidence. Severity is error when the port is exposed
or published (meant to be served), warning otherwise.

Fix: bind to 0.0.0.0 (or ::), e.g. `--host 0.0.0.0`, `--bind 0.0.0.0:8000`,
`HOST=0.0.0.0`, `server.host: 0.0.0.0`.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, Symptom, clients, peer_refusal
from diag.checks._edges import (
    EdgeState,
    clients_text,
    edge_evidence,
    edge_subjects,
    port_subjects,
    target_listening,
)
from diag.checks._edges import plan_with_ports as plan
from diag.checks.port._sockets import (
    connect_texts,
    containers_with_sockets,
    listening_texts,
    own_ips,
    reach,
)
from diag.model.context import CheckContext
from diag.model.findings import Result, Severity

ID = "port.app-loopback"
SEVERITY = "error"
TITLE = "Service listens on loopback only"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def _fix(port: int) -> str:
    return (
        "Bind the server to 0.0.0.0 (or ::) inside the container instead of loopback, "
        f"e.g. `--host 0.0.0.0` / `--bind 0.0.0.0:{port}`."
    )


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    """An edge refused because its target listens on loopback: merged into evaluate()'s
    per-port finding, which then names the edge's source as a client."""
    port = state.edge.port
    for owner, sockets in target_listening(ctx, state):
        if port and reach(sockets, port, own_ips(owner)) == "loopback":
            on_port = [sock for sock in sockets if sock.port == port]
            return Result(
                subjects=edge_subjects(state),
                summary=(
                    f"{owner.service or owner.name} listens on "
                    f"{', '.join(listening_texts(on_port))} only"
                ),
                evidence=edge_evidence(
                    state, listening=listening_texts(on_port), probe=state.connect_text()
                ),
                fix=_fix(port),
            )
    return None


def explains_peer(symptom: Symptom, ctx: CheckContext) -> bool:
    """A peer is refused at a port the member listens on for loopback only. Reported in
    this check's per-port finding, which reads the member's sockets itself."""
    return peer_refusal(symptom) == "loopback"


EXPLAINS = Explainer(rank=120, edge=explains, peer=explains_peer)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    by_port = clients(ctx, ID)
    for container, memberships, sockets in containers_with_sockets(ctx):
        ips = own_ips(container)
        for port in sorted({sock.port for sock in sockets}):
            if reach(sockets, port, ips) != "loopback":
                continue
            edges = by_port.get((container.id, port), [])
            on_port = [sock for sock in sockets if sock.port == port]
            meant = port in container.exposed_tcp_ports() or bool(edges)
            networks = [m.network.name for m in memberships]
            evidence: dict[str, object] = {"listening": listening_texts(on_port)}
            probes = connect_texts(ctx, memberships, port)
            if probes:
                evidence["probe"] = "; ".join(probes)
            if edges:
                evidence["clients"] = clients_text(edges)
            yield Result(
                subjects=port_subjects(container, edges, networks),
                summary=(
                    f"{container.service or container.name} listens on "
                    f"{', '.join(listening_texts(on_port))} only; peers on "
                    f"{', '.join(networks)} get connection refused"
                ),
                evidence=evidence,
                fix=_fix(port),
                severity=None if meant else Severity.WARNING,
            )
