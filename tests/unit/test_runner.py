"""The runner's stream of observations, against a session that answers from recordings.

What ARCHITECTURE.md promises and these tests hold it to: the next round's observations are
asked for while the previous round's slow ones (timeouts) are still under way, so a run
costs about one timeout; a deadline ends a run that would not finish, and says what it cut
short; a fatal probe error ends the run as an error.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import pytest

from diag.checks.registry import all_checks
from diag.errors import DiagError
from diag.model.context import CheckContext
from diag.model.observations import parse
from diag.model.tasks import FIRST_STEPS, Observations, Planned
from diag.probes.session import Answered, Fatal, Sink, Unobservable
from diag.run.runner import observe

from .recorded import recorded_observations

SLOW_S = 0.6
# Task kinds added after the api141 recording was made: answered as an agent answers a task
# it could not do, so that they do not make their whole placement unobservable.
NEWER_KINDS = {"arp_sweep", "pmtu", "sysctl", "neighbour_tables"}


class RecordedSession:
    """Answers every task from recorded observations: `slow` kinds after SLOW_S, tasks that
    were never recorded as unobservable (those of `newer` kinds with an error), and `silent`
    kinds never at all."""

    def __init__(
        self,
        slow: set[str] = frozenset(),
        silent: set[str] = frozenset(),
        newer: set[str] = NEWER_KINDS,
    ) -> None:
        self.recorded = recorded_observations().results
        self.slow = slow
        self.silent = silent
        self.newer = newer
        self.started = time.monotonic()
        self.dispatches: list[tuple[float, list[Planned]]] = []

    def dispatch(self, planned: list[Planned], sink: Sink) -> None:
        self.dispatches.append((time.monotonic() - self.started, planned))
        for placement, task in planned:
            if task.kind in self.silent:
                continue
            result = self.recorded.get((placement, task))
            if result is None and task.kind in self.newer:
                result = parse(task, {"status": "error", "detail": "not in the recording"})
            event = (
                Answered(placement, task, result)
                if result is not None
                else Unobservable(placement, task, "not recorded")
            )
            delay = SLOW_S if task.kind in self.slow else 0.0
            threading.Timer(delay, sink, args=(event,)).start()


def _observe(ctx: CheckContext, session: RecordedSession, deadline_s: float = 30) -> list:
    return observe(
        ctx,
        all_checks(),
        session,
        lambda _: None,
        time.monotonic() + deadline_s,  # type: ignore[arg-type]
    )


def test_later_rounds_start_while_slow_observations_are_under_way(
    topology141, make_ctx: Callable[..., CheckContext]
) -> None:
    # No EXPOSE anywhere: the ports to connect to are known only from the listening sockets,
    # so the connects are a second round, planned from the first round's answers.
    unexposed = dataclasses.replace(
        topology141,
        containers=tuple(
            dataclasses.replace(c, exposed=(), published=()) for c in topology141.containers
        ),
    )
    ctx = make_ctx(unexposed, observations=Observations())
    session = RecordedSession(slow={"reach", "resolve"})
    started = time.monotonic()
    assert _observe(ctx, session) == []
    elapsed = time.monotonic() - started
    assert len(session.dispatches) >= 2, "the recorded stack needs a second round"
    second_round_at = session.dispatches[1][0]
    assert second_round_at < SLOW_S, "round 2 waited for round 1's slow observations"
    assert elapsed < 2 * SLOW_S, "two slow observations in a row: the rounds were serial"


def test_the_stream_observes_what_rounds_observed(
    topology141, make_ctx: Callable[..., CheckContext]
) -> None:
    """Same answers, same findings: streaming changes when things are asked, not what."""
    streamed = make_ctx(topology141, observations=Observations())
    _observe(streamed, RecordedSession(slow={"connect"}))
    recorded = make_ctx(topology141, observations=recorded_observations())
    newer = {pair for pair in streamed.observations.results if pair[1].kind in NEWER_KINDS}
    assert streamed.observations.results.keys() - newer <= recorded.observations.results.keys()
    for check in all_checks():
        assert list(check.evaluate(streamed)) == list(check.evaluate(recorded)), check.id


def test_reads_that_come_last_are_asked_once_everything_else_has_ended(
    topology141, make_ctx: Callable[..., CheckContext]
) -> None:
    """The neighbour tables' closing read counts the overflows of the whole run: it must
    leave after the slowest observation has ended, in a round of its own."""
    ctx = make_ctx(topology141, observations=Observations())
    every_kind = set(FIRST_STEPS)  # an unrecorded task is an error, not a lost placement
    session = RecordedSession(slow={"connect"}, newer=every_kind)
    assert _observe(ctx, session) == []
    at, last = session.dispatches[-1]
    assert [task.describe() for _, task in last] == [
        "read the kernel's neighbour table counters (closing)",
        "read sysctl net/ipv4/neigh/default/gc_thresh3",
        "read sysctl net/ipv6/neigh/default/gc_thresh3",
    ]
    assert at >= SLOW_S, "asked before the slow connects had answered"
    earlier = [task.kind for _, planned in session.dispatches[:-1] for _, task in planned]
    assert "connect" in earlier and earlier.count("neighbour_tables") == 1  # the opening read


def test_a_deadline_ends_the_run_and_says_what_it_cut_short(
    topology141, make_ctx: Callable[..., CheckContext]
) -> None:
    ctx = make_ctx(topology141, observations=Observations())
    started = time.monotonic()
    cut_short = _observe(ctx, RecordedSession(silent={"connect"}), deadline_s=0.3)
    assert time.monotonic() - started < 1.5
    assert cut_short and {task.kind for _, task in cut_short} == {"connect"}


def test_a_fatal_probe_error_ends_the_run(
    topology141, make_ctx: Callable[..., CheckContext]
) -> None:
    class Unusable(RecordedSession):
        def dispatch(self, planned: list[Planned], sink: Sink) -> None:
            sink(Fatal(DiagError("The probe image x is unusable")))

    with pytest.raises(DiagError, match="unusable"):
        _observe(make_ctx(topology141, observations=Observations()), Unusable())
