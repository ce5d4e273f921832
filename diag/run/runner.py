"""Plan → observe → evaluate, as a stream: plan again whenever answers arrive.

Checks plan from what is already known: first listening sockets, names and reaches, then
connects to the ports found listening. Instead of rounds that each wait for their slowest
observation, every answer is applied as it arrives and the checks plan again at once, so
the connects of "round 2" run while round 1's timeouts are still being waited out. A run
costs about one timeout, however many rounds its checks need. A deadline bounds the whole
run: what is not observed by then is reported inconclusive, with the reason.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import docker

from diag import trace
from diag.checks import registry
from diag.checks.registry import Check
from diag.engine import hostfw
from diag.engine.errors import ENGINE_ERRORS
from diag.errors import DiagError
from diag.model.context import CheckContext, Target
from diag.model.egress import egress_text
from diag.model.findings import Finding, Severity
from diag.model.observations import Answer, ReachAnswer
from diag.model.tasks import Observations, Planned
from diag.model.topology import Network, Topology
from diag.probes.session import Answered, Event, Fatal, ProbeMode, ProbeSession
from diag.report.model import EdgeOutcome, Inconclusive, Report
from diag.report.redact import Redactor, secret_values
from diag.run.config import apply_severity

# Answers arrive one by one and each settled batch may plan a few more observations, so a
# big target makes many small waves; planning is monotone and finite, and the deadline
# bounds the run, so this only stops a check that would keep asking for ever.
MAX_WAVES = 1000
SETTLE_S = 0.05  # answers that arrive together are applied together before planning
DEFAULT_DEADLINE_S = 120.0
UNANSWERED = {"timeout", "error"}  # SERVFAIL is an answer: dns.wrong-address judges it

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunOptions:
    probe_image: str
    timeout: float
    severity: Mapping[str, Severity] = field(default_factory=dict)  # overrides by id/family
    deadline: float = DEFAULT_DEADLINE_S
    probe_mode: ProbeMode = "shared"
    probe_memory: str = "64m"
    egress: tuple[tuple[str, int], ...] = ()  # opt-in outside targets (diag.model.egress)
    egress_dns: tuple[str, ...] = ()


def _apply(event: Event, observations: Observations, in_flight: set[Planned]) -> None:
    if isinstance(event, Fatal):
        raise event.error
    pair = (event.placement, event.task)
    in_flight.discard(pair)
    if isinstance(event, Answered):
        observations.results[pair] = event.result
    else:
        observations.failures.setdefault(event.placement, event.reason)


def observe(
    ctx: CheckContext,
    checks: Sequence[Check],
    session: ProbeSession,
    progress: Progress,
    deadline: float,
) -> list[Planned]:
    """Observe until nothing is missing; returns what the deadline (monotonic) cut short."""
    planners = [check.plan for check in checks] + registry.view_planners()
    events: queue.Queue[Event] = queue.Queue()
    in_flight: set[Planned] = set()
    waves = 0
    while True:
        # Checks that share a plan (the edges', the listening sockets') return the very same
        # memoized list: taken once, not once per check (at N = 200, 38,000 pairs a wave).
        plans = {id(found): found for found in (plan(ctx) for plan in planners)}
        planned = [pair for found in plans.values() for pair in found]
        missing = [p for p in ctx.observations.missing(planned) if p not in in_flight]
        if missing and waves < MAX_WAVES:
            waves += 1
            progress(f"Probes observing {len(missing)} more ({len(in_flight)} under way)")
            in_flight.update(missing)
            session.dispatch(missing, events.put)
        if not in_flight:
            if ctx.closing:
                return []
            ctx.closing = True  # one more planning round, for the reads that come last
            continue
        try:
            first = events.get(timeout=max(0.0, deadline - time.monotonic()))
            _apply(first, ctx.observations, in_flight)
            settle = time.monotonic() + SETTLE_S
            while in_flight and (left := settle - time.monotonic()) > 0:  # none left: plan now
                _apply(events.get(timeout=left), ctx.observations, in_flight)
        except queue.Empty:
            if time.monotonic() >= deadline:
                return sorted(in_flight, key=lambda pair: (pair[0].describe(), pair[1].describe()))


def _inconclusive(
    observations: Observations, cut_short: list[Planned], deadline_s: float
) -> list[Inconclusive]:
    found = [
        Inconclusive(
            where=placement.describe(),
            reason=f"{task.describe()}: the run's deadline ({deadline_s:g} s) came first",
        )
        for placement, task in cut_short
    ]
    found += [
        Inconclusive(where=placement.describe(), reason=reason)
        for placement, reason in observations.failures.items()
    ]
    for (placement, task), result in observations.results.items():
        # A query to a named server is a check's probe of that server: its silence is the
        # finding (dns.custom-resolver-unreachable), not a gap in the evidence.
        asked: Answer | None = result
        if isinstance(result, ReachAnswer):  # the DNS step of a reach: its silence is a gap too
            asked = result.resolve
        if (
            task.kind in ("resolve", "reach")
            and not task.server
            and asked is not None
            and asked.status in UNANSWERED
        ):
            found.append(
                Inconclusive(
                    where=placement.describe(),
                    reason=f"{task.describe()}: {asked.status} {asked.detail}".rstrip(),
                )
            )
    return found


def _edge_outcomes(ctx: CheckContext) -> list[EdgeOutcome]:
    """Every dependency edge, as tried, with its status and the check that explains its
    failure (None: none does)."""
    return [
        EdgeOutcome(
            source=view.edge.source_label,
            target=view.edge.name,
            port=view.edge.port,
            origins=view.edge.origins,
            observed=view.observed,
            check=view.check,
            status=view.status,
            reason=view.reason,
            port_inferred=view.edge.port_from,
            to_host=view.edge.to_host,
        )
        for view in registry.edge_views(ctx)
    ]


def _engine_answers(client: docker.DockerClient) -> bool:
    try:
        client.ping()
    except ENGINE_ERRORS:
        return False
    return True


def _host_firewall(
    client: docker.DockerClient, checks: Sequence[Check]
) -> tuple[hostfw.HostFirewall | None, list[Inconclusive]]:
    """The host's iptables rules, read once, when a check that needs them runs and the
    engine is on this machine; a read that fails where ddiag may read is a gap in the
    evidence."""
    if not any(check.needs_host_firewall for check in checks):
        return None, []
    if not hostfw.engine_is_local(client.api.base_url):
        return None, []
    try:
        return hostfw.read(), []
    except hostfw.Unreadable as exc:
        return None, [Inconclusive(where="the host's firewall", reason=str(exc))]


def _peered(ctx: CheckContext) -> list[Network]:
    """The target's local bridges with a running member: their anchors will be asked for
    (its peers' connects, lookups, pings), so they start before the first task does."""
    return [
        network
        for network in ctx.target.networks
        if network.driver == "bridge"
        and network.scope == "local"
        and any(container.running for container, _ in ctx.topology.members(network))
    ]


def diagnose(
    client: docker.DockerClient,
    topology: Topology,
    target: Target,
    checks: Sequence[Check],
    options: RunOptions,
    progress: Progress,
    session: ProbeSession | None = None,
) -> Report:
    """Run the checks against the target; always removes this run's probes before returning.
    `session`: one already started (ProbeSession.prestart), that suits `options`."""
    started_at = datetime.now(timezone.utc)
    started = time.monotonic()
    ctx = CheckContext(
        topology,
        target,
        timeout=options.timeout,
        egress=options.egress,
        egress_dns=options.egress_dns,
    )
    try:  # `session` is ours from the start: Ctrl-C while the host firewall is read, too
        ctx.host_firewall, firewall_gaps = _host_firewall(client, checks)
        if session is None:
            session = ProbeSession(
                client,
                options.probe_image,
                options.timeout,
                None,
                options.probe_mode,
                options.probe_memory,
            )
        session.pids = {container.id: container.pid for container in topology.containers}
        session.timeout = options.timeout
        session.prestart_anchors(_peered(ctx))
        with trace.span("observing"):
            cut_short = observe(ctx, checks, session, progress, started + options.deadline)
    except BaseException:
        if session is not None:
            session.close()
        raise
    # Removing the probes is half a second of the engine's work: the report is made meanwhile.
    closing = threading.Thread(target=session.close, name="ddiag-close")
    closing.start()
    try:
        with trace.span("checks evaluated, report made"):
            return _report(
                client,
                ctx,
                checks,
                options,
                session,
                cut_short,
                firewall_gaps,
                (started_at, started),
            )
    finally:
        closing.join()


def _report(
    client: docker.DockerClient,
    ctx: CheckContext,
    checks: Sequence[Check],
    options: RunOptions,
    session: ProbeSession,
    cut_short: list[Planned],
    firewall_gaps: list[Inconclusive],
    started: tuple[datetime, float],
) -> Report:
    """The report of what was observed: the checks' findings, inconclusive places, views."""
    topology, target = ctx.topology, ctx.target
    if ctx.observations.failures and not _engine_answers(client):
        raise DiagError(
            "The Docker engine stopped answering during the run, so what ddiag observed is "
            "incomplete. Check that the engine is up (`docker info`), then run ddiag again; "
            "`ddiag cleanup` removes any probe this run could not remove."
        )
    findings: list[Finding] = apply_severity(  # severity overrides (diag.run.config), once for all
        (
            finding
            for check in checks
            for finding in check.evaluate(ctx)
            if target.concerns(finding.subjects)  # `ddiag compose SERVICE...`: about them
        ),
        options.severity,
    )
    return Report(
        target=target,
        topology=topology,
        started_at=started[0],
        duration_s=time.monotonic() - started[1],
        checks_run=[check.id for check in checks],
        findings=findings,
        inconclusive=_inconclusive(ctx.observations, cut_short, options.deadline) + firewall_gaps,
        listening=registry.listening_view(ctx),
        edges=_edge_outcomes(ctx),
        matrix=registry.matrix_cells(ctx) if target.matrix else None,
        netns=registry.netns_view(ctx),
        egress=tuple(egress_text(e) for e in options.egress),
        egress_dns=options.egress_dns,
        probes_started=session.started,
        probe_memory_peak=session.memory_peak,
        probe_mode=session.mode,
        deadline_reached=bool(cut_short),
        unobserved_places=len(ctx.observations.failures),
        redactor=Redactor(secret_values(c.env for c in topology.containers)),
    )
