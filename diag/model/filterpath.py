"""What a chain of the host's filter table does to one kind of packet: walk the rules in
order, follow jumps into user chains, end at a verdict or the chain's policy.

The packet is "a new connection from some outside client": a protocol (tcp, udp) and a
destination port, to one of the host's own unicast addresses, on an interface that is not
`lo`, from a source address and port nobody knows — unless the caller knows the input
interface and source (a container reaching the host from its bridge), which `-i` and `-s`
are then judged against. A rule's matches are judged against it:

- `yes`: every match holds for any such client (`-p tcp`, `--dport N`, `-m multiport
  --dports`, `--ctstate NEW`, `--dst-type LOCAL`, `! -i lo`, `! -s 127.0.0.0/8`, comments,
  logging limits);
- `no`: some match holds for none (`-p udp`, another port, `-i lo`, `--ctstate
  RELATED,ESTABLISHED` or INVALID, `--dst-type BROADCAST`, `--src-type LOCAL`, ICMP);
- `some`: it holds for some clients only, or the walk cannot tell: a source (`-s`,
  `--src-range`, `-m set`), an input interface or destination address named, a match it
  does not model (`-m recent`, `-m string`, `-m hashlimit`, ...).

Not modelled, so judged `some`: marks (`-m mark`, `-m connmark`), ipsets' contents, the
`u32`/`bpf` matches. The verdicts ACCEPT, DROP and REJECT end the walk; RETURN leaves a
user chain; LOG, NFLOG, MARK and other non-terminating targets go on; anything else
(NFQUEUE, QUEUE, a target of a module not modelled) makes the answer unknown.

The packet has a family, IPv4 or IPv6, and is judged against that family's rules only
(iptables-save's or ip6tables-save's: `HostFirewall.for_family`). The matches read the
same in both dumps (`-s` holds a prefix of the family, `::1` is IPv6's loopback,
`-p ipv6-icmp` and ip6tables' own extension-header matches `-m rt`/`-m frag`/`-m hbh`
are `no` and `some` as ICMP and unmodelled matches are). The walk itself (`follow`) takes
any table's chains: diag/model/nftpath.py walks native nftables chains with it, and
diag/model/inputhook.py puts both on the input hook.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from diag.model.firewall import Family, HostFirewall, Rule

Match = Literal["yes", "no", "some"]
ACCEPTS = frozenset({"ACCEPT"})
DENIES = frozenset({"DROP", "REJECT"})
GOES_ON = frozenset(
    {"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "AUDIT", "CT", "TOS", "DSCP", "TTL"}
)
ALWAYS = frozenset({"-m", "--match", "--comment", "--limit", "--limit-burst"})
PROTOCOL_NUMBERS = {"tcp": "6", "udp": "17"}
NEW_STATES = frozenset({"NEW"})
LOOPBACK = ("127.", "::1")
MAX_DEPTH = 32  # chains jumping in a circle: iptables refuses them, a hand-made dump may not


@dataclass(frozen=True)
class Packet:
    proto: str  # "tcp" or "udp"
    port: int
    # A port the rule may name instead, after Docker's DNAT (FORWARD sees the container's
    # port; `-m conntrack --ctorigdstport` the published one).
    original_port: int | None = None
    # Where the packet comes from, when the caller knows it (a container on a bridge: its
    # bridge and its address): `-i` and `-s` are then judged, not `some`.
    in_interface: str | None = None
    source: str | None = None
    # Which rules it passes (ip6tables', nftables' ip6 and inet tables for IPv6): the
    # family of the address it goes to (`family_of`).
    family: Family = "ipv4"


class ChainRule(Protocol):
    """A rule as the walk needs it: an iptables `Rule` or an nftables `NftRule`."""

    @property
    def text(self) -> str: ...

    @property
    def target(self) -> str | None: ...

    @property
    def goto(self) -> bool: ...


R = TypeVar("R", bound=ChainRule)


class Chains(Protocol[R]):
    """The chains of one table, and how its rules' matches are judged."""

    def rules_in(self, chain: str) -> Sequence[R]: ...

    def is_chain(self, name: str) -> bool: ...

    def judge(self, rule: R, packet: Packet) -> Match: ...


@dataclass
class Walk(Generic[R]):
    """The end of a walk: `verdict` ACCEPT, DROP/REJECT (`deciding` says which rule, or the
    policy), or None when the answer cannot be known; `partial` lists the rules that
    accept or deny the packet for some clients only, in the order they were met."""

    verdict: str | None
    deciding: str
    partial: list[R] = field(default_factory=list)


def _ports(spec: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for part in spec.split(","):
        low, sep, high = part.partition(":")
        try:
            spans.append((int(low or 0), int(high or (low if not sep else 65535))))
        except ValueError:
            return []
    return spans


def _in(port: int, spec: str) -> bool:
    return any(low <= port <= high for low, high in _ports(spec))


def _negated(args: tuple[str, ...], i: int) -> bool:
    return i > 0 and args[i - 1] == "!"


def match(rule: Rule, packet: Packet) -> Match:
    """Whether `rule`'s matches hold for a new connection to `packet` from any client."""
    args = rule.args
    result: Match = "yes"
    i = 0
    while i < len(args):
        arg = args[i]
        value = args[i + 1] if i + 1 < len(args) else ""
        negated = _negated(args, i)
        step = _one(arg, value, negated, packet)
        if step == "no":
            return "no"
        if step == "some":
            result = "some"
        i += 1 if step == "flag" else 2
        if arg in ("-j", "--jump", "-g", "--goto"):
            break  # the target's own options follow (--log-prefix, --reject-with)
    return result


def _one(arg: str, value: str, negated: bool, packet: Packet) -> Match | Literal["flag"]:
    if arg == "!" or arg in ("-j", "--jump", "-g", "--goto"):
        return "flag"
    if arg == "--syn":
        return "flag" if not negated else "no"
    if arg in ALWAYS:
        return "yes"
    if arg in ("-p", "--protocol"):
        same = value in (packet.proto, PROTOCOL_NUMBERS[packet.proto], "all", "0")
        return "yes" if same != negated else "no"
    if arg in ("--dport", "--destination-port", "--dports", "--destination-ports", "--ports"):
        hit = _in(packet.port, value)
        return "yes" if hit != negated else "no"
    if arg == "--ctorigdstport":
        hit = _in(packet.original_port or packet.port, value)
        return "yes" if hit != negated else "no"
    if arg in ("--ctstate", "--state"):
        hit = bool(NEW_STATES & set(value.split(",")))
        return "yes" if hit != negated else "no"
    if arg == "--dst-type":
        hit = "LOCAL" in value.split(",") or "UNICAST" in value.split(",")
        return "yes" if hit != negated else "no"
    if arg == "--src-type":
        local = value.split(",") == ["LOCAL"]
        return ("no" if not negated else "yes") if local else "some"
    if arg in ("-i", "--in-interface"):
        if packet.in_interface is not None:
            wildcard = value.endswith("+")  # `-i br-+`: every interface named br-...
            named = packet.in_interface
            on = named.startswith(value[:-1]) if wildcard else named == value
            return "yes" if on != negated else "no"
        if value == "lo":
            return "yes" if negated else "no"
        return "some"
    if arg in ("-s", "--source"):
        held = _holds(value, packet.source) if packet.source is not None else None
        if held is not None:
            return "yes" if held != negated else "no"
        if value.startswith(LOOPBACK):
            return "yes" if negated else "no"
        return "yes" if negated else "some"
    if arg in ("-d", "--destination"):
        return "some"
    if arg in ("--icmp-type", "--icmpv6-type"):
        return "no"
    return "some"  # an output interface, a source port, a match not modelled


def _holds(spec: str, address: str) -> bool | None:
    """Whether `-s SPEC` (an address, a CIDR, or a comma list of them) holds `address`;
    None when SPEC is something else (a host name iptables-save would not print)."""
    try:
        ip = ipaddress.ip_address(address)
        return any(ip in ipaddress.ip_network(part, strict=False) for part in spec.split(","))
    except ValueError:
        return None


class _Table:
    """One iptables table of `firewall` as the walk sees it."""

    def __init__(self, firewall: HostFirewall, table: str) -> None:
        self.firewall = firewall
        self.table = table
        self.chains = firewall.chains.get(table, frozenset())

    def rules_in(self, chain: str) -> Sequence[Rule]:
        return self.firewall.rules_of(self.table, chain)

    def is_chain(self, name: str) -> bool:
        return name in self.chains

    def judge(self, rule: Rule, packet: Packet) -> Match:
        return match(rule, packet)


def walk(firewall: HostFirewall, chain: str, packet: Packet, table: str = "filter") -> Walk[Rule]:
    """What `chain` (a built-in one: its policy ends it) does to `packet`."""
    ended = follow(_Table(firewall, table), chain, packet)
    if ended.verdict == "RETURN":
        policy = firewall.policy(table, chain) or "ACCEPT"
        return Walk(policy, f"the {chain} policy ({policy})", ended.partial)
    return ended


def follow(chains: Chains[R], chain: str, packet: Packet) -> Walk[R]:
    """What `chain` of `chains` does to `packet`, its verdict "RETURN" when it ends without
    one (the caller knows the policy). The same walk for iptables' chains and nftables'."""
    partial: list[R] = []
    verdict, deciding = _walk(chains, chain, packet, partial, False, 0)
    return Walk(verdict, deciding, partial)


def _walk(
    chains: Chains[R],
    chain: str,
    packet: Packet,
    partial: list[R],
    some: bool,
    depth: int,
) -> tuple[str | None, str]:
    """(verdict, the rule that gave it); verdict "RETURN" when the chain ends without one.
    `some`: the chain was entered for some clients only, so its verdicts are partial."""
    if depth > MAX_DEPTH:
        return None, "chains jump in a circle"
    for rule in chains.rules_in(chain):
        target = rule.target
        if target is None:
            continue
        matched = chains.judge(rule, packet)
        if matched == "no":
            continue
        partly = some or matched == "some"
        if chains.is_chain(target):
            verdict, deciding = _walk(chains, target, packet, partial, partly, depth + 1)
            if verdict is None:
                return None, deciding
            if verdict != "RETURN" and not partly:
                return verdict, deciding
            if rule.goto and not partly:
                return "RETURN", deciding
            continue
        if target == "RETURN":
            if partly:
                continue
            return "RETURN", rule.text
        if target in ACCEPTS or target in DENIES:
            if partly:
                partial.append(rule)
                continue
            return target, rule.text
        if target in GOES_ON:
            continue
        if partly:
            continue  # an unknown target for some clients only: the others go on
        return None, f"{rule.text} (target {target} is not modelled)"
    return "RETURN", ""
