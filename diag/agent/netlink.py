"""The netlink framing the agent's kernel dumps share (addresses, listening sockets).

A dump request is answered by a stream of datagrams, each holding whole messages (a
header, then a body), until a message of type NLMSG_DONE (or NLMSG_ERROR) ends it.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable, Iterator

NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
ATTRIBUTE = struct.Struct("=HH")  # length, type
ERROR_CODE = struct.Struct("=i")  # an NLMSG_ERROR body starts with -errno
DUMP_TIMEOUT_S = 2.0


def align(length: int) -> int:
    return (length + 3) & ~3


def messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, body) of each whole message in one datagram; a cut-short one ends it."""
    offset = 0
    while offset + HEADER.size <= len(data):
        length, kind = HEADER.unpack_from(data, offset)[:2]
        if length < HEADER.size or offset + length > len(data):
            return  # malformed or cut short: keep what was whole
        yield kind, data[offset + HEADER.size : offset + length]
        offset += align(length)


def attributes(data: bytes, start: int) -> dict[int, bytes]:
    """The route attributes (type -> payload) of a message body from `start` on."""
    found: dict[int, bytes] = {}
    at = start
    while at + ATTRIBUTE.size <= len(data):
        size, kind = ATTRIBUTE.unpack_from(data, at)
        if size < ATTRIBUTE.size:
            break
        found[kind] = data[at + ATTRIBUTE.size : at + size]
        at += align(size)
    return found


def dump(
    make_socket: Callable[..., socket.socket], protocol: int, kind: int, body: bytes
) -> Iterator[tuple[int, bytes]]:
    """Send one dump request (made in the namespace `make_socket` makes sockets in) and
    yield the (type, body) of every message of the answer, up to its end."""
    request = HEADER.pack(HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body
    with make_socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol) as sock:
        sock.settimeout(DUMP_TIMEOUT_S)
        sock.sendto(request, (0, 0))
        while True:
            for message_kind, message in messages(sock.recv(65536)):
                if message_kind == NLMSG_ERROR:
                    code = -ERROR_CODE.unpack_from(message)[0] if len(message) >= 4 else 0
                    if code:
                        raise OSError(code, f"netlink dump refused: {os.strerror(code)}")
                    return
                if message_kind == NLMSG_DONE:
                    return
                yield message_kind, message
