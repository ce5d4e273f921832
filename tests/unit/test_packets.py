"""The agent's packet encoding and decoding (diag.agent.packets) against scapy's.

The agent builds its ARP and ICMP packets by hand on stdlib raw sockets (scapy costs the
probe 82 MB and 1.8 s of import); scapy, installed only in the development venv, is the
reference for the bytes: every frame built here must equal scapy's for the same fields,
and every reply scapy builds must be read back as the agent reads the kernel's. The two
coroutines themselves need raw sockets (root): they run on loopback only, and are skipped
otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import threading
import time
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, UDP, IPOption_Router_Alert
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Padding, Raw
from scapy.utils import checksum

from diag.agent import packets
from diag.agent.view import OWN, View

PROBE_MAC, PROBE_IP = "02:42:0a:d5:c8:03", "10.213.200.3"
API_MAC, API_IP = "02:42:0a:d5:c8:02", "10.213.200.2"
IDENT = 0x4D2A

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="raw sockets need root")


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _payload(ip_size: int) -> bytes:
    return bytes(i & 0xFF for i in range(ip_size - 28))


# --- ARP -----------------------------------------------------------------------------------


def test_arp_request_equals_scapys() -> None:
    expected = Ether(dst="ff:ff:ff:ff:ff:ff", src=PROBE_MAC, type=0x806) / ARP(
        op=1, hwsrc=PROBE_MAC, psrc=PROBE_IP, hwdst="00:00:00:00:00:00", pdst=API_IP
    )
    frame = packets.arp_request(_mac(PROBE_MAC), PROBE_IP, API_IP)
    assert frame == bytes(expected)  # 42 bytes: the kernel pads it to 60 on the wire
    parsed = Ether(frame)
    assert (parsed[ARP].op, parsed[ARP].psrc, parsed[ARP].pdst) == (1, PROBE_IP, API_IP)


def _arp_reply(sender_ip: str, sender_mac: str, to_ip: str, op: int = 2, pad: bool = True) -> bytes:
    reply = Ether(dst=PROBE_MAC, src=sender_mac, type=0x806) / ARP(
        op=op, hwsrc=sender_mac, psrc=sender_ip, hwdst=PROBE_MAC, pdst=to_ip
    )
    return bytes(reply / Padding(b"\x00" * 18)) if pad else bytes(reply)


@pytest.mark.parametrize("pad", [True, False])
def test_arp_reply_of_reads_a_reply_to_us(pad: bool) -> None:
    frame = _arp_reply(API_IP, API_MAC, PROBE_IP, pad=pad)
    assert len(frame) == (60 if pad else 42)
    assert packets.arp_reply_of(frame, PROBE_IP) == (API_IP, API_MAC)


def test_arp_reply_of_rejects_anything_else() -> None:
    reply = _arp_reply(API_IP, API_MAC, PROBE_IP)
    assert packets.arp_reply_of(_arp_reply(API_IP, API_MAC, PROBE_IP, op=1), PROBE_IP) is None
    assert packets.arp_reply_of(_arp_reply(API_IP, API_MAC, "10.213.200.9"), PROBE_IP) is None
    assert packets.arp_reply_of(reply[:41], PROBE_IP) is None  # short frame
    ipv4 = bytes(Ether(dst=PROBE_MAC, src=API_MAC) / IP(src=API_IP, dst=PROBE_IP) / ICMP())
    assert packets.arp_reply_of(ipv4 + bytes(60), PROBE_IP) is None  # not ARP at all
    # our own request, as a packet socket on loopback sees it come back
    request = packets.arp_request(_mac(PROBE_MAC), PROBE_IP, API_IP)
    assert packets.arp_reply_of(request, PROBE_IP) is None


# --- sweep targets -------------------------------------------------------------------------


def test_sweep_targets_of_a_24_skip_our_own_address() -> None:
    targets, total = packets.sweep_targets("10.213.200.0/24", PROBE_IP)
    assert (len(targets), total) == (253, 254)
    assert PROBE_IP not in targets
    assert targets[:3] == ["10.213.200.1", "10.213.200.2", "10.213.200.4"]
    assert targets[-1] == "10.213.200.254"  # neither the network nor the broadcast address


def test_sweep_targets_of_a_16_are_capped_at_the_low_end() -> None:
    targets, total = packets.sweep_targets("10.213.0.0/16", "10.213.0.2")
    assert total == 65534
    assert len(targets) == packets.MAX_SWEEP == 1024
    assert (targets[0], targets[1], targets[-1]) == ("10.213.0.1", "10.213.0.3", "10.213.4.1")


@pytest.mark.parametrize(
    ("cidr", "own", "expected"),
    [
        ("10.213.200.0/31", "10.213.200.0", (["10.213.200.1"], 2)),  # RFC 3021: both usable
        ("10.213.200.0/31", "10.213.200.1", (["10.213.200.0"], 2)),
        ("10.213.200.5/32", "10.213.200.5", ([], 1)),
        ("10.213.200.5/32", PROBE_IP, (["10.213.200.5"], 1)),
        ("10.213.200.0/30", "10.213.200.1", (["10.213.200.2"], 2)),
    ],
)
def test_sweep_targets_of_tiny_subnets(
    cidr: str, own: str, expected: tuple[list[str], int]
) -> None:
    assert packets.sweep_targets(cidr, own) == expected


# --- ICMP ----------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x45\x00\x00\x1c", bytes(range(255))])
def test_checksum_equals_scapys(data: bytes) -> None:
    assert packets._checksum(data) == checksum(data)


def test_checksum_equals_scapys_on_random_data() -> None:
    rng = random.Random(4)
    for length in (7, 8, 575, 1472):
        data = bytes(rng.randrange(256) for _ in range(length))
        assert packets._checksum(data) == checksum(data), length


@pytest.mark.parametrize("ip_size", [576, 577, 1500, 9000])
def test_echo_request_equals_scapys(ip_size: int) -> None:
    expected = ICMP(type=8, code=0, id=IDENT, seq=7) / Raw(_payload(ip_size))
    built = packets.echo_request(IDENT, 7, ip_size)
    assert built == bytes(expected)  # scapy computes the checksum itself
    assert len(bytes(IP(dst=API_IP, flags="DF") / ICMP(built))) == ip_size


def test_echo_request_smaller_than_its_headers_has_no_payload() -> None:
    assert packets.echo_request(IDENT, 0, 20) == bytes(ICMP(type=8, id=IDENT, seq=0))


def _echo_reply(ident: int, sequence: int, **ip: object) -> bytes:
    return bytes(
        IP(src=API_IP, dst=PROBE_IP, **ip) / ICMP(type=0, id=ident, seq=sequence) / _payload(100)
    )


def _frag_needed(ident: int, sequence: int, mtu: int = 1200, code: int = 4) -> bytes:
    """What a router (or the host's bridge) sends back about one of our DF echoes."""
    quoted = IP(src=PROBE_IP, dst=API_IP, len=1500, flags="DF") / ICMP(
        type=8, id=ident, seq=sequence
    )
    return bytes(
        IP(src="10.213.200.1", dst=PROBE_IP)
        / ICMP(type=3, code=code, nexthopmtu=mtu)
        / bytes(quoted)
    )


def test_icmp_answer_reads_an_echo_reply() -> None:
    assert packets.icmp_answer(_echo_reply(IDENT, 11), IDENT) == (11, "ok")
    assert packets.icmp_answer(_echo_reply(IDENT + 1, 11), IDENT) is None  # another pinger's


def test_icmp_answer_skips_ip_options() -> None:
    packet = _echo_reply(IDENT, 3, options=[IPOption_Router_Alert()])
    assert packet[0] & 0x0F == 6
    assert packets.icmp_answer(packet, IDENT) == (3, "ok")


def test_icmp_answer_reads_fragmentation_needed() -> None:
    packet = _frag_needed(IDENT, 5, mtu=1200)
    assert IP(packet)[ICMP].nexthopmtu == 1200
    assert packets.icmp_answer(packet, IDENT) == (5, "fragmentation needed (next hop MTU 1200)")
    assert packets.icmp_answer(_frag_needed(IDENT + 1, 5), IDENT) is None


def test_icmp_answer_ignores_other_icmp() -> None:
    ours = bytes(IP(src=PROBE_IP, dst=API_IP) / ICMP(packets.echo_request(IDENT, 2, 576)))
    assert packets.icmp_answer(ours, IDENT) is None  # our own request, seen on loopback
    assert packets.icmp_answer(_frag_needed(IDENT, 5, code=3), IDENT) is None  # port unreachable
    udp = IP(src=PROBE_IP, dst=API_IP, flags="DF") / UDP(sport=IDENT, dport=53)
    about_udp = IP(src="10.213.200.1", dst=PROBE_IP) / ICMP(type=3, code=4) / bytes(udp)
    assert packets.icmp_answer(bytes(about_udp), IDENT) is None
    assert packets.icmp_answer(_frag_needed(IDENT, 5)[:50], IDENT) is None  # truncated quote
    assert packets.icmp_answer(_echo_reply(IDENT, 1)[:27], IDENT) is None  # short packet


# --- the coroutines, on loopback -----------------------------------------------------------


@needs_root
def test_pmtu_on_loopback() -> None:
    task = {"kind": "pmtu", "addresses": ["127.0.0.1"], "sizes": [576, 1500]}
    assert asyncio.run(packets.pmtu(task, 1.0, OWN)) == {
        "status": "ok",
        "targets": {"127.0.0.1": {"sizes": {"576": "ok", "1500": "ok"}, "largest_ok": 1500}},
    }


@needs_root
def test_arp_sweep_on_loopback_counts_no_request_as_an_answer() -> None:
    """lo does no ARP: our own request comes back to the packet socket, and is no reply."""
    result = asyncio.run(packets.arp_sweep({"target": "127.0.0.0/30"}, 0.2, OWN))
    assert result == {
        "status": "ok",
        "interface": "lo",
        "source": "127.0.0.1",
        "source_mac": "00:00:00:00:00:00",
        "swept": 2,
        "addresses": 2,
        "answers": {},
    }


def test_arp_sweep_without_an_interface_in_the_subnet(tmp_path: Path) -> None:
    """A namespace with no interface in the subnet: an error, before any socket is bound
    (a view of an empty /proc/net, so that nothing is ever sent whatever this host has)."""
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "dev").write_text("Inter-|   Receive\n face |bytes\n")
    (tmp_path / "net" / "if_inet6").write_text("")
    (tmp_path / "net" / "route").write_text("Iface\tDestination\tGateway\n")
    empty = View(proc=str(tmp_path))
    result = asyncio.run(packets.arp_sweep({"target": "10.213.200.0/24"}, 0.2, empty))
    assert result == {
        "status": "error",
        "detail": "no interface with an address in 10.213.200.0/24",
    }


def test_sweep_rounds_listen_for_the_grace_when_answers_are_expected() -> None:
    assert packets.sweep_rounds(1.0, expected=False) == [0.5, 1.0]
    grace = packets.ARP_GRACE_S
    assert packets.sweep_rounds(1.0, expected=True) == [grace / 2, grace, 1.0]
    assert packets.sweep_rounds(grace, expected=True) == [grace / 2, grace]  # --timeout short


class _Segment:
    """A fake L2 segment behind a datagram socketpair: the sweep's end is a socket whose
    bind does nothing; the other end answers ARP requests, each address after its delay
    (None: never), from a MAC of its own."""

    def __init__(self, delays: dict[str, float | None]) -> None:
        ours, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock = _Unbound(fileno=ours.detach())
        self.delays = delays
        self.asked: list[str] = []
        threading.Thread(target=self._answer, daemon=True).start()

    def _answer(self) -> None:
        while True:
            try:
                frame = self.theirs.recv(128)
            except OSError:
                return
            target = socket.inet_ntoa(frame[38:42])
            self.asked.append(target)
            delay = self.delays.get(target)
            if delay is not None:
                threading.Timer(delay, self._reply, (frame, target)).start()

    def _reply(self, request: bytes, address: str) -> None:
        mac = _mac("02:00:00:00:00:" + address.rsplit(".", 1)[1].zfill(2)[-2:])
        arp = bytes(
            Ether(dst=PROBE_MAC, src=mac)
            / ARP(op=2, hwsrc=mac, psrc=address, hwdst=PROBE_MAC, pdst=PROBE_IP)
        )  # type: ignore[no-untyped-call]
        with contextlib.suppress(OSError):
            self.theirs.send(arp)


class _Unbound(socket.socket):
    def bind(self, address: object) -> None:
        """The segment needs no interface."""


def _sweep(
    monkeypatch: pytest.MonkeyPatch, delays: dict[str, float | None], expected: list[str]
) -> tuple[dict, float, list[str]]:
    segment = _Segment(delays)
    monkeypatch.setattr(packets, "_interface_in", lambda view, cidr: ("fake0", PROBE_IP))
    monkeypatch.setattr(packets, "_hardware_address", lambda sock, name: _mac(PROBE_MAC))

    class OnSegment(View):
        def socket(self, family: int, kind: int, proto: int = 0) -> socket.socket:
            return segment.sock

    task = {"target": "10.213.200.0/28", "addresses": expected}
    start = time.monotonic()
    result = asyncio.run(packets.arp_sweep(task, 2.0, OnSegment()))
    return result, time.monotonic() - start, segment.asked


def test_a_sweep_stops_after_the_grace_once_every_expected_address_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gateway and an endpoint answer at once; nobody else: the sweep ends after its
    grace, not its window, and a claimer answering 250 ms late is still heard."""
    delays = {"10.213.200.1": 0.0, API_IP: 0.0, "10.213.200.9": 0.25}
    result, took, asked = _sweep(monkeypatch, delays, ["10.213.200.1", API_IP])
    assert set(result["answers"]) == {"10.213.200.1", API_IP, "10.213.200.9"}
    assert took < packets.ARP_WINDOW_S - 0.2
    assert asked.count("10.213.200.5") == 2  # an unused address is asked twice


def test_a_sweep_missing_an_expected_answer_listens_for_its_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, took, asked = _sweep(monkeypatch, {"10.213.200.1": 0.0}, ["10.213.200.1", API_IP])
    assert set(result["answers"]) == {"10.213.200.1"}
    assert took >= packets.ARP_WINDOW_S
    assert asked.count(API_IP) == 3  # asked again in each round
