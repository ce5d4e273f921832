"""A client uses the host-published port number toward the service name.

`ports: ["5433:5432"]` publishes container port 5432 on host port 5433. Containers talk to
each other directly, container to container, so `db:5433` goes nowhere: between
containers the port is always the container port (5432). Host ports are for the host and
for other machines.

Detected from the source's namespace: the connect to the target's address at the
referenced port fails, nothing listens on that port inside the target, and the port is a
host port that the target publishes for a container port that does listen.

Fix: use the container port with the service name (`db:5432`).
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import (
    EdgeState,
    edge_evidence,
    edge_subjects,
    plan,
    target_listening,
)
from diag.checks.port._sockets import listening_texts, reach
from diag.model.context import CheckContext
from diag.model.findings import Result

ID = "port.container-vs-host"
SEVERITY = "error"
TITLE = "Host port used between containers"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    edge = state.edge
    if not edge.port:
        return None
    for owner, sockets in target_listening(ctx, state):
        if reach(sockets, edge.port, set()) != "absent":
            continue
        for binding in owner.published_tcp():
            if binding.host_port != str(edge.port):
                continue
            if reach(sockets, binding.container_port, set()) == "absent":
                continue
            right = binding.container_port
            origin = edge.origins[0].removeprefix("environment ").split(" + ")[-1]
            return Result(
                subjects=edge_subjects(state),
                summary=(
                    f"{edge.source_label} uses {edge.name}:{edge.port}, the port "
                    f"{owner.service or owner.name} publishes on the host; between "
                    f"containers it is {edge.name}:{right}"
                ),
                evidence=edge_evidence(
                    state,
                    published=f"{binding.host_ip or '0.0.0.0'}:{binding.host_port}->{right}/tcp",
                    listening=listening_texts(sockets),
                    probe=state.connect_text(),
                ),
                fix=(
                    f"Use the container port:\n  {edge.source_label}:\n    environment:\n"
                    f"      {origin}: <same value with {edge.port} replaced by {right}>"
                ),
            )
    return None


EXPLAINS = Explainer(rank=100, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
