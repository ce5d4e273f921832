"""An exposed port has no listener.

The image or the compose file declares the port (`EXPOSE`, `expose:`), so peers are told to
use it, but nothing inside the container listens on it: every connect is refused. Usually
the application listens on another port than the one declared (a changed default, a `PORT`
variable not passed through), or it has not started its server.

Detected by reading the container's listening sockets from inside its network namespace:
no socket on the port at any address. Published ports are left to
`port.published-mismatch`. Severity warning: `EXPOSE` is documentation, and a port that is
only declared may be unused on purpose.

Fix: make the server listen on the declared port, or declare the port it really uses
(the evidence lists the ports that do listen).
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
    reach,
)
from diag.model.context import CheckContext
from diag.model.findings import Result, Severity
from diag.model.wording import listed, names_verb

ID = "port.not-listening"
SEVERITY = "warning"
TITLE = "Exposed or referenced port has no listener"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    """An edge refused because nothing listens on its port: merged into evaluate()."""
    port = state.edge.port
    for owner, sockets in target_listening(ctx, state):
        if port and reach(sockets, port, set()) == "absent":
            others = listening_texts(sockets)
            return Result(
                subjects=edge_subjects(state),
                summary=f"nothing listens on {port} in {owner.service or owner.name}"
                + (f" (listening: {', '.join(others)})" if others else ""),
                evidence=edge_evidence(state, listening=others, probe=state.connect_text()),
                fix=f"Point {state.edge.source_label} at the port "
                f"{owner.service or owner.name} listens on, or make it listen on {port}.",
            )
    return None


def explains_peer(symptom: Symptom, ctx: CheckContext) -> bool:
    """A peer is refused at a port nothing in the member listens on. Reported in
    this check's per-port finding, which reads the member's sockets itself."""
    return peer_refusal(symptom) == "absent"


EXPLAINS = Explainer(rank=130, edge=explains, peer=explains_peer)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    by_port = clients(ctx, ID)
    for container, memberships, sockets in containers_with_sockets(ctx):
        published = {binding.container_port for binding in container.published_tcp()}
        declared = {port for port, proto in container.exposed if proto == "tcp"} - published
        referenced = {port for cid, port in by_port if cid == container.id}
        for port in sorted(declared | referenced):
            if reach(sockets, port, set()) != "absent":
                continue
            edges = by_port.get((container.id, port), [])
            others = listening_texts(sockets)
            evidence: dict[str, object] = {"listening": others}
            if port in declared:
                evidence["exposed"] = f"{port}/tcp"
            probes = connect_texts(ctx, memberships, port)
            if probes:
                evidence["probe"] = "; ".join(probes)
            if edges:
                evidence["clients"] = clients_text(edges)
            name = container.service or container.name
            client_names = list(dict.fromkeys(e.edge.source_label for e in edges))
            yield Result(
                subjects=port_subjects(container, edges, [m.network.name for m in memberships]),
                summary=(
                    (
                        f"{names_verb(client_names, 'uses', 'use')} {name}:{port}"
                        if edges
                        else f"{name} exposes {port}/tcp"
                    )
                    + " but nothing listens on it"
                    + (f" (listening: {', '.join(others)})" if others else " (no TCP listener)")
                ),
                evidence=evidence,
                fix=(
                    f"Make {name} listen on port {port}, or "
                    + (
                        f"point {listed(client_names)} at the port {name} listens on"
                        if edges
                        else "expose the port it really uses, e.g. in compose:\n"
                        f'  {name}:\n    expose:\n      - "<port it listens on>"'
                    )
                    + (f" ({', '.join(others)})." if others else ".")
                ),
                severity=Severity.ERROR if edges else None,
            )
