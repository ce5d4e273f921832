"""What changed between two runs: new, resolved and unchanged findings. Pure, no I/O.

A finding's identity is its check and its subjects. Its summary and evidence are not part
of it: they carry addresses, timings and log lines that differ from one run to the next
although the problem is the same. One run may hold the same identity more than once (the
same check on the same subjects, e.g. for two ports): those are paired up in order, and
only the surplus on either side is new or resolved.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from diag.report.model import SEVERITY_ORDER, ReportDoc

FindingDoc = dict[str, Any]
Identity = tuple[str, tuple[str, ...]]


def identity(finding: FindingDoc) -> Identity:
    return finding["check"], tuple(finding["subjects"])


@dataclass(frozen=True)
class RunInfo:
    """Which run a side of the diff is, for the heading of a rendered diff."""

    kind: str
    names: tuple[str, ...]
    started_at: str

    @classmethod
    def of(cls, doc: ReportDoc) -> RunInfo:
        target = doc["target"]
        return cls(target["kind"], tuple(target["names"]), doc["run"]["started_at"])

    def describe(self) -> str:
        return f"{self.kind} {', '.join(self.names)} at {self.started_at}"


@dataclass(frozen=True)
class FindingsDiff:
    before: RunInfo
    after: RunInfo
    new: list[FindingDoc]  # in AFTER only
    resolved: list[FindingDoc]  # in BEFORE only
    unchanged: list[FindingDoc]  # in both; as AFTER has them

    def to_dict(self) -> dict[str, list[FindingDoc]]:
        return {"new": self.new, "resolved": self.resolved, "unchanged": self.unchanged}

    @property
    def same_target(self) -> bool:
        return (self.before.kind, self.before.names) == (self.after.kind, self.after.names)


def diff(before: ReportDoc, after: ReportDoc) -> FindingsDiff:
    """Compare the findings of two report documents (each in its own, most-severe-first order)."""
    waiting: dict[Identity, deque[FindingDoc]] = defaultdict(deque)
    for finding in before["findings"]:
        waiting[identity(finding)].append(finding)
    new: list[FindingDoc] = []
    unchanged: list[FindingDoc] = []
    for finding in after["findings"]:
        match = waiting.get(identity(finding))
        if match:
            match.popleft()
            unchanged.append(finding)
        else:
            new.append(finding)
    left = {id(f) for queue in waiting.values() for f in queue}
    resolved = [f for f in before["findings"] if id(f) in left]
    return FindingsDiff(RunInfo.of(before), RunInfo.of(after), new, resolved, unchanged)


def severity_counts(findings: Iterable[FindingDoc]) -> dict[str, int]:
    counts = {s.value: 0 for s in SEVERITY_ORDER}
    for finding in findings:
        counts[finding["severity"]] += 1
    return counts
