"""Listening TCP sockets of a network namespace, from the kernel's sock_diag netlink dump.

What `ss -ltn` asks the kernel. Reading /proc/net/tcp instead makes the kernel walk the
host's whole TCP hash table, every namespace's sockets: measured at 8.5 ms per container
on a host of 260 containers, against 0.16 ms for a dump of listeners, so at N = 50 the
reads alone delayed a run's connects by 0.4 s. /proc/net/tcp{,6} (diag.agent.procnet)
remains the way for a kernel without sock_diag.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable

from . import netlink

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
TCP_LISTEN = 10
# inet_diag_req_v2: family, protocol, extensions, pad, state mask, inet_diag_sockid (48 bytes)
REQUEST = struct.Struct("=BBBBI48s")
# inet_diag_msg up to the local address: family, state, timer, retransmits, sport, dport, src
MESSAGE = struct.Struct("=BBBB2s2s16s")
FAMILIES = ((socket.AF_INET, "tcp"), (socket.AF_INET6, "tcp6"))  # as /proc/net names them


def listener(message: bytes, name: str) -> dict[str, object] | None:
    """One inet_diag_msg → {"family", "address", "port"}, as procnet reads a LISTEN line."""
    if len(message) < MESSAGE.size:
        return None
    family, state, _, _, port, _, source = MESSAGE.unpack(message[: MESSAGE.size])
    if state != TCP_LISTEN:
        return None
    if family == socket.AF_INET:
        host = socket.inet_ntop(socket.AF_INET, source[:4])
    elif family == socket.AF_INET6:
        address = ipaddress.IPv6Address(source)
        host = str(address.ipv4_mapped or address)
    else:
        return None
    return {"family": name, "address": host, "port": struct.unpack(">H", port)[0]}


def listening_sockets(make_socket: Callable[..., socket.socket]) -> list[dict[str, object]]:
    """Every listening TCP socket of the namespace `make_socket` makes sockets in. Raises
    OSError when the kernel has no sock_diag for IPv4; without IPv6, lists IPv4 only."""
    found = []
    for family, name in FAMILIES:
        request = REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN, bytes(48))
        try:
            for _, message in netlink.dump(
                make_socket, NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, request
            ):
                entry = listener(message, name)
                if entry is not None:
                    found.append(entry)
        except OSError:
            if family == socket.AF_INET:
                raise
    return found
