"""`ddiag capture` on the real engine (issue 20): one fixture per explained case, each run
asserting the explanation, and the pcapng it wrote read back with scapy's own reader and
holding the packets that make the case.

All traffic stays between the fixture's containers: targets are fixture services or their
addresses, and the NXDOMAIN case's lookup goes to the fixture's own DNS server (its
compose file says how). Firewall rules, routes and MTUs change only inside fixture
containers.

DDIAG_RECORD_CAPTURE=1 also copies each run's pcapng and the `facts` of its JSON report to
tests/data/capture/, the recordings the unit tests explain (tests/unit/test_capture_explain.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration import capture_image
from tests.integration.stacks import ROOT, ddiag, running

RECORDINGS = ROOT / "tests" / "data" / "capture"
Packets = list[Any]


def _tcp(packets: Packets, side: str, flags: str, sport: int | None = None) -> list[Any]:
    from scapy.layers.inet import TCP

    return [
        p
        for p in packets
        if getattr(p, "sniffed_on", "").startswith(side)
        and TCP in p
        and all(flag in str(p[TCP].flags) for flag in flags)
        and (sport is None or p[TCP].sport == sport)
    ]


def _reset_by_target(packets: Packets) -> bool:
    return bool(_tcp(packets, "target:", "R", 8000)) and bool(_tcp(packets, "source:", "R", 8000))


def _dropped_in_target(packets: Packets) -> bool:
    return bool(_tcp(packets, "target:", "S")) and not _tcp(packets, "", "SA")


def _never_at_target(packets: Packets) -> bool:
    return bool(_tcp(packets, "source:", "S")) and not _tcp(packets, "target:", "S")


def _synack_lost(packets: Packets) -> bool:
    return bool(_tcp(packets, "target:", "SA")) and not _tcp(packets, "source:", "SA")


def _rejected(packets: Packets) -> bool:
    from scapy.layers.inet import ICMP

    return any(
        ICMP in p and (p[ICMP].type, p[ICMP].code) == (3, 13) and p.sniffed_on == "source:eth0"
        for p in packets
    )


def _reset_after_data(packets: Packets) -> bool:
    from scapy.layers.inet import TCP

    data = [p for p in _tcp(packets, "source:", "", 8000) if len(p[TCP].payload) > 0]
    resets = _tcp(packets, "source:", "R", 8000)
    return bool(data) and bool(resets) and resets[0].time >= data[0].time


def _nxdomain(packets: Packets) -> bool:
    """A DNS answer NXDOMAIN for api.internal (decoded by hand: the embedded DNS's NAT'ed
    port is not 53, so scapy does not bind DNS to it by itself)."""
    from scapy.layers.dns import DNS
    from scapy.layers.inet import UDP

    answers = [DNS(bytes(p[UDP].payload)) for p in packets if UDP in p]
    return any(
        a.qr == 1 and a.rcode == 3 and a.qd and a.qd[0].qname == b"api.internal." for a in answers
    )


def _large_lost(packets: Packets) -> bool:
    from scapy.layers.inet import IP, TCP

    def large(side: str) -> list[Any]:
        return [p for p in _tcp(packets, side, "") if p[IP].len >= 1500 and p[TCP].dport == 8000]

    return bool(large("source:")) and not large("target:")


@dataclass(frozen=True)
class Case:
    fixture: str
    target: str
    check: str
    holds: Callable[[Packets], bool]
    args: tuple[str, ...] = ()
    image: bool = False  # needs the iptables image (tests/integration/capture_image.py)


CASES = [
    Case("capture-refused", "api:8000", "capture.refused", _reset_by_target),
    Case("capture-loopback-only", "api:8000", "capture.loopback-only", _reset_by_target),
    Case(
        "capture-firewall",
        "api:8000",
        "capture.dropped-in-target",
        _dropped_in_target,
        ("--count", "1", "--timeout", "1.5"),
        image=True,
    ),
    Case(
        "capture-dropped",
        "10.213.228.140:8000",
        "capture.dropped-on-the-way",
        _never_at_target,
        ("--count", "1", "--timeout", "1.5"),
        image=True,
    ),
    Case(
        "capture-synack-lost",
        "10.213.229.140:8000",
        "capture.synack-lost",
        _synack_lost,
        ("--count", "1", "--timeout", "1.5"),
        image=True,
    ),
    Case(
        "capture-icmp-reject",
        "10.213.230.140:8000",
        "capture.icmp-unreachable",
        _rejected,
        ("--count", "1"),
        image=True,
    ),
    Case(
        "capture-reset",
        "api:8000",
        "capture.reset-mid-stream",
        _reset_after_data,
        ("--send", "GET / HTTP/1.0\\r\\n\\r\\n"),
    ),
    Case("capture-nxdomain", "api.internal:8000", "capture.dns-nxdomain", _nxdomain),
    Case(
        "capture-mtu",
        "10.213.165.140:8000",
        "capture.mtu-black-hole",
        _large_lost,
        ("--count", "1", "--bulk", "6000"),
        image=True,
    ),
]


def _record(case: Case, pcap: Path, report: dict[str, Any]) -> None:
    RECORDINGS.mkdir(parents=True, exist_ok=True)
    name = case.fixture.removeprefix("capture-")
    shutil.copy(pcap, RECORDINGS / f"{name}.pcapng")
    facts = json.dumps(report["facts"], indent=1, sort_keys=True) + "\n"
    (RECORDINGS / f"{name}.json").write_text(facts)


@pytest.fixture(scope="module")
def iptables_image() -> None:
    why = capture_image.missing()
    if why:
        pytest.skip(f"the iptables fixture image cannot be built: {why}")
    capture_image.build()


@pytest.mark.engine
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.fixture)
def test_capture_explains(case: Case, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from scapy.utils import rdpcap

    if case.image:
        request.getfixturevalue("iptables_image")
    pcap = tmp_path / "capture.pcapng"
    with running(case.fixture) as stack:
        source = f"{stack.project}-web-1"
        result = ddiag("capture", source, case.target, "--json", "--pcap", str(pcap), *case.args)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    checks = [finding["check"] for finding in report["findings"]]
    assert case.check in checks, json.dumps(report, indent=1)
    assert checks[0] == case.check  # the explanation, not a side remark, comes first
    import scapy.layers.inet  # noqa: F401  (Ether and IP for the reader)

    packets = rdpcap(str(pcap))
    assert len(packets) == report["frames"]
    assert case.holds(list(packets)), [p.summary() for p in packets]
    if os.environ.get("DDIAG_RECORD_CAPTURE") == "1":
        _record(case, pcap, report)


@pytest.mark.engine
def test_passive_capture_explains_the_applications_own_connections() -> None:
    """--passive makes no connection: web's own `nc api 8000`, run meanwhile, is watched."""
    with running("capture-loopback-only") as stack:
        web = f"{stack.project}-web-1"
        stop = threading.Event()

        def clients() -> None:
            while not stop.is_set():
                subprocess.run(
                    ["docker", "exec", web, "sh", "-c", "echo hi | nc -w 1 api 8000"],
                    capture_output=True,
                    timeout=30,
                    check=False,
                )
                time.sleep(0.3)

        worker = threading.Thread(target=clients, daemon=True)
        worker.start()
        try:
            result = ddiag("capture", web, "api:8000", "--passive", "--seconds", "4", "--json")
        finally:
            stop.set()
            worker.join(30)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["attempts"], "no connection seen"
    assert {a["verdict"] for a in report["attempts"]} == {"capture.loopback-only"}


@pytest.mark.engine
def test_capture_refuses_unknown_source() -> None:
    result = ddiag("capture", "ddiagt-capture-no-such-container", "api:8000")
    assert result.returncode == 2
    assert "no container" in result.stderr
