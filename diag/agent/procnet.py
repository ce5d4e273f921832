"""Parse /proc/net/tcp and /proc/net/tcp6: the listening (and connected) sockets of the
reader's netns.

Read from a probe sharing a container's network namespace, these are *that container's*
sockets, whatever its image holds (no ss or netstat needed).
"""

from __future__ import annotations

import ipaddress
import struct

LISTEN_STATE = "0A"
CONNECTED_STATES = {"01": "established", "02": "syn_sent"}


def decode_address(hex_address: str) -> tuple[str, int]:
    """`0100007F:1F40` -> ("127.0.0.1", 8000); IPv6 is four little-endian 32-bit words."""
    host_hex, port_hex = hex_address.split(":")
    raw = bytes.fromhex(host_hex)
    if len(raw) == 4:
        host = str(ipaddress.IPv4Address(struct.pack("<I", struct.unpack(">I", raw)[0])))
    elif len(raw) == 16:
        words = struct.unpack(">4I", raw)
        packed = b"".join(struct.pack("<I", word) for word in words)
        address = ipaddress.IPv6Address(packed)
        host = str(address.ipv4_mapped or address)
    else:
        raise ValueError(f"bad address length in {hex_address!r}")
    return host, int(port_hex, 16)


def listening_sockets(text: str, family: str) -> list[dict[str, object]]:
    """The LISTEN entries of one /proc/net/tcp* file; malformed lines are skipped."""
    sockets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != LISTEN_STATE:
            continue
        try:
            host, port = decode_address(fields[1])
        except ValueError:
            continue
        sockets.append({"family": family, "address": host, "port": port})
    return sockets


def connected_sockets(text: str, family: str) -> list[dict[str, object]]:
    """The ESTABLISHED and SYN_SENT entries of one /proc/net/tcp* file, with their peers."""
    sockets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] not in CONNECTED_STATES:
            continue
        try:
            host, port = decode_address(fields[1])
            peer, peer_port = decode_address(fields[2])
        except ValueError:
            continue
        sockets.append(
            {
                "family": family,
                "state": CONNECTED_STATES[fields[3]],
                "address": host,
                "port": port,
                "peer": peer,
                "peer_port": peer_port,
            }
        )
    return sockets
