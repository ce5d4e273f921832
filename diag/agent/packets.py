"""Packet work of the net.* checks: an ARP sweep and don't-fragment pings of growing size.

Built on raw sockets from the standard library, not on scapy. scapy was measured for the
job inside the probe (`from scapy.layers.l2 import ARP, Ether`, `scapy.layers.inet`,
`scapy.sendrecv`): 82 MB of resident memory and 1.8 s of import on this project's test
machine, against the probe's 64 MiB limit (BENCHMARKS.md) and a 1.1 MB zip added to every
probe's environment. The two packet shapes needed here are 28 and 8 bytes of header; they
are encoded and decoded below, and the tests check them against scapy's own encoding.

Both tasks are asyncio coroutines like the others: a sweep of a /24 and a dozen pings
cost one timeout together, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import ipaddress
import os
import random
import socket
import struct
import time
from typing import Any

from . import netif
from .view import View

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARP_REQUEST, ARP_REPLY = 1, 2
BROADCAST = b"\xff" * 6
SIOCGIFHWADDR = 0x8927
ICMP_ECHO_REPLY, ICMP_UNREACHABLE, ICMP_ECHO = 0, 3, 8
ICMP_FRAG_NEEDED = 4
IP_MTU_DISCOVER = 10
IP_PMTUDISC_PROBE = 3  # set DF and ignore the path MTU cache: every size is really tried
IP_HEADER, ICMP_HEADER = 20, 8
MAX_SWEEP = 1024  # addresses per sweep; IPAM hands addresses out from the low end
# How long a sweep listens, at most: most addresses never answer, so a sweep that cannot
# tell when it has heard everyone waits out its window; the full connect timeout would
# make it the slowest task of a healthy run.
ARP_WINDOW_S = 1.0
# When it can tell (the task lists the addresses the engine assigned: on a bridge or an
# overlay, where the kernel answers ARP), a sweep stops this long after its first round once
# each of them has answered. Those replies take milliseconds (measured on a local bridge, a
# /24 swept while the machine was loaded: every reply within 3.1 ms of the last request); the
# grace is for a claimer that answers late (a userland responder, a loaded VM: 100-300 ms
# must still be heard: fixture net-late-claimer).
ARP_GRACE_S = 0.4
# A packet socket also gets a copy of every frame it sends: a round's requests alone (a /24,
# ~0.2 MB of socket buffers) filled its receive buffer while the loop was busy, the replies
# that came next were dropped, and the sweep waited out a third round for them (issue 19).
SOL_PACKET, PACKET_IGNORE_OUTGOING = 263, 23
PMTU_ROUNDS = 3
PACE, PACE_PAUSE_S = 32, 0.002  # echoes sent between two chances for the reader to drain
Result = dict[str, Any]


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def arp_request(source_mac: bytes, source_ip: str, target_ip: str) -> bytes:
    """An Ethernet broadcast frame asking who has `target_ip`."""
    ether = BROADCAST + source_mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, ARP_REQUEST)
    arp += source_mac + socket.inet_aton(source_ip) + b"\x00" * 6 + socket.inet_aton(target_ip)
    return ether + arp


def arp_reply_of(frame: bytes, own_ip: str) -> tuple[str, str] | None:
    """(sender IP, sender MAC) of an ARP reply addressed to `own_ip`; None for anything else."""
    if len(frame) < 42 or struct.unpack("!H", frame[12:14])[0] != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", frame[14:22])
    if (htype, ptype, hlen, plen, op) != (1, ETH_P_IP, 6, 4, ARP_REPLY):
        return None
    if socket.inet_ntoa(frame[38:42]) != own_ip:
        return None
    return socket.inet_ntoa(frame[28:32]), mac_text(frame[22:28])


def sweep_targets(cidr: str, own_ip: str) -> tuple[list[str], int]:
    """The addresses to ask (at most MAX_SWEEP, lowest first) and how many the subnet has."""
    network = ipaddress.IPv4Network(cidr, strict=False)
    total = max(network.num_addresses - 2, 0) if network.prefixlen < 31 else network.num_addresses
    targets: list[str] = []
    for address in network.hosts():
        if len(targets) >= MAX_SWEEP:
            break
        if str(address) != own_ip:
            targets.append(str(address))
    return targets, total


def _hardware_address(sock: socket.socket, name: str) -> bytes:
    answer = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, struct.pack("256s", name.encode()[:15]))
    return answer[18:24]


def _ipv4_interfaces(view: View) -> list[tuple[str, ipaddress.IPv4Interface]]:
    """(name, address/prefix) of every IPv4 address of the viewed namespace."""
    seen = netif.interfaces(view.read_proc, view.socket)["interfaces"]
    return [
        (str(entry["name"]), ipaddress.IPv4Interface(address))
        for entry in seen  # type: ignore[attr-defined]
        for address in entry["addresses"]
        if ":" not in address
    ]


def _interface_in(view: View, cidr: str) -> tuple[str, str] | None:
    """The viewed namespace's interface (name, IPv4) whose address lies in `cidr`."""
    network = ipaddress.IPv4Network(cidr, strict=False)
    for name, interface in _ipv4_interfaces(view):
        if interface.ip in network:
            return name, str(interface.ip)
    return None


def _interface_toward(view: View, address: str) -> str | None:
    """The interface whose subnet holds `address` (None: it is reached through a router)."""
    try:
        target = ipaddress.IPv4Address(address)
    except ValueError:
        return None
    for name, interface in _ipv4_interfaces(view):
        if target in interface.network:
            return name
    return None


async def _receive_until(sock: socket.socket, deadline: float, keep: Any, done: Any = None) -> None:
    """Feed every datagram to `keep` until the deadline (or until `done()`, if given)."""
    loop = asyncio.get_running_loop()
    while not (done and done()) and (left := deadline - loop.time()) > 0:
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65535), left)
        except asyncio.TimeoutError:
            break
        keep(data)
    # What arrived before the deadline but was not read yet (the event loop was busy with
    # other tasks) was still heard in time. Bounded: on a busy LAN frames keep coming.
    for _ in range(2 * MAX_SWEEP):
        try:
            keep(sock.recv(65535))
        except BlockingIOError:
            return


async def _send_each(sock: socket.socket, frames: list[bytes]) -> None:
    """Send the frames one after another without turning the event loop between them: the
    grace counts from the last request of a round, and a round awaited frame by frame took
    0.05-0.08 s on a busy agent (four sweeps of a /24 among 800 other tasks) against 2 ms.
    Only a frame the socket cannot take now (a full queue) is awaited."""
    loop = asyncio.get_running_loop()
    for frame in frames:
        try:
            sock.send(frame)
        except BlockingIOError:
            await loop.sock_sendall(sock, frame)


def sweep_rounds(window: float, expected: bool) -> list[float]:
    """When each round of requests stops listening, in seconds after the first round: two
    rounds (the second asks again only who has not answered: a lost frame) over the window;
    with an expected set, over the grace, and then a third over the rest of the window
    when some expected address is still silent."""
    if not expected or window <= ARP_GRACE_S:
        return [window / 2, window]
    return [ARP_GRACE_S / 2, ARP_GRACE_S, window]


async def arp_sweep(task: Result, timeout: float, view: View) -> Result:
    """Ask every address of the subnet who has it, in rounds (each asking only those that
    did not answer yet), and list every MAC that answered for each address. Listens for the
    timeout or ARP_WINDOW_S, whichever is shorter; when the task lists the addresses the
    engine assigned (`addresses`), only ARP_GRACE_S after the first round once each of them
    has answered."""
    cidr = str(task["target"])
    found = _interface_in(view, cidr)
    if found is None:
        return {"status": "error", "detail": f"no interface with an address in {cidr}"}
    name, own_ip = found
    targets, total = sweep_targets(cidr, own_ip)
    expected = set(map(str, task.get("addresses") or ())) & set(targets)
    answers: dict[str, set[str]] = {}

    def keep(frame: bytes) -> None:
        reply = arp_reply_of(frame, own_ip)
        if reply is not None:
            answers.setdefault(reply[0], set()).add(reply[1])

    loop = asyncio.get_running_loop()
    # Made with no protocol, and given ARP when bound to the interface: a packet socket
    # made with a protocol listens on every interface at once, and binding it then waits
    # for the kernel's RCU grace period (2-16 ms each, measured; 0.17 s for four sweeps
    # started together) while the event loop stands still. Bound this way: 0.01 ms.
    with view.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as sock:
        sock.bind((name, ETH_P_ARP))
        sock.setblocking(False)
        with contextlib.suppress(OSError):  # a kernel before 4.20 has no such option
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        own_mac = _hardware_address(sock, name)
        start, window = loop.time(), min(timeout, ARP_WINDOW_S)
        rounds = sweep_rounds(window, bool(expected))

        def heard_all() -> bool:  # past the grace, only the expected answers are awaited
            return bool(expected) and expected <= answers.keys()

        for number, until in enumerate(rounds):
            past_grace = bool(number) and until > ARP_GRACE_S
            if past_grace and heard_all():
                break
            await _send_each(
                sock, [arp_request(own_mac, own_ip, t) for t in targets if t not in answers]
            )
            if not number:  # the grace counts from the last request of the first round
                start = loop.time()
            await _receive_until(sock, start + until, keep, heard_all if past_grace else None)
    return {
        "status": "ok",
        "interface": name,
        "source": own_ip,
        "source_mac": mac_text(own_mac),
        "swept": len(targets) + 1,  # our own address is known without asking
        "addresses": total,
        "answers": {ip: sorted(macs) for ip, macs in sorted(answers.items())},
    }


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


@functools.lru_cache(maxsize=64)
def _payload(size: int) -> bytes:
    """Bytes 0, 1, ... 255, 0, 1, ...: made once per size (a DF ping sends each size to
    every address, in up to three rounds)."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


def echo_request(ident: int, sequence: int, ip_size: int) -> bytes:
    """An ICMP echo request whose IP packet is `ip_size` bytes long."""
    payload = _payload(max(ip_size - IP_HEADER - ICMP_HEADER, 0))
    header = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, sequence)
    checksum = _checksum(header + payload)
    return struct.pack("!BBHHH", ICMP_ECHO, 0, checksum, ident, sequence) + payload


def icmp_answer(packet: bytes, ident: int) -> tuple[int, str] | None:
    """(sequence, what happened) for an echo reply or a "fragmentation needed" error about
    one of our echoes (identifier `ident`); None for any other ICMP packet."""
    if len(packet) < IP_HEADER + ICMP_HEADER:
        return None
    icmp = packet[(packet[0] & 0x0F) * 4 :]
    kind, code = icmp[0], icmp[1]
    if kind == ICMP_ECHO_REPLY and len(icmp) >= ICMP_HEADER:
        reply_ident, sequence = struct.unpack("!HH", icmp[4:8])
        return (sequence, "ok") if reply_ident == ident else None
    if kind == ICMP_UNREACHABLE and code == ICMP_FRAG_NEEDED and len(icmp) >= 8 + IP_HEADER + 8:
        next_hop_mtu = struct.unpack("!H", icmp[6:8])[0]
        inner = icmp[8:]
        echo = inner[(inner[0] & 0x0F) * 4 :]
        if len(echo) >= 8 and echo[0] == ICMP_ECHO:
            inner_ident, sequence = struct.unpack("!HH", echo[4:8])
            if inner_ident == ident:
                return sequence, f"fragmentation needed (next hop MTU {next_hop_mtu})"
    return None


def _pings(
    sock: socket.socket, probes: list[tuple[str, int]], ident: int, timeout: float
) -> dict[int, str]:
    """Send every probe's echo and collect the answers, on a thread of its own: the event
    loop can be busy for a second with hundreds of synchronous reads (listening sockets,
    interfaces) while the replies arrive, and a raw socket's receive buffer (rmem_max,
    ~208 KiB; raising it needs CAP_NET_ADMIN) holds only ~150 of 1500-byte replies; one
    dropped there looks exactly like a black hole. So replies are read between batches of
    PACE echoes and until the end, by a thread the loop cannot stall, and what is still
    unanswered is sent again in each of PMTU_ROUNDS slices of the timeout: a size is lost
    only if every round lost it."""
    outcome: dict[int, str] = {}  # probe index (the echo's sequence number) -> what happened

    def keep(packet: bytes) -> None:
        answer = icmp_answer(packet, ident)
        if answer is not None and 0 <= answer[0] < len(probes):
            outcome.setdefault(answer[0], answer[1])

    def drain(until: float) -> None:
        while len(outcome) < len(probes) and (left := until - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                keep(sock.recv(65535))
            except TimeoutError:
                return

    start = time.monotonic()
    for number in range(1, PMTU_ROUNDS + 1):
        for count, sequence in enumerate([i for i in range(len(probes)) if i not in outcome]):
            if count % PACE == PACE - 1:
                drain(time.monotonic() + PACE_PAUSE_S)
            address, size = probes[sequence]
            try:
                sock.sendto(echo_request(ident, sequence, size), (address, 0))
            except OSError as exc:
                if exc.errno != errno.EMSGSIZE:
                    raise
                outcome[sequence] = f"not sent: {os.strerror(exc.errno)} (local MTU)"
        drain(start + timeout * number / PMTU_ROUNDS)
    return outcome


async def pmtu(task: Result, timeout: float, view: View) -> Result:
    """One echo per address and size with DF set, from one raw socket (every raw ICMP
    socket of a namespace gets a copy of every ICMP packet: one per task, not per peer).
    Per address: the sizes that came back, and those lost (a black hole) or refused
    (fragmentation needed). The socket is made here, in the viewed namespace; the pings
    run on a thread (see `_pings`)."""
    addresses = [str(a) for a in task.get("addresses") or []][:MAX_SWEEP]
    sizes = [int(s) for s in task.get("sizes") or []]
    probes = [(address, size) for address in addresses for size in sizes]
    ident = random.randrange(1, 0xFFFF)
    toward = _interface_toward(view, addresses[0]) if addresses else None
    with view.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)
        if toward is not None:  # only this network's ICMP (an anchor may be on several)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, toward.encode())
        outcome = await asyncio.to_thread(_pings, sock, probes, ident, timeout)
    targets: dict[str, Result] = {}
    for sequence, (address, size) in enumerate(probes):
        seen = targets.setdefault(address, {"sizes": {}, "largest_ok": 0})
        seen["sizes"][str(size)] = outcome.get(sequence, "timeout")
        if outcome.get(sequence) == "ok":
            seen["largest_ok"] = max(seen["largest_ok"], size)
    return {"status": "ok", "targets": targets}
