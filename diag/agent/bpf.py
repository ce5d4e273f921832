"""A classic BPF program for `ddiag capture`, attached to AF_PACKET sockets (SO_ATTACH_FILTER).

Why a kernel filter and not a test in the agent: an AF_PACKET socket bound to ETH_P_ALL gets
a copy of every frame of the namespace. A busy container (a database serving hundreds of
clients) would fill the socket's receive buffer (rmem_max, ~208 KiB without CAP_NET_ADMIN)
faster than a Python loop on the probe's one CPU could test frames, and the frames dropped
there would be the very ones wanted. The kernel runs this program before copying: a frame
it rejects costs the probe nothing. The program's return value is also the snap length, so
each kept frame is cut in the kernel too (PACKET_AUXDATA still gives its real length).

Loads are relative to the network header (SKF_NET_OFF) and the EtherType is read from the
socket buffer (SKF_AD_PROTOCOL), not from a fixed 14-byte Ethernet header: the same program
fits eth0, lo and link types without an Ethernet header.

What it keeps: ARP; every IPv4 ICMP packet (unreachables and "fragmentation needed" come
from routers whose addresses nobody knows in advance); IPv4 packets from or to one of
`hosts`; TCP and UDP whose source or destination port is one of `ports`.
"""

from __future__ import annotations

import ipaddress
import struct

# instruction classes, sizes, modes and operations of classic BPF (linux/filter.h)
LD, LDX, ALU, JMP, RET, MISC = 0x00, 0x01, 0x04, 0x05, 0x06, 0x07
W, H, B = 0x00, 0x08, 0x10
ABS, IND, K = 0x20, 0x40, 0x00
JEQ, JSET = 0x10, 0x40
AND, LSH = 0x50, 0x60
TAX = 0x00
SKF_AD_OFF, SKF_AD_PROTOCOL = -0x1000, 0
NET = -0x100000  # SKF_NET_OFF: offsets from the network header
ETH_P_IP, ETH_P_ARP = 0x0800, 0x0806
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP = 1, 6, 17
MAX_VALUES = 32  # hosts and ports each: a jump in classic BPF reaches 255 instructions

Jump = int | str  # a relative offset, or a label resolved by `assemble`
Insn = tuple[int | str, Jump, Jump, int]  # a str first: a label


def _ip(address: str) -> int:
    return int(ipaddress.IPv4Address(address))


def program(hosts: list[str], ports: list[int], snaplen: int) -> list[Insn]:
    """The filter, with symbolic jumps ("accept", "drop", "ports")."""
    hosts, ports = hosts[:MAX_VALUES], ports[:MAX_VALUES]
    code: list[Insn] = [
        (LD | W | ABS, 0, 0, SKF_AD_OFF + SKF_AD_PROTOCOL),
        (JMP | JEQ | K, "accept", 0, ETH_P_ARP),
        (JMP | JEQ | K, 0, "drop", ETH_P_IP),
        (LD | B | ABS, 0, 0, NET + 9),
        (JMP | JEQ | K, "accept", 0, IPPROTO_ICMP),
    ]
    for offset in (12, 16):  # source, destination
        code.append((LD | W | ABS, 0, 0, NET + offset))
        code += [(JMP | JEQ | K, "accept", 0, _ip(host)) for host in hosts]
    code += [
        (LD | B | ABS, 0, 0, NET + 9),
        (JMP | JEQ | K, "ports", 0, IPPROTO_TCP),
        (JMP | JEQ | K, 0, "drop", IPPROTO_UDP),
        ("ports", 0, 0, 0),  # a label, removed by assemble
        (LD | H | ABS, 0, 0, NET + 6),
        (JMP | JSET | K, "drop", 0, 0x1FFF),  # a later fragment has no ports
        (LD | B | ABS, 0, 0, NET + 0),
        (ALU | AND | K, 0, 0, 0x0F),
        (ALU | LSH | K, 0, 0, 2),
        (MISC | TAX, 0, 0, 0),  # X = the IPv4 header's length
    ]
    for offset in (0, 2):  # source port, destination port
        code.append((LD | H | IND, 0, 0, NET + offset))
        code += [(JMP | JEQ | K, "accept", 0, port) for port in ports]
    code += [("drop", 0, 0, 0), (RET | K, 0, 0, 0), ("accept", 0, 0, 0), (RET | K, 0, 0, snaplen)]
    return code


def assemble(code: list[Insn]) -> list[tuple[int, int, int, int]]:
    """Labels removed and symbolic jumps made relative (classic BPF jumps only forward)."""
    labels: dict[str, int] = {}
    plain: list[tuple[int, Jump, Jump, int]] = []
    for op, jt, jf, k in code:
        if isinstance(op, str):
            labels[op] = len(plain)
        else:
            plain.append((op, jt, jf, k))
    out = []
    for index, (op, jt, jf, k) in enumerate(plain):
        jumps = [labels[j] - index - 1 if isinstance(j, str) else j for j in (jt, jf)]
        if any(not 0 <= j <= 255 for j in jumps):
            raise ValueError("a filter jump out of range")
        out.append((op, jumps[0], jumps[1], k & 0xFFFFFFFF))
    return out


def packed(hosts: list[str], ports: list[int], snaplen: int) -> bytes:
    """The program as struct sock_filter[] (u16 code, u8 jt, u8 jf, u32 k), host order."""
    return b"".join(struct.pack("HBBI", *insn) for insn in assemble(program(hosts, ports, snaplen)))


def packed_reject() -> bytes:
    """A program that keeps nothing: attached first, while the socket is emptied of what it
    received before it had a filter (an AF_PACKET socket gets frames from its creation)."""
    return struct.pack("HBBI", RET | K, 0, 0, 0)
