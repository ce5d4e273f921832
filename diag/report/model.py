"""The finished run, and its document: the JSON that every output format renders.

Formats render the *document* (`Report.to_dict()`), never live objects, so that a saved
JSON report (`ddiag report RUN.json --format markdown`) renders exactly like the run did,
and so that redaction happens once, on the whole document, before any format sees it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from diag import __version__
from diag.model.context import Target
from diag.model.edges import EdgeStatus
from diag.model.findings import Finding, Severity
from diag.model.topology import Container, Endpoint, Network, Topology
from diag.report.redact import Redactor
from diag.report.shown_names import topology_names

SEVERITY_ORDER = (Severity.ERROR, Severity.WARNING, Severity.INFO)
SCHEMA_VERSION = 1
TOOL_NAME = "ddiag"
ReportDoc = dict[str, Any]


@dataclass(frozen=True)
class Inconclusive:
    """Something ddiag tried to observe and could not: never silently a pass."""

    where: str
    reason: str


@dataclass(frozen=True)
class EdgeOutcome:
    """A dependency edge and its fate: `check` names what broke it (None: nothing does),
    `status` says whether it works, fails or could not be checked (`reason`: why not).
    `port` is the one it was tried on; `port_inferred` says how, when none is configured.
    Without a status, it follows from `observed` and `check` (`edge_status`)."""

    source: str
    target: str
    port: int | None
    origins: tuple[str, ...]
    observed: bool
    check: str | None
    status: EdgeStatus | None = None
    reason: str = ""
    port_inferred: str = ""
    to_host: bool = False  # the target is the engine's host (diag/model/edges.py, "The host")

    def to_dict(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "source": self.source,
            "target": self.target,
            "port": self.port,
            "origins": list(self.origins),
            "observed": self.observed,
            "check": self.check,
        }
        status, reason = edge_status({**item, "status": self.status, "reason": self.reason})
        return {
            **item,
            "status": status,
            "reason": reason or None,
            "port_inferred": self.port_inferred or None,
            "to_host": self.to_host,
        }


def edge_status(edge: Mapping[str, Any]) -> tuple[EdgeStatus, str]:
    """An edge item's status and reason (every format shows them). A report written before
    edges had a status says only whether the source ran and which check explains a
    failure: its edges are read as those reports listed them."""
    if edge.get("status"):
        return edge["status"], edge.get("reason") or ""
    if not edge.get("observed", True):
        return "not checked", "source not running"
    return ("failed", "") if edge.get("check") else ("ok", "")


def unjudged_edges(doc: Mapping[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """The edges no finding speaks for, with why: not checked, or failing while no check
    names the cause (the formats that list only findings add these: junit, sarif)."""
    found = []
    for edge in doc.get("edges") or []:
        status, reason = edge_status(edge)
        if status == "not checked":
            found.append((edge, f"not checked: {reason}"))
        elif status == "failed" and not edge.get("check"):
            found.append((edge, "fails, and no check names the cause"))
    return found


def host_note(edge: Mapping[str, Any]) -> str:
    """What every format adds after an edge to the engine's host: its target
    (`10.213.246.17`, a gateway) rarely says so itself."""
    return " (the Docker host)" if edge.get("to_host") else ""


def edge_name(edge: Mapping[str, Any]) -> str:
    """`web → db:3306`, as every format names an edge item."""
    port = f":{edge['port']}" if edge.get("port") else ""
    return f"{edge['source']} → {edge['target']}{port}{host_note(edge)}"


def edge_origins(edge: Mapping[str, Any]) -> str:
    """Where an edge item comes from, and where its port does when no value configures it."""
    origins = ", ".join(edge.get("origins") or [])
    inferred = edge.get("port_inferred")
    return origins + (f"; port {edge['port']}: {inferred}" if inferred else "")


@dataclass
class Report:
    target: Target
    topology: Topology
    started_at: datetime
    duration_s: float
    checks_run: list[str]
    findings: list[Finding]
    inconclusive: list[Inconclusive] = field(default_factory=list)
    listening: dict[str, list[str]] = field(default_factory=dict)
    edges: list[EdgeOutcome] = field(default_factory=list)
    probes_started: int = 0
    probe_memory_peak: int | None = None  # bytes, the largest of any probe's cgroup peak
    probe_mode: str = "shared"  # as run: "isolated" when the engine refused the shared probe
    deadline_reached: bool = False
    unobserved_places: int = 0  # placements no probe could observe (not in the JSON: see CLI)
    redactor: Redactor = field(default_factory=Redactor)
    matrix: list[Any] | None = None  # diag.checks._matrix.Cell, with --matrix
    netns: list[dict[str, Any]] = field(default_factory=list)  # diag.checks._netview.view
    egress: tuple[str, ...] = ()  # --egress HOST:PORT as given (diag.model.egress): opt-in only
    egress_dns: tuple[str, ...] = ()  # --egress-dns NAME

    def sorted_findings(self) -> list[Finding]:
        return sorted(
            self.findings, key=lambda f: (-f.severity.rank, f.check, f.subjects, f.summary)
        )

    def _member(self, container: Container, endpoint: Endpoint) -> dict[str, Any]:
        return {
            "container": container.name,
            "service": container.service,
            "ip": endpoint.ip or None,
            "status": container.status,
            "dns_names": [n for n in endpoint.dns_names if n != container.short_id],
            "exposed": [f"{port}/{proto}" for port, proto in container.exposed],
            "published": [
                f"{b.host_ip or '0.0.0.0'}:{b.host_port}->{b.container_port}/{b.proto}"
                for b in container.published
            ],
            "listening": self.listening.get(container.id),
        }

    def _network(self, network: Network) -> dict[str, Any]:
        return {
            "name": network.name,
            "driver": network.driver,
            "subnets": [s.subnet for s in network.subnets],
            "internal": network.internal,
            "default_bridge": network.is_default_bridge,
            "members": [self._member(c, e) for c, e in self.topology.members(network)],
        }

    def to_dict(self) -> ReportDoc:
        """The JSON report, schema_version 1 (ARCHITECTURE.md), with `inconclusive`, `run`,
        `topology` and `edges` (see README, "JSON report"); redacted."""
        findings = [finding.to_dict() for finding in self.sorted_findings()]
        counted = Counter(finding["severity"] for finding in findings)
        project, focus = self.target.project, self.target.focus
        doc: ReportDoc = {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": TOOL_NAME, "version": __version__},
            "target": {
                "kind": self.target.kind,
                "names": list(self.target.names),
                "config_files": list(project.config_files) if project else [],
                # only when the command named services (an addition: optional in the schema)
                **({"services": list(focus.services)} if focus else {}),
            },
            "engine": {
                "version": self.topology.engine.version,
                "api_version": self.topology.engine.api_version,
            },
            "duration_s": round(self.duration_s, 2),
            "checks_run": list(self.checks_run),
            "findings": findings,
            "summary": {s.value: counted.get(s.value, 0) for s in SEVERITY_ORDER},
            "inconclusive": [{"where": i.where, "reason": i.reason} for i in self.inconclusive],
            "run": {
                "started_at": self.started_at.isoformat(timespec="seconds"),
                "probes_started": self.probes_started,
                "probe_mode": self.probe_mode,
                "probe_memory_peak_bytes": self.probe_memory_peak,
                "deadline_reached": self.deadline_reached,
            },
            "topology": {
                "networks": [self._network(n) for n in self.target.networks],
                "netns": self.netns,
            },
            "edges": [edge.to_dict() for edge in self.edges],
        }
        if self.egress or self.egress_dns:  # what was asked of the outside, even if it passed
            doc["run"].update(egress=list(self.egress), egress_dns=list(self.egress_dns))
        if self.matrix is not None:
            doc["matrix"] = [
                {
                    "from": c.source,
                    "to": c.target,
                    "port": c.port,
                    "reachable": c.reachable,
                    "detail": c.detail,
                }
                for c in self.matrix
            ]
        return self.redactor.sparing(self.shown_names()).value(doc)

    def shown_names(self) -> set[str]:
        """What redaction spares (`diag/report/redact.py`): the topology's names, and
        ddiag's own words that a password could equal (the tool's name, the target's kind,
        the probe mode, check ids, titles, severities), which the schema holds to."""
        vocabulary = {TOOL_NAME, self.target.kind, self.probe_mode, *self.checks_run}
        vocabulary |= {severity.value for severity in Severity}
        vocabulary |= {word for f in self.findings for word in (f.check, f.title)}
        return topology_names(self.topology, self.target) | vocabulary
