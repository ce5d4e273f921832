"""Findings: what a check concluded, with the evidence and the fix that make it useful."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Severity(str, enum.Enum):
    """`error`: connectivity is broken; `warning`: likely broken or fragile; `info`: notable."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "info": 1}[self.value]


FAIL_ON = ("error", "warning", "info", "never")
DEFAULT_FAIL_ON = "error"


def failing(findings: Iterable[Mapping[str, Any]], fail_on: str) -> list[Mapping[str, Any]]:
    """The findings (as report dicts) at or above `fail_on`; `never`: none is."""
    if fail_on == "never":
        return []
    threshold = Severity(fail_on).rank
    return [f for f in findings if Severity(f["severity"]).rank >= threshold]


def reaches(findings: Iterable[Mapping[str, Any]], fail_on: str) -> bool:
    """Whether any finding (as a report dict) is at or above `fail_on`."""
    return bool(failing(findings, fail_on))


@dataclass(frozen=True)
class Result:
    """What a check's `evaluate()` yields; the registry adds the check's id, title, severity."""

    subjects: tuple[str, ...]
    summary: str
    evidence: Mapping[str, Any]
    fix: str
    severity: Severity | None = None


@dataclass(frozen=True)
class Finding:
    check: str
    severity: Severity
    title: str
    subjects: tuple[str, ...]
    summary: str
    evidence: Mapping[str, Any] = field(hash=False)
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity.value,
            "title": self.title,
            "subjects": list(self.subjects),
            "summary": self.summary,
            "evidence": dict(self.evidence),
            "fix": self.fix,
        }


def subjects(*groups: Any) -> tuple[str, ...]:
    """Flatten names into a finding's `subjects` (ARCHITECTURE.md, "JSON report stability"),
    without blanks or repeats."""
    flat: list[str] = []
    for group in groups:
        items = [group] if isinstance(group, str) else list(group or ())
        flat.extend(str(item) for item in items if item)
    return tuple(dict.fromkeys(flat))
