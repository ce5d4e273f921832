"""The pcapng file `ddiag capture --pcap` writes, for Wireshark and for ddiag's own tests.

pcapng, not pcap, because one capture spans two namespaces and several interfaces: each
(side, interface) pair gets its own Interface Description Block named `source:eth0`,
`target:lo`, ..., and each packet says which one saw it and in which direction (the EPB
flags), so Wireshark's "Interface" column, and ddiag reading the file back
(diag.capture.decode.from_pcapng), tell the source's view from the target's. Written with
the standard library: the format is four block types, and the writer needs no scapy.

The file holds the packets as captured: application bytes are not redacted there, as in
any tcpdump file (the report's excerpt of them is).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

from diag.errors import DiagError
from diag.model.observations import Frame

LINKTYPE_ETHERNET = 1
ARPHRD_ETHER, ARPHRD_LOOPBACK = 1, 772
PACKET_OUTGOING = 4
FAKE_ETHERNET = b"\x00" * 12 + b"\x08\x00"  # for a link without one (IPv4 assumed)
SIDES = ("source", "target")


def ethernet(frame: Frame) -> bytes:
    """The frame with an Ethernet header: as captured on eth0 and lo; with a blank one on a
    link that has none (a tunnel), so that one link type fits the whole file."""
    if frame.hatype in (ARPHRD_ETHER, ARPHRD_LOOPBACK):
        return frame.data
    return FAKE_ETHERNET + frame.data


def interface_name(side: str, interface: str) -> str:
    return f"{side}:{interface}"


def split_interface(name: str) -> tuple[str, str]:
    """(side, interface) of an interface name this module wrote; ("", name) otherwise."""
    side, sep, interface = name.partition(":")
    return (side, interface) if sep and side in SIDES else ("", name)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def _header() -> bytes:
    body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    return _block(0x0A0D0D0A, body + _option(4, b"ddiag capture") + _option(0, b""))


def _interface(name: str, description: str, snaplen: int) -> bytes:
    options = _option(2, name.encode()) + _option(3, description.encode())
    options += _option(9, b"\x06") + _option(0, b"")  # if_tsresol: microseconds
    return _block(1, struct.pack("<HHI", LINKTYPE_ETHERNET, 0, snaplen) + options)


def _packet(interface: int, frame: Frame) -> bytes:
    data = ethernet(frame)
    stamp = round(frame.time * 1_000_000)
    length = max(frame.length + len(data) - len(frame.data), len(data))
    body = struct.pack("<IIIII", interface, stamp >> 32, stamp & 0xFFFFFFFF, len(data), length)
    body += data + b"\x00" * (-len(data) % 4)
    direction = 2 if frame.pkttype == PACKET_OUTGOING else 1  # epb_flags: outbound, inbound
    return _block(6, body + _option(2, struct.pack("<I", direction)) + _option(0, b""))


def pcapng(frames: Sequence[Frame], describe: dict[str, str], snaplen: int) -> bytes:
    """The file's bytes. `describe`: side → what it is (e.g. "netns of shop-web-1")."""
    interfaces: dict[tuple[str, str], int] = {}
    blocks = [_header()]
    for frame in frames:
        key = (frame.side, frame.interface)
        if key not in interfaces:
            interfaces[key] = len(interfaces)
            name = interface_name(*key)
            blocks.append(_interface(name, describe.get(frame.side, ""), snaplen or 65535))
        blocks.append(_packet(interfaces[key], frame))
    return b"".join(blocks)


def write(path: Path, frames: Sequence[Frame], describe: dict[str, str], snaplen: int) -> None:
    try:
        path.write_bytes(pcapng(frames, describe, snaplen))
    except OSError as exc:
        raise DiagError(f"cannot write the capture to {path}: {exc.strerror or exc}") from None
