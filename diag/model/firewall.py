"""The host's firewall as parsed iptables rules: what `host.iptables` (and every check that
reasons about the host's filter path) reads. diag.engine.hostfw reads the rules on the host
and explains why ddiag reads them itself; this module only holds and parses them, no I/O.

One `HostFirewall` holds one address family's rules: iptables-save's (IPv4) or
ip6tables-save's (IPv6), told apart by the command that printed them; the same parser
reads both, as their dumps share one format. The IPv4 one, which every check is handed,
keeps the IPv6 one beside it (`v6`): IPv4 and IPv6 packets pass disjoint rule sets, so a
walk picks the family's rules first (`for_family`) and never mixes them.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from diag.model.nftables import NftRuleset

SOURCE_NAT = ("MASQUERADE", "SNAT")
Family = Literal["ipv4", "ipv6"]
DEFAULT_SAVE = ("iptables-save", "ip6tables-save")  # the host's default backend, either family


def family_of(address: str) -> Family:
    """The family of an address as text (a colon is IPv6's alone)."""
    return "ipv6" if ":" in address else "ipv4"


@dataclass(frozen=True)
class Option:
    value: str
    negated: bool  # `! -o docker0`


@dataclass(frozen=True)
class Rule:
    """One `-A CHAIN ...` line of iptables-save."""

    table: str
    chain: str
    args: tuple[str, ...]  # what follows `-A CHAIN`, split as a shell would
    text: str  # the line as iptables-save printed it (for evidence)

    def option(self, *names: str) -> Option | None:
        """The value of the first of `names` (e.g. `-s`, `--source`), and whether a `!`
        negates it; None when the rule does not use it."""
        for i, arg in enumerate(self.args[:-1]):
            if arg in names:
                return Option(self.args[i + 1], i > 0 and self.args[i - 1] == "!")
        return None

    @property
    def target(self) -> str | None:
        """Where the rule jumps (`-j`) or goes (`-g`): a verdict or a chain."""
        found = self.option("-j", "--jump", "-g", "--goto")
        return found.value if found else None

    @property
    def goto(self) -> bool:
        """`-g CHAIN`: the chain's end returns past this rule's chain, not to it."""
        return self.option("-g", "--goto") is not None

    @property
    def source(self) -> Option | None:
        return self.option("-s", "--source")

    @property
    def out_interface(self) -> Option | None:
        return self.option("-o", "--out-interface")


@dataclass(frozen=True)
class HostFirewall:
    """The rules of one family of the host's netfilter, per table, as one backend shows
    them: IPv4's (iptables-save), or IPv6's when `command` is ip6tables'."""

    command: str  # what was run, e.g. "iptables-legacy-save", "ip6tables-save"
    version: str  # its dump's own header, e.g. "iptables-save v1.8.9 (nf_tables)"
    chains: Mapping[str, frozenset[str]]  # table → its chains (built-in and user-defined)
    rules: tuple[Rule, ...]
    # The network interfaces of the namespace these rules filter (ddiag's own): a network
    # whose bridge is not among them (rootless engine, Docker Desktop's VM) is not theirs.
    interfaces: frozenset[str] = frozenset()
    nft_docker_bridges: bool = False  # the engine's nftables backend holds its rules
    # (table, built-in chain) → its policy (`:FORWARD DROP [0:0]`): ACCEPT or DROP
    policies: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # What the host's other iptables backend shows (read-only, one per backend): the rules of
    # `iptables-legacy-save` when these are nf_tables', and the other way round. Packets pass
    # both backends' hooks, so a DROP there drops what these rules accept.
    others: tuple[HostFirewall, ...] = ()
    # The host's native nftables tables (`nft -j list ruleset`, iptables-nft's own left
    # out): firewalld's `inet firewalld`, an nftables.conf's `inet filter`. Their base
    # chains sit on the same hooks as iptables' chains (diag.model.inputhook).
    native: NftRuleset | None = None
    # The host's IPv6 rules (ip6tables-save, chosen among its backends as these were, their
    # own `others` beside them), on the IPv4 rules only; None when they were not read.
    v6: HostFirewall | None = None
    _reach: dict[tuple[str, str], frozenset[str]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @property
    def read_with(self) -> str:
        """What the evidence cites: the command and the backend its header names."""
        if not self.version or self.version.split()[0] == self.command:
            return self.version or self.command
        return f"{self.command}: {self.version}"

    @property
    def backend(self) -> str:
        """ "nft" or "legacy": the dump's header says `(nf_tables)` for the first; a header
        without it is legacy's, unless the command itself names nft."""
        if "(nf_tables)" in self.version or self.command.endswith("-nft-save"):
            return "nft"
        return "legacy"

    @property
    def family(self) -> Family:
        return "ipv6" if self.command.startswith("ip6tables") else "ipv4"

    @property
    def tool(self) -> str:
        """The command that changes this backend's rules (`iptables-legacy`, `ip6tables-nft`)."""
        return f"{self.command.split('-')[0]}-{self.backend}"

    @property
    def fix_tool(self) -> str:
        """The command a fix names: plain `iptables` (`ip6tables`) for the rules the host's
        default command showed, which is what the engine's own calls use; else the backend's."""
        if self.command in DEFAULT_SAVE:
            return self.command.removesuffix("-save")
        return self.tool

    def for_family(self, family: Family) -> HostFirewall | None:
        """This family's rules: these for IPv4, `v6` for IPv6 (None when not read)."""
        return self if family == self.family else self.v6

    def policy(self, table: str, chain: str) -> str | None:
        return self.policies.get((table, chain))

    def rules_of(self, table: str, chain: str) -> list[Rule]:
        return [r for r in self.rules if r.table == table and r.chain == chain]

    def reachable(self, table: str, start: str) -> frozenset[str]:
        """Every chain of `table` a packet entering `start` may be sent to (any rule's
        jump counts: matches are not evaluated), `start` included."""
        key = (table, start)
        if key not in self._reach:
            chains = self.chains.get(table, frozenset())
            seen = {start}
            todo = [start]
            while todo:
                for rule in self.rules_of(table, todo.pop()):
                    target = rule.target
                    if target in chains and target not in seen:
                        seen.add(target)
                        todo.append(target)
            self._reach[key] = frozenset(seen)
        return self._reach[key]

    def jumps_to(self, table: str, start: str, chain: str) -> bool:
        """`chain` exists in `table` and packets entering `start` are sent to it."""
        return chain in self.chains.get(table, frozenset()) and chain in self.reachable(
            table, start
        )

    @property
    def docker_chains(self) -> list[str]:
        """`table/CHAIN` of every chain the engine made (their names start with DOCKER)."""
        return sorted(
            f"{table}/{chain}"
            for table, chains in self.chains.items()
            for chain in chains
            if chain.startswith("DOCKER")
        )

    def source_nat(self) -> list[Rule]:
        """MASQUERADE and SNAT rules that packets leaving the host pass (nat POSTROUTING
        and the chains it jumps to)."""
        chains = self.reachable("nat", "POSTROUTING")
        return [
            r
            for r in self.rules
            if r.table == "nat" and r.chain in chains and r.target in SOURCE_NAT
        ]


def parse(
    text: str, command: str = "iptables-save", interfaces: frozenset[str] = frozenset()
) -> HostFirewall:
    """An iptables-save dump (any backend, any number of tables) as a `HostFirewall`."""
    version = ""
    table = ""
    chains: dict[str, set[str]] = {}
    policies: dict[tuple[str, str], str] = {}
    rules: list[Rule] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# Generated by ") and not version:
            version = line.removeprefix("# Generated by ").split(" on ", 1)[0]
        elif line.startswith("*"):
            table = line[1:]
            chains.setdefault(table, set())
        elif line.startswith(":") and table:
            name, *rest = line[1:].split()
            chains[table].add(name)
            if rest and rest[0] != "-":  # a built-in chain's policy; `-` for user chains
                policies[(table, name)] = rest[0]
        elif line.startswith("-A ") and table:
            parts = _split(line)
            if len(parts) >= 2:
                rules.append(Rule(table, parts[1], tuple(parts[2:]), line))
    return HostFirewall(
        command=command,
        version=version,
        chains={name: frozenset(names) for name, names in chains.items()},
        rules=tuple(rules),
        interfaces=interfaces,
        policies=policies,
    )


def _split(line: str) -> list[str]:
    """Split as a shell would (`--comment "two words"`); a quote iptables left unbalanced
    must not lose the rule, so fall back to plain whitespace."""
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()
