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

from diag.checks._arbiter import Policy, Verdict, edge_results
from diag.checks._edges import EdgeState, plan
from diag.model.context import CheckContext
from diag.model.findings import Result

ID = "policy.unexpected-unreachable"
SEVERITY = "error"
TITLE = "Declared-reachable connection fails"

__all__ = ["ID", "POLICY", "SEVERITY", "TITLE", "evaluate", "plan", "wrap"]


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


def review(verdicts: list[Verdict], ctx: CheckContext) -> list[Verdict]:
    """An edge declared reachable that fails: whatever check explained it, the finding is
    the broken rule (with that check as its cause)."""
    return [
        Verdict(ID, v.symptom, wrap(v.state, v.check_id, v.result))
        if v.symptom.edge is not None and v.symptom.edge.edge.expected and v.result is not None
        else v
        for v in verdicts
    ]


POLICY = Policy(order=1, review=review)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
