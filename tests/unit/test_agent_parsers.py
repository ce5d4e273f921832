"""The agent's parsers (/proc/net/tcp*, resolv.conf), its protocol, and `connect`."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from diag.agent import netlink, procnet, sockdiag
from diag.agent.netif import (
    IFADDRMSG,
    RTM_NEWADDR,
    interface_names,
    ipv4_addresses_in,
    ipv4_routes,
    ipv6_addresses,
)
from diag.agent.netlink import ATTRIBUTE, HEADER, NLMSG_DONE, NLMSG_ERROR
from diag.agent.procnet import decode_address, listening_sockets
from diag.agent.resolvconf import parse_resolv_conf
from diag.agent.tasks import connect, run_task

from .recorded import DATA

ROOT = Path(__file__).resolve().parents[2]

TCP_HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode"
)
TCP6_HEADER = (
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
)

# A server on 127.0.0.1:8000 and 0.0.0.0:5432, the embedded DNS on 127.0.0.11, one
# established connection (state 01) and one TIME_WAIT (06) that must not count.
PROC_NET_TCP = "\n".join(
    [
        TCP_HEADER,
        "   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000"
        "        0 21742 1 0000000000000000 100 0 0 10 0",
        "   1: 00000000:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999"
        "        0 21801 1 0000000000000000 100 0 0 10 0",
        "   2: 0B00007F:A8FD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0"
        "        0 19461 1 0000000000000000 100 0 0 10 0",
        "   3: 0400D50A:1538 0200D50A:C5A2 01 00000000:00000000 00:00000000 00000000   999"
        "        0 23011 1 0000000000000000 20 4 30 10 -1",
        "   4: 0400D50A:1F90 0200D50A:C5A4 06 00000000:00000000 03:00000F3C 00000000     0"
        "        0 0 3 0000000000000000",
        "",
    ]
)

PROC_NET_TCP6 = "\n".join(
    [
        TCP6_HEADER,
        "   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000     0        0 30001 1 0000000000000000 100 0 0"
        " 10 0",
        "   1: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000     0        0 30002 1 0000000000000000 100 0 0"
        " 10 0",
        "   2: 0000000000000000FFFF00000100007F:2328 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000     0        0 30003 1 0000000000000000 100 0 0"
        " 10 0",
        "   3: 0000000000000000FFFF00000400D50A:1F90 0000000000000000FFFF00000200D50A:D1F2 01"
        " 00000000:00000000 00:00000000 00000000     0        0 30004 1 0000000000000000 20 4 30"
        " 10 -1",
    ]
)


# --- decode_address ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hex_address", "expected"),
    [
        ("0100007F:1F40", ("127.0.0.1", 8000)),
        ("00000000:0000", ("0.0.0.0", 0)),
        ("0B00007F:0035", ("127.0.0.11", 53)),
        ("0400D50A:1F90", ("10.213.0.4", 8080)),
        ("00000000000000000000000001000000:0050", ("::1", 80)),
        ("00000000000000000000000000000000:1F90", ("::", 8080)),
        # v4-mapped IPv6 (::ffff:127.0.0.1) is reported as the IPv4 address
        ("0000000000000000FFFF00000100007F:2328", ("127.0.0.1", 9000)),
        # fe80::1 (link-local): each 32-bit word is little-endian
        ("000080FE000000000000000001000000:01BB", ("fe80::1", 443)),
    ],
)
def test_decode_address(hex_address: str, expected: tuple[str, int]) -> None:
    assert decode_address(hex_address) == expected


@pytest.mark.parametrize("bad", ["0100007F", "0100:1F40", "ZZ00007F:1F40", "0100007F:1F40:1"])
def test_decode_address_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        decode_address(bad)


# --- listening_sockets ---------------------------------------------------------------------


def test_listening_sockets_tcp_keeps_listen_state_only() -> None:
    assert listening_sockets(PROC_NET_TCP, "tcp") == [
        {"family": "tcp", "address": "127.0.0.1", "port": 8000},
        {"family": "tcp", "address": "0.0.0.0", "port": 5432},
        {"family": "tcp", "address": "127.0.0.11", "port": 43261},
    ]


def test_listening_sockets_tcp6() -> None:
    assert listening_sockets(PROC_NET_TCP6, "tcp6") == [
        {"family": "tcp6", "address": "::1", "port": 80},
        {"family": "tcp6", "address": "::", "port": 8080},
        {"family": "tcp6", "address": "127.0.0.1", "port": 9000},
    ]


def test_listening_sockets_skips_malformed_lines() -> None:
    text = "\n".join(
        [
            TCP_HEADER,
            "garbage",
            "   0: 0100007F 00000000:0000 0A",  # no port
            "   1: XYZ:1F40 00000000:0000 0A 00000000:00000000",  # not hex
            "   2: 0100007F:1F40",  # too few fields
            "   3: 01007F:1F40 00000000:0000 0A 00000000:00000000",  # 3-byte address
            "",
            "   4: 0100007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
        ]
    )
    assert listening_sockets(text, "tcp") == [
        {"family": "tcp", "address": "127.0.0.1", "port": 8001}
    ]


def test_listening_sockets_header_only_and_empty() -> None:
    assert listening_sockets(TCP6_HEADER + "\n", "tcp6") == []
    assert listening_sockets("", "tcp") == []


def test_listening_sockets_on_recorded_proc_text() -> None:
    """`cat /proc/net/tcp*` inside the recorded `web` (httpd -p 8080) and `api` containers."""
    web_tcp = (DATA / "agent/proc-net-tcp-web.txt").read_text()
    web_tcp6 = (DATA / "agent/proc-net-tcp6-web.txt").read_text()
    api_tcp6 = (DATA / "agent/proc-net-tcp6-api.txt").read_text()
    assert listening_sockets(web_tcp, "tcp") == [
        {"family": "tcp", "address": "127.0.0.11", "port": 34385}
    ]
    assert listening_sockets(web_tcp6, "tcp6") == [
        {"family": "tcp6", "address": "::", "port": 8080}
    ]
    assert listening_sockets(api_tcp6, "tcp6") == []


# --- resolv.conf ---------------------------------------------------------------------------


def test_parse_resolv_conf_embedded_dns() -> None:
    assert parse_resolv_conf("nameserver 127.0.0.11\noptions ndots:0\n") == {
        "nameservers": ["127.0.0.11"],
        "search": [],
        "options": ["ndots:0"],
    }


def test_parse_resolv_conf_comments_search_and_options() -> None:
    text = """\
# Generated by Docker Engine.
# ExtServers: [host(192.0.2.53)]
; a comment in the other style
nameserver 127.0.0.11   # trailing comment
nameserver 10.255.255.53;also a comment
search first.example old.example
domain second.example
search corp.example svc.example
options ndots:0
options timeout:1 attempts:2
  options   rotate
nameserver
bogus line here
"""
    assert parse_resolv_conf(text) == {
        "nameservers": ["127.0.0.11", "10.255.255.53"],
        "search": ["corp.example", "svc.example"],
        "options": ["ndots:0", "timeout:1", "attempts:2", "rotate"],
    }


def test_parse_resolv_conf_domain_after_search_wins() -> None:
    result = parse_resolv_conf("search a.example b.example\ndomain c.example\n")
    assert result["search"] == ["c.example"]


def test_parse_resolv_conf_empty() -> None:
    assert parse_resolv_conf("") == {"nameservers": [], "search": [], "options": []}


# --- the agent's protocol: requests on stdin, one answer per line on stdout ---------------


def _serve(*requests: dict) -> list[dict]:
    """Run the real agent (own view: pid 0) on these request lines; its answer lines."""
    feed = "".join(json.dumps(request) + "\n" for request in requests)
    done = subprocess.run(
        [sys.executable, "-m", "diag.agent"],
        input=feed,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=ROOT,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_agent_answers_each_task_then_says_done() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        lines = _serve(
            {
                "timeout": 1,
                "tasks": [
                    {"k": 1, "pid": 0, "kind": "connect", "target": "127.0.0.1", "port": port},
                    {"k": 2, "pid": 0, "kind": "nonsense"},
                ],
            }
        )
    assert "ready" in lines[0]
    answers = {line["k"]: line["r"] for line in lines if "k" in line}
    assert answers[1]["status"] == "open"
    assert answers[2] == {"status": "error", "detail": "unknown task kind 'nonsense'"}
    assert lines[-1]["done"] == 1
    assert set(lines[-1]) == {"done", "memory_peak_bytes"}


def test_agent_fails_a_container_it_cannot_view() -> None:
    """A pid that is not the container's (restarted, or gone) is never observed by mistake."""
    lines = _serve(
        {"timeout": 1, "tasks": [{"k": 5, "pid": 1, "container": "f" * 64, "kind": "listening"}]}
    )
    failure = next(line for line in lines if line.get("k") == 5)
    assert "r" not in failure
    assert "restarted" in failure["fail"] or "gone" in failure["fail"]


# --- connect against loopback --------------------------------------------------------------


def test_connect_open_on_a_loopback_listener() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        result = asyncio.run(
            connect({"kind": "connect", "target": "127.0.0.1", "port": port}, timeout=2.0)
        )
    assert result["status"] == "open"
    assert isinstance(result["elapsed_ms"], int) and result["elapsed_ms"] >= 0
    assert "detail" not in result


def test_connect_refused_on_a_closed_loopback_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: refuses connections
        result = asyncio.run(
            connect({"kind": "connect", "target": "127.0.0.1", "port": port}, timeout=2.0)
        )
    assert result["status"] == "refused"
    assert result["detail"] == "Connection refused"


def test_run_task_dispatches_and_never_raises() -> None:
    assert asyncio.run(run_task({"kind": "nonsense"}, 1.0)) == {
        "status": "error",
        "detail": "unknown task kind 'nonsense'",
    }
    broken = asyncio.run(run_task({"kind": "connect", "target": "127.0.0.1"}, 1.0))  # no port
    assert broken["status"] == "error"
    assert broken["detail"].startswith("KeyError")


# --- interfaces and routes (ip -br addr, ip route) ----------------------------------------

PROC_NET_DEV = """Inter-|   Receive                            |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs
    lo:       0       0    0    0    0     0          0         0        0       0    0
  eth0:    1758      19    0    0    0     0          0         0      656       8    0
"""
PROC_NET_ROUTE = """\
Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
eth0 00000000 01D50A0A 0003 0 0 0 00000000 0 0 0
eth0 0000D50A 00000000 0001 0 0 0 00FFFFFF 0 0 0
eth1 0000A8C0 00000000 0001 0 0 100 0000FFFF 0 0 0
"""
IF_INET6 = """fe800000000000000042acfffe110002 02 40 20 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
"""


def test_interface_names_from_proc_net_dev() -> None:
    assert interface_names(PROC_NET_DEV) == ["lo", "eth0"]


def test_ipv4_routes_from_proc_net_route() -> None:
    assert ipv4_routes(PROC_NET_ROUTE.replace("\\\\t", "\\t")) == [
        {"dst": "default", "dev": "eth0", "via": "10.10.213.1"},
        {"dst": "10.213.0.0/24", "dev": "eth0"},
        {"dst": "192.168.0.0/16", "dev": "eth1", "metric": 100},
    ]


def test_ipv6_addresses_from_if_inet6() -> None:
    assert ipv6_addresses(IF_INET6) == {"eth0": ["fe80::42:acff:fe11:2/64"], "lo": ["::1/128"]}


def test_interfaces_of_this_netns_include_loopback() -> None:
    """The real ioctl path, in the test runner's own namespace."""
    result = asyncio.run(run_task({"kind": "interfaces"}, 1.0))
    assert result["status"] == "ok"
    loopback = next(i for i in result["interfaces"] if i["name"] == "lo")
    assert loopback["up"] and "127.0.0.1/8" in loopback["addresses"]


def _rtattr(kind: int, value: bytes) -> bytes:
    size = ATTRIBUTE.size + len(value)
    return ATTRIBUTE.pack(size, kind) + value + b"\0" * ((4 - size % 4) % 4)


def _message(kind: int, body: bytes) -> bytes:
    return HEADER.pack(HEADER.size + len(body), kind, 2, 1, 0) + body


def _newaddr(address: str, prefix: int, label: bytes, index: int) -> bytes:
    body = IFADDRMSG.pack(socket.AF_INET, prefix, 0, 0, index)
    body += _rtattr(1, socket.inet_aton(address)) + _rtattr(2, socket.inet_aton(address))
    body += _rtattr(3, label + b"\0")
    return _message(RTM_NEWADDR, body)


def test_a_netlink_address_dump_lists_secondary_addresses_and_aliases_under_their_interface():
    dump = (
        _newaddr("127.0.0.1", 8, b"lo", 1)
        + _newaddr("10.1.0.20", 24, b"eth0", 7)
        + _newaddr("10.1.0.10", 24, b"eth0", 7)  # added by hand next to the engine's
        + _newaddr("10.1.0.50", 24, b"eth0:1", 7)  # an old-style alias
    )
    assert ipv4_addresses_in(netlink.messages(dump)) == {
        "lo": ["127.0.0.1/8"],
        "eth0": ["10.1.0.20/24", "10.1.0.10/24", "10.1.0.50/24"],
    }
    cut_short = ipv4_addresses_in(netlink.messages(dump[:-3]))
    assert cut_short["eth0"] == ["10.1.0.20/24", "10.1.0.10/24"]


class _Datagrams:
    """A netlink socket that answers any request with `datagrams`, one per recv."""

    def __init__(self, datagrams: list[bytes]) -> None:
        self.datagrams = datagrams
        self.sent: list[bytes] = []

    def __call__(self, *args: object) -> _Datagrams:
        return self

    def __enter__(self) -> _Datagrams:
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def settimeout(self, timeout: float) -> None:
        return None

    def sendto(self, data: bytes, address: object) -> None:
        self.sent.append(data)

    def recv(self, size: int) -> bytes:
        return self.datagrams.pop(0)


def test_a_netlink_dump_reads_datagrams_up_to_its_end_and_raises_on_a_refusal():
    first = _newaddr("10.1.0.20", 24, b"eth0", 7)
    second = _newaddr("10.1.0.10", 24, b"eth0", 7) + _message(NLMSG_DONE, b"\0" * 4)
    sock = _Datagrams([first, second, b"never read"])
    assert [kind for kind, _ in netlink.dump(sock, 0, 22, b"body")] == [RTM_NEWADDR] * 2
    assert sock.datagrams == [b"never read"] and sock.sent[0].endswith(b"body")
    refused = _Datagrams([_message(NLMSG_ERROR, struct.pack("=i", -errno.EPERM) + bytes(16))])
    with pytest.raises(OSError) as caught:
        list(netlink.dump(refused, 0, 22, b""))
    assert caught.value.errno == errno.EPERM


def _diag_message(family: int, state: int, address: str, port: int) -> bytes:
    raw = socket.inet_pton(family, address).ljust(16, b"\0")
    sockid = struct.pack(">HH", port, 0) + raw + bytes(16) + bytes(12)
    return struct.pack("=BBBB", family, state, 0, 0) + sockid + bytes(20)


def test_sock_diag_listeners_read_as_proc_net_tcp_lines_do():
    assert sockdiag.listener(_diag_message(socket.AF_INET, 10, "127.0.0.1", 8000), "tcp") == {
        "family": "tcp",
        "address": "127.0.0.1",
        "port": 8000,
    }
    mapped = _diag_message(socket.AF_INET6, 10, "::ffff:127.0.0.1", 9000)
    assert sockdiag.listener(mapped, "tcp6") == {
        "family": "tcp6",
        "address": "127.0.0.1",
        "port": 9000,
    }
    assert sockdiag.listener(_diag_message(socket.AF_INET6, 10, "::", 80), "tcp6") == {
        "family": "tcp6",
        "address": "::",
        "port": 80,
    }
    established = _diag_message(socket.AF_INET, 1, "127.0.0.1", 8000)
    assert sockdiag.listener(established, "tcp") is None
    assert sockdiag.listener(b"short", "tcp") is None


def test_the_listening_task_finds_a_listener_of_this_netns_by_sock_diag_as_proc_does():
    """The real dump, in the test runner's own namespace, against the /proc files."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        by_diag = sockdiag.listening_sockets(socket.socket)
        by_proc = [
            entry
            for family, name in (("tcp", "/proc/self/net/tcp"), ("tcp6", "/proc/self/net/tcp6"))
            for entry in listening_sockets(Path(name).read_text(), family)
        ]
        answered = asyncio.run(run_task({"kind": "listening"}, 1.0))
    assert {"family": "tcp", "address": "127.0.0.1", "port": port} in by_diag
    assert sorted(by_diag, key=_socket_key) == sorted(by_proc, key=_socket_key)
    assert sorted(answered["sockets"], key=_socket_key) == sorted(by_diag, key=_socket_key)


def _socket_key(entry: dict[str, object]) -> str:
    return f"{entry['family']} {entry['address']} {entry['port']}"


def _connected_message(family: int, state: int, local: str, port: int, peer: str, dport: int):
    raw = socket.inet_pton(family, local).ljust(16, b"\0")
    dest = socket.inet_pton(family, peer).ljust(16, b"\0")
    sockid = struct.pack(">HH", port, dport) + raw + dest + bytes(12)
    return struct.pack("=BBBB", family, state, 0, 0) + sockid + bytes(20)


def test_sock_diag_connections_name_their_state_and_peer():
    syn = _connected_message(socket.AF_INET, 2, "10.1.0.4", 40000, "10.1.0.2", 8080)
    assert sockdiag.connection(syn, "tcp") == {
        "family": "tcp",
        "state": "syn_sent",
        "address": "10.1.0.4",
        "port": 40000,
        "peer": "10.1.0.2",
        "peer_port": 8080,
    }
    mapped = _connected_message(socket.AF_INET6, 1, "::ffff:10.1.0.4", 1, "::ffff:10.1.0.2", 2)
    assert sockdiag.connection(mapped, "tcp6") == {
        "family": "tcp6",
        "state": "established",
        "address": "10.1.0.4",
        "port": 1,
        "peer": "10.1.0.2",
        "peer_port": 2,
    }
    listen = _connected_message(socket.AF_INET, 10, "0.0.0.0", 80, "0.0.0.0", 0)
    assert sockdiag.connection(listen, "tcp") is None
    assert sockdiag.connection(b"short", "tcp") is None


def test_proc_net_tcp_connections_keep_established_and_syn_sent():
    text = (
        "  sl  local_address rem_address   st\n"
        "   0: 0B00007F:8F85 00000000:0000 0A 0\n"
        "   1: D3FBD50A:90D4 D2FBD50A:1F90 01 0\n"
        "   2: D3FBD50A:90E4 D2FBD50A:1F90 02 0\n"
        "   3: D3FBD50A:9D6E D2FBD50A:1F90 08 0\n"
        "   4: garbage\n"
    )
    assert procnet.connected_sockets(text, "tcp") == [
        {
            "family": "tcp",
            "state": state,
            "address": "10.213.251.211",
            "port": port,
            "peer": "10.213.251.210",
            "peer_port": 8080,
        }
        for state, port in (("established", 0x90D4), ("syn_sent", 0x90E4))
    ]


def test_the_connections_task_lists_a_loopback_connection_of_this_netns_both_ways():
    """The real dump, in the test runner's own namespace, against the /proc files."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            mine = client.getsockname()[1]
            answered = asyncio.run(run_task({"kind": "connections"}, 1.0))
            by_proc = procnet.connected_sockets(Path("/proc/self/net/tcp").read_text(), "tcp")
    ours = [s for s in answered["sockets"] if {s["port"], s["peer_port"]} == {port, mine}]
    assert {(s["port"], s["peer_port"], s["state"]) for s in ours} == {
        (mine, port, "established"),
        (port, mine, "established"),
    }
    assert all(s in by_proc for s in ours)


def test_reach_connects_to_an_address_written_as_such() -> None:
    """`http://10.0.0.1:8000` names no host to look up: the address itself is connected to
    (inside `allow` only), with neither /etc/hosts nor DNS giving it. Loopback only: what
    lies outside `allow` is never tried, and a test must not risk a packet leaving."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        task = {"kind": "reach", "target": "127.0.0.1", "port": port, "dns": True, "allow": []}
        result = asyncio.run(run_task(task, 2.0))
    assert result["hosts_ips"] == [] and result["resolve"] is None
    assert result["connects"]["127.0.0.1"]["status"] == "open"


def _loopback_pairs() -> list[socket.socket]:
    """An IPv4 and an IPv6 loopback connection of this netns (both ends kept open)."""
    kept = []
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        server = socket.socket(family)
        server.bind((host, 0))
        server.listen()
        client = socket.create_connection(server.getsockname()[:2])
        kept += [server, client, server.accept()[0]]
    return kept


def _pair_ports(kept: list[socket.socket]) -> dict[str, int]:
    return {"tcp": kept[1].getsockname()[1], "tcp6": kept[4].getsockname()[1]}


def test_one_legacy_dump_names_both_families_ipv4_first():
    """The kernel walks its TCP table once for both families (TCPDIAG_GETSOCK), and each
    socket is named by its own family, not by the request's."""
    kept = _loopback_pairs()
    try:
        ports = _pair_ports(kept)
        found = sockdiag._compat_dump(
            socket.socket, sum(1 << s for s in sockdiag.CONNECTED), sockdiag.connection
        )
    finally:
        for sock in kept:
            sock.close()
    mine = {(s["family"], s["address"]) for s in found if s["port"] in ports.values()}
    assert mine == {("tcp", "127.0.0.1"), ("tcp6", "::1")}
    families = [s["family"] for s in found]
    assert families == sorted(families, key=lambda family: family != "tcp")


def test_without_the_legacy_dump_each_family_is_asked_for_alone(monkeypatch):
    def refused(*args: object) -> list[dict[str, object]]:
        raise OSError(22, "Invalid argument")

    kept = _loopback_pairs()
    try:
        ports = _pair_ports(kept)
        both = sockdiag.connected_sockets(socket.socket)
        monkeypatch.setattr(sockdiag, "_compat_dump", refused)
        alone = sockdiag.connected_sockets(socket.socket)
    finally:
        for sock in kept:
            sock.close()
    key = _socket_key
    mine = [s for s in alone if s["port"] in ports.values()]
    assert {s["family"] for s in mine} == {"tcp", "tcp6"}
    assert sorted(alone, key=key) == sorted(both, key=key)


def test_a_lookup_for_a_network_is_not_asked_from_a_place_outside_it() -> None:
    """NAME.NETWORK asked from a namespace with no address in NETWORK would be forwarded by
    the embedded DNS to the host's resolvers: no query is made, no socket opened."""
    task = {"kind": "resolve", "target": "api.shop_back", "member_of": ["10.213.254.0/24"]}
    answer = asyncio.run(run_task(task, 1.0))
    assert answer["status"] == "error" and "not asked" in answer["detail"]
