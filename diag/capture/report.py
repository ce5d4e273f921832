"""The capture's report: one JSON-ready document, redacted once, and its text rendering.

Findings keep the shape of every ddiag finding (check, severity, title, subjects, summary,
evidence, fix). The document, first application bytes included, passes through the same
Redactor as a diagnosis report (diag.report.redact): token shapes, URL credentials,
secret-named pairs and the secret values of the containers' environments are masked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from diag.capture.explain import Explanation
from diag.capture.facts import Facts
from diag.report.redact import Redactor
from diag.report.text import clean

MAX_DNS_LINES = 50  # a passive capture of a busy client asks the same names again and again
SEVERITY_MARK = {"error": "✗", "warning": "!", "info": "·"}


def document(
    facts: Facts,
    explanation: Explanation,
    notes: Iterable[str],
    frames: int,
    pcap: str,
    redactor: Redactor,
) -> dict[str, Any]:
    raw = {
        "command": "capture",
        "source": facts.source,
        "target": f"{facts.target}:{facts.port}",
        "target_container": facts.target_container or None,
        "target_captured": facts.target_captured,
        "passive": facts.passive,
        "dns_lookup": facts.dns_why,
        "frames": frames,
        "pcap": pcap or None,
        "attempts": [
            {
                "number": a.number,
                "client_port": a.client_port,
                "outcome": a.outcome,
                "verdict": a.verdict.check if a.verdict else None,
                "first_bytes": a.first_bytes,
            }
            for a in explanation.attempts
        ],
        "dns": [e.describe() for e in explanation.dns][:MAX_DNS_LINES],
        "findings": [f.to_dict() for f in explanation.findings],
        "notes": list(notes),
        # what the explanation was computed from, with the packets (--pcap): enough to
        # explain the capture again (the unit tests' recordings are these two files)
        "facts": facts.to_dict() | {"attempts": [_without_bytes(a) for a in facts.attempts]},
    }
    names = [facts.source, facts.target, facts.target_container, *facts.subjects()]
    return dict(redactor.sparing(set(names)).value(raw))


def _without_bytes(attempt: Any) -> dict[str, Any]:
    """An attempt without the raw bytes received (base64, which no redaction could read):
    the report shows them once, as `first_bytes`, redacted."""
    return {k: v for k, v in dict(attempt).items() if k != "received"}


def render(doc: dict[str, Any]) -> str:
    """Plain text: the attempts, the DNS exchange, then each finding with its evidence."""
    lines = [f"ddiag capture {doc['source']} → {doc['target']}"]
    where = "both sides" if doc["target_captured"] else "the source only"
    lines.append(f"  {doc['frames']} packets captured ({where})")
    if doc["pcap"]:
        lines.append(f"  pcapng: {doc['pcap']}")
    for attempt in doc["attempts"]:
        verdict = attempt["verdict"] or "no packets"
        what = "connection" if doc["passive"] else "attempt"
        lines.append(f"  {what} {attempt['number']}: {attempt['outcome']} → {verdict}")
        if attempt["first_bytes"]:
            first = attempt["first_bytes"].splitlines()[0][:120]
            lines.append(f"    first bytes back: {first}")
    if doc["dns"]:
        lines.append("  DNS:")
        lines += [f"    {line}" for line in doc["dns"]]
    for finding in doc["findings"]:
        lines.append("")
        mark = SEVERITY_MARK.get(finding["severity"], "")
        lines.append(f"{mark} {finding['severity']}  {finding['check']}: {finding['title']}")
        lines.append(f"  {finding['summary']}")
        for key, value in finding["evidence"].items():
            if isinstance(value, list):
                lines.append(f"  {key}:")
                lines += [f"    {item}" for item in value]
            else:
                lines.append(f"  {key}: {value}")
        if finding["fix"]:
            lines.append(f"  fix: {finding['fix']}")
    for note in doc["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(clean(line) for line in lines) + "\n"
