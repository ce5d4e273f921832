"""Frames to `Seen` records, with scapy: the one place `ddiag capture` parses packets.

scapy is imported here and only here, when `ddiag capture` runs (its ~1 s import and tens
of MB stay out of every other command, and out of the probe: diag.agent.packets). What the
explanation needs of each packet is copied into a small frozen record, so that
diag.capture.explain is a pure function of plain values, testable without scapy's types.
The same records come from a live capture and from a pcapng file ddiag wrote (its
interface names say which side saw each packet: diag.capture.pcap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diag.capture.pcap import ethernet, split_interface
from diag.model.observations import Frame

PACKET_OUTGOING = 4


@dataclass(frozen=True)
class Dns:
    """A DNS message: the question, and for an answer its code, addresses and TC bit."""

    ident: int
    response: bool
    name: str
    qtype: str
    rcode: str = ""
    addresses: tuple[str, ...] = ()
    truncated: bool = False


@dataclass(frozen=True)
class Seen:
    """One IPv4 packet (or ARP frame) as one side saw it. `sent`: it left that side's
    namespace (else it arrived there). `size`: the IP packet's length on the wire."""

    time: float
    side: str
    interface: str
    sent: bool
    proto: str  # tcp, udp, icmp, arp, other
    src: str = ""
    dst: str = ""
    sport: int = 0
    dport: int = 0
    flags: str = ""  # TCP flags as scapy spells them: S, SA, A, PA, FA, R, RA
    seq: int = 0
    ack: int = 0
    payload: bytes = field(default=b"", repr=False)  # as captured (maybe cut)
    payload_len: int = 0  # on the wire
    size: int = 0
    dont_fragment: bool = False
    icmp_type: int = -1
    icmp_code: int = -1
    next_hop_mtu: int = 0
    inner: tuple[str, str, int, int] | None = None  # an ICMP error's packet: src, dst, ports
    dns: Dns | None = None


def _dns(layer: Any) -> Dns | None:
    from scapy.layers.dns import DNS, dnsqtypes

    if not isinstance(layer, DNS) or not layer.qd:
        return None
    question = layer.qd[0] if isinstance(layer.qd, list) else layer.qd
    addresses = tuple(
        str(record.rdata) for record in (layer.an or []) if getattr(record, "type", 0) in (1, 28)
    )
    rcodes = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
    return Dns(
        int(layer.id),
        bool(layer.qr),
        question.qname.decode("ascii", "replace") if isinstance(question.qname, bytes) else "",
        dnsqtypes.get(int(question.qtype), str(question.qtype)),
        rcodes.get(int(layer.rcode), str(layer.rcode)) if layer.qr else "",
        addresses,
        bool(layer.tc),
    )


def _transport(ip: Any, wire_size: int) -> dict[str, Any]:
    from scapy.layers.dns import DNS
    from scapy.layers.inet import ICMP, TCP, UDP, IPerror, TCPerror, UDPerror

    found: dict[str, Any] = {"src": ip.src, "dst": ip.dst, "size": int(ip.len or wire_size)}
    found["dont_fragment"] = bool(int(ip.flags) & 0x2)
    header = int(ip.ihl or 5) * 4
    if TCP in ip:
        tcp = ip[TCP]
        payload = bytes(tcp.payload)
        found |= {"proto": "tcp", "sport": tcp.sport, "dport": tcp.dport, "flags": str(tcp.flags)}
        found |= {"seq": tcp.seq, "ack": tcp.ack, "payload": payload}
        found["payload_len"] = max(found["size"] - header - int(tcp.dataofs or 5) * 4, 0)
        if 53 in (tcp.sport, tcp.dport) and len(payload) > 2:
            found["dns"] = _dns(_quiet(lambda: DNS(payload[2:])))
    elif UDP in ip:
        udp = ip[UDP]
        payload = bytes(udp.payload)
        found |= {"proto": "udp", "sport": udp.sport, "dport": udp.dport, "payload": payload}
        found["payload_len"] = len(payload)
        if 53 in (udp.sport, udp.dport) or ip.src == "127.0.0.11" or ip.dst == "127.0.0.11":
            found["dns"] = _dns(_quiet(lambda: DNS(payload)))  # the embedded DNS's own port
    elif ICMP in ip:
        icmp = ip[ICMP]
        found |= {"proto": "icmp", "icmp_type": int(icmp.type), "icmp_code": int(icmp.code)}
        if int(icmp.type) == 3 and int(icmp.code) == 4:
            found["next_hop_mtu"] = int(getattr(icmp, "nexthopmtu", 0) or 0)
        if IPerror in icmp:
            inner = icmp[IPerror]
            ports = (0, 0)
            for kind in (TCPerror, UDPerror):
                if kind in inner:
                    ports = (int(inner[kind].sport), int(inner[kind].dport))
            found["inner"] = (inner.src, inner.dst, *ports)
    else:
        found["proto"] = "other"
    return found


def _quiet(make: Any) -> Any:
    try:
        return make()
    except Exception:  # a payload that is not DNS after all
        return None


def seen(side: str, interface: str, stamp: float, sent: bool, wirelen: int, packet: Any) -> Seen:
    """The record of one scapy packet (an Ether frame)."""
    from scapy.layers.inet import IP
    from scapy.layers.l2 import ARP

    base: dict[str, Any] = {"time": float(stamp), "side": side, "interface": interface}
    base["sent"] = sent
    if IP in packet:
        return Seen(**base, **_transport(packet[IP], wirelen - 14))
    if ARP in packet:
        arp = packet[ARP]
        return Seen(**base, proto="arp", src=arp.psrc, dst=arp.pdst, flags=str(arp.op))
    return Seen(**base, proto="other")


def from_frames(frames: Sequence[Frame]) -> list[Seen]:
    """Records of the frames a capture task returned."""
    from scapy.layers.l2 import Ether

    return [
        seen(
            frame.side,
            frame.interface,
            frame.time,
            frame.pkttype == PACKET_OUTGOING,
            frame.length,
            Ether(ethernet(frame)),
        )
        for frame in frames
    ]


def from_pcapng(path: Path) -> list[Seen]:
    """Records of a pcapng file `ddiag capture --pcap` wrote (interfaces named SIDE:IF)."""
    import scapy.layers.inet  # noqa: F401  (registers Ether for link type 1, and IP in it)
    from scapy.utils import PcapNgReader

    records = []
    with PcapNgReader(str(path)) as reader:
        for packet in reader:
            side, interface = split_interface(getattr(packet, "sniffed_on", "") or "")
            sent = getattr(packet, "direction", None) == 2
            wirelen = int(getattr(packet, "wirelen", 0) or len(bytes(packet)))
            records.append(seen(side, interface, float(packet.time), sent, wirelen, packet))
    return records
