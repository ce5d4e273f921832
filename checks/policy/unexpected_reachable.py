"""A connection that a rule says must not work, works.

Segmentation is a promise: the frontend talks to the API, never to the database. One
network too many on one service (`networks: [front, back]` on web "just to debug") breaks
that promise silently, and nothing fails: that is why it has to be asserted.

Detected from the source's network namespace, like any dependency: for a rule
`{from: web, to: db, reachable: false}` ddiag resolves and connects to db (on the rule's
port, or on every port db listens on) from web's netns. A connect that succeeds is the
finding; the evidence names the network that makes it possible.

Fix: take the shared network away from one side (the snippet shows the networks to keep),
or, if the access is intended, change the rule.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Policy, Symptom, Verdict, edge_results
from diag.checks._edges import EdgeState, edge_evidence, edge_subjects, network_key, plan, states
from diag.model.context import CheckContext
from diag.model.findings import Result

ID = "policy.unexpected-reachable"
SEVERITY = "error"
TITLE = "Declared-unreachable connection works"

__all__ = ["ID", "POLICY", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    opened = state.open_connects()
    if not opened:
        return None
    edge = state.edge
    shared = sorted({r.network.name for r in state.registrations})
    source_nets = [ep.network_name for ep in state.netns.endpoints]
    keep = [network_key(ctx, n) for n in source_nets if n not in shared]
    rule = edge.rule or "a reachable: false rule"
    return Result(
        subjects=edge_subjects(state),
        summary=(
            f"{edge.source_label} reaches {edge.name} at {', '.join(opened)}, which {rule} "
            f"forbids" + (f"; shared network: {', '.join(shared)}" if shared else "")
        ),
        evidence=edge_evidence(state, rule=rule, open=opened, shared_networks=shared),
        fix=(
            f"Split them: keep {edge.source_label} off "
            f"{', '.join(network_key(ctx, n) for n in shared) or 'the shared network'}:\n"
            f"  {edge.source_label}:\n    networks: [{', '.join(keep) or '<its own network>'}]\n"
            "(or, if this access is intended, change the rule)"
        ),
    )


def review(verdicts: list[Verdict], ctx: CheckContext) -> list[Verdict]:
    """Edges declared unreachable are no symptoms when they fail (the arbiter leaves them
    out): their news is a connect that succeeds, added here."""
    found = list(verdicts)
    for state in states(ctx):
        if state.netns.running and state.edge.expected is False:
            result = explains(state, ctx)
            if result is not None:
                found.append(Verdict(ID, Symptom("edge", edge=state), result))
    return found


POLICY = Policy(order=2, review=review)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
