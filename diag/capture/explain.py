"""The explanation of a capture: a pure function of the facts and the decoded packets.

Per attempt (a connection ddiag made, found by its local port; with --passive, every
connection to the port the capture saw), one verdict (diag.capture.tcp); for the whole
capture, what the DNS exchange shows (diag.capture.dns); and the first bytes the target
sent back, when they are text. The report's redaction applies to all of it afterwards
(diag.capture.report).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from diag.capture.decode import Seen
from diag.capture.dns import Exchange, dns_findings, exchanges
from diag.capture.facts import Facts
from diag.capture.tcp import Flow, flows, verdict
from diag.model.findings import Finding

PRINTABLE = set(range(32, 127)) | {9, 10, 13}


@dataclass(frozen=True)
class Attempt:
    number: int
    client_port: int
    outcome: str  # what the agent said (connect status, how the exchange ended), or "seen"
    verdict: Finding | None
    first_bytes: str = ""  # the target's first bytes, when they are text


@dataclass(frozen=True)
class Explanation:
    attempts: tuple[Attempt, ...]
    dns: tuple[Exchange, ...]
    findings: tuple[Finding, ...] = field(default=())


def text_of(data: bytes) -> str:
    """`data` as text when it is (an HTTP status line, a Redis error); else ""."""
    if not data or sum(b in PRINTABLE for b in data) < 0.9 * len(data):
        return ""
    return data.decode("ascii", "replace")


def _first_bytes(attempt: dict[str, Any] | None, flow: Flow | None) -> str:
    if attempt and attempt.get("received"):
        return text_of(base64.b64decode(str(attempt["received"]))[:256])
    if flow is not None:
        data = b"".join(p.payload for p in flow.to_client("source") if p.payload)
        return text_of(data[:256])
    return ""


def _outcome(attempt: dict[str, Any]) -> str:
    parts = [f"connect {attempt.get('connect', '?')}"]
    if attempt.get("address"):
        parts[0] += f" ({attempt['address']})"
    if attempt.get("end"):
        parts.append(
            f"{attempt.get('sent', 0)} bytes sent, {attempt.get('received_bytes', 0)} "
            f"received, then {attempt['end']}"
        )
    return "; ".join(parts)


def _no_address(facts: Facts, attempt: dict[str, Any]) -> str:
    """Why an attempt had nothing to connect to, from what its lookup found."""
    lookup = attempt.get("lookup") or {}
    resolved = lookup.get("resolve") or {}
    if resolved.get("status") and resolved["status"] != "ok":
        return f"{facts.target} did not resolve ({resolved.get('rcode') or resolved['status']})"
    if attempt.get("addresses"):
        return f"{', '.join(attempt['addresses'])} is outside the engine's networks"
    if not resolved:
        return f"{facts.target} is not in /etc/hosts and DNS was not asked ({facts.dns_why})"
    return f"{facts.target} has no address"


def explain(facts: Facts, packets: Sequence[Seen]) -> Explanation:
    by_client = flows(packets, facts.port)
    attempts: list[Attempt] = []
    chosen: list[tuple[dict[str, Any] | None, Flow | None]]
    if facts.passive:
        chosen = [(None, flow) for flow in sorted(by_client.values(), key=Flow.start)]
    else:
        chosen = [(dict(a), by_client.get(int(a.get("local_port") or 0))) for a in facts.attempts]
    for number, (attempt, flow) in enumerate(chosen, 1):
        found = verdict(facts, flow, packets) if flow is not None else None
        outcome = _outcome(attempt) if attempt is not None else "a connection the capture saw"
        if attempt is not None and flow is None and attempt.get("connect") == "not tried":
            outcome = f"not tried: {_no_address(facts, attempt)}"
        attempts.append(
            Attempt(
                number,
                flow.client_port if flow else int((attempt or {}).get("local_port") or 0),
                outcome,
                found,
                _first_bytes(attempt, flow),
            )
        )
    asked = exchanges(packets)
    findings = [a.verdict for a in attempts if a.verdict is not None]
    findings += dns_findings(facts, asked)
    return Explanation(tuple(attempts), tuple(asked), tuple(_unique(findings)))


def _unique(findings: list[Finding]) -> list[Finding]:
    """One finding per rule: several attempts that failed alike say it once (the report's
    attempts list each one's verdict)."""
    seen: dict[str, Finding] = {}
    for found in findings:
        seen.setdefault(found.check, found)
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(seen.values(), key=lambda f: order[f.severity.value])
