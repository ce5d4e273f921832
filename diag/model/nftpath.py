"""What a native nftables base chain does to one kind of packet: filterpath's walk (rules in
order, jump returns, goto does not, `return` in the base chain means its policy) over a
table of diag.model.nftables, with nftables' matches judged as filterpath judges iptables'
(yes, no, some) for the same `Packet`:

- `meta l4proto`, `ip protocol` (IPv4), `ip6 nexthdr` (IPv6): the packet's protocol;
  `tcp dport`/`udp dport` (a port, an anonymous set `{ 22, 80 }`, a range `1000-2000`)
  also say the protocol;
- `iifname`/`iif` (`"br-*"` names every interface starting `br-`) and `ip saddr`/`ip6
  saddr` (an address, a prefix, a set of them) against the packet's interface and source
  when the caller knows them; else `lo` and loopback (127.0.0.0/8, ::1) hold for no
  outside client, others `some`;
- `ct state`: a new connection is `new`, never established, related, invalid or
  untracked; `ct status dnat`: holds for a packet Docker DNAT'ed (one with an
  `original_port`, as FORWARD sees a published port's), for no other;
- `meta nfproto ipv4`/`ipv6`: holds for a packet of that family; `fib daddr type local`
  holds; a match on the other family's header (`ip ...` for an IPv6 packet, `ip6 ...`
  for an IPv4 one: nft adds an implicit `meta nfproto` to it, so it fails whatever its
  operator) and any `icmp`/`icmpv6 ...` match hold for none (a TCP or UDP packet);
- anything else (named sets `@name`, marks, `ip daddr`, source ports, `xt` compat
  matches, maps) holds for `some`.

Counters, logs and limits go on, as in filterpath; queue, verdict maps and NAT statements
are verdicts not modelled: the answer is unknown where one holds for every client. Which
tables a packet passes depends on its family (`FAMILIES`): ip and inet for IPv4, ip6 and
inet for IPv6 (an inet table sees both); arp, bridge and netdev tables are not walked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import Any

from diag.model.filterpath import Match, Packet, Walk, follow
from diag.model.firewall import Family
from diag.model.nftables import UNMODELLED_ENDS, VERDICTS, NftChain, NftRule, NftTable

# The table families whose chains a packet of each family passes.
FAMILIES: dict[Family, tuple[str, ...]] = {"ipv4": ("ip", "inet"), "ipv6": ("ip6", "inet")}
PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17}
PORT_PROTOCOLS = frozenset({"tcp", "udp", "sctp", "dccp", "udplite"})
NOT_TCP_UDP = frozenset({"icmp", "icmpv6", "igmp", "arp", "esp", "ah"})
# A network header's payload protocol → (its family, the field naming the next protocol).
HEADERS: dict[str, tuple[Family, str]] = {"ip": ("ipv4", "protocol"), "ip6": ("ipv6", "nexthdr")}
LOOPBACK: dict[Family, str] = {"ipv4": "127.0.0.1", "ipv6": "::1"}
NEW_STATES = frozenset({"new"})
HOLDS_ALWAYS = frozenset({"counter", "log", "limit", "comment"})
STOPS = frozenset({*VERDICTS, "jump", "goto", "continue", *UNMODELLED_ENDS})
POSITIVE = ("==", "in")

# An element test: whether one element of a match's right side holds the packet's value
# (None: cannot tell).
Test = Callable[[Any], bool | None]


class _Chains:
    """One native table as filterpath's walk sees it."""

    def __init__(self, table: NftTable) -> None:
        self.table = table

    def rules_in(self, chain: str) -> Sequence[NftRule]:
        return self.table.rules_of(chain)

    def is_chain(self, name: str) -> bool:
        return name in self.table.chains

    def judge(self, rule: NftRule, packet: Packet) -> Match:
        return match(rule, packet)


def walk(table: NftTable, chain: NftChain, packet: Packet) -> Walk[NftRule]:
    """What base chain `chain` of `table` does to `packet`: its rules, then its policy.
    An accept ends only this chain: the caller goes on with the hook's other chains."""
    ended = follow(_Chains(table), chain.name, packet)
    if ended.verdict == "RETURN":
        policy = chain.policy.upper()
        where = f"{table.label} chain {chain.name}"
        return Walk(policy, f"{where}: its policy ({chain.policy})", ended.partial)
    return ended


def match(rule: NftRule, packet: Packet) -> Match:
    """Whether `rule`'s matches hold for a new connection to `packet` from any client: the
    statements before its verdict (a statement not modelled there holds for `some`)."""
    result: Match = "yes"
    for statement in rule.statements:
        key = next(iter(statement), "")
        if key in STOPS:
            break
        step: Match = "some"
        if key == "match":
            step = _match(statement[key], packet)
        elif key in HOLDS_ALWAYS:
            step = "yes"
        if step == "no":
            return "no"
        if step == "some":
            result = "some"
    return result


def _match(m: dict[str, Any], packet: Packet) -> Match:
    left, right, op = m.get("left"), m.get("right"), m.get("op", "==")
    if not isinstance(left, dict) or len(left) != 1:
        return "some"
    kind, spec = next(iter(left.items()))
    if not isinstance(spec, dict):
        return "some"
    if kind == "payload":
        return _payload(spec.get("protocol", ""), spec.get("field", ""), op, right, packet)
    if kind == "meta":
        return _meta(spec.get("key", ""), op, right, packet)
    if kind == "ct":
        return _ct(spec.get("key", ""), op, right, packet)
    if kind == "fib":
        flags = spec.get("flags", [])
        flags = flags if isinstance(flags, list) else [flags]
        if spec.get("result") == "type" and flags == ["daddr"]:
            return _compare(op, right, lambda v: v == "local")
    return "some"


def _payload(protocol: str, field: str, op: str, right: Any, packet: Packet) -> Match:
    if protocol in NOT_TCP_UDP:
        return "no"  # its implicit `meta l4proto` fails, whatever the op
    if protocol in PORT_PROTOCOLS or protocol == "th":
        if protocol != "th" and protocol != packet.proto:
            return "no"  # `tcp dport != 22` still needs tcp
        if field == "dport":
            return _compare(op, right, lambda v: _port_holds(packet.port, v))
        return "some"
    if protocol in HEADERS:
        family, next_protocol = HEADERS[protocol]
        if family != packet.family:
            return "no"  # its implicit `meta nfproto` fails, whatever the op
        if field == next_protocol:
            return _compare(op, right, lambda v: _is_proto(packet.proto, v))
        if field == "saddr":
            return _source(op, right, packet)
    return "some"


def _meta(key: str, op: str, right: Any, packet: Packet) -> Match:
    if key == "l4proto":
        return _compare(op, right, lambda v: _is_proto(packet.proto, v))
    if key == "nfproto":
        return _compare(op, right, lambda v: v == packet.family)
    if key in ("iifname", "iif"):
        named = packet.in_interface
        if named is not None:
            return _compare(op, right, lambda v: _interface_holds(named, v))
        return _compare(op, right, lambda v: False if v == "lo" else None)
    return "some"


def _ct(key: str, op: str, right: Any, packet: Packet) -> Match:
    if key == "state":
        return _compare(op, right, lambda v: v in NEW_STATES if isinstance(v, str) else None)
    if key == "status":
        dnated = packet.original_port is not None  # the caller's packet after Docker's DNAT
        return _compare(op, right, lambda v: dnated if v == "dnat" else None)
    return "some"


def _source(op: str, right: Any, packet: Packet) -> Match:
    """`ip saddr`/`ip6 saddr`: judged against the packet's source when known; else, as
    filterpath judges `-s`, loopback holds for no outside client, a negated one for any."""
    source = packet.source
    if source is not None:
        return _compare(op, right, lambda v: _address_holds(source, v))
    if op == "!=":
        return "yes"
    loopback = LOOPBACK[packet.family]
    return _compare(op, right, lambda v: False if _address_holds(loopback, v) else None)


def _compare(op: str, right: Any, test: Test) -> Match:
    """`op` over the right side's elements: `==`/`in` hold when an element holds, `!=`
    when none does; other operators (`<`, bit masks) are not judged."""
    if op not in (*POSITIVE, "!="):
        return "some"
    found = _any(_elements(right), test)
    if found is None:
        return "some"
    return "yes" if found == (op in POSITIVE) else "no"


def _elements(right: Any) -> list[Any]:
    """A match's right side as a list: `{"set": [...]}`, a flag list, or one value."""
    if isinstance(right, dict) and "set" in right:
        inner = right["set"]
        return inner if isinstance(inner, list) else [inner]
    return right if isinstance(right, list) else [right]


def _any(elements: list[Any], test: Test) -> bool | None:
    answers = [None if _named_set(e) else test(e) for e in elements]
    if any(answers):
        return True
    return None if None in answers else False


def _named_set(element: Any) -> bool:
    return isinstance(element, str) and element.startswith("@")


def _is_proto(proto: str, value: Any) -> bool | None:
    if isinstance(value, (str, int)):
        return value in (proto, PROTOCOL_NUMBERS[proto])
    return None


def _port_holds(port: int, value: Any) -> bool | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return port == value
    if isinstance(value, dict) and "range" in value:
        low, high = value["range"]
        if isinstance(low, int) and isinstance(high, int):
            return low <= port <= high
    return None  # a service name (`ssh`): /etc/services is not read


def _interface_holds(named: str, value: Any) -> bool | None:
    if not isinstance(value, str):
        return None
    if value.endswith("*") and not value.endswith("\\*"):
        return named.startswith(value[:-1])
    return named == value.replace("\\*", "*")


def _address_holds(address: str, value: Any) -> bool | None:
    try:
        ip = ipaddress.ip_address(address)
        if isinstance(value, str):
            return ip in ipaddress.ip_network(value, strict=False)
        if isinstance(value, dict) and "prefix" in value:
            prefix = value["prefix"]
            return ip in ipaddress.ip_network(f"{prefix['addr']}/{prefix['len']}", strict=False)
    except (ValueError, TypeError, KeyError):
        return None
    return None
