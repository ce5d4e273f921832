"""What the explanation knows besides the packets: who the sides are, what was attempted.

Built from the plan and the probe's answers for a live capture (diag.capture.run), or read
from the JSON saved next to a recorded pcapng (the unit tests): the explanation
(diag.capture.explain) is a pure function of these facts and the decoded packets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from diag.model.findings import Finding, Severity


@dataclass(frozen=True)
class Facts:
    source: str  # the source container's name
    target: str  # the target as written (a name or an address)
    port: int
    source_subjects: tuple[str, ...] = ()
    target_container: str = ""  # the container the target designates, if any
    target_subjects: tuple[str, ...] = ()
    target_captured: bool = False  # whether packets were captured in its namespace too
    listeners: tuple[tuple[str, int], ...] | None = None  # the target's, when read
    shared_networks: tuple[str, ...] | None = None  # both sides' networks (None: unknown)
    passive: bool = False
    dns_why: str = ""
    attempts: tuple[Mapping[str, Any], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Facts:
        listeners = raw.get("listeners")
        shared = raw.get("shared_networks")
        return cls(
            source=raw["source"],
            target=raw["target"],
            port=int(raw["port"]),
            source_subjects=tuple(raw.get("source_subjects") or ()),
            target_container=raw.get("target_container") or "",
            target_subjects=tuple(raw.get("target_subjects") or ()),
            target_captured=bool(raw.get("target_captured")),
            listeners=None if listeners is None else tuple((a, int(p)) for a, p in listeners),
            shared_networks=None if shared is None else tuple(shared),
            passive=bool(raw.get("passive")),
            dns_why=raw.get("dns_why") or "",
            attempts=tuple(raw.get("attempts") or ()),
        )

    @property
    def target_label(self) -> str:
        return self.target_container or self.target

    def subjects(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.source_subjects, *self.target_subjects]))


# id → (severity, title): the capture's own findings, in the report's finding shape
RULES: dict[str, tuple[Severity, str]] = {
    "capture.connected": (Severity.INFO, "The connection worked"),
    "capture.refused": (Severity.ERROR, "The SYN was answered with a reset: nothing listens"),
    "capture.loopback-only": (Severity.ERROR, "Reset: the target listens on loopback only"),
    "capture.reset-on-the-way": (Severity.ERROR, "Reset by something between the two sides"),
    "capture.dropped-on-the-way": (Severity.ERROR, "The SYN never reached the target"),
    "capture.dropped-in-target": (Severity.ERROR, "The target received the SYN and never answered"),
    "capture.synack-lost": (Severity.ERROR, "The SYN-ACK was lost on the way back"),
    "capture.no-answer": (Severity.ERROR, "The SYN got no answer"),
    "capture.icmp-unreachable": (Severity.ERROR, "An ICMP error answered the connection"),
    "capture.frag-needed": (Severity.WARNING, "Fragmentation needed on the path"),
    "capture.mtu-black-hole": (Severity.ERROR, "Large packets vanish: an MTU black hole"),
    "capture.reset-mid-stream": (Severity.ERROR, "The connection was reset after it was set up"),
    "capture.retransmissions": (Severity.WARNING, "Segments had to be sent again"),
    "capture.no-syn": (Severity.ERROR, "No SYN left the source"),
    "capture.dns-nxdomain": (Severity.ERROR, "The name does not exist (NXDOMAIN)"),
    "capture.dns-failure": (Severity.ERROR, "The DNS server failed to answer the name"),
    "capture.dns-timeout": (Severity.ERROR, "A DNS query got no answer"),
    "capture.dns-truncated": (Severity.INFO, "A DNS answer was truncated"),
    "capture.dns-search-walk": (Severity.INFO, "The resolver walked its search domains"),
    "capture.incomplete": (Severity.WARNING, "The capture is incomplete"),
}


def finding(
    rule: str, subjects: tuple[str, ...], summary: str, evidence: Mapping[str, Any], fix: str
) -> Finding:
    severity, title = RULES[rule]
    return Finding(rule, severity, title, subjects, summary, dict(evidence), fix)
