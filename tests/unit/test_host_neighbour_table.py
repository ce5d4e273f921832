"""host.neighbour-table-full: the agent's reading of /proc/net/stat/{arp,ndisc}_cache, the
answer's record, and the check on recorded observations.

The /proc text is this test machine's own (kernel 6.18, two CPUs), read during the issue-19
benchmark: the IPv4 table had refused 10,608 allocations since boot (the N = 200 run).
The connects are the agent's answer shapes (`{"status": "timeout", "elapsed_ms": ...}`).
"""

from __future__ import annotations

from typing import Any

import pytest

from diag.agent import neighbours
from diag.agent.tasks import neighbour_tables
from diag.checks.host.neighbour_table_full import CLOSING, LIMITS, OPENING
from diag.model.context import CheckContext
from diag.model.findings import Severity
from diag.model.observations import NeighbourTable, parse
from diag.model.tasks import HOST
from diag.model.topology import Network

from .recorded import evaluate, plan, record
from .test_net_engine_checks import (
    ICC,
    SERVER_IP,
    SERVICES,
    TIMEOUT,
    _compose_ctx,
    _icc_topology,
    _network,
    _observe_edge,
    _observe_peer,
)

ID = "host.neighbour-table-full"
HEADER = (
    "entries  allocs   destroys hash_grows lookups  hits     res_failed rcv_probes_mcast "
    "rcv_probes_ucast periodic_gc_runs forced_gc_runs unresolved_discards table_fulls"
)
ARP_CACHE = (
    f"{HEADER}\n"
    "00000128 0000d298 00009669 00000005   00eceb8a 00d0c5b9 00000350   00000000         "
    "00000000         00000837         00000ba7       00000000            00000b60\n"
    "00000128 0000f25b 00012e88 00000003   0122a802 00ffd8af 00000307   00000000         "
    "00000000         00000000         00001e73       00000000            00001e10\n"
)
OPEN_NET = _network("open", "10.213.132.0/24", options={ICC: "true"})


# --- the agent ------------------------------------------------------------------------------


def test_entries_are_the_tables_and_refusals_add_up_over_cpus() -> None:
    assert neighbours.table_stats(ARP_CACHE) == {"entries": 296, "table_fulls": 0xB60 + 0x1E10}


def test_columns_are_found_by_name() -> None:
    text = "table_fulls entries\n00000002 00000010\n00000001 00000010\n"
    assert neighbours.table_stats(text) == {"entries": 16, "table_fulls": 3}


@pytest.mark.parametrize(
    "text", ["", HEADER + "\n", "entries allocs\n00000001 00000002\n", HEADER + "\n0000 0001\n"]
)
def test_other_shapes_are_errors(text: str) -> None:
    with pytest.raises(ValueError):
        neighbours.table_stats(text)


class Files:
    """A view whose /proc holds `files` (name -> text), nothing else."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def read_proc(self, name: str) -> str:
        if name not in self.files:
            raise FileNotFoundError(2, "No such file or directory")
        return self.files[name]


def test_the_task_reads_both_tables_and_skips_a_missing_ipv6_one() -> None:
    view: Any = Files({"net/stat/arp_cache": ARP_CACHE})
    assert neighbour_tables({}, 1.0, view) == {
        "status": "ok",
        "tables": [{"name": "arp_cache", "entries": 296, "table_fulls": 10608}],
    }


def test_a_namespace_without_the_files_is_an_error() -> None:
    """Only the kernel's initial namespace has them: an engine in a namespace of its own."""
    answer = neighbour_tables({}, 1.0, Files({}))  # type: ignore[arg-type]
    assert answer == {"status": "error", "detail": "no /proc/net/stat/arp_cache here"}
    broken = neighbour_tables({}, 1.0, Files({"net/stat/arp_cache": "entries\n"}))  # type: ignore[arg-type]
    assert broken["status"] == "error" and broken["detail"].startswith("arp_cache: ")


def test_the_answer_parses_into_its_record() -> None:
    raw = neighbour_tables({}, 1.0, Files({"net/stat/arp_cache": ARP_CACHE}))  # type: ignore[arg-type]
    answer = parse(OPENING, raw)
    assert answer.table("arp_cache") == NeighbourTable("arp_cache", 296, 10608)
    assert answer.table("ndisc_cache") is None
    assert parse(OPENING, {"status": "ok", "tables": [{"name": 1}]}).status == "error"


# --- the check ------------------------------------------------------------------------------


def _tables(arp_fulls: int, ndisc_fulls: int = 0, entries: int = 1020) -> dict[str, Any]:
    return {
        "status": "ok",
        "tables": [
            {"name": "arp_cache", "entries": entries, "table_fulls": arp_fulls},
            {"name": "ndisc_cache", "entries": 12, "table_fulls": ndisc_fulls},
        ],
    }


def _read(ctx: CheckContext, opening: dict[str, Any], closing: dict[str, Any] | None) -> None:
    record(ctx.observations, HOST, OPENING, opening)
    if closing is not None:
        record(ctx.observations, HOST, CLOSING, closing)
    for limit in LIMITS.values():
        record(ctx.observations, HOST, limit, {"status": "ok", "value": "1024"})


def _dropped_stack(network: Network = OPEN_NET) -> CheckContext:
    """client -> server:8080 gets no answer, from client's netns and from a peer."""
    ctx = _compose_ctx(_icc_topology(network), SERVICES)
    _observe_edge(ctx, TIMEOUT)
    _observe_peer(ctx, network, TIMEOUT)
    return ctx


def test_the_closing_read_is_planned_once_everything_else_has_ended() -> None:
    ctx = _dropped_stack()
    assert plan(ID, ctx) == [(HOST, OPENING)]
    ctx.closing = True
    assert plan(ID, ctx) == [
        (HOST, OPENING),
        (HOST, CLOSING),
        *((HOST, t) for t in LIMITS.values()),
    ]
    assert OPENING != CLOSING and OPENING.to_wire() == {
        "kind": "neighbour_tables",
        "target": "opening",
    }


def test_an_overflow_during_the_run_claims_the_connects_that_got_no_answer() -> None:
    ctx = _dropped_stack()
    _read(ctx, _tables(10608), _tables(10608 + 155, entries=1024))
    [finding] = evaluate(ID, ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("the Docker host",)
    assert finding.summary == (
        "the kernel's neighbour table overflowed while ddiag ran (arp_cache refused 155 new "
        "entries (1024 entries, limit gc_thresh3 = 1024)): packets to peers without an entry "
        "were dropped, so 2 connects that got no answer may be the table's fault, not the "
        "network's"
    )
    assert finding.evidence["table_fulls"] == "arp_cache +155 during the run"
    assert finding.evidence["no_answer"] == (
        f"client -> server:8080; peer on n_open -> {SERVER_IP}:8080"
    )
    assert finding.fix.startswith(
        "sudo sysctl -w net.ipv4.neigh.default.gc_thresh1=1024 "
        "net.ipv4.neigh.default.gc_thresh2=2048 net.ipv4.neigh.default.gc_thresh3=4096 && "
        "printf '%s\\n' net.ipv4.neigh.default.gc_thresh1=1024"
    )
    assert "net.ipv6" not in finding.fix  # the IPv6 table did not overflow
    assert evaluate("port.filtered", ctx) == []  # neither the edge nor the peer's connect


def test_the_ipv6_table_gets_its_own_settings() -> None:
    ctx = _dropped_stack()
    _read(ctx, _tables(0, 0), _tables(0, 7))
    [finding] = evaluate(ID, ctx)
    assert "ndisc_cache refused 7 new entries" in finding.summary
    assert "net.ipv6.neigh.default.gc_thresh3=4096" in finding.fix
    assert "net.ipv4" not in finding.fix


def test_no_overflow_during_the_run_leaves_the_drops_to_port_filtered() -> None:
    """A count that rose before the run (a total since boot) is not judged."""
    ctx = _dropped_stack()
    _read(ctx, _tables(10608), _tables(10608))
    assert evaluate(ID, ctx) == []
    assert [f.check for f in evaluate("port.filtered", ctx)] == ["port.filtered"]


@pytest.mark.parametrize(
    "opening, closing",
    [
        (_tables(0), None),  # the deadline cut the run short: no closing read
        ({"status": "error", "detail": "no /proc/net/stat/arp_cache here"}, _tables(9)),
        (_tables(0), {"status": "error", "detail": "no /proc/net/stat/arp_cache here"}),
    ],
)
def test_without_both_reads_nothing_is_said(
    opening: dict[str, Any], closing: dict[str, Any] | None
) -> None:
    ctx = _dropped_stack()
    _read(ctx, opening, closing)
    assert evaluate(ID, ctx) == []
    assert [f.check for f in evaluate("port.filtered", ctx)] == ["port.filtered"]


def test_a_rule_that_drops_is_more_specific_than_the_table() -> None:
    """net.icc-disabled names an option that drops exactly these packets: it keeps them;
    the overflow is still reported, without connects of its own."""
    ctx = _dropped_stack(_network("iso", "10.213.132.0/24", options={ICC: "false"}))
    _read(ctx, _tables(1), _tables(2))
    assert [f.check for f in evaluate("net.icc-disabled", ctx)] == ["net.icc-disabled"]
    [finding] = evaluate(ID, ctx)
    assert "no_answer" not in finding.evidence
    assert finding.severity is Severity.WARNING  # the run's results stand
    assert finding.summary.endswith(
        "connects between containers time out at random while it is full"
    )
