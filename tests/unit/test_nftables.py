"""diag.model.nftables (parsing `nft -j list ruleset`), diag.model.nftpath (walking a native
base chain) and diag.model.inputhook (the input hook: iptables' INPUT and native chains),
on the hand-written samples of tests/data/nftables (see its README)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from diag.model import nftpath
from diag.model.filterpath import Packet
from diag.model.firewall import HostFirewall
from diag.model.firewall import parse as parse_iptables
from diag.model.inputhook import input_path
from diag.model.nftables import NftRule, NftRuleset, parse

from .recorded import DATA
from .test_hostfw import BRIDGES, dump

COMPOSE_BRIDGE = "br-e697f6cb912b"
IPV4 = nftpath.FAMILIES["ipv4"]


def ruleset(name: str) -> NftRuleset:
    return parse((DATA / "nftables" / f"{name}.json").read_text(encoding="utf-8"))


def walked(name: str, packet: Packet, hook: str = "input") -> nftpath.Walk[NftRule]:
    ((table, chain),) = ruleset(name).base_chains(hook, IPV4)
    return nftpath.walk(table, chain, packet)


# --- parsing ---------------------------------------------------------------------------------


def test_parse_keeps_the_native_tables_and_leaves_iptables_nft_s_to_iptables_save() -> None:
    found = ruleset("firewalld")
    assert [t.label for t in found.tables] == ["table inet firewalld"]
    assert found.read_with == "nft -j list ruleset (nft v1.0.6)"
    ((table, chain),) = found.base_chains("input", IPV4)
    assert (chain.name, chain.priority, chain.policy) == ("filter_INPUT", 10, "accept")
    assert [c.name for _, c in found.base_chains("forward", IPV4)] == ["filter_FORWARD"]
    assert table.rules_of("filter_INPUT")[-1].body == "reject with icmpx admin-prohibited"
    assert table.rules_of("filter_INPUT")[0].body == "ct state established,related accept"


def test_parse_renders_rules_in_nft_s_syntax() -> None:
    (table,) = ruleset("nftables-conf").tables
    bodies = [r.body for r in table.rules_of("input")]
    assert bodies == [
        "ct state invalid counter drop",
        "ct state { established, related } accept",
        'iif "lo" accept',
        "ip protocol icmp accept",
        "meta l4proto ipv6-icmp accept",
        'tcp dport { 80, 443 } accept comment "web"',
        'udp dport 60000-61000 accept comment "mosh"',
        "ip saddr { 10.0.0.0/8, 192.0.2.7 } jump admin",
        'iifname "wg*" tcp dport 8080 accept',
        'limit log prefix "input drop: "',
    ]
    assert [r.target for r in table.rules_of("input")][-3:] == ["admin", "ACCEPT", None]


def _one_table(family: str, chain: str) -> str:
    table = {"family": family, "name": "filter", "handle": 1}
    base = {**table, "table": "filter", "name": chain, "type": "filter", "hook": "input"}
    return json.dumps({"nftables": [{"table": table}, {"chain": {**base, "prio": 0}}]})


@pytest.mark.parametrize(
    ("family", "chain", "native"),
    [
        ("ip", "INPUT", False),  # iptables-nft's filter table
        ("ip6", "INPUT", False),  # ip6tables-nft's
        ("ip", "input", True),  # a hand-written `table ip filter { chain input ... }`
        ("inet", "INPUT", True),  # iptables never makes an inet table
    ],
)
def test_iptables_nft_s_tables_are_told_by_family_name_and_chain_names(
    family: str, chain: str, native: bool
) -> None:
    assert bool(parse(_one_table(family, chain)).tables) == native


@pytest.mark.parametrize("text", ["", "{}", "[1]", '{"nftables": 3}'])
def test_parse_refuses_what_is_not_nft_s_json(text: str) -> None:
    with pytest.raises(ValueError, match="nft -j list ruleset"):
        parse(text)


# --- walking one base chain ------------------------------------------------------------------


def test_firewalld_rejects_a_new_connection_from_a_bridge_in_no_zone() -> None:
    done = walked("firewalld", Packet("tcp", 5432, in_interface=COMPOSE_BRIDGE))
    assert (done.verdict, done.deciding) == (
        "REJECT",
        "table inet firewalld chain filter_INPUT: reject with icmpx admin-prohibited",
    )
    assert done.partial == []


def test_firewalld_admits_its_services_and_the_docker_zone() -> None:
    assert walked("firewalld", Packet("tcp", 22)).verdict == "ACCEPT"
    assert walked("firewalld", Packet("tcp", 22, in_interface=COMPOSE_BRIDGE)).verdict == "ACCEPT"
    # goto filter_IN_docker: its final accept ends the chain
    docker0 = walked("firewalld", Packet("tcp", 5432, in_interface="docker0"))
    assert (docker0.verdict, docker0.deciding) == (
        "ACCEPT",
        "table inet firewalld chain filter_IN_docker: accept",
    )
    # udp 546 is accepted for ip6 daddr fe80::/64 only: an IPv4 packet is rejected
    assert walked("firewalld", Packet("udp", 546)).verdict == "REJECT"
    # an unknown interface: `iifname "docker0"` holds for some clients, so its accept is partial
    outside = walked("firewalld", Packet("tcp", 5432))
    assert outside.verdict == "REJECT"
    assert [r.text for r in outside.partial] == [
        "table inet firewalld chain filter_IN_docker: accept"
    ]


def test_firewalld_forward_accepts_what_docker_dnated() -> None:
    dnated = Packet("tcp", 5432, original_port=15432)
    done = walked("firewalld", dnated, hook="forward")
    assert (done.verdict, done.deciding) == (
        "ACCEPT",
        "table inet firewalld chain filter_FORWARD: ct status dnat accept",
    )


@pytest.mark.parametrize(
    ("packet", "verdict", "deciding"),
    [
        (Packet("tcp", 443), "ACCEPT", 'tcp dport { 80, 443 } accept comment "web"'),
        (Packet("udp", 60500), "ACCEPT", "udp dport 60000-61000 accept"),
        (Packet("tcp", 60500), "DROP", "its policy (drop)"),
        (Packet("tcp", 5432), "DROP", "its policy (drop)"),
        (Packet("tcp", 5432, source="10.1.2.3"), "ACCEPT", "chain admin: tcp dport { 22, 5432 }"),
        (Packet("tcp", 5432, source="192.0.2.8"), "DROP", "its policy (drop)"),
        (Packet("tcp", 8080, in_interface="wg0"), "ACCEPT", 'iifname "wg*" tcp dport 8080'),
        (Packet("tcp", 8080, in_interface="lo"), "ACCEPT", 'iif "lo" accept'),
        (Packet("tcp", 8080, in_interface="eth0"), "DROP", "its policy (drop)"),
    ],
)
def test_walk_a_hand_written_input_chain(packet: Packet, verdict: str, deciding: str) -> None:
    done = walked("nftables-conf", packet)
    assert done.verdict == verdict
    assert deciding in done.deciding
    assert done.deciding.startswith("table inet filter chain ")


def test_partial_rules_of_a_hand_written_chain() -> None:
    """From an unknown source on an unknown interface: 5432 is accepted from 10.0.0.0/8 and
    192.0.2.7 only (through `admin`), 8080 on wg* only."""
    assert [r.body for r in walked("nftables-conf", Packet("tcp", 5432)).partial] == [
        "tcp dport { 22, 5432 } accept"
    ]
    assert [r.body for r in walked("nftables-conf", Packet("tcp", 8080)).partial] == [
        'iifname "wg*" tcp dport 8080 accept'
    ]


def _payload(protocol: str, field: str) -> dict[str, object]:
    return {"payload": {"protocol": protocol, "field": field}}


TCP_DPORT = _payload("tcp", "dport")
SADDR = _payload("ip", "saddr")
STATE = {"ct": {"key": "state"}}
IIFNAME = {"meta": {"key": "iifname"}}
LOCAL_TYPE = {"fib": {"result": "type", "flags": ["daddr"]}}


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("==", {"meta": {"key": "l4proto"}}, "udp", "no"),
        ("==", {"meta": {"key": "l4proto"}}, 6, "yes"),
        ("!=", TCP_DPORT, 22, "yes"),
        ("!=", _payload("udp", "dport"), 22, "no"),  # still needs udp
        ("==", _payload("th", "dport"), 5432, "yes"),
        ("==", TCP_DPORT, "ssh", "some"),  # a service name: /etc/services is not read
        ("==", TCP_DPORT, "@ports", "some"),  # a named set
        ("<", TCP_DPORT, 1024, "some"),
        ("==", _payload("tcp", "sport"), 40000, "some"),
        ("==", _payload("ip6", "saddr"), "::1", "no"),
        ("!=", SADDR, {"prefix": {"addr": "127.0.0.0", "len": 8}}, "yes"),
        ("==", SADDR, "127.0.0.1", "no"),
        ("==", SADDR, "192.0.2.1", "some"),
        ("==", _payload("ip", "daddr"), "192.0.2.1", "some"),
        ("in", STATE, "new", "yes"),
        ("in", STATE, ["established", "related"], "no"),
        ("==", STATE, {"set": ["new", "untracked"]}, "yes"),
        ("in", {"ct": {"key": "status"}}, "dnat", "no"),  # not DNAT'ed (no original_port)
        ("==", {"ct": {"key": "mark"}}, 1, "some"),
        ("==", {"meta": {"key": "nfproto"}}, "ipv6", "no"),
        ("==", LOCAL_TYPE, "local", "yes"),
        ("==", LOCAL_TYPE, "broadcast", "no"),
        ("==", IIFNAME, "lo", "no"),
        ("!=", IIFNAME, "lo", "yes"),
        ("==", IIFNAME, "eth0", "some"),
        ("==", {"meta": {"key": "mark"}}, 1, "some"),
    ],
)
def test_match_judges_like_filterpath(op: str, left: object, right: object, expected: str) -> None:
    match = {"match": {"op": op, "left": left, "right": right}}
    rule = NftRule("inet", "t", "c", (match, {"accept": None}), "")
    assert nftpath.match(rule, Packet("tcp", 5432)) == expected


SADDR6 = _payload("ip6", "saddr")
NFPROTO = {"meta": {"key": "nfproto"}}
ULA_PREFIX = {"prefix": {"addr": "fd00:db8:1::", "len": 64}}


@pytest.mark.parametrize(
    ("op", "left", "right", "source", "expected"),
    [
        ("==", _payload("ip6", "nexthdr"), "tcp", None, "yes"),
        ("==", _payload("ip6", "nexthdr"), "udp", None, "no"),
        ("==", _payload("ip", "protocol"), "tcp", None, "no"),  # an IPv4 header: not this one
        ("!=", SADDR, "10.0.0.0/8", None, "no"),  # `ip saddr !=` still needs IPv4
        ("==", SADDR6, "::1", None, "no"),
        ("!=", SADDR6, "::1", None, "yes"),
        ("==", SADDR6, ULA_PREFIX, None, "some"),
        ("==", SADDR6, ULA_PREFIX, "fd00:db8:1::2", "yes"),
        ("==", SADDR6, ULA_PREFIX, "fd00:db8:2::2", "no"),
        ("==", NFPROTO, "ipv6", None, "yes"),
        ("==", NFPROTO, "ipv4", None, "no"),
        ("==", {"meta": {"key": "l4proto"}}, 6, None, "yes"),
        ("==", _payload("icmpv6", "type"), "echo-request", None, "no"),
        ("==", TCP_DPORT, 5432, None, "yes"),
    ],
)
def test_match_an_ipv6_packet(
    op: str, left: object, right: object, source: str | None, expected: str
) -> None:
    """An IPv6 packet fails every `ip ...` match (nft's implicit `meta nfproto ipv4`) and
    is judged by `ip6 ...`, `meta nfproto ipv6` and the family-free matches."""
    match = {"match": {"op": op, "left": left, "right": right}}
    rule = NftRule("inet", "t", "c", (match, {"accept": None}), "")
    assert nftpath.match(rule, Packet("tcp", 5432, source=source, family="ipv6")) == expected


def test_an_inet_table_judges_ipv6_packets_by_their_own_matches() -> None:
    """nftables.conf's `ip saddr { 10.0.0.0/8, 192.0.2.7 } jump admin` admits 5432 from
    some IPv4 clients; for IPv6 it holds for none, so the policy drops 5432 for every IPv6
    client, while the family-free `tcp dport { 80, 443 }` accepts both families."""
    v6 = Packet("tcp", 5432, family="ipv6")
    done = walked("nftables-conf", v6)
    assert (done.verdict, done.partial) == ("DROP", [])
    assert walked("nftables-conf", Packet("tcp", 443, family="ipv6")).verdict == "ACCEPT"
    # firewalld's `ip6 daddr fe80::/64 udp dport 546 accept`: some IPv6 clients only
    dhcp = walked("firewalld", Packet("udp", 546, family="ipv6"))
    assert dhcp.verdict == "REJECT"
    assert [r.body for r in dhcp.partial] == [  # docker0's zone, and the DHCPv6 rule
        "accept",
        "ip6 daddr fe80::/64 udp dport 546 ct state new,untracked accept",
    ]


def test_a_queue_for_every_client_makes_the_answer_unknown() -> None:
    (table,) = ruleset("nftables-conf").tables
    queued = NftRule("inet", "filter", "input", ({"queue": {"num": 1}},), "queue num 1")
    table = dataclasses.replace(table, rules=(queued, *table.rules))
    done = nftpath.walk(table, table.chains["input"], Packet("tcp", 443))
    assert done.verdict is None and "not modelled" in done.deciding


# --- the input hook: iptables' INPUT and the native chains -----------------------------------


def with_native(name: str, iptables: str = "nft-docker") -> HostFirewall:
    return dataclasses.replace(
        parse_iptables(dump(iptables), "iptables-save", BRIDGES), native=ruleset(name)
    )


def test_the_hook_is_denied_by_a_native_chain_after_iptables_accepts() -> None:
    fw = with_native("firewalld")
    end = input_path(fw, Packet("tcp", 5432, in_interface=COMPOSE_BRIDGE, source="10.213.143.2"))
    assert end.verdict == "REJECT" and end.firewall is None
    assert end.table is not None and end.table.name == "firewalld"
    assert end.where == "nft -j list ruleset (nft v1.0.6): input hook"
    assert end.deciding.startswith("table inet firewalld chain filter_INPUT: reject")


def test_the_hook_accepts_when_every_chain_does() -> None:
    fw = with_native("firewalld")
    assert input_path(fw, Packet("tcp", 22)).verdict == "ACCEPT"
    assert input_path(with_native("nftables-conf"), Packet("tcp", 443)).verdict == "ACCEPT"


def test_iptables_denies_first_at_equal_priority() -> None:
    """ufw's INPUT (priority 0) and nftables.conf's input (priority 0) both drop 5432: the
    iptables one is named, since it is walked first on a tie."""
    fw = with_native("nftables-conf", iptables="nft-docker-ufw")
    end = input_path(fw, Packet("tcp", 5432))
    assert end.verdict == "DROP" and end.firewall is fw and end.table is None
    assert end.where.endswith(": INPUT")


def test_without_native_tables_the_hook_is_iptables_input() -> None:
    fw = parse_iptables(dump("nft-docker-ufw"), "iptables-save", BRIDGES)
    end = input_path(fw, Packet("tcp", 5432))
    assert (end.verdict, end.deciding) == ("DROP", "the INPUT policy (DROP)")


def _dropping(family: str, port: int) -> dict[str, object]:
    """A native `table FAMILY only` whose input chain drops tcp `port`, as nft's JSON."""
    table = {"family": family, "table": "only"}
    dport = {"payload": {"protocol": "tcp", "field": "dport"}}
    expr = [{"match": {"op": "==", "left": dport, "right": port}}, {"drop": None}]
    return {"chain": {**table, "name": "input", "type": "filter", "hook": "input", "prio": 0}}, {
        "rule": {**table, "chain": "input", "expr": expr}
    }


def test_the_hook_of_an_ipv6_packet_is_ip6tables_and_the_ip6_and_inet_tables() -> None:
    """An IPv6 packet passes ip6tables' INPUT (`v6`), `table ip6` and `table inet` chains,
    never iptables' INPUT nor `table ip`; unread IPv6 rules leave its verdict unknown."""
    items: list[object] = [{"table": {"family": f, "name": "only"}} for f in ("ip", "ip6")]
    for family, port in (("ip", 22), ("ip6", 23)):
        items += _dropping(family, port)
    native = parse(json.dumps({"nftables": items}))
    v4 = dataclasses.replace(
        parse_iptables(dump("nft-docker"), "iptables-save", BRIDGES), native=native
    )
    assert input_path(v4, Packet("tcp", 23, family="ipv6")).verdict is None  # v6 not read
    v6 = parse_iptables("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", "ip6tables-save", BRIDGES)
    fw = dataclasses.replace(v4, v6=dataclasses.replace(v6, native=native))
    assert input_path(fw, Packet("tcp", 22)).verdict == "DROP"
    assert input_path(fw, Packet("tcp", 22, family="ipv6")).verdict == "ACCEPT"
    end = input_path(fw, Packet("tcp", 23, family="ipv6"))
    assert end.verdict == "DROP" and end.table is not None and end.table.family == "ip6"
    assert input_path(fw, Packet("tcp", 23)).verdict == "ACCEPT"
    ufw6 = dataclasses.replace(fw, v6=parse_iptables(dump("ip6-docker-ufw"), "ip6tables-save"))
    end = input_path(ufw6, Packet("tcp", 5432, family="ipv6"))
    assert (end.verdict, end.where) == ("DROP", "ip6tables-save v1.8.9 (nf_tables): INPUT")
    assert end.firewall is not None and end.firewall.family == "ipv6"
