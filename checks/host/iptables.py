"""Docker's iptables rules are missing on the host.

The engine writes rules into the host's firewall for every bridge network: a MASQUERADE
rule in nat POSTROUTING (`-s SUBNET ! -o BRIDGE -j MASQUERADE`), without which containers
on that network have no way out of the host (their packets leave with a private source
address, and no answer comes back), and its `DOCKER` chains, jumped to from nat PREROUTING
and OUTPUT and from filter FORWARD, without which published ports answer nobody. They
vanish when something rewrites the firewall behind the engine's back: `iptables -F` /
`iptables -t nat -F`, a firewall script or `iptables-restore` of a rule set saved without
them, `firewall-cmd --reload`, `ufw reload`. An engine started with `--iptables=false`
writes none at all.

Detected from the host's rules, read by ddiag itself once per run (`iptables-save`,
`iptables-nft-save` and `iptables-legacy-save`; the first that shows a Docker chain): for
each non-internal bridge network of the target with masquerading on (the option
`com.docker.network.bridge.enable_ip_masquerade` is not "false"), a MASQUERADE (or SNAT)
rule that covers its subnet; and the jumps into `DOCKER`. `DOCKER-USER` and
`DOCKER-ISOLATION-STAGE-1` are shown in the evidence but not required: newer engines
chain them differently, and their absence does not cut connectivity.

When it says nothing (it could not look): ddiag reads the firewall only where it may,
without giving any probe the power to change it. A probe would need CAP_NET_ADMIN in the
host's network namespace to read netfilter (nf_tables netlink and legacy iptables both
require it), and that capability also rewrites the firewall. So the check runs only when
the engine is on this machine (a unix socket, and the network's bridge in ddiag's own
network namespace: not for a remote engine, a rootless engine or Docker Desktop's VM) and
ddiag runs as root or with CAP_NET_ADMIN. A user in the `docker` group is not: run
`sudo ddiag ...` to include this check. No iptables on the host, or an engine on its
nftables backend (Docker ≥ 29, `table ip docker-bridges`): nothing to judge either. Only
when ddiag may read the rules and `iptables-save` fails is the check listed as
inconclusive.

Fix: restart the engine, which writes its rules again: `sudo systemctl restart docker`.
Then stop whatever removes them: restart docker after every `firewall-cmd --reload` or
`ufw reload`; never flush the nat table or FORWARD in a firewall script; put your own rules
in the `DOCKER-USER` chain; save rule sets (iptables-persistent, netfilter-persistent)
only while the engine runs, or restore them before it starts. An engine run with
`--iptables=false` (`"iptables": false` in /etc/docker/daemon.json) manages no NAT: remove
the setting, or add the MASQUERADE rule yourself (the finding gives it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from diag.checks._members import members
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.firewall import HostFirewall, Rule
from diag.model.topology import Network

ID = "host.iptables"
SEVERITY = "error"
TITLE = "Docker's iptables rules are missing on the host"
NEEDS_HOST_FIREWALL = True  # the run reads the host's rules for this check (ctx.host_firewall)

# (table, from, chain): what published ports need. The chains jumped to may hang anywhere
# below `from` (engines ≥ 28 go FORWARD → DOCKER-FORWARD → DOCKER).
REQUIRED = (
    ("nat", "PREROUTING", "DOCKER"),
    ("nat", "OUTPUT", "DOCKER"),
    ("filter", "FORWARD", "DOCKER"),
)
SHOWN = (("filter", "FORWARD", "DOCKER-USER"), ("filter", "FORWARD", "DOCKER-ISOLATION-STAGE-1"))
MASQUERADE_OPTION = "com.docker.network.bridge.enable_ip_masquerade"
GATEWAY_MODE = "com.docker.network.bridge.gateway_mode_ipv4"
NO_NAT_MODES = {"routed", "isolated"}  # engines ≥ 27: the network is routed, not NATed
EVIDENCE_LINES = 8


def _ipv4_subnet(network: Network) -> str | None:
    for subnet in network.subnets:
        try:
            if ipaddress.ip_network(subnet.subnet, strict=False).version == 4:
                return subnet.subnet
        except ValueError:
            continue
    return None


def _judged(ctx: CheckContext, firewall: HostFirewall) -> list[Network]:
    """The target's bridge networks with a way out whose bridge these rules filter."""
    return [
        n
        for n in ctx.target.networks
        if n.driver == "bridge"
        and not n.internal
        and n.bridge_interface in firewall.interfaces
        and _ipv4_subnet(n) is not None
    ]


def _masqueraded(network: Network) -> bool:
    """Whether the engine NATs this network's way out (and so must have written a rule)."""
    return (
        network.options.get(MASQUERADE_OPTION, "true").lower() != "false"
        and network.options.get(GATEWAY_MODE, "nat") not in NO_NAT_MODES
    )


def _covers(rule: Rule, subnet: str, bridge: str) -> bool:
    """A source-NAT rule that rewrites packets from `subnet` leaving by another interface."""
    out = rule.out_interface
    if out is not None and not out.negated and out.value == bridge:
        return False  # only what goes *into* the bridge (Docker's hairpin rule)
    source = rule.source
    if source is None:  # a blanket `-o eth0 -j MASQUERADE` covers every source,
        return rule.option("--src-type") is None  # a `--src-type LOCAL` one only the host's
    if source.negated:
        return False
    try:
        inner = ipaddress.ip_network(subnet, strict=False)
        outer = ipaddress.ip_network(source.value, strict=False)
    except ValueError:  # not an address
        return False
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False  # one of each family: never within the other


def _names(ctx: CheckContext, networks: list[Network]) -> tuple[str, ...]:
    """Services, containers, then the networks: who loses the way out or its ports."""
    on_them = [m.container for m in members(ctx) if m.network in networks]
    return subjects(
        [c.service for c in on_them if c.service],
        [c.name for c in on_them],
        [n.name for n in networks],
    )


def _chain_states(firewall: HostFirewall) -> list[str]:
    return [
        f"{table} {chain}: "
        + (
            f"jumped to from {start}"
            if firewall.jumps_to(table, start, chain)
            else "exists, but nothing jumps to it from " + start
            if chain in firewall.chains.get(table, frozenset())
            else "missing"
        )
        for table, start, chain in REQUIRED + SHOWN
    ]


RESTART = (
    "Restart the engine so that it writes its rules again: `sudo systemctl restart docker`. "
    "So that they stay: restart docker after every `firewall-cmd --reload` or `ufw reload`, "
    "never flush the nat table or FORWARD (`iptables -t nat -F`), keep your own rules in the "
    "DOCKER-USER chain, and save rule sets (iptables-persistent, netfilter-persistent) only "
    "while the engine runs."
)
IPTABLES_FALSE = (
    'An engine run with `--iptables=false` (`"iptables": false` in /etc/docker/daemon.json, '
    "or on the dockerd command line) writes no rules at all: remove that setting"
)


def _chains_result(
    ctx: CheckContext, firewall: HostFirewall, networks: list[Network]
) -> Result | None:
    missing = [(t, s, c) for t, s, c in REQUIRED if not firewall.jumps_to(t, s, c)]
    if not missing:
        return None
    found = firewall.docker_chains
    what = ", ".join(f"{c} ({t}, from {s})" for t, s, c in missing)
    no_way_out = not found and any(_masqueraded(n) for n in networks)
    return Result(
        subjects=_names(ctx, networks),
        summary=(
            f"Docker's iptables chains are missing on the host: {what}; ports published by "
            "containers answer nobody" + (", and no container has a way out" if no_way_out else "")
        ),
        evidence={
            "chains": _chain_states(firewall),
            "docker_chains_found": found or "none",
            "read_with": firewall.read_with,
        },
        fix=RESTART if found else f"{RESTART} {IPTABLES_FALSE}, then restart the engine.",
    )


def _masquerade_result(
    ctx: CheckContext, firewall: HostFirewall, network: Network
) -> Result | None:
    subnet = _ipv4_subnet(network)
    bridge = network.bridge_interface
    if subnet is None or any(_covers(r, subnet, bridge) for r in firewall.source_nat()):
        return None
    found = [r.text for r in firewall.source_nat()]
    rule = f"-s {subnet} ! -o {bridge} -j MASQUERADE"
    return Result(
        subjects=_names(ctx, [network]),
        summary=(
            f"no MASQUERADE rule for {network.name} ({subnet}) in the host's nat POSTROUTING: "
            "containers on it have no way out of the host"
        ),
        evidence={
            "network": f"{network.name}: {subnet} on bridge {bridge}",
            "looked_for": f"-A POSTROUTING {rule} (nat table), or a MASQUERADE/SNAT rule "
            f"whose source covers {subnet}",
            "found": found[:EVIDENCE_LINES] or "no MASQUERADE or SNAT rule in nat POSTROUTING",
            "read_with": firewall.read_with,
        },
        fix=(
            f"{RESTART} {IPTABLES_FALSE}, or add the rule yourself: "
            f"`sudo iptables -t nat -A POSTROUTING {rule}`."
        ),
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    firewall = ctx.host_firewall
    if firewall is None or firewall.nft_docker_bridges:
        return
    networks = _judged(ctx, firewall)
    if not networks:
        return
    chains = _chains_result(ctx, firewall, networks)
    if chains is not None:
        yield chains
    if not firewall.docker_chains:  # nothing of Docker's at all: the finding above says it
        return
    for network in networks:
        if _masqueraded(network):
            result = _masquerade_result(ctx, firewall, network)
            if result is not None:
                yield result
