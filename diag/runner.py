"""Plan → observe → evaluate, in rounds, with every probe removed at the end.

Checks plan from what is already known, so a run is a few rounds: round 1 reads listening
sockets and resolves names, round 2 connects to the ports round 1 found listening. Each
round runs one probe per placement, all placements at once; a round that plans nothing new
ends the loop.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone

import docker

from checks import _matrix as matrix
from checks._edges import netns_owner, verdicts
from checks.port._sockets import listening, listening_texts
from checks.registry import Check
from diag.config import apply_severity
from diag.context import CheckContext, Target
from diag.findings import Finding, Severity
from diag.probe import ProbeFailed, ProbeSession
from diag.redact import Redactor, secret_values
from diag.report.model import EdgeOutcome, Inconclusive, Report
from diag.tasks import Observations, Placement, Planned, Task
from diag.topology import Topology

MAX_ROUNDS = 4
MAX_PARALLEL_PROBES = 16
UNANSWERED = {"timeout", "error"}  # SERVFAIL is an answer: dns.wrong-address judges it

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunOptions:
    probe_image: str
    timeout: float
    severity: Mapping[str, Severity] = field(default_factory=dict)  # overrides by id/family


def _run_round(
    session: ProbeSession, missing: list[Planned], observations: Observations, progress: Progress
) -> None:
    by_placement: dict[Placement, list[Task]] = defaultdict(list)
    for placement, task in missing:
        by_placement[placement].append(task)
    progress(f"Running {len(by_placement)} probe(s), {len(missing)} observation(s)")
    pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_PROBES, len(by_placement)))
    try:
        futures: dict[Future, Placement] = {
            pool.submit(session.run, placement, tasks): placement
            for placement, tasks in by_placement.items()
        }
        for future in as_completed(futures):
            placement = futures[future]
            try:
                results = future.result()
            except ProbeFailed as exc:
                observations.failures[placement] = str(exc)
                continue
            for task, result in results.items():
                observations.results[(placement, task)] = result
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def observe(
    ctx: CheckContext, checks: Sequence[Check], session: ProbeSession, progress: Progress
) -> None:
    planners = [check.plan for check in checks] + [matrix.plan]
    for _ in range(MAX_ROUNDS):
        planned = [pair for plan in planners for pair in plan(ctx)]
        missing = ctx.observations.missing(planned)
        if not missing:
            return
        _run_round(session, missing, ctx.observations, progress)


def _inconclusive(observations: Observations) -> list[Inconclusive]:
    found = [
        Inconclusive(where=placement.describe(), reason=reason)
        for placement, reason in observations.failures.items()
    ]
    for (placement, task), result in observations.results.items():
        # A query to a named server is a check's probe of that server: its silence is the
        # finding (dns.custom-resolver-unreachable), not a gap in the evidence.
        if task.kind == "reach":  # the DNS step of a reach: its silence is a gap too
            result = result.get("resolve") or {}
        if (
            task.kind in ("resolve", "reach")
            and not task.server
            and result.get("status") in UNANSWERED
        ):
            found.append(
                Inconclusive(
                    where=placement.describe(),
                    reason=f"{task.describe()}: {result.get('status')} "
                    f"{result.get('detail', '')}".rstrip(),
                )
            )
    return found


def _listening_view(ctx: CheckContext) -> dict[str, list[str]]:
    view = {}
    for container in ctx.topology.containers:
        sockets = listening(ctx, container)
        if sockets is not None:
            view[container.id] = listening_texts(sockets)
    return view


def _edge_outcomes(ctx: CheckContext) -> list[EdgeOutcome]:
    """Every dependency edge with the check that explains its failure (None: it works)."""
    explained = {v.state.edge: v.check_id for v in verdicts(ctx)}
    return [
        EdgeOutcome(
            source=edge.source_label,
            target=edge.name,
            port=edge.port,
            origins=edge.origins,
            observed=netns_owner(ctx, edge.source).running,
            check=explained.get(edge),
        )
        for edge in ctx.target.edges
    ]


def diagnose(
    client: docker.DockerClient,
    topology: Topology,
    target: Target,
    checks: Sequence[Check],
    options: RunOptions,
    progress: Progress,
) -> Report:
    """Run the checks against the target; always removes this run's probes before returning."""
    started_at = datetime.now(timezone.utc)
    started = time.monotonic()
    ctx = CheckContext(topology, target, timeout=options.timeout)
    session = ProbeSession(client, options.probe_image, options.timeout)
    try:
        observe(ctx, checks, session, progress)
    finally:
        session.close()
    findings: list[Finding] = apply_severity(  # severity overrides (diag.config), once for all
        (finding for check in checks for finding in check.evaluate(ctx)), options.severity
    )
    return Report(
        target=target,
        topology=topology,
        started_at=started_at,
        duration_s=time.monotonic() - started,
        checks_run=[check.id for check in checks],
        findings=findings,
        inconclusive=_inconclusive(ctx.observations),
        listening=_listening_view(ctx),
        edges=_edge_outcomes(ctx),
        matrix=matrix.cells(ctx) if target.matrix else None,
        probes_started=session.started,
        redactor=Redactor(secret_values(c.env for c in topology.containers)),
    )
