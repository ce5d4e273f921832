"""The host's firewall drops or rejects containers that reach a host service.

A container reaches a service on the Docker host at the host's address on its bridge (the
gateway, or what host.docker.internal maps to). Such packets are not forwarded: they are
for the host itself, so they go through the host's input hook, where iptables' INPUT chain
(ufw's `ufw-before-input`, `ufw-user-input`, a default deny policy; firewalld's iptables
backend, `INPUT_direct`, `IN_public...`; hand-written rules) and native nftables chains
(firewalld's nftables backend, `table inet firewalld` chain `filter_INPUT`; an
/etc/nftables.conf `input` chain) decide. Those rules are written for the outside and
rarely admit Docker's bridges: the service listens on every address, `curl` on the host
works, and the container's connect hangs (DROP) or is refused (REJECT).

Detected from three sides: the connect from the source's network namespace to the host's
address fails; the host listens on that port on every address (or on the very address);
and the host's input hook, walked as ddiag reads it (root, local engine: see
`host.iptables`) for a new TCP connection arriving on the container's bridge from the
container's address, ends in DROP or REJECT (diag/model/inputhook.py: iptables' INPUT of
each backend and every native base chain on the hook, in priority order; an accept ends
only its own chain; the rule, or the chain's policy, is named). A connect to an IPv6
address (the IPv6 gateway of a network with IPv6 enabled, an IPv6 address of the host)
is an IPv6 packet from the container's IPv6 address: it passes ip6tables' INPUT and the
ip6 and inet tables instead, so the IPv6 rules are walked. What ddiag cannot model (a
rule that holds for some packets only, IPv6 rules it could not read) leaves the failure to
`port.filtered` / `port.refused`.

Fix: admit the bridge in the firewall that owns the rule, e.g. for ufw
`sudo ufw allow in on br-1a2b3c4d5e6f to any port 5432 proto tcp`, for firewalld (either
backend) `sudo firewall-cmd --permanent --zone=trusted --add-interface=br-1a2b3c4d5e6f &&
sudo firewall-cmd --reload`, with iptables
`sudo iptables -I INPUT -i br-1a2b3c4d5e6f -p tcp --dport 5432 -j ACCEPT` (`ip6tables` for
an IPv6 connect; ufw's, firewalld's and nft's commands serve both families), or in another
nftables table `sudo nft insert rule inet filter input iifname "br-1a2b3c4d5e6f" tcp dport
5432 accept` (and in the file that loads it, /etc/nftables.conf, to keep it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_evidence, edge_subjects, plan
from diag.checks.host._side import holder, host_sockets
from diag.checks.port._sockets import WILDCARDS, listening_texts
from diag.model.context import CheckContext
from diag.model.egress import egress_text
from diag.model.filterpath import DENIES, Packet
from diag.model.findings import Result
from diag.model.firewall import family_of
from diag.model.inputhook import InputEnd, input_path
from diag.model.topology import Network

ID = "host.firewall-input"
SEVERITY = "error"
TITLE = "The host's firewall blocks containers from a host service"
NEEDS_HOST_FIREWALL = True  # the run reads the host's rules for this check (ctx.host_firewall)
FIREWALLD_TABLE = "firewalld"  # firewalld's nftables backend: `table inet firewalld`

__all__ = [
    "EXPLAINS",
    "ID",
    "NEEDS_HOST_FIREWALL",
    "SEVERITY",
    "TITLE",
    "evaluate",
    "explains",
    "plan",
]


@dataclass(frozen=True)
class Blocked:
    """A host edge's failed connect to `address`, and the input hook's chain that stops it."""

    address: str
    network: Network
    source: str  # the container's address on that network
    end: InputEnd  # where the walk of the input hook ended (the rule, or a policy)

    @property
    def stopper(self) -> str:
        """Which firewall stops it, for the summary."""
        table, firewall = self.end.table, self.end.firewall
        if table is not None:
            return f"the host's nftables {table.label}"
        v6 = firewall is not None and firewall.family == "ipv6"
        return "the host's ip6tables INPUT chain" if v6 else "the host's INPUT chain"


def _entry(ctx: CheckContext, state: EdgeState, address: str) -> Network | None:
    """The bridge a connect to `address` enters the host by: the network that holds it (a
    gateway address), else, for another address of the host (its uplink's), the source's
    bridge network, when it has one: with several, its default route decides, which ddiag
    does not read, and the check stays silent."""
    held = holder(ctx, address)
    if held is not None:
        return held[0]
    networks = {n.id: n for n in ctx.topology.networks if n.driver == "bridge"}
    own = [networks[e.network_id] for e in state.netns.endpoints if e.network_id in networks]
    return own[0] if len(own) == 1 else None


def _blocked(state: EdgeState, ctx: CheckContext) -> Blocked | None:
    edge, firewall = state.edge, ctx.host_firewall
    failed = state.failed_connects()
    sockets = host_sockets(ctx)
    if not edge.to_host or not edge.port or not failed or firewall is None or sockets is None:
        return None
    address = next(iter(failed))
    served = {s.address for s in sockets if s.port == edge.port}
    if not served & (WILDCARDS | {address}):
        return None  # loopback only, or nothing: host.service-loopback, host.not-listening
    network = _entry(ctx, state, address)
    endpoint = state.netns.endpoint(network) if network is not None else None
    family = family_of(address)
    source = (endpoint.ipv6 if family == "ipv6" else endpoint.ip) if endpoint else ""
    if network is None or not source:
        return None
    packet = Packet(
        "tcp", edge.port, in_interface=network.bridge_interface, source=source, family=family
    )
    ended = input_path(firewall, packet)
    if ended.verdict not in DENIES:
        return None
    return Blocked(address, network, source, ended)


def _fix(blocked: Blocked, port: int) -> str:
    """The allow rule in the firewall that denied: ufw's or firewalld's command when their
    chains (iptables) or table (nftables) did, else a rule for iptables or nft itself."""
    bridge, name = blocked.network.bridge_interface, blocked.network.name
    end = blocked.end
    chains = end.firewall.chains.get("filter", frozenset()) if end.firewall else frozenset()
    if any(chain.startswith("ufw") for chain in chains):
        return (
            f"Admit {bridge} (the network {name}) in ufw: `sudo ufw allow in "
            f"on {bridge} to any port {port} proto tcp`"
        )
    firewalld = end.table is not None and end.table.name == FIREWALLD_TABLE
    if firewalld or any(chain.startswith(("INPUT_direct", "IN_", "FWDI_")) for chain in chains):
        return (
            f"Put {bridge} (the network {name}) in a zone that admits it: "
            f"`sudo firewall-cmd --permanent --zone=trusted --add-interface={bridge} && "
            "sudo firewall-cmd --reload`"
        )
    if end.table is not None:
        nft = (
            f"sudo nft insert rule {end.table.family} {end.table.name} {end.chain} "
            f'iifname "{bridge}" tcp dport {port} accept'
        )
        return (
            f"Admit {bridge} (the network {name}) at the top of {end.table.label} chain "
            f"{end.chain}: `{nft}` (and add the rule to the file that loads that table, "
            "e.g. /etc/nftables.conf, to keep it)"
        )
    tool = end.firewall.fix_tool if end.firewall is not None else "iptables"
    iptables = f"sudo {tool} -I INPUT -i {bridge} -p tcp --dport {port} -j ACCEPT"
    return f"Admit {bridge} (the network {name}) before that rule: `{iptables}`"


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    blocked = _blocked(state, ctx)
    if blocked is None or not state.edge.port:
        return None
    edge, port = state.edge, state.edge.port
    sockets = [s for s in host_sockets(ctx) or [] if s.port == port]
    return Result(
        subjects=edge_subjects(state, edge.name, blocked.network.name),
        summary=(
            f"{blocked.stopper} stops {edge.source_label}'s connects to {edge.name} "
            f"({egress_text((blocked.address, port))}) from {blocked.network.bridge_interface}: "
            f"{blocked.end.deciding}"
        ),
        evidence=edge_evidence(
            state,
            probe=state.connect_text(),
            host_listening=listening_texts(sockets),
            firewall=f"{blocked.end.where}, new tcp to port {port} from {blocked.source} on "
            f"{blocked.network.bridge_interface} ends at {blocked.end.deciding}",
        ),
        fix=_fix(blocked, port),
    )


# With the host's other explanations (115, 125), before port.refused (150) and
# port.filtered (160), which would blame the host alias itself.
EXPLAINS = Explainer(rank=127, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
