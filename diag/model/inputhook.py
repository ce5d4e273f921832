"""What the host's input hook does to a new connection: every base chain netfilter runs
there, in priority order, not only iptables' INPUT.

A packet for one of the host's addresses passes each base chain registered on the input
hook: iptables' filter INPUT (of each backend that holds one, priority 0, NF_IP_PRI_FILTER)
and every native nftables chain `type filter hook input` (firewalld's `filter_INPUT` at
priority filter + 10, an nftables.conf `input` chain at 0). An accept ends only the chain
that gave it, and the packet goes on to the next; a drop or reject ends the packet. So the
hook accepts when every chain does, and the first chain that denies (in priority order)
is the one named. Chains of equal priority run in the order they were registered, which
no dump shows: iptables' come first here, which changes only which denial is named, never
whether the packet is denied. A verdict not modelled (a queue) ends the answer: what the
chains after it would do no longer matters. The rules that hold for some clients only are
those of the chain that ended the packet: an earlier chain's partial accept admits no one
that a later chain drops.

Which chains depends on the packet's family: iptables' INPUT (the IPv4 rules) and ip, inet
tables for IPv4; ip6tables' INPUT (`HostFirewall.v6`) and ip6, inet tables for IPv6. When
the IPv6 rules were not read, the hook's verdict for an IPv6 packet is not known.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from diag.model import nftpath
from diag.model.filterpath import DENIES, ChainRule, Packet, Walk, walk
from diag.model.firewall import HostFirewall
from diag.model.nftables import NftTable

IPTABLES_PRIORITY = 0  # NF_IP_PRI_FILTER: filter INPUT of both iptables backends


@dataclass(frozen=True)
class InputEnd:
    """The hook's verdict: ACCEPT, DROP/REJECT, or None (not known); `where` names the
    chain that ended it as the evidence cites it, `partial` the rules met on the way that
    accept or deny for some clients only in the chain that ended it. `firewall` is the
    iptables backend whose INPUT denied, `table` the native table whose base chain `chain`
    did (one of them, or neither)."""

    verdict: str | None
    deciding: str
    where: str
    partial: list[ChainRule] = field(default_factory=list)
    firewall: HostFirewall | None = None
    table: NftTable | None = None
    chain: str = "INPUT"  # the base chain that ended it (a native one's name, or INPUT)


@dataclass(frozen=True)
class _Chain:
    priority: int
    where: str
    firewall: HostFirewall | None = None
    table: NftTable | None = None
    chain: str = "INPUT"

    def walk(self, packet: Packet) -> Walk[ChainRule]:
        if self.table is not None:
            ended = nftpath.walk(self.table, self.table.chains[self.chain], packet)
            return Walk(ended.verdict, ended.deciding, list(ended.partial))
        assert self.firewall is not None
        done = walk(self.firewall, "INPUT", packet)
        return Walk(done.verdict, done.deciding, list(done.partial))


def _chains(firewall: HostFirewall) -> list[_Chain]:
    """The input hook's chains for `firewall`'s family, in the order netfilter runs them."""
    chains = [
        _Chain(IPTABLES_PRIORITY, f"{fw.read_with}: INPUT", firewall=fw)
        for fw in (firewall, *firewall.others)
    ]
    native = firewall.native
    if native is not None:
        chains += [
            _Chain(chain.priority, f"{native.read_with}: input hook", table=table, chain=chain.name)
            for table, chain in native.base_chains("input", nftpath.FAMILIES[firewall.family])
        ]
    return sorted(chains, key=lambda c: c.priority)  # stable: iptables' first on a tie


def input_path(firewall: HostFirewall, packet: Packet) -> InputEnd:
    """What the input hook does to `packet` (its family's chains): the first chain that
    denies it (or cannot be judged) ends it; when none does, every chain accepted it."""
    own = firewall.for_family(packet.family)
    if own is None:
        return InputEnd(None, "the host's IPv6 rules were not read", "ip6tables-save")
    chains = _chains(own)
    for chain in chains:
        done = chain.walk(packet)
        if done.verdict is None or done.verdict in DENIES:
            return InputEnd(
                done.verdict,
                done.deciding,
                chain.where,
                done.partial,
                chain.firewall,
                chain.table,
                chain.chain,
            )
    return InputEnd("ACCEPT", "every chain of the input hook", chains[0].where)
