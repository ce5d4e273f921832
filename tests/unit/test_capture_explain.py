"""`ddiag capture`'s explanation on recorded captures (issue 20).

tests/data/capture/ holds, per case, the pcapng a real fixture run wrote (`--pcap`) and the
`facts` of its JSON report (tests/integration/test_capture.py, DDIAG_RECORD_CAPTURE=1):
explaining them again must give the same verdict, since the explanation is a pure
function of the two. The rest: the pcapng writer read back by scapy, the BPF program's
shape, the plan's DNS rule, the answer's parsing, and hand-made packets for the cases no
fixture builds (SYN never seen at the target, SYN-ACK lost, ICMP errors, a search walk).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from diag.agent import bpf
from diag.capture.decode import Dns, Seen, from_pcapng
from diag.capture.explain import explain, text_of
from diag.capture.facts import Facts
from diag.capture.pcap import pcapng, split_interface
from diag.model.observations import CaptureAnswer, Frame
from diag.model.tasks import capture

DATA = Path(__file__).resolve().parents[1] / "data" / "capture"
RECORDED = {
    "refused": "capture.refused",
    "dropped": "capture.dropped-on-the-way",
    "synack-lost": "capture.synack-lost",
    "icmp-reject": "capture.icmp-unreachable",
    "loopback-only": "capture.loopback-only",
    "firewall": "capture.dropped-in-target",
    "reset": "capture.reset-mid-stream",
    "nxdomain": "capture.dns-nxdomain",
    "mtu": "capture.mtu-black-hole",
}


def _recorded(name: str) -> tuple[Facts, list[Seen]]:
    facts = Facts.from_dict(json.loads((DATA / f"{name}.json").read_text()))
    return facts, from_pcapng(DATA / f"{name}.pcapng")


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_capture_is_explained(name: str) -> None:
    facts, packets = _recorded(name)
    explained = explain(facts, packets)
    assert explained.findings[0].check == RECORDED[name]
    assert all(f.subjects == facts.subjects() for f in explained.findings)


def test_recordings_are_small() -> None:
    assert sum(p.stat().st_size for p in DATA.iterdir()) < 64 * 1024


def test_the_loopback_case_needs_the_sockets() -> None:
    """The same packets with nothing listening (the sockets read empty) are a refusal."""
    facts, packets = _recorded("loopback-only")
    assert explain(facts, packets).findings[0].check == "capture.loopback-only"
    no_listener = Facts.from_dict(facts.to_dict() | {"listeners": []})
    assert explain(no_listener, packets).findings[0].check == "capture.refused"


def test_without_the_target_side_a_drop_is_only_no_answer() -> None:
    facts, packets = _recorded("firewall")
    source_only = [p for p in packets if p.side == "source"]
    blind = Facts.from_dict(facts.to_dict() | {"target_captured": False})
    assert explain(blind, source_only).findings[0].check == "capture.no-answer"


def test_passive_capture_explains_every_connection_seen() -> None:
    facts, packets = _recorded("refused")
    watching = Facts.from_dict(facts.to_dict() | {"passive": True, "attempts": []})
    explained = explain(watching, packets)
    assert len(explained.attempts) == len(facts.attempts)
    assert {a.verdict.check for a in explained.attempts if a.verdict} == {"capture.refused"}


def test_the_reset_case_shows_the_first_bytes() -> None:
    facts, packets = _recorded("reset")
    first = explain(facts, packets).attempts[0].first_bytes
    assert first.startswith("HTTP/1.0 200 OK")


def test_the_nxdomain_case_names_the_embedded_dns_and_its_upstream() -> None:
    facts, packets = _recorded("nxdomain")
    summary = explain(facts, packets).findings[0].summary
    assert "127.0.0.11 (the embedded DNS) answered NXDOMAIN" in summary
    assert "10.213.164.53" in summary


# --- hand-made packets ------------------------------------------------------------------

SRC, DST, PORT, CLIENT = "10.0.0.2", "10.0.0.3", 8000, 40000


def _tcp(t: float, side: str, flags: str, to_server: bool = True, **more: object) -> Seen:
    ends = (SRC, DST, CLIENT, PORT) if to_server else (DST, SRC, PORT, CLIENT)
    return Seen(t, side, "eth0", side == "source", "tcp", *ends, flags=flags, size=60, **more)  # type: ignore[arg-type]


FACTS = Facts(
    "web-1",
    "api",
    PORT,
    ("web", "web-1"),
    "api-1",
    ("api", "api-1"),
    target_captured=True,
    attempts=({"local_port": CLIENT, "connect": "timeout"},),
)


def _first(packets: list[Seen], facts: Facts = FACTS) -> str:
    return explain(facts, packets).findings[0].check


def test_a_syn_never_seen_at_the_target_was_dropped_on_the_way() -> None:
    assert _first([_tcp(0, "source", "S"), _tcp(1, "source", "S")]) == (
        "capture.dropped-on-the-way"
    )


def test_a_drop_on_the_way_names_the_hop_the_topology_shows() -> None:
    syn = [_tcp(0, "source", "S")]
    on_a_bridge = Facts.from_dict(FACTS.to_dict() | {"shared_networks": ["shop_default"]})
    assert "bridge of shop_default" in explain(on_a_bridge, syn).findings[0].summary
    routed = Facts.from_dict(FACTS.to_dict() | {"shared_networks": []})
    assert "share no network" in explain(routed, syn).findings[0].summary


def test_a_synack_that_never_came_back_was_lost_on_the_way() -> None:
    packets = [_tcp(0, "source", "S"), _tcp(0, "target", "S"), _tcp(0, "target", "SA", False)]
    assert _first(packets) == "capture.synack-lost"


def test_a_reset_the_target_never_sent_came_from_the_path() -> None:
    assert _first([_tcp(0, "source", "S"), _tcp(0, "source", "RA", False)]) == (
        "capture.reset-on-the-way"
    )


def test_an_icmp_error_about_the_connection_is_named() -> None:
    icmp = Seen(
        0.1, "source", "eth0", False, "icmp", "10.0.0.1", SRC,
        icmp_type=3, icmp_code=13, inner=(SRC, DST, CLIENT, PORT),
    )  # fmt: skip
    found = explain(FACTS, [_tcp(0, "source", "S"), icmp]).findings[0]
    assert found.check == "capture.icmp-unreachable"
    assert "administratively prohibited" in found.summary


def test_a_connection_older_than_a_passive_capture_is_judged_by_what_it_carried() -> None:
    watching = Facts.from_dict(FACTS.to_dict() | {"passive": True, "attempts": []})
    packets = [
        _tcp(0, "source", "PA", seq=1, payload_len=10),
        _tcp(0, "target", "PA", seq=1, payload_len=10),
        _tcp(0.1, "source", "RA", False),
        _tcp(0.1, "target", "RA", False),
    ]
    assert _first(packets, watching) == "capture.reset-mid-stream"


def test_a_truncated_answer_is_reported() -> None:
    query = Dns(9, False, "api", "A")
    answer = Dns(9, True, "api", "A", "NOERROR", ("10.0.0.3",), truncated=True)
    packets = [
        Seen(0, "source", "lo", False, "udp", "127.0.0.1", "127.0.0.11", dns=query),
        Seen(0.001, "source", "lo", False, "udp", "127.0.0.11", "127.0.0.1", dns=answer),
    ]
    found = explain(FACTS, packets)
    assert "capture.dns-truncated" in {f.check for f in found.findings}
    assert found.dns[0].truncated


def test_a_search_walk_is_reported() -> None:
    def query(t: float, name: str, rcode: str = "") -> Seen:
        dns = Dns(7, bool(rcode), name, "A", rcode)
        src, dst = ("127.0.0.11", "127.0.0.1") if rcode else ("127.0.0.1", "127.0.0.11")
        return Seen(t, "source", "lo", False, "udp", src, dst, dns=dns)

    packets = [
        query(0, "api.corp.example"),
        query(0.01, "api.corp.example", "NXDOMAIN"),
        query(0.02, "api"),
        query(0.03, "api", "NOERROR"),
    ]
    checks = {f.check for f in explain(FACTS, packets).findings}
    assert "capture.dns-search-walk" in checks


def test_text_of_keeps_text_only() -> None:
    assert text_of(b"-ERR unknown command\r\n") == "-ERR unknown command\r\n"
    assert text_of(bytes(range(256))) == ""


# --- the pieces around the explanation ---------------------------------------------------


def test_pcapng_round_trip_keeps_sides_directions_and_lengths(tmp_path: Path) -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import rdpcap

    syn = bytes(Ether() / IP(src=SRC, dst=DST) / TCP(sport=CLIENT, dport=PORT, flags="S"))
    frames = [
        Frame(1.5, "source", "eth0", 4, 1, len(syn), syn),
        Frame(1.6, "target", "eth0", 0, 1, len(syn) + 100, syn),  # cut at the snap length
    ]
    path = tmp_path / "x.pcapng"
    path.write_bytes(pcapng(frames, {"source": "netns of web-1"}, 1024))
    packets = rdpcap(str(path))
    assert [p.sniffed_on for p in packets] == ["source:eth0", "target:eth0"]
    assert [p.direction for p in packets] == [2, 1]
    assert packets[1].wirelen == len(syn) + 100
    assert packets[0][TCP].flags == "S"
    assert [(s.side, s.sent) for s in from_pcapng(path)] == [("source", True), ("target", False)]
    assert split_interface("eth0") == ("", "eth0")


def test_bpf_program_is_well_formed() -> None:
    code = bpf.assemble(bpf.program(["127.0.0.11", "10.0.0.3"], [8000, 53], 1024))
    assert code[-1] == (bpf.RET | bpf.K, 0, 0, 1024)  # accept: the snap length
    assert code[-2] == (bpf.RET | bpf.K, 0, 0, 0)  # drop
    for index, (op, jt, jf, _) in enumerate(code):
        if op & 0x07 == bpf.JMP:
            assert index + 1 + max(jt, jf) < len(code)
    assert len(bpf.packed(["10.0.0.3"], [8000], 64)) % 8 == 0


def test_bpf_program_caps_its_lists() -> None:
    many = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(100)]
    code = bpf.assemble(bpf.program(many, list(range(1, 100)), 64))
    assert len(code) < 255


def test_capture_task_sends_its_settings() -> None:
    wire = capture("api", 8000, ("10.0.0.0/24",), count=2, also=[{"pid": 5}]).to_wire()
    assert wire["kind"] == "capture"
    assert wire["count"] == 2
    assert wire["also"] == [{"pid": 5}]
    assert "extra" not in wire


def test_capture_answer_is_parsed_and_malformed_frames_are_an_error() -> None:
    from diag.model.observations import parse

    task = capture("api", 8000, ())
    good = {
        "status": "ok",
        "frames": [[1.0, "source", "eth0", 4, 1, 60, base64.b64encode(b"x").decode()]],
        "attempts": [{"local_port": 1}],
        "not_captured": [{"side": "target", "why": "gone"}],
    }
    answer = parse(task, good)
    assert isinstance(answer, CaptureAnswer)
    assert answer.frames[0].data == b"x"
    assert answer.not_captured == ("target: gone",)
    bad = parse(task, good | {"frames": [[1.0, "source"]]})
    assert bad.status == "error"


def test_the_report_redacts_the_first_bytes_and_keeps_no_raw_bytes() -> None:
    from diag.capture.report import document, render
    from diag.report.redact import Redactor

    facts, packets = _recorded("reset")
    secret = base64.b64encode(b"HTTP/1.0 200 OK\r\npassword=hunter2-secret\r\n").decode()
    attempts = tuple(dict(a) | {"received": secret} for a in facts.attempts)
    leaky = Facts.from_dict(facts.to_dict() | {"attempts": attempts})
    doc = document(leaky, explain(leaky, packets), [], len(packets), "", Redactor())
    text = json.dumps(doc) + render(doc)
    assert "hunter2" not in text
    assert secret not in text
    assert doc["attempts"][0]["first_bytes"].startswith("HTTP/1.0 200 OK")
