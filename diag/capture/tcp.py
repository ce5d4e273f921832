"""The TCP part of a capture: one connection (a client port) as each side saw it, and why
it failed or what it carried.

The two views are what make a verdict: a SYN the source sent and the target's namespace
never received was dropped on the way; one the target received and never answered was
dropped inside it (its own firewall, a full accept queue: an AF_PACKET socket sees a frame
before netfilter's INPUT chain does); a SYN-ACK the target sent that never reached the
source was lost on the way back. Without the target's view (not a container) the
verdict says only what the source saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from diag.capture.decode import Seen
from diag.capture.facts import Facts, finding
from diag.model.findings import Finding

LOOPBACK = ("127.", "::1")
ICMP_UNREACHABLE, ICMP_FRAG_NEEDED = 3, 4
UNREACHABLE_CODES = {
    0: "network unreachable",
    1: "host unreachable (no ARP answer: nothing holds the address)",
    2: "protocol unreachable",
    3: "port unreachable",
    9: "network administratively prohibited",
    10: "host administratively prohibited",
    13: "communication administratively prohibited (a firewall REJECT rule)",
}


@dataclass(frozen=True)
class Flow:
    """The packets of one connection to the port, from client port `client_port`."""

    port: int
    client_port: int
    packets: tuple[Seen, ...]

    def to_server(self, side: str) -> list[Seen]:
        return [p for p in self.packets if p.side == side and p.dport == self.port]

    def to_client(self, side: str) -> list[Seen]:
        return [p for p in self.packets if p.side == side and p.sport == self.port]

    def syns(self, side: str) -> list[Seen]:
        return [p for p in self.to_server(side) if "S" in p.flags and "A" not in p.flags]

    def synacks(self, side: str) -> list[Seen]:
        return [p for p in self.to_client(side) if "S" in p.flags and "A" in p.flags]

    def resets(self, side: str) -> list[Seen]:
        return [p for p in self.to_client(side) if "R" in p.flags]

    def start(self) -> float:
        return self.packets[0].time if self.packets else 0.0


def flows(packets: Sequence[Seen], port: int) -> dict[int, Flow]:
    """TCP packets to or from `port`, by client port."""
    by_client: dict[int, list[Seen]] = {}
    for packet in packets:
        if packet.proto != "tcp":
            continue
        if packet.dport == port:
            by_client.setdefault(packet.sport, []).append(packet)
        elif packet.sport == port:
            by_client.setdefault(packet.dport, []).append(packet)
    return {client: Flow(port, client, tuple(found)) for client, found in by_client.items()}


def icmp_about(packets: Sequence[Seen], flow: Flow) -> list[Seen]:
    """ICMP errors the source received about this connection's packets."""
    return [
        p
        for p in packets
        if p.proto == "icmp"
        and p.side == "source"
        and p.inner is not None
        and p.inner[2:] == (flow.client_port, flow.port)
    ]


def timeline(flow: Flow, extra: Sequence[Seen] = ()) -> list[str]:
    """The connection's packets as evidence lines: time from its first, side, what."""
    start = flow.start()
    lines = []
    for p in sorted([*flow.packets, *extra], key=lambda p: p.time)[:40]:
        what = f"ICMP {p.icmp_type}/{p.icmp_code} from {p.src}" if p.proto == "icmp" else p.flags
        size = f" {p.payload_len} bytes" if p.payload_len else ""
        lines.append(
            f"+{(p.time - start) * 1000:8.1f} ms  {p.side}:{p.interface}  "
            f"{p.src}:{p.sport} > {p.dst}:{p.dport}  {what}{size}"
        )
    return lines


def _gaps(packets: Sequence[Seen]) -> str:
    if len(packets) < 2:
        return "sent once"
    start = packets[0].time
    at = ", ".join(f"{(p.time - start):.1f}" for p in packets)
    return f"sent {len(packets)} times, at {at} s"


def _listening_on(facts: Facts) -> list[str]:
    return [a for a, port in facts.listeners or () if port == facts.port]


def _reset(facts: Facts, flow: Flow, evidence: dict[str, object]) -> Finding:
    subjects, target = facts.subjects(), facts.target_label
    from_target = bool(flow.resets("target"))
    if facts.target_captured and flow.syns("target") == [] and not from_target:
        return finding(
            "capture.reset-on-the-way",
            subjects,
            f"{facts.source} got a reset, but the SYN never reached {target}: something "
            "between them refused it (a firewall REJECT --reject-with tcp-reset)",
            evidence,
            "Find the rule that rejects the port on the way (the host's DOCKER-USER chain, "
            "a firewall between the networks) and allow the connection.",
        )
    listening = _listening_on(facts)
    if listening and all(a.startswith(LOOPBACK) for a in listening):
        return finding(
            "capture.loopback-only",
            subjects,
            f"{target} received the SYN and reset it: port {facts.port} listens only on "
            f"{', '.join(listening)}, which other containers cannot reach",
            evidence | {"listening": listening},
            f"Make the server in {target} listen on 0.0.0.0:{facts.port} (or ::), e.g. "
            "--host 0.0.0.0 or bind = 0.0.0.0.",
        )
    detail = "nothing listens on the port"
    if listening:
        detail = (
            f"a socket listens on {', '.join(listening)} but the kernel still reset the "
            "SYN: it is bound to another interface (SO_BINDTODEVICE) or address"
        )
    elif facts.listeners is None:
        detail = "nothing accepted the connection (the listening sockets were not read)"
    return finding(
        "capture.refused",
        subjects,
        f"{target} answered the SYN to port {facts.port} with a reset: {detail}",
        evidence | ({"listening": listening} if listening else {}),
        f"Start the server in {target} on port {facts.port}, on all its addresses, or "
        "point the client at the port it really uses.",
    )


def _hop(facts: Facts) -> tuple[str, str]:
    """Where a packet lost between the two namespaces died, as far as the topology tells,
    and what to look at there."""
    if facts.shared_networks:
        names = ", ".join(facts.shared_networks)
        return (
            f"the bridge of {names}, on the Docker host, between them (its firewall: "
            "DOCKER-USER, FORWARD)",
            "Look for a DROP in the host's DOCKER-USER and FORWARD chains for this port "
            "(`ddiag compose` reads them), or an inter-container rule (enable_icc=false).",
        )
    if facts.shared_networks is not None:
        return (
            f"{facts.source} and {facts.target_label} share no network, so the SYN went "
            "through a gateway or router, which",
            "Follow the route from the source to the target (`ip route` in both) and find "
            "the rule on that router or gateway that drops the port.",
        )
    return (
        "something between them (the host's firewall, a router)",
        "Check the host's iptables FORWARD and DOCKER-USER chains and the routes between "
        "the two networks.",
    )


def _silence(facts: Facts, flow: Flow, evidence: dict[str, object]) -> Finding:
    subjects, target = facts.subjects(), facts.target_label
    syns = flow.syns("source")
    timing = _gaps(syns)
    if not facts.target_captured:
        return finding(
            "capture.no-answer",
            subjects,
            f"{facts.source}'s SYN to {target}:{facts.port} got no answer ({timing}): "
            "dropped on the way or at the target",
            evidence,
            "Look for a DROP rule on the way (the host's DOCKER-USER chain, a firewall) or "
            "at the target, and for a target that is down.",
        )
    if not flow.syns("target"):
        hop, fix = _hop(facts)
        return finding(
            "capture.dropped-on-the-way",
            subjects,
            f"{facts.source} sent the SYN ({timing}) and {target}'s namespace never "
            f"received it: {hop} dropped it",
            evidence | {"shared_networks": list(facts.shared_networks or ())},
            fix,
        )
    if not flow.synacks("target"):
        return finding(
            "capture.dropped-in-target",
            subjects,
            f"{target} received the SYN ({_gaps(flow.syns('target'))}) and sent nothing "
            "back: it was dropped inside its namespace (a firewall rule in the container, "
            "or a full accept queue)",
            evidence,
            f"Look at the firewall inside {target} (`iptables -S INPUT` there) and at a "
            "server that stopped accepting.",
        )
    return finding(
        "capture.synack-lost",
        subjects,
        f"{target} answered with a SYN-ACK ({_gaps(flow.synacks('target'))}) that never "
        f"reached {facts.source}: lost on the way back (an asymmetric route, a wrong "
        "gateway, rp_filter)",
        evidence,
        f"Check the routes of {target} back to {facts.source} and rp_filter on the way.",
    )


def _icmp(facts: Facts, errors: list[Seen], evidence: dict[str, object]) -> Finding | None:
    for error in errors:
        if error.icmp_type == ICMP_UNREACHABLE and error.icmp_code == ICMP_FRAG_NEEDED:
            return finding(
                "capture.frag-needed",
                facts.subjects(),
                f"{error.src} answered a packet with 'fragmentation needed' (next hop MTU "
                f"{error.next_hop_mtu}): the path is narrower than the interfaces",
                evidence,
                "Give both networks the same MTU (compose driver_opts "
                "com.docker.network.driver.mtu), or clamp the TCP MSS on the router.",
            )
        if error.icmp_type == ICMP_UNREACHABLE:
            why = UNREACHABLE_CODES.get(error.icmp_code, f"code {error.icmp_code}")
            return finding(
                "capture.icmp-unreachable",
                facts.subjects(),
                f"{error.src} answered with ICMP destination unreachable: {why}",
                evidence,
                "Fix what the ICMP names: the address (a stopped or moved target), the "
                "route, or the rule that rejects the connection.",
            )
    return None


def _segments(flow: Flow, side: str, to_server: bool) -> dict[int, list[Seen]]:
    """Data segments one side sent, by sequence number (retransmissions share one)."""
    found: dict[int, list[Seen]] = {}
    packets = flow.to_server(side) if to_server else flow.to_client(side)
    for packet in packets:
        if packet.payload_len and "S" not in packet.flags:
            found.setdefault(packet.seq, []).append(packet)
    return found


def _acked(flow: Flow, side: str, to_server: bool) -> int:
    """The highest acknowledgment the other end sent back, as `side` saw it."""
    packets = flow.to_client(side) if to_server else flow.to_server(side)
    return max((p.ack for p in packets if "A" in p.flags), default=0)


def _black_hole(facts: Facts, flow: Flow, evidence: dict[str, object]) -> Finding | None:
    """Large segments sent again and again and never acknowledged, while smaller packets
    got through (acknowledged, or seen arriving on the other side)."""
    for sender, to_server in (("source", True), ("target", False)):
        segments = _segments(flow, sender, to_server)
        acked = _acked(flow, sender, to_server)
        lost = [s for seq, s in segments.items() if not _before(seq, acked) and len(s) > 1]
        if not lost:
            continue
        smallest_lost = min(p.size for group in lost for p in group)
        receiver = "target" if sender == "source" else "source"
        arrived = [
            p.size for p in (flow.to_server(receiver) if to_server else flow.to_client(receiver))
        ]
        delivered = [s[0].size for seq, s in segments.items() if _before(seq, acked)]
        through = max([*arrived, *delivered], default=0)
        if through >= smallest_lost or not through:
            continue  # packets as large got through, or nothing did: not a size problem
        who = facts.source if sender == "source" else facts.target_label
        return finding(
            "capture.mtu-black-hole",
            facts.subjects(),
            f"{who} sent a {smallest_lost}-byte packet ({_gaps(lost[0])}) and it was never "
            f"acknowledged, while packets up to {through} bytes got through; no ICMP "
            f"'fragmentation needed' reached {who}: a hop with a smaller MTU drops them, "
            "and its ICMP error is lost or filtered",
            evidence | {"largest_through": through, "lost_size": smallest_lost},
            "Make the MTU equal along the path (compose driver_opts "
            "com.docker.network.driver.mtu on every network, or the interface's MTU), or "
            "clamp the TCP MSS on the hop; and let ICMP 'fragmentation needed' through.",
        )
    return None


def _before(seq: int, acked: int) -> bool:
    return acked != 0 and ((acked - seq) % 2**32) < 2**31 and acked != seq


def _after_setup(facts: Facts, flow: Flow, evidence: dict[str, object]) -> Finding | None:
    resets = flow.resets("source")
    if resets:
        sent = sum(s[0].payload_len for s in _segments(flow, "source", True).values())
        received = sum(s[0].payload_len for s in _segments(flow, "source", False).values())
        by_target = bool(flow.resets("target"))
        origin = facts.target_label if by_target or not facts.target_captured else "the path"
        return finding(
            "capture.reset-mid-stream",
            facts.subjects(),
            f"the connection was set up, then reset by {origin} after {sent} bytes sent "
            f"and {received} bytes received",
            evidence | {"bytes_sent": sent, "bytes_received": received},
            f"Read {facts.target_label}'s logs at that moment: a server that aborts a "
            "connection (a crash, a protocol error, a proxy's idle or size limit) resets it.",
        )
    return None


def _retransmitted(flow: Flow) -> int:
    return sum(
        len(s) - 1
        for to_server in (True, False)
        for s in _segments(flow, "source" if to_server else "target", to_server).values()
    )


def verdict(facts: Facts, flow: Flow, packets: Sequence[Seen]) -> Finding:
    """The one finding that explains this connection."""
    errors = icmp_about(packets, flow)
    evidence: dict[str, object] = {
        "client_port": flow.client_port,
        "packets": timeline(flow, errors),
    }
    explained = _icmp(facts, errors, evidence) if not flow.synacks("source") else None
    if explained is not None:
        return explained
    if not flow.syns("source") and not facts.passive:
        return finding(
            "capture.no-syn",
            facts.subjects(),
            f"no SYN from {facts.source} was captured for this attempt",
            evidence,
            "See the attempt's connect error: the source had no route, or its own firewall "
            "rejected the packet before it left.",
        )
    # a connection already set up when a passive capture began shows no handshake at all:
    # only what it carried can be judged
    opened_before = facts.passive and not flow.syns("source") and not flow.syns("target")
    if not flow.synacks("source") and not opened_before:
        if flow.resets("source"):
            return _reset(facts, flow, evidence)
        return _silence(facts, flow, evidence)
    for check in (_black_hole, _after_setup):
        found = check(facts, flow, evidence)
        if found is not None:
            return found
    frag = _icmp(facts, errors, evidence)
    if frag is not None:
        return frag
    again = _retransmitted(flow)
    if again:
        return finding(
            "capture.retransmissions",
            facts.subjects(),
            f"the connection worked, but {again} segment(s) had to be sent again",
            evidence,
            "Look for loss on the way: a congested or flapping link, an overloaded host.",
        )
    return finding(
        "capture.connected",
        facts.subjects(),
        f"{facts.source} connected to {facts.target_label}:{facts.port}",
        evidence,
        "",
    )
