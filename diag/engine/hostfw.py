"""The host's firewall, as ddiag reads it on its own machine: iptables rules and native
nftables tables, parsed.

Docker's bridge networks live on rules the engine writes into the host's netfilter tables:
a MASQUERADE rule per network in nat POSTROUTING (the containers' way out) and its `DOCKER`
chains (published ports). `host.iptables` judges them; this module reads and parses them.

Why ddiag reads them itself and no probe does: reading netfilter needs CAP_NET_ADMIN,
through nf_tables netlink (`iptables-nft`) as through the legacy getsockopt interface
(`iptables-legacy`). A probe given CAP_NET_ADMIN in the host's network namespace could
also *change* the host's firewall, and ddiag gives its probes no such power (ARCHITECTURE.md,
"The probe contract"). So the rules are read only where ddiag itself may read them: the engine
runs on this machine (a unix socket; a remote engine's firewall is out of reach) and ddiag
runs as root or with CAP_NET_ADMIN. A user in the `docker` group is neither: for them the
check stays silent, and `ddiag explain host.iptables` says so.

Read-only, and without side effects: `iptables-save` with no `-t`, because naming a table
(`-t nat`) makes the legacy backend load and create that table when it does not exist yet,
which is a change to the host. Without `-t`, each backend lists only the tables that exist.
`iptables-save` (the host's default, the one the engine's own `iptables` calls match) comes
first, then `iptables-nft-save` and `iptables-legacy-save` (an engine may use the other
backend). The first dump that shows a Docker chain is the one the checks judge; when none
does, `nft list tables` tells whether the engine uses its nftables backend (Docker ≥ 29:
`table ip docker-bridges`), whose rules iptables does not show. What the other backend
shows is kept beside it (`HostFirewall.others`): packets pass the hooks of both, so a
firewall tool on the other backend (`host.firewall-split`) drops what Docker's rules
accept.

IPv6 has its own rules, in its own tables: `ip6tables-save` and its nft and legacy
twins are read and chosen among exactly as above (the engine's nftables table being `table
ip6 docker-bridges`), and kept as `HostFirewall.v6`. A host without ip6tables, or whose
ip6tables fails, has unknown IPv6 rules (None), not an open IPv6 firewall.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace

from diag.model import nftables
from diag.model.firewall import HostFirewall, parse
from diag.model.nftables import ENGINE_TABLES

SAVE_COMMANDS = ("iptables-save", "iptables-nft-save", "iptables-legacy-save")
SAVE6_COMMANDS = ("ip6tables-save", "ip6tables-nft-save", "ip6tables-legacy-save")
TIMEOUT_S = 5.0
CAP_NET_ADMIN = 12  # bit in /proc/self/status CapEff
LOCAL_ENGINE_URL = "http+docker://localhost"  # docker-py's base_url for a unix:// socket
NFT_RULESET = ["nft", "-j", "list", "ruleset"]
IN_IMAGE = "DDIAG_IN_IMAGE"  # set in the ddiag image (Dockerfile)

Runner = Callable[[list[str]], str]


class Unreadable(Exception):
    """ddiag may read the firewall, but the command failed: the check could not run."""


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
    """The host's rules, or None when ddiag may not read them, has no iptables, or runs in
    its own image (`IN_IMAGE`, set by the Dockerfile): there the rules it could read are
    its container's network namespace's, not the host's, whatever the socket says.

    Raises `Unreadable` when the first command fails; the other backends are read too, and
    their failure (e.g. no legacy iptables module in the kernel) just means "not there".
    The IPv6 rules are read the same way (`v6`); when their first command fails, or there
    is no ip6tables, they are not known (None) and only IPv6 judgements are lost.
    """
    commands = _installed(SAVE_COMMANDS)
    if not commands or not may_read() or os.environ.get(IN_IMAGE):
        return None
    interfaces = _interfaces()
    dumps = _dumps(run, commands, interfaces)
    native = _native(run)
    return replace(_judged(dumps, native), v6=_read_v6(run, interfaces, native))


def _read_v6(
    run: Runner, interfaces: frozenset[str], native: nftables.NftRuleset | None
) -> HostFirewall | None:
    """The IPv6 rules, chosen as the IPv4 ones are; None without ip6tables, or when its
    first command fails."""
    commands = _installed(SAVE6_COMMANDS)
    if not commands:
        return None
    try:
        return _judged(_dumps(run, commands, interfaces), native)
    except Unreadable:
        return None


def _installed(commands: tuple[str, ...]) -> list[str]:
    return [name for name in commands if shutil.which(name)]


def _dumps(run: Runner, commands: list[str], interfaces: frozenset[str]) -> list[HostFirewall]:
    """Every backend's dump: the first command must answer, the others may fail."""
    dumps = [parse(run([commands[0]]), commands[0], interfaces)]
    for command in commands[1:]:
        try:
            dumps.append(parse(run([command]), command, interfaces))
        except Unreadable:
            continue
    return dumps


def _judged(dumps: list[HostFirewall], native: nftables.NftRuleset | None) -> HostFirewall:
    """The dump the checks judge (the first with a Docker chain, else the first, marked
    when the engine's nftables table of its family exists), the others beside it."""
    chosen = next((d for d in dumps if d.docker_chains), None)
    if chosen is None:
        first = dumps[0]
        engine = native is not None and native.table(*ENGINE_TABLES[first.family]) is not None
        chosen = replace(first, nft_docker_bridges=engine)
    return replace(chosen, others=_others(chosen, dumps), native=native)


def _others(chosen: HostFirewall, dumps: list[HostFirewall]) -> tuple[HostFirewall, ...]:
    """One dump per backend other than `chosen`'s, the first read of each (`iptables-save`
    is one of the two under another name); a backend with no table shows nothing."""
    seen = {chosen.backend}
    kept: list[HostFirewall] = []
    for dump in dumps:
        if dump.backend not in seen and dump.chains:
            seen.add(dump.backend)
            kept.append(dump)
    return tuple(kept)


def _native(run: Runner) -> nftables.NftRuleset | None:
    """The host's native nftables tables; None without `nft`, or when it fails."""
    if shutil.which("nft") is None:
        return None
    try:
        return nftables.parse(run(NFT_RULESET))
    except (Unreadable, ValueError):
        return None
