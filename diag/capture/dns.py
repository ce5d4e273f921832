"""The DNS part of a capture: each query the source sent, its answer, and what they mean.

Seen from the source's namespace. A lookup through Docker's embedded DNS shows twice: the
query to 127.0.0.11 on `lo` (whose port the engine's NAT rules rewrite, hence matching by
id and question, not by port), and, for a name the engine forwards, the embedded DNS's own
query to the upstream on `eth0` (it asks from the container's namespace).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from diag.capture.decode import Seen
from diag.capture.facts import Facts, finding
from diag.model.findings import Finding


@dataclass(frozen=True)
class Exchange:
    name: str
    qtype: str
    server: str
    asked: float
    rcode: str = ""  # "" when no answer came
    addresses: tuple[str, ...] = ()
    latency_ms: float | None = None
    truncated: bool = False
    over_tcp: bool = False

    def describe(self) -> str:
        head = f"{self.name} {self.qtype} to {server_label(self.server)}"
        if not self.rcode:
            return f"{head}: no answer"
        answer = ", ".join(self.addresses) or "no address"
        trunc = " (truncated)" if self.truncated else ""
        return f"{head}: {self.rcode} {answer} in {self.latency_ms:.1f} ms{trunc}"


EMBEDDED_DNS = "127.0.0.11"


def server_label(server: str) -> str:
    return f"{server} (the embedded DNS)" if server == EMBEDDED_DNS else server


def exchanges(packets: Sequence[Seen]) -> list[Exchange]:
    """Queries and their answers, in the order asked (source side only)."""
    asked: dict[tuple[int, str, str, str], Seen] = {}
    answered: dict[tuple[int, str, str, str], Seen] = {}
    for packet in packets:
        if packet.side != "source" or packet.dns is None:
            continue
        server = packet.src if packet.dns.response else packet.dst
        name = packet.dns.name.lower().rstrip(".") or "."
        key = (packet.dns.ident, name, packet.dns.qtype, server)
        if packet.dns.response:
            answered.setdefault(key, packet)
        else:
            asked.setdefault(key, packet)
    found = []
    for key, query in asked.items():
        reply = answered.get(key)
        if reply is None or reply.dns is None:
            found.append(Exchange(key[1], key[2], query.dst, query.time, over_tcp=_tcp(query)))
            continue
        found.append(
            Exchange(
                key[1],
                key[2],
                query.dst,
                query.time,
                reply.dns.rcode,
                reply.dns.addresses,
                round((reply.time - query.time) * 1000, 1),
                reply.dns.truncated,
                _tcp(query),
            )
        )
    return sorted(found, key=lambda exchange: exchange.asked)


def _tcp(packet: Seen) -> bool:
    return packet.proto == "tcp"


def _walk(found: Sequence[Exchange]) -> list[str]:
    """Names asked that extend one first label with different suffixes: a search list."""
    by_label: dict[str, list[str]] = {}
    for exchange in found:
        by_label.setdefault(exchange.name.split(".")[0], []).append(exchange.name)
    walks = [list(dict.fromkeys(names)) for names in by_label.values()]
    return max(walks, key=len) if walks and max(len(w) for w in walks) > 1 else []


def dns_findings(facts: Facts, found: Sequence[Exchange]) -> list[Finding]:
    subjects = facts.subjects()
    evidence = {"dns": list(dict.fromkeys(e.describe() for e in found))[:20]}
    results = []
    failed = [e for e in found if e.rcode == "NXDOMAIN"]
    if failed:
        names = sorted({e.name for e in failed})
        servers = list(dict.fromkeys(e.server for e in failed))
        chain = server_label(servers[0]) + " answered NXDOMAIN"
        if len(servers) > 1 and servers[0] == EMBEDDED_DNS:
            chain += f", after asking {', '.join(servers[1:])} (its upstream), which did too"
        elif len(servers) > 1:
            chain = f"{', '.join(servers)} answered NXDOMAIN"
        results.append(
            finding(
                "capture.dns-nxdomain",
                subjects,
                f"{chain}, for {', '.join(names)}: no server {facts.source} asks knows the name",
                evidence,
                f"Use a name the engine registers on a network {facts.source} shares with the "
                "target (its compose service name, container name or an alias), or add the "
                "record to the DNS server that should hold it.",
            )
        )
    for rcode in ("SERVFAIL", "REFUSED"):
        broken = [e for e in found if e.rcode == rcode]
        if broken:
            results.append(
                finding(
                    "capture.dns-failure",
                    subjects,
                    f"{broken[0].server} answered {rcode} for {broken[0].name}",
                    evidence,
                    "Check the resolvers the source uses (its dns: setting, the host's "
                    "resolv.conf): one of them cannot answer.",
                )
            )
    silent = [e for e in found if not e.rcode]
    if silent:
        results.append(
            finding(
                "capture.dns-timeout",
                subjects,
                f"no answer from {silent[0].server} to {silent[0].name} {silent[0].qtype}",
                evidence,
                "Make the DNS server reachable from the source, or remove it from dns:.",
            )
        )
    truncated = [e for e in found if e.truncated]
    if truncated:
        results.append(
            finding(
                "capture.dns-truncated",
                subjects,
                f"the answer for {truncated[0].name} was truncated (TC): the client must ask "
                "again over TCP",
                evidence,
                "Nothing to fix if the TCP retry works; a client that cannot retry over TCP "
                "sees fewer addresses (the embedded DNS truncates at 512 bytes).",
            )
        )
    walk = _walk(found)
    if walk:
        results.append(
            finding(
                "capture.dns-search-walk",
                subjects,
                f"{len(walk)} names were asked for one lookup: {', '.join(walk)}",
                evidence,
                "Write the name fully qualified (with a trailing dot), or trim the search "
                "list and ndots, so that one query suffices.",
            )
        )
    return results
