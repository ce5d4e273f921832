"""`parse`: the agent's JSON answers as typed records, and what a malformed answer becomes.

Answers are the agent's own output where it can be made without a socket (files read
through a View rooted in a temporary directory, the /proc parsers on recorded files), else
the shapes diag/agent/tasks.py and diag/agent/packets.py write.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args, get_type_hints

import pytest

from diag.agent import tasks as agent
from diag.agent.netif import ipv4_routes
from diag.agent.procnet import listening_sockets
from diag.agent.view import View
from diag.model.observations import (
    KINDS,
    ArpSweepAnswer,
    ConnectAnswer,
    HostsAnswer,
    HostsEntry,
    Interface,
    PmtuAnswer,
    PmtuTarget,
    ReachAnswer,
    ResolvConfAnswer,
    ResolveAnswer,
    Route,
    Socket,
    SysctlAnswer,
    parse,
)
from diag.model.tasks import (
    CONNECTIONS,
    HOSTS,
    INTERFACES,
    LISTENING,
    RESOLV_CONF,
    Observations,
    Placement,
    Task,
    arp_sweep,
    connect,
    pmtu,
    reach,
    resolve,
    sysctl,
)
from diag.probes.session import answered

from .recorded import DATA, load_json

MALFORMED = "malformed answer from the agent: "
REACH = reach("db", 5432, True, ("10.1.0.0/24",))
ROUTE_FILE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t0100010A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "eth0\t0000010A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
)


def test_every_task_kind_has_a_record() -> None:
    assert set(KINDS) == set(get_args(get_type_hints(Task)["kind"]))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"status": "open", "elapsed_ms": 15}, ConnectAnswer("open", 15)),
        (
            {"status": "refused", "detail": "Connection refused", "elapsed_ms": 1},
            ConnectAnswer("refused", 1, "Connection refused"),
        ),
        ({"status": "timeout", "elapsed_ms": 2003}, ConnectAnswer("timeout", 2003)),
        (
            {"status": "error", "detail": "OSError: boom"},
            ConnectAnswer("error", None, "OSError: boom"),
        ),
    ],
)
def test_connect(raw: dict[str, Any], expected: ConnectAnswer) -> None:
    assert parse(connect("10.1.0.3", 80), raw) == expected


def test_resolve() -> None:
    answered = {
        "status": "ok",
        "rcode": "NOERROR",
        "server": "127.0.0.11",
        "addresses": ["10.1.0.3", "10.1.0.4"],
        "elapsed_ms": 4,
    }
    assert parse(resolve("db"), answered) == ResolveAnswer(
        "ok", "127.0.0.11", "NOERROR", ("10.1.0.3", "10.1.0.4"), 4
    )
    silent = {"status": "timeout", "server": "192.0.2.53", "elapsed_ms": 2001}
    assert parse(resolve("db"), silent) == ResolveAnswer("timeout", "192.0.2.53", elapsed_ms=2001)
    none = {"status": "error", "detail": "no nameserver in /etc/resolv.conf"}
    assert parse(resolve("db"), none).rcode is None


def test_listening_from_the_agents_proc_parser() -> None:
    sockets = listening_sockets((DATA / "agent/proc-net-tcp6-web.txt").read_text(), "tcp6")
    answer = parse(LISTENING, {"status": "ok", "sockets": sockets})
    assert answer.status == "ok"
    assert answer.sockets == tuple(Socket("tcp6", s["address"], s["port"]) for s in sockets)
    assert answer.sockets


def test_files_read_by_the_agent(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/resolv.conf").write_text(
        "search shop.internal\nnameserver 127.0.0.11\noptions ndots:0\n"
    )
    (tmp_path / "etc/hosts").write_text("127.0.0.1 localhost\n10.1.0.9 db db.local # pinned\n")
    view = View(root=str(tmp_path))
    assert parse(RESOLV_CONF, agent.resolv_conf({}, 1.0, view)) == ResolvConfAnswer(
        "ok", ("127.0.0.11",), ("shop.internal",), ("ndots:0",)
    )
    assert parse(HOSTS, agent.hosts({}, 1.0, view)) == HostsAnswer(
        "ok", (HostsEntry("127.0.0.1", ("localhost",)), HostsEntry("10.1.0.9", ("db", "db.local")))
    )


def test_reach() -> None:
    raw = {
        "status": "ok",
        "hosts_ips": [],
        "resolve": {
            "status": "ok",
            "rcode": "NOERROR",
            "server": "127.0.0.11",
            "addresses": ["10.1.0.3"],
            "elapsed_ms": 2,
        },
        "connects": {"10.1.0.3": {"status": "refused", "elapsed_ms": 1}},
    }
    answer = parse(REACH, raw)
    assert answer == ReachAnswer(
        "ok",
        (),
        ResolveAnswer("ok", "127.0.0.11", "NOERROR", ("10.1.0.3",), 2),
        {"10.1.0.3": ConnectAnswer("refused", 1)},
    )
    hosts_only = parse(
        REACH, {"status": "ok", "hosts_ips": ["10.1.0.9"], "resolve": None, "connects": {}}
    )
    assert hosts_only == ReachAnswer("ok", ("10.1.0.9",))


def test_interfaces_and_their_report_shape() -> None:
    interfaces = [
        {"name": "eth0", "up": True, "mtu": 1500, "addresses": ["10.1.0.3/24"]},
        {"name": "lo", "up": True, "mtu": 65536, "addresses": ["127.0.0.1/8", "::1/128"]},
    ]
    routes = ipv4_routes(ROUTE_FILE)
    raw = {"status": "ok", "interfaces": interfaces, "routes": routes, "netns": 4026532291}
    answer = parse(INTERFACES, raw)
    assert answer.netns == 4026532291
    assert answer.interfaces[1] == Interface("lo", True, 65536, ("127.0.0.1/8", "::1/128"))
    assert answer.routes == (
        Route("default", "eth0", via="10.1.0.1"),
        Route("10.1.0.0/24", "eth0", metric=100),
    )
    # the report (topology.netns) shows them exactly as the agent wrote them
    assert json.dumps([i.to_dict() for i in answer.interfaces]) == json.dumps(interfaces)
    assert json.dumps([r.to_dict() for r in answer.routes]) == json.dumps(routes)


def test_sysctl() -> None:
    assert parse(sysctl("net/ipv4/ip_forward"), {"status": "ok", "value": "1"}) == SysctlAnswer(
        "ok", "1"
    )
    denied = {"status": "error", "detail": "Permission denied"}
    assert parse(sysctl("net/ipv4/ip_forward"), denied) == SysctlAnswer(
        "error", detail="Permission denied"
    )


def test_arp_sweep() -> None:
    raw = {
        "status": "ok",
        "interface": "eth0",
        "source": "10.1.0.2",
        "source_mac": "02:42:0a:01:00:02",
        "swept": 254,
        "addresses": 254,
        "answers": {"10.1.0.3": ["02:42:0a:01:00:03", "02:42:0a:01:00:99"]},
    }
    assert parse(arp_sweep("10.1.0.0/24"), raw) == ArpSweepAnswer(
        "ok",
        "eth0",
        "10.1.0.2",
        "02:42:0a:01:00:02",
        254,
        254,
        {"10.1.0.3": ("02:42:0a:01:00:03", "02:42:0a:01:00:99")},
    )


def test_pmtu_sizes_become_numbers() -> None:
    raw = {
        "status": "ok",
        "targets": {
            "10.1.0.3": {"sizes": {"1400": "ok", "1500": "timeout"}, "largest_ok": 1400},
        },
    }
    assert parse(pmtu(("10.1.0.3",), (1400, 1500)), raw) == PmtuAnswer(
        "ok", {"10.1.0.3": PmtuTarget({1400: "ok", 1500: "timeout"}, 1400)}
    )


def test_recorded_answers_parse_cleanly() -> None:
    recorded = load_json("agent/observations-api141.json")
    answers = [parse(Task(**item["task"]), item["result"]) for item in recorded]
    assert answers
    assert not [a for a in answers if a.detail.startswith(MALFORMED)]


def test_observations_return_the_record_of_the_task() -> None:
    at = Placement("network", "n1")
    observations = Observations()
    observations.results[(at, connect("10.1.0.3", 80))] = parse(
        connect("10.1.0.3", 80), {"status": "open", "elapsed_ms": 3}
    )
    assert observations.get(at, connect("10.1.0.3", 80)) == ConnectAnswer("open", 3)
    assert observations.get(at, connect("10.1.0.3", 81)) is None


@pytest.mark.parametrize(
    ("task", "raw", "why"),
    [
        (connect("10.1.0.3", 80), None, "the answer is not an object"),
        (connect("10.1.0.3", 80), ["open"], "the answer is not an object"),
        (connect("10.1.0.3", 80), {}, "the answer has no known status (None)"),
        (connect("10.1.0.3", 80), {"status": "ok"}, "the answer has no known status ('ok')"),
        (
            resolve("db"),
            {"status": "nxdomain", "addresses": "10.1.0.3"},
            "'addresses' of the answer is not a list",
        ),
        (
            resolve("db"),
            {"status": "ok", "addresses": [3]},
            "'addresses' of the answer is not a list of strings",
        ),
        (
            connect("10.1.0.3", 80),
            {"status": "open", "elapsed_ms": "3"},
            "'elapsed_ms' of the answer is not an integer",
        ),
        (
            connect("10.1.0.3", 80),
            {"status": "open", "elapsed_ms": True},
            "'elapsed_ms' of the answer is not an integer",
        ),
        (
            CONNECTIONS,
            {"status": "ok", "sockets": [{"state": "close_wait", "peer": "10.1.0.3"}]},
            "sockets[0] of the answer has no known state ('close_wait')",
        ),
        (
            LISTENING,
            {"status": "ok", "sockets": ["0.0.0.0:80"]},
            "sockets[0] of the answer is not an object",
        ),
        (
            LISTENING,
            {"status": "ok", "sockets": [{"address": "::", "port": "80"}]},
            "'port' of sockets[0] of the answer is not an integer",
        ),
        (
            INTERFACES,
            {"status": "ok", "interfaces": [{"name": "eth0", "up": 1}]},
            "'up' of interfaces[0] of the answer is not true or false",
        ),
        (
            REACH,
            {"status": "ok", "connects": {"10.1.0.3": {"status": "closed"}}},
            "its connect to 10.1.0.3 has no known status ('closed')",
        ),
        (REACH, {"status": "ok", "resolve": "NXDOMAIN"}, "its resolve is not an object"),
        (
            pmtu(("10.1.0.3",), (1500,)),
            {"status": "ok", "targets": {"10.1.0.3": {"sizes": {"big": "ok"}}}},
            "a size of target 10.1.0.3 is not a number",
        ),
        (
            arp_sweep("10.1.0.0/24"),
            {"status": "ok", "answers": {"10.1.0.3": "02:42"}},
            "'10.1.0.3' of its answers is not a list",
        ),
    ],
)
def test_malformed_answers_become_error_records(task: Task, raw: object, why: str) -> None:
    answer = parse(task, raw)
    assert type(answer) is KINDS[task.kind][0]
    assert answer.status == "error"
    assert answer.detail == MALFORMED + why


def test_answers_enter_ddiag_parsed() -> None:
    """The probes' answers (a resident's stream, a swarm task's log) become events here."""
    pair = (Placement("network", "n1"), connect("10.1.0.3", 80))
    assert answered(pair, {"status": "open", "elapsed_ms": 3}).result == ConnectAnswer("open", 3)
    garbled = answered(pair, "open").result
    assert (garbled.status, garbled.detail) == ("error", MALFORMED + "the answer is not an object")


def test_connections_become_typed_records() -> None:
    raw = {
        "status": "ok",
        "sockets": [
            {
                "family": "tcp",
                "state": "syn_sent",
                "address": "10.1.0.4",
                "port": 40000,
                "peer": "10.1.0.2",
                "peer_port": 8080,
            }
        ],
    }
    answer = parse(CONNECTIONS, raw)
    assert answer.status == "ok"
    (connection,) = answer.connections
    assert (connection.state, connection.peer, connection.peer_port) == (
        "syn_sent",
        "10.1.0.2",
        8080,
    )
