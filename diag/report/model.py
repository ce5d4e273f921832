"""The finished run, as every output format receives it (already redacted)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from diag import __version__
from diag.context import Target
from diag.findings import Finding, Severity
from diag.topology import Topology

SEVERITY_ORDER = (Severity.ERROR, Severity.WARNING, Severity.INFO)


@dataclass(frozen=True)
class Inconclusive:
    """Something ddiag tried to observe and could not: never silently a pass."""

    where: str
    reason: str


@dataclass
class Report:
    target: Target
    topology: Topology
    duration_s: float
    checks_run: list[str]
    findings: list[Finding]
    inconclusive: list[Inconclusive] = field(default_factory=list)
    listening: dict[str, list[str]] = field(default_factory=dict)
    probes_started: int = 0

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(finding.severity for finding in self.findings)
        return {severity.value: counted.get(severity, 0) for severity in SEVERITY_ORDER}

    def sorted_findings(self) -> list[Finding]:
        return sorted(
            self.findings, key=lambda f: (-f.severity.rank, f.check, f.subjects, f.summary)
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON report, schema_version 1 (DESIGN.md), plus `inconclusive`."""
        return {
            "schema_version": 1,
            "tool": {"name": "ddiag", "version": __version__},
            "target": {"kind": self.target.kind, "names": list(self.target.names)},
            "engine": {
                "version": self.topology.engine.version,
                "api_version": self.topology.engine.api_version,
            },
            "duration_s": round(self.duration_s, 2),
            "checks_run": list(self.checks_run),
            "findings": [finding.to_dict() for finding in self.sorted_findings()],
            "summary": self.counts,
            "inconclusive": [{"where": i.where, "reason": i.reason} for i in self.inconclusive],
        }
