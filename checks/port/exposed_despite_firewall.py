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
modelled: what a port on one chosen address (`192.0.2.7:5432:5432`) means. Severity
warning: the port works, and a port published on purpose is open on purpose; the firewall
only says it was meant to be closed.

IPv6: on a host with IPv6 the engine also publishes on `::` (Engine 20.10 shows it as a
binding of its own, `HostIp: "::"`), and whether a deny in the IPv6 input hook
(ip6tables' INPUT, ip6 and inet tables) is bypassed depends on how that port is
forwarded. With the engine's ip6tables rules (`"ip6tables": true`, opt-in on 20.10, the
default from 27) and a container that holds an IPv6 address, a DNAT rule for the port in
ip6tables' nat `DOCKER` chain (or the engine's `table ip6 docker-bridges`) sends the
connection past INPUT, exactly as for IPv4. Without that rule (20.10 without ip6tables, an
IPv4-only container) docker-proxy listens on `::` and answers the connection itself: it
is addressed to the host, passes the IPv6 input hook, and a deny there is effective, so
nothing is exposed over IPv6. So a `::` binding is judged only when the IPv6 rules were
read and the DNAT rule of that very port is among them (named in the evidence); the IPv6
rules' DOCKER-USER and native ip6/inet forward chains silence it as above.

Fix: publish it where it is meant to be reached: `127.0.0.1:5432:5432` for this host only
(other containers reach it over their network, by name, without a published port), or
the address of one interface (`10.0.0.5:5432:5432`). Or filter in the engine's
`DOCKER-USER` chain, which it leaves alone and which FORWARD passes first:
`sudo iptables -I DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport 5432
--ctdir ORIGINAL -j DROP` (eth0: the interface other networks come in by, `ip route show
default`), preceded by `-j RETURN` rules for the sources that may connect; keep them across
reboots (ufw: in /etc/ufw/after.rules). With ufw, the `ufw-docker` helper does this.
For a port exposed over IPv6 the rule is ip6tables'; Engine 20.10 makes no DOCKER-USER
chain there, so the rule goes at the top of FORWARD and must be inserted again after the
engine restarts.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._services import binding_text, port_spec, target_containers
from diag.model import filterpath, nftpath
from diag.model.context import CheckContext
from diag.model.filterpath import DENIES, Packet, walk
from diag.model.findings import Result, subjects
from diag.model.firewall import Family, HostFirewall
from diag.model.inputhook import input_path
from diag.model.nftables import ENGINE_TABLES
from diag.model.topology import Container, PortBinding

ID = "port.exposed-despite-firewall"
SEVERITY = "warning"
TITLE = "Published port open although the host's firewall denies it"
NEEDS_HOST_FIREWALL = True  # the run reads the host's rules for this check (ctx.host_firewall)

# A binding on every address of a family: "" (as asked, no address), 0.0.0.0, or `::`.
ALL_ADDRESSES: dict[str, Family] = {"": "ipv4", "0.0.0.0": "ipv4", "::": "ipv6"}
PROTOCOLS = ("tcp", "udp")
EVIDENCE_RULES = 4
IPTABLES_DNAT = "nat PREROUTING → DOCKER (the engine's DNAT; filter FORWARD decides, not INPUT)"


def _dnat(firewall: HostFirewall, binding: PortBinding) -> str | None:
    """What forwards a new connection to the host port by DNAT (not by docker-proxy, which
    the input hook sees), as the evidence names it; None when nothing does. IPv4: the
    engine DNATs every port published on 0.0.0.0 once its nat `DOCKER` chain is hooked (or
    its nftables table exists). IPv6: only ports whose own DNAT rule is there (see the
    module's docstring)."""
    if firewall.family == "ipv4":
        if firewall.nft_docker_bridges:
            return "table ip docker-bridges (the engine's nftables DNAT)"
        return IPTABLES_DNAT if firewall.jumps_to("nat", "PREROUTING", "DOCKER") else None
    packet = Packet(binding.proto, int(binding.host_port), family="ipv6")
    engine = firewall.native.table(*ENGINE_TABLES["ipv6"]) if firewall.native else None
    if firewall.nft_docker_bridges and engine is not None:
        texts = [
            r.text for r in engine.rules if r.target == "DNAT" and nftpath.match(r, packet) != "no"
        ]
    else:
        chains = firewall.reachable("nat", "PREROUTING")
        texts = [
            r.text
            for r in firewall.rules
            if r.table == "nat"
            and r.chain in chains
            and r.target == "DNAT"
            and filterpath.match(r, packet) != "no"
        ]
    return f"{firewall.read_with}: {texts[0]}" if texts else None


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


def _forwarded(firewall: HostFirewall, binding: PortBinding) -> Packet:
    """The DNAT'ed connection as FORWARD sees it: to the container's port."""
    return Packet(
        binding.proto, binding.container_port, int(binding.host_port), family=firewall.family
    )


def _docker_user_filters(firewall: HostFirewall, binding: PortBinding) -> bool:
    """DOCKER-USER may deny this port: the user filters there (how, this check leaves)."""
    if "DOCKER-USER" not in firewall.chains.get("filter", frozenset()):
        return False
    done = walk(firewall, "DOCKER-USER", _forwarded(firewall, binding))
    return (
        done.verdict is None
        or done.verdict in DENIES
        or any(r.target in DENIES for r in done.partial)
    )


def _native_forward_filters(firewall: HostFirewall, binding: PortBinding) -> bool:
    """A native nftables forward chain of the family (not the engine's own table) may deny
    the DNAT'ed connection: as with DOCKER-USER, the user filters there, and how is left
    alone."""
    if firewall.native is None:
        return False
    packet = _forwarded(firewall, binding)
    families = nftpath.FAMILIES[firewall.family]
    for table, chain in firewall.native.base_chains("forward", families):
        if (table.family, table.name) in ENGINE_TABLES.values():
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
    packet = Packet(binding.proto, int(binding.host_port), family=firewall.family)
    end = input_path(firewall, packet)
    if end.verdict not in DENIES:
        return None  # accepted, or a target not modelled: no judgement at all
    return (
        f"{end.where} ends {binding.host_port}/{binding.proto} at {end.deciding}",
        [r.text for r in end.partial if r.target == "ACCEPT"],
    )


def _judged(firewall: HostFirewall, binding: PortBinding) -> tuple[HostFirewall, str] | None:
    """The rules of the binding's family and what DNATs it, when the check judges it: on
    every address of its family, tcp or udp, a port number, DNAT'ed, and not filtered by
    the user where the DNAT'ed connection goes (DOCKER-USER, a native forward chain)."""
    family = ALL_ADDRESSES.get(binding.host_ip)
    own = firewall.for_family(family) if family is not None else None
    if own is None or binding.proto not in PROTOCOLS or not binding.host_port.isdigit():
        return None
    dnat = _dnat(own, binding)
    if dnat is None or _docker_user_filters(own, binding):
        return None
    return None if _native_forward_filters(own, binding) else (own, dnat)


def _port_text(binding: PortBinding, firewall: HostFirewall) -> str:
    over = " over IPv6" if firewall.family == "ipv6" else ""
    return f"{binding.host_port}/{binding.proto}{over}"


def _user_chain(firewall: HostFirewall) -> str:
    """Where the user's own rule goes: DOCKER-USER, or the top of FORWARD where the engine
    made none (Engine 20.10 makes none in ip6tables)."""
    return "DOCKER-USER" if "DOCKER-USER" in firewall.chains.get("filter", ()) else "FORWARD"


def _fix(container: Container, bound: list[tuple[PortBinding, HostFirewall]]) -> str:
    rules = "; ".join(
        f"sudo {fw.fix_tool} -I {_user_chain(fw)} -i eth0 -p {b.proto} -m conntrack "
        f"--ctorigdstport {b.host_port} --ctdir ORIGINAL -j DROP"
        for b, fw in bound
    )
    no_user_chain = any(_user_chain(fw) == "FORWARD" for _, fw in bound)
    specs = dict.fromkeys(
        port_spec("127.0.0.1", b.host_port, b.container_port, b.proto) for b, _ in bound
    )
    if container.service:
        where = f"services: {container.service}: ports: " + ", ".join(f'"{s}"' for s in specs)
    else:
        where = f"recreate {container.name} with " + " ".join(f"-p {s}" for s in specs)
    return (
        f"Publish on this host's loopback only, or on one chosen address instead of 0.0.0.0: "
        f"{where}. Or keep it published and filter it in DOCKER-USER, which the engine "
        f"leaves alone: {rules} (eth0: the interface other networks come in by, "
        "`ip route show default`; put `-j RETURN` rules for allowed sources before it, and "
        "keep the rules across reboots, e.g. in /etc/ufw/after.rules"
        + (
            "; where the engine made no DOCKER-USER chain the rule goes at the top of "
            "FORWARD, and must be inserted again after the engine restarts"
            if no_user_chain
            else ""
        )
        + ")."
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    firewall = ctx.host_firewall
    if firewall is None:
        return
    for container in target_containers(ctx):
        if not container.running or not _here(firewall, container, ctx):
            continue
        bound: list[tuple[PortBinding, HostFirewall]] = []
        evidence: dict[str, object] = {}
        partial: list[str] = []
        dnats: list[str] = []
        for binding in container.published:
            judged = _judged(firewall, binding)
            if judged is None:
                continue
            own, dnat = judged
            denied = _denied(own, binding)
            if denied is None:
                continue
            bound.append((binding, own))
            evidence[binding_text(binding)] = denied[0]
            partial += [rule for rule in denied[1] if rule not in partial]
            dnats += [dnat] if dnat not in dnats else []
        if not bound:
            continue
        label = container.service or container.name
        texts = [binding_text(b) for b, _ in bound]
        yield Result(
            subjects=subjects(container.subjects),
            summary=(
                f"{label} is published on {', '.join(texts)}, open to every network that "
                "routes to the host, although the host's INPUT rules deny "
                + ", ".join(_port_text(b, fw) for b, fw in bound)
                + ": the engine's DNAT sends the connections past INPUT"
            ),
            evidence={
                **evidence,
                **({"accepted_only_by": partial[:EVIDENCE_RULES]} if partial else {}),
                "dnat": "; ".join(dnats),
                "docker_user": "denies none of these ports",
            },
            fix=_fix(container, bound),
        )
