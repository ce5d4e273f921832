"""`--wait SECONDS`: diagnose again until the target is ready, or until the time is up.

Right after `docker compose up -d` a stack is started, not ready: a server still loading
refuses connections, and a run then reports it as broken. With --wait, a run that is not
ready (`Outcome.ready()`: a finding at or above --fail-on, or something left unobserved;
the run would not exit 0) is followed by another after `--wait-interval` seconds, as long
as that one can start before --wait seconds have passed since the first began. The report
and the exit code are the last run's; ddiag may end later than --wait by one run's length.
A stack that is ready costs one run: the first one passes and nothing waits.

Between runs the caller is told what is still failing (the findings' checks and subjects),
so that a long wait in a CI log says what it waits for. What a run reuses from the one
before it is the `Diagnosis`'s business (diag.run.diagnosis: the engine connection, the
probe image check, the compose model; never the probes). Bad input and an engine that
goes away end the wait at once: they raise DiagError, which waiting cannot mend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from diag.run.diagnosis import Outcome
from diag.run.runner import Progress

SHOWN = 4  # failing findings named between runs; the rest are counted
SUBJECTS = 2  # the first subjects of each (compose services come first)
DEFAULT_INTERVAL_S = 2.0


@dataclass(frozen=True)
class Wait:
    seconds: float = 0.0  # 0: one run, whatever it finds
    interval: float = DEFAULT_INTERVAL_S


class Runs(Protocol):
    """What is run again: `Diagnosis`, or a test's stand-in."""

    def run(self, progress: Progress) -> Outcome: ...


def _named(finding: Mapping[str, Any]) -> str:
    """`port.refused (api, web, …)`: the check and its first subjects."""
    subjects = list(finding["subjects"])
    shown = subjects[:SUBJECTS] + (["…"] if len(subjects) > SUBJECTS else [])
    return f"{finding['check']} ({', '.join(shown)})"


def still_failing(outcome: Outcome) -> str:
    """What keeps a run from being ready, in one line: `port.refused (api, web, …)`, ...,
    and why it is incomplete if it is."""
    found: Sequence[Mapping[str, Any]] = outcome.failing()
    named = [_named(finding) for finding in found[:SHOWN]]
    if len(found) > SHOWN:
        named.append(f"{len(found) - SHOWN} more")
    incomplete = outcome.incompleteness()
    return "; ".join(filter(None, [", ".join(named), incomplete]))


def until_ready(
    diagnosis: Runs,
    wait: Wait,
    progress: Progress,
    tell: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Run `diagnosis` until a run is ready or the next could not start within
    `wait.seconds`; the last run's outcome. `tell`: a line for the user between runs."""
    started = clock()
    attempt = 1
    while True:
        outcome = diagnosis.run(progress)
        elapsed = clock() - started
        if outcome.ready():
            if attempt > 1:
                tell(f"ready at attempt {attempt}, after {elapsed:.1f} s")
            return outcome
        if elapsed + wait.interval >= wait.seconds:
            if wait.seconds > 0:
                tell(
                    f"not ready after {attempt} attempt(s) in {elapsed:.1f} s (--wait "
                    f"{wait.seconds:g}); the report is the last attempt's"
                )
            return outcome
        tell(
            f"not ready (attempt {attempt}, {elapsed:.1f} s of {wait.seconds:g}): "
            f"{still_failing(outcome)}; again in {wait.interval:g} s"
        )
        progress(f"Waiting {wait.interval:g} s before attempt {attempt + 1}")
        sleep(wait.interval)
        attempt += 1
