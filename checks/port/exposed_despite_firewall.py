"""A published port is open to every network although the host's firewall denies it.

A port published without an address (`ports: ["5432:5432"]`, `-p 5432:5432`) listens on
every host address, 0.0.0.0. The engine forwards it with a DNAT rule in nat PREROUTING
(→ `DOCKER`): the packet's destination becomes the container before the host's filter
table decides anything, so it goes through FORWARD, not INPUT. Rules on the input hook,
where ufw (`ufw-user-input`), firewalld (`IN_public_allow` with iptables, `table inet
firewalld` chain `filter_INPUT` with nftables), an /etc/nftables.conf `input` chain and
hand-made `-A INPUT -p tcp --dport 5432 -j DROP` rules live, never see it: `ufw deny 5432`
or a default-deny policy does not close a published port. Whoever routes to the host
reaches the service: the internet, for a host with a public address.

Detected from the host's rules, read by ddiag itself (as for `host.iptables`: a local
engine, ddiag run as root or with CAP_NET_ADMIN; `sudo ddiag ...`): for each running
container of the target with a port published on 0.0.0.0 (or no address) on a bridge of
this host while the engine DNATs it (its nat `DOCKER` chain is jumped to from PREROUTING,
or the engine's nftables backend holds its rules), the input hook is walked for a new
connection to that port from another network (diag/model/inputhook.py: the filter INPUT
chain of every iptables backend and every native nftables input chain, in priority order;
rules in order, jumps followed, the policy at the end; a DROP policy with ACCEPT rules
for other ports denies the port). It fires when the hook drops or rejects it, or accepts
it only from some sources or interfaces (`ufw allow from 10.0.0.0/8 to any port 5432`:
the finding names those rules), and neither the engine's `DOCKER-USER` chain nor a native
nftables forward chain (the engine's own `table ip docker-bridges` aside) denies it to
anybody. Silent when the input hook accepts the port, when DOCKER-USER (or a chain it
jumps to) or a native forward chain holds a DROP or REJECT that may apply to the DNAT'ed
connection (the user filters there, and how is not judged: firewalld's `ct status dnat
accept` admits it), or when a rule's target is not modelled (NFQUEUE, an nft queue). Not
modelled: IPv6 (ip6tables and ip6 tables are not read; a port on `::` is not judged), and
what a port on one chosen address (`192.0.2.7:5432:5432`) means. Severity warning: the
port works, and a port published on purpose is open on purpose; the firewall only says
it was meant to be closed.

Fix: publish it where it is meant to be reached: `127.0.0.1:5432:5432` for this host only
(other containers reach it over their network, by name, without a published port), or
the address of one interface (`10.0.0.5:5432:5432`). Or filter in the engine's
`DOCKER-USER` chain, which it leaves alone and which FORWARD passes first:
`sudo iptables -I DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport 5432
--ctdir ORIGINAL -j DROP` (eth0: the interface other networks come in by, `ip route show
default`), preceded by `-j RETURN` rules for the sources that may connect; keep them across
reboots (ufw: in /etc/ufw/after.rules). With ufw, the `ufw-docker` helper does this.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._services import binding_text, port_spec, target_containers
from diag.model import nftpath
from diag.model.context import CheckContext
from diag.model.filterpath import DENIES, Packet, walk
from diag.model.findings import Result, subjects
from diag.model.firewall import HostFirewall
from diag.model.inputhook import input_path
from diag.model.topology import Container, PortBinding

ID = "port.exposed-despite-firewall"
SEVERITY = "warning"
TITLE = "Published port open although the host's firewall denies it"
NEEDS_HOST_FIREWALL = True  # the run reads the host's rules for this check (ctx.host_firewall)

ALL_ADDRESSES = ("", "0.0.0.0")
PROTOCOLS = ("tcp", "udp")
EVIDENCE_RULES = 4
ENGINE_NFT_TABLE = ("ip", "docker-bridges")  # the engine's own rules (its nftables backend)


def _dnat(firewall: HostFirewall) -> bool:
    """The engine forwards published ports by DNAT (not by docker-proxy, which INPUT sees)."""
    return firewall.nft_docker_bridges or firewall.jumps_to("nat", "PREROUTING", "DOCKER")


def _here(firewall: HostFirewall, container: Container, ctx: CheckContext) -> bool:
    """The container is on a bridge network whose bridge these rules filter."""
    for endpoint in container.endpoints:
        network = ctx.topology.network_named(endpoint.network_id)
        if (
            network
            and network.driver == "bridge"
            and network.bridge_interface in firewall.interfaces
        ):
            return True
    return False


def _docker_user_filters(firewall: HostFirewall, binding: PortBinding) -> bool:
    """DOCKER-USER may deny this port: the user filters there (how, this check leaves)."""
    if "DOCKER-USER" not in firewall.chains.get("filter", frozenset()):
        return False
    packet = Packet(binding.proto, binding.container_port, int(binding.host_port))
    done = walk(firewall, "DOCKER-USER", packet)
    return (
        done.verdict is None
        or done.verdict in DENIES
        or any(r.target in DENIES for r in done.partial)
    )


def _native_forward_filters(firewall: HostFirewall, binding: PortBinding) -> bool:
    """A native nftables forward chain (not the engine's own table) may deny the DNAT'ed
    connection: as with DOCKER-USER, the user filters there, and how is left alone."""
    if firewall.native is None:
        return False
    packet = Packet(binding.proto, binding.container_port, int(binding.host_port))
    for table, chain in firewall.native.base_chains("forward", nftpath.IPV4):
        if (table.family, table.name) == ENGINE_NFT_TABLE:
            continue
        done = nftpath.walk(table, chain, packet)
        if (
            done.verdict is None
            or done.verdict in DENIES
            or any(r.target in DENIES for r in done.partial)
        ):
            return True
    return False


def _denied(firewall: HostFirewall, binding: PortBinding) -> tuple[str, list[str]] | None:
    """What the input hook does to a new connection to the host port, when it denies it to
    anyone: (which chain ends it where, the rules that accept it for some clients only)."""
    end = input_path(firewall, Packet(binding.proto, int(binding.host_port)))
    if end.verdict not in DENIES:
        return None  # accepted, or a target not modelled: no judgement at all
    return (
        f"{end.where} ends {binding.host_port}/{binding.proto} at {end.deciding}",
        [r.text for r in end.partial if r.target == "ACCEPT"],
    )


def _fix(container: Container, bound: list[PortBinding], firewall: HostFirewall) -> str:
    tool = "iptables" if firewall.command == "iptables-save" else firewall.tool
    rules = "; ".join(
        f"sudo {tool} -I DOCKER-USER -i eth0 -p {b.proto} -m conntrack --ctorigdstport "
        f"{b.host_port} --ctdir ORIGINAL -j DROP"
        for b in bound
    )
    if container.service:
        where = f"services: {container.service}: ports: " + ", ".join(
            f'"{port_spec("127.0.0.1", b.host_port, b.container_port, b.proto)}"' for b in bound
        )
    else:
        where = f"recreate {container.name} with " + " ".join(
            f"-p {port_spec('127.0.0.1', b.host_port, b.container_port, b.proto)}" for b in bound
        )
    return (
        f"Publish on this host's loopback only, or on one chosen address instead of 0.0.0.0: "
        f"{where}. Or keep it published and filter it in DOCKER-USER, which the engine "
        f"leaves alone: {rules} (eth0: the interface other networks come in by, "
        "`ip route show default`; put `-j RETURN` rules for allowed sources before it, and "
        "keep the rules across reboots, e.g. in /etc/ufw/after.rules)."
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    firewall = ctx.host_firewall
    if firewall is None or not _dnat(firewall):
        return
    for container in target_containers(ctx):
        if not container.running or not _here(firewall, container, ctx):
            continue
        bound: list[PortBinding] = []
        evidence: dict[str, object] = {}
        partial: list[str] = []
        for binding in container.published:
            if (
                binding.host_ip not in ALL_ADDRESSES
                or binding.proto not in PROTOCOLS
                or not binding.host_port.isdigit()
                or _docker_user_filters(firewall, binding)
                or _native_forward_filters(firewall, binding)
            ):
                continue
            denied = _denied(firewall, binding)
            if denied is not None:
                bound.append(binding)
                evidence[binding_text(binding)] = denied[0]
                partial += [rule for rule in denied[1] if rule not in partial]
        if not bound:
            continue
        label = container.service or container.name
        texts = [binding_text(b) for b in bound]
        yield Result(
            subjects=subjects(container.subjects),
            summary=(
                f"{label} is published on {', '.join(texts)}, open to every network that "
                "routes to the host, although the host's INPUT rules deny "
                + ", ".join(f"{b.host_port}/{b.proto}" for b in bound)
                + ": the engine's DNAT sends the connections past INPUT"
            ),
            evidence={
                **evidence,
                **({"accepted_only_by": partial[:EVIDENCE_RULES]} if partial else {}),
                "dnat": "nat PREROUTING → DOCKER (the engine's DNAT; filter FORWARD decides, "
                "not INPUT)",
                "docker_user": "denies none of these ports",
            },
            fix=_fix(container, bound, firewall),
        )
