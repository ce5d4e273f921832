"""Nothing on the host listens on the port a container uses to reach it.

A container that calls a service on the host (host.docker.internal:PORT, a gateway
address) is refused when no process on the host listens on that port: the service is not
started, runs elsewhere (in a container with no published port, on another machine), or
the configuration names the wrong port.

Detected from both sides: the connect from the source's network namespace to the host's
address is refused, and the listening sockets read in the engine host's network namespace
hold nothing on that port, on any address.

Fix: start the host service on that port, listening on the address the container connects
to (named in the finding) or on 0.0.0.0; or correct the port in the configuration.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_subjects, plan
from diag.checks.host._side import host_evidence, refusal
from diag.model.context import CheckContext
from diag.model.findings import Result

ID = "host.not-listening"
SEVERITY = "error"
TITLE = "Nothing listens on the host port"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    found = refusal(state, ctx)
    if found is None or found.sockets:
        return None
    edge = state.edge
    origin = edge.origins[0]
    return Result(
        subjects=edge_subjects(state, edge.name),
        summary=(
            f"nothing on the host listens on port {found.port}: {edge.source_label} is "
            f"refused at {edge.name} ({found.address}:{found.port})"
        ),
        evidence=host_evidence(state, found),
        fix=(
            f"Start the host service on port {found.port}, listening on {found.address} "
            f"(the address the container connects to) or 0.0.0.0; check with "
            f"`ss -ltnp 'sport = :{found.port}'` on the host. If the service uses another "
            f"port, correct it in {edge.source_label}'s {origin}."
        ),
    )


# After host.service-loopback (115), before port.not-listening (130) and port.refused.
EXPLAINS = Explainer(rank=125, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
