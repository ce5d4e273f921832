"""The host's firewall, as ddiag reads it on its own machine: iptables rules, parsed.

Docker's bridge networks live on rules the engine writes into the host's netfilter tables:
a MASQUERADE rule per network in nat POSTROUTING (the containers' way out) and its `DOCKER`
chains (published ports). `host.iptables` judges them; this module reads and parses them.

Why ddiag reads them itself and no probe does: reading netfilter needs CAP_NET_ADMIN,
through nf_tables netlink (`iptables-nft`) as through the legacy getsockopt interface
(`iptables-legacy`). A probe given CAP_NET_ADMIN in the host's network namespace could
also *change* the host's firewall, and ddiag gives its probes no such power (DESIGN.md,
least privilege). So the rules are read only where ddiag itself may read them: the engine
runs on this machine (a unix socket; a remote engine's firewall is out of reach) and ddiag
runs as root or with CAP_NET_ADMIN. A user in the `docker` group is neither: for them the
check stays silent, and `ddiag explain host.iptables` says so.

Read-only, and without side effects: `iptables-save` with no `-t`, because naming a table
(`-t nat`) makes the legacy backend load and create that table when it does not exist yet,
which is a change to the host. Without `-t`, each backend lists only the tables that exist.
`iptables-save` (the host's default, the one the engine's own `iptables` calls match) comes
first; when it shows no Docker chain, `iptables-nft-save` and `iptables-legacy-save` are
read too (an engine may use the other backend), and then `nft list tables` tells whether
the engine uses its nftables backend (Docker ≥ 29: `table ip docker-bridges`), whose rules
iptables does not show.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

SAVE_COMMANDS = ("iptables-save", "iptables-nft-save", "iptables-legacy-save")
TIMEOUT_S = 5.0
CAP_NET_ADMIN = 12  # bit in /proc/self/status CapEff
LOCAL_ENGINE_URL = "http+docker://localhost"  # docker-py's base_url for a unix:// socket
NFT_DOCKER_TABLE = "table ip docker-bridges"
SOURCE_NAT = ("MASQUERADE", "SNAT")

Runner = Callable[[list[str]], str]


class Unreadable(Exception):
    """ddiag may read the firewall, but the command failed: the check could not run."""


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
    def source(self) -> Option | None:
        return self.option("-s", "--source")

    @property
    def out_interface(self) -> Option | None:
        return self.option("-o", "--out-interface")


@dataclass(frozen=True)
class HostFirewall:
    """The IPv4 rules of the host's netfilter, per table, as one backend shows them."""

    command: str  # what was run, e.g. "iptables-legacy-save"
    version: str  # its dump's own header, e.g. "iptables-save v1.8.9 (nf_tables)"
    chains: Mapping[str, frozenset[str]]  # table → its chains (built-in and user-defined)
    rules: tuple[Rule, ...]
    # The network interfaces of the namespace these rules filter (ddiag's own): a network
    # whose bridge is not among them (rootless engine, Docker Desktop's VM) is not theirs.
    interfaces: frozenset[str] = frozenset()
    nft_docker_bridges: bool = False  # the engine's nftables backend holds its rules
    _reach: dict[tuple[str, str], frozenset[str]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @property
    def read_with(self) -> str:
        """What the evidence cites: the command and the backend its header names."""
        if not self.version or self.version.split()[0] == self.command:
            return self.version or self.command
        return f"{self.command}: {self.version}"

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
    rules: list[Rule] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# Generated by ") and not version:
            version = line.removeprefix("# Generated by ").split(" on ", 1)[0]
        elif line.startswith("*"):
            table = line[1:]
            chains.setdefault(table, set())
        elif line.startswith(":") and table:
            chains[table].add(line[1:].split()[0])
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
    )


def _split(line: str) -> list[str]:
    """Split as a shell would (`--comment "two words"`); a quote iptables left unbalanced
    must not lose the rule, so fall back to plain whitespace."""
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


def engine_is_local(base_url: str) -> bool:
    """The client talks to the engine through a unix socket: the engine runs here (or in a
    VM behind the socket; `HostFirewall.interfaces` tells those apart per network)."""
    return base_url == LOCAL_ENGINE_URL


def may_read(status: str | None = None) -> bool:
    """Root, or CAP_NET_ADMIN in the effective set (`status`: /proc/self/status's text)."""
    if os.geteuid() == 0:
        return True
    if status is None:
        try:
            with open("/proc/self/status", encoding="ascii") as handle:
                status = handle.read()
        except OSError:
            return False
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    return False


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise Unreadable(f"`{' '.join(argv)}` did not answer within {TIMEOUT_S:g} s") from None
    except OSError as exc:
        raise Unreadable(f"`{' '.join(argv)}` could not run: {exc.strerror}") from None
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
        raise Unreadable(f"`{' '.join(argv)}` failed: {said}")
    return done.stdout


def _interfaces() -> frozenset[str]:
    try:
        return frozenset(os.listdir("/sys/class/net"))
    except OSError:
        return frozenset()


def read(run: Runner = _run) -> HostFirewall | None:
    """The host's rules, or None when ddiag may not read them or has no iptables.

    Raises `Unreadable` when the first command fails; the other backends are a fallback
    and their failure (e.g. no legacy iptables module in the kernel) just means "not there".
    """
    commands = [name for name in SAVE_COMMANDS if shutil.which(name)]
    if not commands or not may_read():
        return None
    interfaces = _interfaces()
    first = parse(run([commands[0]]), commands[0], interfaces)
    if first.docker_chains:
        return first
    for command in commands[1:]:
        try:
            other = parse(run([command]), command, interfaces)
        except Unreadable:
            continue
        if other.docker_chains:
            return other
    return replace(first, nft_docker_bridges=_nft_docker_bridges(run))


def _nft_docker_bridges(run: Runner) -> bool:
    if shutil.which("nft") is None:
        return False
    try:
        return NFT_DOCKER_TABLE in run(["nft", "list", "tables"]).splitlines()
    except Unreadable:
        return False
