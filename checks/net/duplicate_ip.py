"""Two machines answer for one IP address, or an address the engine never gave out answers.

The engine's IPAM hands out each address of a network once, but nothing stops a process
with NET_ADMIN (a VPN or keepalived container, a test that runs `ip addr add`, a macvlan
network that shares a LAN with DHCP) from claiming an address on its own. Then two
interfaces answer ARP for one address, and each peer talks to whichever answered last:
connections to a service break intermittently, reset mid-stream, or land in the wrong
container, with nothing in `docker inspect` to show for it. An address that answers but
that the engine did not assign is the same accident waiting for IPAM to hand it out.

Detected by an ARP sweep of each IPv4 subnet of the target's networks from a probe on the
network (at most the lowest 1024 addresses of a larger subnet, where IPAM allocates):
every address answered by two or more MAC addresses, and every address that answers
without being an endpoint or the gateway of that network in the engine's view. MAC
addresses are matched to containers through the engine's endpoints, so the report names
who claims what.

Fix: remove the address the engine did not assign (`docker exec CONTAINER ip addr del
ADDRESS/PREFIX dev eth0`) and let the engine assign addresses; to pin one, ask IPAM for it:

    services:
      db:
        networks:
          back:
            ipv4_address: 10.1.0.10
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from diag.checks._arbiter import Explainer, Symptom, found_by, judged
from diag.checks._netview import netns_interfaces
from diag.model.context import CheckContext
from diag.model.findings import Result, Severity, subjects
from diag.model.tasks import Planned, arp_sweep
from diag.model.topology import Container, Network

ID = "net.duplicate-ip"
SEVERITY = "error"
TITLE = "An IP address is claimed twice on a network"
SWEPT_DRIVERS = {"bridge", "macvlan", "ipvlan", "overlay"}  # an L2 segment ARP can sweep
EXPECTED_DRIVERS = {"bridge", "overlay"}  # every answer the engine's: see _expected


def ipv4_subnets(network: Network) -> list[str]:
    return [s.subnet for s in network.subnets if ":" not in s.subnet]


def _swept(ctx: CheckContext) -> list[tuple[Network, str]]:
    return [
        (network, subnet)
        for network in ctx.target.networks
        if network.driver in SWEPT_DRIVERS
        for subnet in ipv4_subnets(network)
    ]


def plan(ctx: CheckContext) -> list[Planned]:
    return [
        (ctx.peer_placement(network), arp_sweep(subnet, _expected(ctx, network, subnet)))
        for network, subnet in _swept(ctx)
    ]


def _expected(ctx: CheckContext, network: Network, subnet: str) -> tuple[str, ...]:
    """Who should answer the sweep of `subnet` within milliseconds: the endpoints and the
    gateway, where the kernel answers for every address (a bridge, an overlay's proxy ARP),
    so that the sweep need not wait out its window (diag.agent.packets). On macvlan and
    ipvlan the LAN's own machines answer too, unknown to the engine: nothing is expected,
    and the sweep listens for its whole window."""
    if network.driver not in EXPECTED_DRIVERS:
        return ()
    inside = ipaddress.IPv4Network(subnet, strict=False)
    by_ip, _ = _engine_view(ctx, network)
    return tuple(
        ip
        for ip in [*by_ip, *gateways(network)]
        if ":" not in ip and ipaddress.IPv4Address(ip) in inside
    )


def _engine_view(
    ctx: CheckContext, network: Network
) -> tuple[dict[str, Container], dict[str, Container]]:
    """The network's endpoints by IP, and its containers by MAC (as the engine assigned)."""
    by_ip: dict[str, Container] = {}
    by_mac: dict[str, Container] = {}
    for container, endpoint in ctx.topology.members(network):
        if endpoint.ip:
            by_ip[endpoint.ip] = container
        if endpoint.mac:
            by_mac[endpoint.mac.lower()] = container
    return by_ip, by_mac


def gateways(network: Network) -> set[str]:
    """The gateway addresses (the host's bridge): as configured, else IPAM's default, the
    subnet's first address (20.10 shows no Gateway for a subnet given without one)."""
    found = set()
    for subnet in network.subnets:
        if subnet.gateway:
            found.add(subnet.gateway)
        elif ":" not in subnet.subnet:
            found.add(str(next(ipaddress.IPv4Network(subnet.subnet, strict=False).hosts())))
    return found


def engine_assigned(ip: str, mac: str) -> bool:
    """The bridge driver derives an endpoint's MAC from its address (02:42 + the 4 bytes):
    such an answer is an endpoint created after ddiag read the engine (a new container, a
    probe of this or another run), not an address someone claimed by hand."""
    return mac == "02:42:" + ":".join(f"{int(part):02x}" for part in ip.split("."))


def _who(mac: str, by_mac: dict[str, Container], gateway_macs: set[str]) -> str:
    if mac in by_mac:
        return f"{mac} ({by_mac[mac].name})"
    return f"{mac} (the host's bridge)" if mac in gateway_macs else f"{mac} (unknown to the engine)"


def _carrying(ctx: CheckContext, claimers: list[Container], ip: str) -> dict[str, str]:
    """Where the claimers carry `ip`, as read in their netns (what `ip -br addr` shows)."""
    found = {}
    for claimer in claimers:
        for interface in netns_interfaces(ctx, claimer):
            addresses = list(interface.addresses)
            if any(a.split("/")[0] == ip for a in addresses):
                found["interfaces"] = f"{claimer.name}: {interface.name} {' '.join(addresses)}"
    return found


def _fix(claimers: list[Container], ip: str, prefix: int) -> str:
    name = claimers[0].name if claimers else "CONTAINER"
    return (
        f"docker exec {name} ip addr del {ip}/{prefix} dev eth0  (then let the engine assign "
        "addresses; pin one with `ipv4_address:` under the service's network)"
    )


def _judge(symptom: Symptom, ctx: CheckContext) -> Result | None:
    """The finding for one swept address: answered by two MACs or more, or by one for an
    address the engine assigned to no one; None for an answer that is as it should be."""
    network, subnet, result, ip = symptom.network, symptom.subnet, symptom.sweep, symptom.address
    if network is None or result is None:
        return None
    by_ip, by_mac = _engine_view(ctx, network)
    gateway_ips = gateways(network)
    answers = {address: list(macs) for address, macs in result.answers.items()}
    # the bridge's MAC, when it alone answers for the gateway (a second answer there is a
    # claimer, and which of the two is the bridge cannot be told from the sweep)
    gateway_macs = {answers[g][0] for g in gateway_ips if len(answers.get(g, [])) == 1}
    prefix = ipaddress.ip_network(subnet, strict=False).prefixlen
    sweep = (
        f"ARP sweep of {subnet} from a peer on {network.name} ({result.swept} of "
        f"{result.addresses} addresses)"
    )
    macs = answers[ip]
    owner = by_ip.get(ip)
    if len(macs) > 1:
        claimers = [by_mac[m] for m in macs if m in by_mac and by_mac[m] is not owner]
        rightful = owner.name if owner else "the host's bridge" if ip in gateway_ips else ""
        reached = [rightful] if rightful else []
        reached.append(claimers[0].name if claimers else "another machine")
        return Result(
            subjects=subjects(
                [c.service for c in (owner, *claimers) if c and c.service],
                [c.name for c in (owner, *claimers) if c],
                network.name,
            ),
            summary=(
                f"{ip} on {network.name} is answered by {len(macs)} MAC addresses: peers "
                f"reach {' or '.join(reached) if rightful else 'one of them'}, whichever "
                "answered last"
            ),
            evidence={
                "probe": f"{sweep}: {ip} answered by "
                + ", ".join(_who(m, by_mac, gateway_macs) for m in macs),
                "engine": f"{ip} is assigned to "
                + (owner.name if owner else "the gateway" if ip in gateway_ips else "no one"),
                **_carrying(ctx, claimers, ip),
            },
            fix=_fix(claimers, ip, prefix),
        )
    if owner is None and ip not in gateway_ips and not engine_assigned(ip, macs[0]):
        claimer = by_mac.get(macs[0])
        return Result(
            subjects=subjects(
                claimer.service if claimer else "",
                claimer.name if claimer else "",
                network.name,
            ),
            summary=(
                f"{ip} answers on {network.name} but the engine assigned it to no one: "
                f"{claimer.name if claimer else 'a machine unknown to the engine'} claims "
                "it, and IPAM may hand it to the next container"
            ),
            evidence={
                "probe": f"{sweep}: {ip} answered by {_who(macs[0], by_mac, gateway_macs)}",
                "engine": f"no endpoint of {network.name} has {ip}",
                **_carrying(ctx, [claimer] if claimer else [], ip),
            },
            fix=_fix([claimer] if claimer else [], ip, prefix),
            severity=Severity.WARNING,
        )
    return None


EXPLAINS = Explainer(rank=210, sweep=found_by(_judge))


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from judged(ctx, ID, "sweep", _judge)
