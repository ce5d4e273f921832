"""The engine's iptables rules are in one backend, rules that drop its traffic in the other.

Linux has two iptables backends: nf_tables (`iptables-nft`, the default of current
distributions) and the legacy x_tables (`iptables-legacy`). Both can hold rules at once,
and a packet passes the hooks of both: an ACCEPT in one does not keep the other from
dropping it. The engine writes its rules with the `iptables` it finds; a firewall tool,
script or older package may write with the other (an `update-alternatives` switch after
the engine started, a container or image with its own iptables binary, ufw or a
netfilter-persistent restore from before the switch). Then `iptables -L` shows Docker's
rules and nothing wrong, while the other backend's FORWARD DROP policy (ufw's "deny
routed", a hardening script's `iptables -P FORWARD DROP`) or DROP rules silently drop what
Docker's rules accept: containers have no way out, published ports time out.

Detected from the host's rules, read by ddiag itself (as for `host.iptables`: a local
engine, root or CAP_NET_ADMIN, `sudo ddiag ...`): `iptables-save`, `iptables-nft-save` and
`iptables-legacy-save` are all read (read-only, no `-t`). The backend that shows Docker's
chains is the engine's; in each other backend the filter FORWARD chain is walked for a new
TCP connection a container opens to port 443 outside (diag/model/filterpath.py: jumps
followed, the policy at the end). It fires when that walk ends in DROP or REJECT and no
rule there accepts traffic of the target's bridges (`-i docker0 -j ACCEPT`, `-o br-+`:
someone mirrored Docker's rules), for the target's non-internal bridge networks on this
host. Not judged: an engine on its own nftables backend (Docker ≥ 29, `table ip
docker-bridges`), native nft tables of other tools (firewalld's `inet firewalld`), IPv6.

Fix: use one backend for everything. Switch the `iptables` command to the backend the
engine uses, e.g. `sudo update-alternatives --set iptables /usr/sbin/iptables-nft` (and
`ip6tables`), re-apply the firewall tool's rules with it (`sudo ufw disable && sudo ufw
enable`, `sudo systemctl restart netfilter-persistent`), then empty the other backend
(`sudo iptables-legacy -P FORWARD ACCEPT`, `sudo iptables-legacy -F FORWARD`: the finding
gives the exact commands) and restart the engine: `sudo systemctl restart docker`. Keep
rules of your own for containers in `DOCKER-USER`, on the engine's backend.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._members import members
from diag.model.context import CheckContext
from diag.model.filterpath import DENIES, Packet, walk
from diag.model.findings import Result, subjects
from diag.model.firewall import HostFirewall, Rule
from diag.model.topology import Network

ID = "host.firewall-split"
SEVERITY = "error"
TITLE = "The host's firewall drops Docker's traffic from another iptables backend"
NEEDS_HOST_FIREWALL = True  # the run reads the host's rules for this check (ctx.host_firewall)

WAY_OUT = Packet("tcp", 443)  # a new connection a container opens to a server outside
EVIDENCE_LINES = 6


def _networks(ctx: CheckContext, firewall: HostFirewall) -> list[Network]:
    return [
        n
        for n in ctx.target.networks
        if n.driver == "bridge" and not n.internal and n.bridge_interface in firewall.interfaces
    ]


def _names_bridge(rule: Rule, bridges: set[str]) -> bool:
    """The rule's -i or -o names one of `bridges` (`br-+` and `docker+` are wildcards)."""
    for option in (rule.option("-i", "--in-interface"), rule.option("-o", "--out-interface")):
        if option is None or option.negated:
            continue
        value = option.value
        if value in bridges or (
            value.endswith("+") and any(b.startswith(value[:-1]) for b in bridges)
        ):
            return True
    return False


def _finding(
    ctx: CheckContext, firewall: HostFirewall, other: HostFirewall, networks: list[Network]
) -> Result | None:
    bridges = {n.bridge_interface for n in networks}
    done = walk(other, "FORWARD", WAY_OUT)
    if done.verdict not in DENIES:
        return None
    if any(r.target == "ACCEPT" and _names_bridge(r, bridges) for r in done.partial):
        return None  # the other backend lets these bridges through on purpose
    reached = other.reachable("filter", "FORWARD")
    drops = [r for r in other.rules if r.table == "filter" and r.chain in reached]
    drops = [r for r in drops if r.target in DENIES]
    policy = other.policy("filter", "FORWARD") or "ACCEPT"
    undo = ([f"sudo {other.tool} -P FORWARD ACCEPT"] if policy in DENIES else []) + [
        f"sudo {other.tool} -F FORWARD"  # its DROP rules, and its jumps to chains holding them
    ]
    on_them = [m.container for m in members(ctx) if m.network in networks]
    return Result(
        subjects=subjects(
            [c.service for c in on_them if c.service],
            [c.name for c in on_them],
            [n.name for n in networks],
        ),
        summary=(
            f"Docker's rules are in the {firewall.backend} iptables backend, but the "
            f"{other.backend} backend's FORWARD drops forwarded traffic ({done.deciding}): "
            "packets pass both, so containers on "
            + ", ".join(n.name for n in networks)
            + " have no way out and their published ports do not answer"
        ),
        evidence={
            "docker_rules": f"{firewall.read_with}: " + ", ".join(firewall.docker_chains),
            "other_backend": other.read_with,
            "other_forward": f"policy {policy}; a container's new connection out ends at "
            + done.deciding,
            "other_drops": [r.text for r in drops][:EVIDENCE_LINES] or "none (the policy)",
        },
        fix=(
            f"Use one backend for everything: `sudo update-alternatives --set iptables "
            f"/usr/sbin/iptables-{firewall.backend}` (and ip6tables), re-apply your firewall "
            "with it (`sudo ufw disable && sudo ufw enable`, or restart the service that "
            f"loads your rules), then empty the {other.backend} backend's FORWARD: "
            + "; ".join(undo)
            + "; then `sudo systemctl restart docker`. Keep your own rules for containers in "
            f"DOCKER-USER, with iptables-{firewall.backend}."
        ),
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    firewall = ctx.host_firewall
    if firewall is None or not firewall.docker_chains or not firewall.others:
        return
    networks = _networks(ctx, firewall)
    if not networks:
        return
    for other in firewall.others:
        if other.backend != firewall.backend:
            result = _finding(ctx, firewall, other, networks)
            if result is not None:
                yield result
