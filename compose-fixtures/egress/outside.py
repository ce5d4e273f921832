"""The fixture's "outside": a TCP service on 8080 and an authoritative DNS server on 53/udp.

It answers every query itself and forwards nothing: `api.egress.test` has an A record (the
address where this service is published), every other name is NXDOMAIN. So no name a test
resolves through it ever leaves the machine. Each query is logged, for the tests to see
who asked what.
"""

import socket
import struct
import threading

ZONE = {"api.egress.test": "10.213.140.1"}
A, IN = 1, 1


def serve_tcp(port: int) -> None:
    server = socket.create_server(("0.0.0.0", port))
    while True:
        conn, _ = server.accept()
        conn.close()


def qname(packet: bytes) -> tuple[str, int]:
    labels, at = [], 12
    while packet[at]:
        labels.append(packet[at + 1 : at + 1 + packet[at]].decode("ascii", "replace"))
        at += 1 + packet[at]
    return ".".join(labels).lower(), at + 1


def answer(query: bytes) -> bytes:
    (ident, flags) = struct.unpack("!HH", query[:4])
    name, end = qname(query)
    qtype, _ = struct.unpack("!HH", query[end : end + 4])
    question = query[12 : end + 4]
    known = name in ZONE
    records = b""
    if known and qtype == A:
        address = socket.inet_aton(ZONE[name])
        records = b"\xc0\x0c" + struct.pack("!HHIH", A, IN, 60, 4) + address
    rcode = 0 if known else 3  # NXDOMAIN
    head = struct.pack("!HHHHHH", ident, 0x8400 | (flags & 0x0100) | rcode, 1, bool(records), 0, 0)
    print(f"query {name} type {qtype} -> {'NOERROR' if known else 'NXDOMAIN'}", flush=True)
    return head + question + records


threading.Thread(target=serve_tcp, args=(8080,), daemon=True).start()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("0.0.0.0", 53))
print("outside: serving 8080/tcp and 53/udp", flush=True)
while True:
    data, peer = udp.recvfrom(512)
    try:
        udp.sendto(answer(data), peer)
    except (IndexError, struct.error, UnicodeError):
        continue  # not a DNS query: ignore it
