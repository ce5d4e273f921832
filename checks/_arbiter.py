"""One arbiter: every failed observation is a symptom, and one check explains each.

A broken dependency shows up in several observations at once: `web → db:5432` fails from
web's netns, and a peer's connect to db:5432 fails too. Several checks could name a cause
for each (the port is refused; nothing listens on it; it listens on 127.0.0.1 only), and
only the most specific one is the answer. So every failed observation becomes a `Symptom`
of one shape, and each check that can explain symptoms declares it in its own module:

    EXPLAINS = Explainer(rank=150, edge=explains, peer=explains_peer)

`rank` orders the explainers, most specific first (lowest first); `edge` explains a
dependency edge's failure (its resolve or connect, seen from the source's netns) and
returns the finding; `peer` says whether the check owns a peer's failed connect to a member
(the check's `evaluate` reports the symptoms it owns in its own per-port or per-network
finding). `verdicts()` hands every symptom to the first explainer, by rank, that claims it,
the same way for `network`, `compose` and `container` runs: the order lives in the ranks,
and `ddiag checks --order` prints it. Policy checks (declared reachability) then make one
pass over the verdicts (`POLICY`), and no check skips, imports or names another to stay
out of its way. ARCHITECTURE.md, "Symptoms and verdicts", has the rules and an example.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from diag.checks._edges import (
    EdgeState,
    clients_text,
    edge_evidence,
    edge_subjects,
    port_subjects,
    states,
)
from diag.checks._members import Member
from diag.checks.port._sockets import Reach, connect_failures, own_ips, reach
from diag.model.context import CheckContext
from diag.model.findings import Result, Severity
from diag.model.observations import (
    Answer,
    ArpSweepAnswer,
    ConnectAnswer,
    ConnectStatus,
    PmtuAnswer,
    PmtuTarget,
    Socket,
)
from diag.model.tasks import Task
from diag.model.topology import Container, Network

SymptomKind = Literal["edge", "peer", "ping", "sweep"]
# A peer's connect that ended in any of these is a symptom ("open" is the healthy answer).
FAILED_CONNECTS: frozenset[ConnectStatus] = frozenset(
    {"refused", "timeout", "unreachable", "error"}
)
# No answer at all: something drops the packets.
DROPPED: frozenset[ConnectStatus] = frozenset({"timeout", "unreachable"})


def dropped_at(state: EdgeState) -> list[str]:
    """The addresses the edge's connects got no answer from (timeout, host unreachable)."""
    return [ip for ip, result in state.failed_connects().items() if result.status in DROPPED]


def dropped_result(state: EdgeState, address: str, outcome: str, fix: str) -> Result:
    """The finding of an edge whose connect to `address` got no answer, `outcome` saying
    what that means (the checks that claim dropped connects differ in that and the fix)."""
    edge = state.edge
    return Result(
        subjects=edge_subjects(state),
        summary=f"{edge.source_label}'s connects to {edge.name}:{edge.port} ({address}) {outcome}",
        evidence=edge_evidence(state, probe=state.connect_text()),
        fix=fix,
    )


@dataclass(frozen=True, eq=False)
class Symptom:
    """One failed (or suspect) observation, seen from `network` at `address`:

    - `edge`: a dependency edge whose resolve or connect, from the source's own netns, did
      not work (`edge`, no network or address of its own);
    - `peer`: a connect from a peer on the network to a member's `address` and `port` that
      did not end open (`member`, `connect`, and the member's `sockets` when read);
    - `ping`: DF pings from a peer to `address` of which some sizes got no answer
      (`ping`: what each size got back);
    - `sweep`: an ARP answer for `address` in a sweep of `subnet` from a peer (`sweep`:
      the whole sweep, whose `answers[address]` are the MACs that answered).
    """

    kind: SymptomKind
    edge: EdgeState | None = None
    member: Member | None = None
    network: Network | None = None
    address: str = ""
    port: int = 0
    connect: ConnectAnswer | None = None
    sockets: list[Socket] | None = None
    ping: PmtuTarget | None = None
    sweep: ArpSweepAnswer | None = None
    subnet: str = ""

    @property
    def status(self) -> ConnectStatus | None:
        return self.connect.status if self.connect is not None else None


EdgeExplain = Callable[[EdgeState, CheckContext], "Result | None"]
# Whether the check owns the symptom (it reports it in its own aggregate finding).
Claim = Callable[[Symptom, CheckContext], bool]


@dataclass(frozen=True)
class Explainer:
    """What a check declares to explain symptoms: its rank (lower is more specific) and a
    function per kind of symptom it can explain (a kind without one is never its)."""

    rank: int
    edge: EdgeExplain | None = None
    peer: Claim | None = None
    ping: Claim | None = None
    sweep: Claim | None = None

    def claim(self, kind: SymptomKind) -> Claim | None:
        """The function that claims symptoms of `kind` (not `edge`: it returns findings)."""
        return {"peer": self.peer, "ping": self.ping, "sweep": self.sweep}.get(kind)

    @property
    def kinds(self) -> frozenset[SymptomKind]:
        found: set[SymptomKind] = {"edge"} if self.edge is not None else set()
        return frozenset(found | {k for k in ("peer", "ping", "sweep") if self.claim(k)})


@dataclass(frozen=True)
class Verdict:
    """A symptom given to `check_id`. `result`: the finding of an edge symptom; None for the
    other kinds, which the check reports in its own aggregate finding."""

    check_id: str
    symptom: Symptom
    result: Result | None

    @property
    def state(self) -> EdgeState:
        assert self.symptom.edge is not None, "only edge verdicts have an edge state"
        return self.symptom.edge


Review = Callable[[list[Verdict], CheckContext], list[Verdict]]


@dataclass(frozen=True)
class Policy:
    """A pass over all verdicts (declared reachability): `order` says which pass runs first."""

    order: int
    review: Review


def symptoms(ctx: CheckContext) -> list[Symptom]:
    """Every edge observed from a running netns and not declared unreachable (there only
    success is news: see `policy.unexpected-reachable`), every failed peer connect, every
    address with a lost ping size, and every ARP answer of a sweep, in a stable order."""
    found = [
        Symptom("edge", edge=state)
        for state in states(ctx)
        if state.netns.running and state.edge.expected is not False
    ]
    found += [
        Symptom(
            "peer",
            member=member,
            network=member.network,
            address=member.endpoint.ip,
            port=port,
            connect=result,
            sockets=sockets,
        )
        for member, port, result, sockets in connect_failures(ctx, set(FAILED_CONNECTS))
    ]
    for network, task, answer in _peer_answers(ctx):
        if isinstance(answer, PmtuAnswer):
            found += [
                Symptom("ping", network=network, address=ip, ping=target)
                for ip, target in answer.targets.items()
                if any(outcome != "ok" for outcome in target.sizes.values())
            ]
        elif isinstance(answer, ArpSweepAnswer):
            found += [
                Symptom("sweep", network=network, address=ip, sweep=answer, subnet=task.target)
                for ip in answer.answers
            ]
    return found


def _peer_answers(ctx: CheckContext) -> list[tuple[Network, Task[Answer], Answer]]:
    """The answered DF pings and ARP sweeps of each target network's peer placement, in
    network order, then task order (answers arrive in any order)."""
    placements = {ctx.peer_placement(network): network for network in ctx.target.networks}
    found = [
        (placements[placement], task, answer)
        for (placement, task), answer in ctx.observations.results.items()
        if task.kind in ("pmtu", "arp_sweep") and placement in placements and answer.status == "ok"
    ]
    order = {network.id: number for number, network in enumerate(ctx.target.networks)}
    return sorted(found, key=lambda item: (order[item[0].id], item[1].describe()))


def arbitrate(
    found: list[Symptom], explainers: list[tuple[str, Explainer]], ctx: CheckContext
) -> list[Verdict]:
    """Each symptom to the first explainer (by rank) that claims it; unclaimed ones are
    left out (a healthy edge, or a failure no check can name)."""
    ordered = sorted(explainers, key=lambda pair: pair[1].rank)
    verdicts: list[Verdict] = []
    for symptom in found:
        for check_id, explainer in ordered:
            verdict = _claim(check_id, explainer, symptom, ctx)
            if verdict is not None:
                verdicts.append(verdict)
                break
    return verdicts


def _claim(
    check_id: str, explainer: Explainer, symptom: Symptom, ctx: CheckContext
) -> Verdict | None:
    if symptom.edge is not None and explainer.edge is not None:
        result = explainer.edge(symptom.edge, ctx)
        return None if result is None else Verdict(check_id, symptom, result)
    claim = explainer.claim(symptom.kind)
    if claim is not None and claim(symptom, ctx):
        return Verdict(check_id, symptom, None)
    return None


def verdicts(ctx: CheckContext) -> list[Verdict]:
    """Every symptom's verdict after the policy passes, once per set of observations."""
    return ctx.per_observations("verdicts", lambda: _verdicts(ctx))


def _verdicts(ctx: CheckContext) -> list[Verdict]:
    from diag.checks.registry import explainers, policies  # the registry imports every check

    found = arbitrate(symptoms(ctx), explainers(), ctx)
    for policy in policies():
        found = policy.review(found, ctx)
    return found


def owned(ctx: CheckContext, check_id: str) -> list[Verdict]:
    return [verdict for verdict in verdicts(ctx) if verdict.check_id == check_id]


def edge_results(ctx: CheckContext, check_id: str) -> list[Result]:
    """The findings of the edges `check_id` explains, in edge order."""
    return [v.result for v in owned(ctx, check_id) if v.result is not None]


Judge = Callable[[Symptom, CheckContext], "Result | None"]


def found_by(judge: Judge) -> Claim:
    """The claim of a check that judges each symptom on its own: it owns those it would
    report (the net checks' pings and sweeps)."""
    return lambda symptom, ctx: judge(symptom, ctx) is not None


def judged(ctx: CheckContext, check_id: str, kind: SymptomKind, judge: Judge) -> Iterator[Result]:
    """The findings `judge` makes of the symptoms of `kind` that `check_id` owns."""
    for symptom in owned_symptoms(ctx, check_id, kind):
        result = judge(symptom, ctx)
        if result is not None:
            yield result


def peer_refusal(symptom: Symptom) -> Reach | Literal["unknown"] | None:
    """For a peer refused at a member's port: who listens there, as `reach()` judges the
    member's sockets ("unknown" when they could not be read); None for any other symptom."""
    if symptom.kind != "peer" or symptom.status != "refused" or symptom.member is None:
        return None
    if symptom.sockets is None:
        return "unknown"
    return reach(symptom.sockets, symptom.port, own_ips(symptom.member.container))


def owned_symptoms(ctx: CheckContext, check_id: str, kind: SymptomKind) -> list[Symptom]:
    """The symptoms of `kind` that `check_id` owns, in the order `symptoms()` found them."""
    return [v.symptom for v in owned(ctx, check_id) if v.symptom.kind == kind]


def peer_symptoms(ctx: CheckContext, check_id: str) -> list[Symptom]:
    """The peers' failed connects `check_id` owns, in member and port order."""
    return owned_symptoms(ctx, check_id, "peer")


def target_key(state: EdgeState) -> set[tuple[str, int]]:
    """(container id, port) of every container the edge's failed connects went to."""
    owners = (state.owner_of(ip) for ip in state.failed_connects())
    return {(owner.id, state.edge.port or 0) for owner in owners if owner is not None}


def clients(ctx: CheckContext, check_id: str) -> dict[tuple[str, int], list[EdgeState]]:
    """(target container id, port) → the edges `check_id` explains there: the clients its
    per-port finding names (one finding per broken port, naming every client)."""
    grouped: dict[tuple[str, int], list[EdgeState]] = {}
    for verdict in owned(ctx, check_id):
        state = verdict.symptom.edge
        if state is None or not state.edge.port:
            continue
        for key in sorted(target_key(state)):
            grouped.setdefault(key, []).append(state)
    return grouped


@dataclass(frozen=True)
class PortFinding:
    """A check's finding about one port of one container, before `merged()` names the
    clients that fail there (in its subjects and as `clients` evidence)."""

    container: Container
    port: int
    networks: list[str]
    summary: str
    evidence: dict[str, object]
    fix: str
    severity: Severity | None = None


def merged(ctx: CheckContext, check_id: str, per_port: Iterable[PortFinding]) -> Iterator[Result]:
    """One finding per broken port, naming every client `check_id` explains there, then the
    findings of its edges whose target port no per-port finding reports."""
    by_port = clients(ctx, check_id)
    covered: set[tuple[str, int]] = set()
    for found in per_port:
        key = (found.container.id, found.port)
        covered.add(key)
        edges = by_port.get(key, [])
        yield Result(
            subjects=port_subjects(found.container, edges, found.networks),
            summary=found.summary,
            evidence={**found.evidence, **({"clients": clients_text(edges)} if edges else {})},
            fix=found.fix,
            severity=found.severity,
        )
    for verdict in owned(ctx, check_id):
        state = verdict.symptom.edge
        if state is None or verdict.result is None:
            continue
        keys = target_key(state)
        if not keys or not keys <= covered:
            yield verdict.result
