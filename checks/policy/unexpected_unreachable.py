"""A connection that a rule says must work, does not.

`{from: web, to: "api:8000", reachable: true}` is a smoke test of the stack's intent: in CI
after `docker compose up`, it fails the build when the frontend cannot use the API,
whatever the reason.

Detected from the source's network namespace like any dependency; the reason is the most
specific check that explains the failure (dns.cross-network, port.app-loopback, ...),
named in the evidence as `cause`, with that check's fix.

Fix: the cause's fix (see `ddiag explain CAUSE`).
"""

from __future__ import annotations

from collections.abc import Iterator

from checks._edges import EdgeState, plan, results_for
from diag.model.context import CheckContext
from diag.model.findings import Result

ID = "policy.unexpected-unreachable"
SEVERITY = "error"
TITLE = "Declared-reachable connection fails"

__all__ = ["ID", "SEVERITY", "TITLE", "evaluate", "plan", "wrap"]


def wrap(state: EdgeState, cause: str, result: Result) -> Result:
    """The cause's finding, restated as the broken rule it is."""
    edge = state.edge
    rule = edge.rule or "a reachable: true rule"
    port = f":{edge.port}" if edge.port else ""
    return Result(
        subjects=result.subjects,
        summary=(
            f"{edge.source_label} must reach {edge.name}{port} ({rule}) but cannot: "
            f"{result.summary}"
        ),
        evidence={"rule": rule, "cause": cause, **result.evidence},
        fix=result.fix,
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from results_for(ctx, ID)
