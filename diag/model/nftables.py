"""The host's native nftables rule sets, as `nft -j list ruleset` prints them (the JSON of
libnftables-json(5)): firewalld's nftables backend (`table inet firewalld`), a hand-written
/etc/nftables.conf (`table inet filter`), the engine's own `table ip docker-bridges`.
diag.engine.hostfw runs the command; this module only holds and parses its answer, no I/O.

iptables-nft keeps its rules in nftables too (`table ip filter`, `table ip nat`, ...), and
those are already read, with their iptables meaning, through iptables-save. They are told
apart by shape, not by content: a table is iptables-nft's when its family is one of
iptables' (ip, ip6; arp and bridge for arptables and ebtables), its name one of iptables'
tables, and every base chain in it bears the name of the built-in chain iptables gives
that hook (INPUT, FORWARD, ...). Compat (`xt`) expressions are no test: iptables-nft
translates the common matches into native expressions, so many of its rules hold none. A
hand-written `table ip filter` whose base chains are spelled like iptables' is taken for
iptables-nft's; iptables-nft-save shows it too (or calls it incompatible), so it is not
lost, only judged with iptables' eyes.

Rules keep their statements as the JSON gave them (matching is diag.model.nftpath's job)
and a text in nft's own syntax, rebuilt from them, for evidence: nft's JSON holds no text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

COMMAND = "nft -j list ruleset"
IPTABLES_FAMILIES = frozenset({"ip", "ip6", "arp", "bridge"})
IPTABLES_TABLES = frozenset({"filter", "nat", "mangle", "raw", "security", "broute"})
IPTABLES_CHAINS = frozenset({"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING", "BROUTING"})
# What a statement's verdict means, in the words filterpath walks with (iptables' targets).
VERDICTS = {"accept": "ACCEPT", "drop": "DROP", "reject": "REJECT", "return": "RETURN"}
# Statements that end a rule's part in the walk without a verdict filterpath knows: the
# answer is unknown when such a rule holds for every client (as for iptables' NFQUEUE).
UNMODELLED_ENDS = frozenset(
    {"queue", "vmap", "dnat", "snat", "masquerade", "redirect", "tproxy", "synproxy", "fwd"}
)
# The engine's own tables on its nftables backend (Docker >= 29), one per family it filters.
ENGINE_TABLES = {"ipv4": ("ip", "docker-bridges"), "ipv6": ("ip6", "docker-bridges")}
# Meta keys nft prints without `meta` (`iifname "lo"`, not `meta iifname "lo"`).
BARE_META = frozenset({"iif", "iifname", "oif", "oifname", "iiftype", "oiftype"})


@dataclass(frozen=True)
class NftRule:
    """One rule of a native chain: its statements as JSON, and nft's text for them."""

    family: str
    table: str
    chain: str
    statements: tuple[Mapping[str, Any], ...]
    body: str  # the rule as `nft list ruleset` would print it (rebuilt from the JSON)

    @property
    def text(self) -> str:
        """The rule with where it sits, for evidence: `table inet filter chain input: ...`."""
        return f"table {self.family} {self.table} chain {self.chain}: {self.body}"

    @property
    def target(self) -> str | None:
        """The verdict (ACCEPT, DROP, REJECT, RETURN), the chain a jump or goto names, the
        name of a statement that ends the rule otherwise (`QUEUE`, `VMAP`: not modelled),
        or None for a rule with no verdict (`counter`, `log`, `continue`)."""
        for statement in self.statements:
            for key, value in statement.items():
                if key in VERDICTS:
                    return VERDICTS[key]
                if key in ("jump", "goto"):
                    return str(value["target"])
                if key in UNMODELLED_ENDS:
                    return key.upper()
        return None

    @property
    def goto(self) -> bool:
        return any("goto" in statement for statement in self.statements)


@dataclass(frozen=True)
class NftChain:
    family: str
    table: str
    name: str
    hook: str | None = None  # a base chain's hook (input, forward, prerouting, ...)
    priority: int = 0
    policy: str = "accept"


@dataclass(frozen=True)
class NftTable:
    family: str
    name: str
    chains: Mapping[str, NftChain]
    rules: tuple[NftRule, ...] = ()

    @property
    def label(self) -> str:
        return f"table {self.family} {self.name}"

    @property
    def made_by_iptables(self) -> bool:
        """iptables-nft's own table (see the module's docstring for why this shape)."""
        bases = [c for c in self.chains.values() if c.hook is not None]
        return (
            self.family in IPTABLES_FAMILIES
            and self.name in IPTABLES_TABLES
            and bool(bases)
            and all(c.name in IPTABLES_CHAINS for c in bases)
        )

    def rules_of(self, chain: str) -> list[NftRule]:
        return [r for r in self.rules if r.chain == chain]


@dataclass(frozen=True)
class NftRuleset:
    """The native tables of the host's nftables (iptables-nft's own left out)."""

    tables: tuple[NftTable, ...] = ()
    version: str = ""  # nft's, from the dump's metainfo

    @property
    def read_with(self) -> str:
        """What the evidence cites: the command, and nft's version when the dump gave it."""
        return f"{COMMAND} ({self.version})" if self.version else COMMAND

    def base_chains(self, hook: str, families: tuple[str, ...]) -> list[tuple[NftTable, NftChain]]:
        """Every base chain on `hook` in a table of `families`, in the order netfilter runs
        them: by priority (equal priorities: in the order of the dump)."""
        found = [
            (table, chain)
            for table in self.tables
            if table.family in families
            for chain in table.chains.values()
            if chain.hook == hook
        ]
        return sorted(found, key=lambda pair: pair[1].priority)

    def table(self, family: str, name: str) -> NftTable | None:
        return next((t for t in self.tables if (t.family, t.name) == (family, name)), None)


def parse(text: str) -> NftRuleset:
    """`nft -j list ruleset`'s output as an `NftRuleset`; ValueError when it is not that."""
    try:
        return _parse(json.loads(text)["nftables"])
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"not the JSON of `nft -j list ruleset`: {exc!r}") from None


def _parse(items: list[Mapping[str, Any]]) -> NftRuleset:
    version = ""
    chains: dict[tuple[str, str], dict[str, NftChain]] = {}
    rules: dict[tuple[str, str], list[NftRule]] = {}
    for item in items:
        if "metainfo" in item:
            version = f"nft v{item['metainfo'].get('version', '?')}"
        elif "table" in item:
            key = (item["table"]["family"], item["table"]["name"])
            chains.setdefault(key, {})
            rules.setdefault(key, [])
        elif "chain" in item:
            chain = _chain(item["chain"])
            chains.setdefault((chain.family, chain.table), {})[chain.name] = chain
        elif "rule" in item:
            rule = _rule(item["rule"])
            rules.setdefault((rule.family, rule.table), []).append(rule)
    tables = (
        NftTable(family, name, chains.get((family, name), {}), tuple(rules.get((family, name), [])))
        for family, name in chains
    )
    return NftRuleset(tuple(t for t in tables if not t.made_by_iptables), version)


def _chain(raw: Mapping[str, Any]) -> NftChain:
    return NftChain(
        family=raw["family"],
        table=raw["table"],
        name=raw["name"],
        hook=raw.get("hook"),
        priority=int(raw.get("prio", 0)),
        policy=raw.get("policy", "accept"),
    )


def _rule(raw: Mapping[str, Any]) -> NftRule:
    statements = tuple(raw.get("expr", ()))
    body = " ".join(_statement(s) for s in statements)
    if raw.get("comment"):
        body += f' comment "{raw["comment"]}"'
    return NftRule(raw["family"], raw["table"], raw["chain"], statements, body)


def _statement(statement: Mapping[str, Any]) -> str:
    """One statement in nft's syntax: enough to recognise the rule, not a full printer."""
    key, value = next(iter(statement.items()))
    if key == "match":
        op = value.get("op", "==")
        shown_op = "" if op in ("==", "in") else f"{op} "
        left = value["left"]
        quoted = isinstance(left, dict) and left.get("meta", {}).get("key") in BARE_META
        return f"{_expression(left)} {shown_op}{_expression(value['right'], quoted)}"
    if key in ("jump", "goto"):
        return f"{key} {value['target']}"
    if key == "reject" and value:
        code = value.get("expr")
        kind = value.get("type", "")
        return f"reject with {kind} {code}" if code else f"reject with {kind}"
    if key == "log" and value and "prefix" in value:
        return f'log prefix "{value["prefix"]}"'
    return key  # accept, drop, counter, log, limit, ... (their arguments left out)


def _expression(expr: Any, quoted: bool = False) -> str:
    if isinstance(expr, str):
        return f'"{expr}"' if quoted else expr
    if isinstance(expr, (int, float)):
        return str(expr)
    if isinstance(expr, list):
        return ",".join(_expression(e, quoted) for e in expr)
    if isinstance(expr, dict) and len(expr) == 1:
        key, value = next(iter(expr.items()))
        if key == "set":
            elements = value if isinstance(value, list) else [value]
            return "{ " + ", ".join(_expression(e, quoted) for e in elements) + " }"
        if key == "range":
            return "-".join(_expression(e) for e in value)
        if key == "prefix":
            return f"{_expression(value['addr'])}/{value['len']}"
        if key == "payload" and "protocol" in value:
            return f"{value['protocol']} {value['field']}"
        if key == "meta":
            return value["key"] if value["key"] in BARE_META else f"meta {value['key']}"
        if key == "ct":
            return f"ct {value['key']}"
        if key == "fib":
            flags = value["flags"] if isinstance(value["flags"], list) else [value["flags"]]
            return f"fib {' . '.join(flags)} {value['result']}"
    return json.dumps(expr, separators=(",", ":"))
