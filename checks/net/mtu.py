"""Packets above some size are lost on the way (an MTU black hole), or will be on the way out.

Small packets (a TCP handshake, a short HTTP request, DNS) get through while large ones
vanish: connections open and then hang on the first big response, TLS handshakes stall
after the ClientHello, `docker pull` or `pip install` freeze mid-download. The cause is a
link whose MTU is smaller than what the sender assumes, and no ICMP "fragmentation needed"
coming back to say so:

- **between containers**: one container's interface has a smaller MTU than its network
  (a sidecar or entrypoint that lowers `eth0`, a CNI or VPN container with NET_ADMIN);
  frames larger than its MTU are dropped silently when they reach it;
- **on the way out**: the network's MTU (1500 unless `com.docker.network.driver.mtu` says
  otherwise) is larger than the Docker host's own egress interface (a cloud VM at 1450 or
  1460, a VPN at 1400). Containers announce a TCP MSS for 1500-byte packets, so the
  outside sends replies that do not fit the host's link; whether they arrive depends on
  routers beyond the host fragmenting or reporting it. This matters to containers that
  talk to the outside, so it is reported for a network when one of its members' settings
  references a host beyond this engine (as `net.internal-egress` reads them), or when the
  run checks egress (`--egress`, `--egress-dns`).

Detected from the probe: a peer on each network sends ICMP echoes with don't-fragment set
to every running member, at sizes up to the network's MTU (576, 1000, 1280, 1400, 1450,
1480, 1500, and the MTU itself), three times over the timeout for those not answered. A
member that answers every size up to some size and none above it is a black hole
(error); its interfaces, read in its netns, show the MTU that explains it. Losses with
no such edge (a small size lost while a larger one came back) are loss, not a size
limit, and are not reported.
The host's egress interface is the device of the default route in the Docker host's own
network namespace; a network MTU above it is reported once per run for the networks that
talk to the outside (info: it is a fact of configuration, nothing outside is probed).

Fix: give the network and everything on it one MTU that fits the smallest link, and do not
change interfaces inside containers:

    networks:
      back:
        driver_opts:
          com.docker.network.driver.mtu: "1400"

For the default bridge and the engine's default for new networks, set `"mtu": 1400` in
`/etc/docker/daemon.json` and restart the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from diag.checks._arbiter import Explainer, Symptom, found_by, judged
from diag.checks._netview import netns_interfaces
from diag.checks.net.duplicate_ip import SWEPT_DRIVERS, ipv4_subnets
from diag.checks.net.internal_egress import outside_references
from diag.model.context import CheckContext
from diag.model.findings import Result, Severity, subjects
from diag.model.observations import PmtuAnswer
from diag.model.tasks import INTERFACES, Planned, Task, pmtu
from diag.model.topology import Container, Network

ID = "net.mtu"
SEVERITY = "error"
TITLE = "Large packets are lost (MTU)"

MTU_OPTION = "com.docker.network.driver.mtu"
DEFAULT_MTU = 1500
LADDER = (576, 1000, 1280, 1400, 1450, 1480, 1500)


def network_mtu(network: Network) -> int:
    try:
        return int(network.options.get(MTU_OPTION, DEFAULT_MTU))
    except ValueError:
        return DEFAULT_MTU


def _sizes(mtu: int) -> tuple[int, ...]:
    return tuple(sorted({size for size in LADDER if size <= mtu} | {mtu}))


def _members(ctx: CheckContext, network: Network) -> dict[str, Container]:
    return {
        endpoint.ip: container
        for container, endpoint in ctx.topology.members(network)
        if container.running and endpoint.ip
    }


def _pinged(ctx: CheckContext) -> list[tuple[Network, Task[PmtuAnswer]]]:
    found = []
    for network in ctx.target.networks:
        addresses = tuple(_members(ctx, network))
        if network.driver in SWEPT_DRIVERS and ipv4_subnets(network) and addresses:
            found.append((network, pmtu(addresses, _sizes(network_mtu(network)))))
    return found


def _routed(ctx: CheckContext) -> list[Network]:
    """Bridges with a way out whose members use it: one references an outside host, or
    the run checks egress."""
    checked = bool(ctx.egress or ctx.egress_dns)
    return [
        n
        for n in ctx.target.networks
        if n.driver == "bridge"
        and not n.internal
        and (checked or any(outside_references(ctx, c) for c in _members(ctx, n).values()))
    ]


def plan(ctx: CheckContext) -> list[Planned]:
    planned: list[Planned] = [(ctx.peer_placement(n), task) for n, task in _pinged(ctx)]
    if _routed(ctx):
        planned.append((ctx.host_placement(), INTERFACES))
    return planned


def _interface_mtu(ctx: CheckContext, container: Container, ip: str) -> int | None:
    for interface in netns_interfaces(ctx, container):
        if any(a.split("/")[0] == ip for a in interface.addresses):
            return interface.mtu
    return None


def _black_hole(symptom: Symptom, ctx: CheckContext) -> Result | None:
    """The finding for a pinged address whose larger sizes vanish with no "fragmentation
    needed" back, while every smaller size answers; None when the losses are not that."""
    network, ip, seen = symptom.network, symptom.address, symptom.ping
    if network is None or seen is None:
        return None
    mtu = network_mtu(network)
    sizes = dict(seen.sizes)
    largest_ok = seen.largest_ok
    lost = sorted(s for s, outcome in sizes.items() if outcome == "timeout" and s > largest_ok)
    container = _members(ctx, network).get(ip)
    if not largest_ok or not lost or container is None:
        return None  # nothing answers at all: not a size problem (other checks judge that)
    if any(outcome.startswith("fragmentation needed") for outcome in sizes.values()):
        return None  # the path says its MTU: PMTUD works (the kernel rate-limits the rest)
    if any(outcome != "ok" for size, outcome in sizes.items() if size < largest_ok):
        return None  # a small size lost while a larger one came back: loss, not a size limit
    own_mtu = _interface_mtu(ctx, container, ip)
    evidence: dict[str, Any] = {
        "probe": f"DF pings from a peer on {network.name} to {ip}: "
        + ", ".join(f"{size} {outcome}" for size, outcome in sorted(sizes.items())),
        "network_mtu": mtu,
    }
    if own_mtu is not None:
        evidence["interface_mtu"] = f"{container.name}'s interface with {ip}: mtu {own_mtu}"
    shrunk = own_mtu is not None and own_mtu < mtu
    return Result(
        subjects=subjects(container.service, container.name, network.name),
        summary=(
            f"packets of {lost[0]} bytes and more to {container.service or container.name}"
            f" ({ip}) on {network.name} are dropped silently, {largest_ok} get "
            "through: large responses and uploads will hang"
            + (f" (its interface's MTU is {own_mtu}, the network's {mtu})" if shrunk else "")
        ),
        evidence=evidence,
        fix=(
            f"Stop lowering the MTU inside {container.name} (its entrypoint or a sidecar "
            "with NET_ADMIN), or give the whole network that MTU: networks: "
            f'{network.name}: driver_opts: {{{MTU_OPTION}: "{own_mtu}"}}'
            if shrunk
            else f"Find the link that drops {lost[0]}-byte packets (`docker run --rm "
            f"--network container:{container.name} nicolaka/netshoot ip link`) and give "
            f'the network its MTU: driver_opts: {{{MTU_OPTION}: "{largest_ok}"}}'
        ),
    )


EXPLAINS = Explainer(rank=200, ping=found_by(_black_hole))


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from judged(ctx, ID, "ping", _black_hole)
    yield from _host_egress(ctx)


def _host_egress(ctx: CheckContext) -> Iterator[Result]:
    host = ctx.observations.get(ctx.host_placement(), INTERFACES) if _routed(ctx) else None
    if not host or host.status != "ok":
        return
    device = next((r.dev for r in host.routes if r.dst == "default"), None)
    egress = next((i for i in host.interfaces if i.name == device), None)
    if egress is None:
        return  # no default route: no way out to compare with
    too_big = [n for n in _routed(ctx) if network_mtu(n) > egress.mtu]
    if not too_big:
        return
    mtus = ", ".join(f"{n.name} {network_mtu(n)}" for n in too_big)
    yield Result(
        subjects=tuple(n.name for n in too_big),
        summary=(
            f"the Docker host's way out ({device}, MTU {egress.mtu}) is smaller than the "
            f"MTU of {', '.join(n.name for n in too_big)}: replies from outside larger than "
            f"{egress.mtu} bytes rely on routers beyond the host to fragment or report them"
        ),
        evidence={
            "host_egress": f"default route via {device}, mtu {egress.mtu} (read in the "
            "Docker host's network namespace)",
            "network_mtu": mtus,
        },
        fix=(
            f"Give the networks the host's MTU: driver_opts: {{{MTU_OPTION}: "
            f'"{egress.mtu}"}} on each, and "mtu": {egress.mtu} in /etc/docker/daemon.json '
            "for the default bridge"
        ),
        severity=Severity.INFO,
    )
