"""A client points at localhost for a service that lives in another container.

Inside a container, `localhost` / `127.0.0.1` is that container alone: the database that
was on localhost on the laptop is now in its own container, with its own loopback. The
connect is refused (nothing listens there) and the error message looks like "the database
is down".

Detected from the source's network namespace: the referenced port has no listener there
(and a connect to 127.0.0.1:PORT fails), while another container of the stack exposes,
publishes or listens on that port. Containers that share a namespace on purpose
(`network_mode: service:x`, sidecars) listen there and are not reported.

Fix: use the service name instead of localhost (`DB_HOST: db`, `redis://cache:6379`).
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_evidence, plan
from diag.checks.port._sockets import listening, listening_texts, serving
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.wording import names_verb

ID = "port.localhost-in-container"
SEVERITY = "error"
TITLE = "Client points at localhost for another container's service"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    edge = state.edge
    if not edge.is_localhost or not edge.port:
        return None
    sockets = listening(ctx, state.netns)
    if sockets is None or any(s.port == edge.port for s in sockets):
        return None
    candidates = sorted({c.service or c.name for c in serving(ctx, edge.port, state.netns.id)})
    name = candidates[0] if len(candidates) == 1 else "<service name>"
    origin = edge.origins[0].removeprefix("environment ").split(" + ")[0]
    return Result(
        subjects=subjects(edge.source.service, candidates, edge.source.name),
        summary=(
            f"{edge.source_label} uses {edge.name}:{edge.port}, but nothing listens on "
            f"{edge.port} in its own network namespace"
            + (f"; {names_verb(candidates, 'serves', 'serve')} that port" if candidates else "")
        ),
        evidence=edge_evidence(
            state,
            listening_in_source=listening_texts(sockets) or "nothing",
            probe=state.connect_text(),
            serving_port=candidates,
        ),
        fix=(
            f"Inside a container, localhost is the container itself. Use the service name:\n"
            f"  {edge.source_label}:\n    environment:\n      {origin}: "
            f"<same value with {edge.name} replaced by {name}>"
        ),
    )


EXPLAINS = Explainer(rank=20, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
