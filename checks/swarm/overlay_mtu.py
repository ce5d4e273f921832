"""An overlay's VXLAN packets are larger than the nodes' own link (MTU).

An overlay carries each container packet inside a VXLAN packet between the nodes: 50 bytes
more (inner Ethernet 14, VXLAN 8, UDP 8, outer IP 20), and on an encrypted overlay IPsec
ESP adds about 26 more. The overlay driver sizes its interfaces from the MTU it believes
the nodes' link has: `com.docker.network.driver.mtu` when the overlay was created with it,
else 1500. Containers get that minus 50 (1450 by default; minus the ESP overhead too when
encrypted), so the VXLAN packets leaving a node are up to that full size. On a link with a
smaller MTU (a cloud VM at 1450 or 1460, a VPN or a tunnel between the nodes at 1400) the
large ones are fragmented or dropped: small requests work, large responses between tasks on
different nodes hang, TLS handshakes stall.

Detected from the engine and the manager's host: the overlay's MTU option (or the default)
against the MTU of the interface that carries the manager's swarm address (`NodeAddr`, read
in the manager's host network namespace), for the overlays the run is about, on a swarm of
more than one node (a single node sends no VXLAN packet). The other nodes' links are not
read: give every node the same MTU, or check theirs with `ip link` too. Only a manager
knows the nodes: on a worker, or outside a swarm, nothing is checked.

Fix: create the overlay for the smallest link between the nodes, e.g. for a 1400 link:

    docker network create -d overlay --opt com.docker.network.driver.mtu=1400 NAME

in a stack file:

    networks:
      back:
        driver: overlay
        driver_opts:
          com.docker.network.driver.mtu: "1400"

An overlay's options cannot be changed in place: remove the services from it (or the
stack), remove and recreate the network. The routing mesh's `ingress` network is recreated
the same way, with `--ingress`.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks.swarm._swarm import manager_view, node_label
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.observations import Interface
from diag.model.tasks import INTERFACES, Planned
from diag.model.topology import Network, Swarm

ID = "swarm.overlay-mtu"
SEVERITY = "warning"
TITLE = "Overlay packets exceed the nodes' link MTU (VXLAN)"

MTU_OPTION = "com.docker.network.driver.mtu"
DEFAULT_LINK_MTU = 1500  # what the overlay driver assumes without the option
VXLAN_OVERHEAD = 50
ESP_OVERHEAD = 26  # the overlay driver's allowance for ESP's expansion and padding


def link_mtu(network: Network) -> int:
    """The link MTU the overlay driver sized the overlay for: its VXLAN packets' size."""
    try:
        return int(network.options.get(MTU_OPTION) or DEFAULT_LINK_MTU)
    except ValueError:
        return DEFAULT_LINK_MTU


def interface_mtu(network: Network) -> int:
    """What the overlay's interfaces in containers get (moby's overlay `maxMTU`)."""
    mtu = link_mtu(network) - VXLAN_OVERHEAD
    if network.encrypted:
        mtu -= ESP_OVERHEAD
        mtu -= mtu % 4
    return mtu


def _overlays(ctx: CheckContext) -> tuple[Swarm, list[Network]] | None:
    swarm = manager_view(ctx)
    if swarm is None or len(swarm.nodes) < 2:
        return None
    overlays = [n for n in ctx.target.networks if n.driver == "overlay"]
    return (swarm, overlays) if overlays else None


def plan(ctx: CheckContext) -> list[Planned]:
    return [(ctx.host_placement(), INTERFACES)] if _overlays(ctx) else []


def _underlay(ctx: CheckContext, address: str) -> Interface | None:
    """The host interface that holds `address`, as the probe read it."""
    result = ctx.observations.get(ctx.host_placement(), INTERFACES)
    if not result or result.status != "ok":
        return None
    for interface in result.interfaces:
        if any(a.split("/")[0] == address for a in interface.addresses):
            return interface
    return None


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    found = _overlays(ctx)
    if found is None:
        return
    swarm, overlays = found
    underlay = _underlay(ctx, swarm.node_addr)
    if underlay is None:
        return
    mtu, device = underlay.mtu, underlay.name
    me = node_label(swarm, swarm.node_id)
    for network in overlays:
        if link_mtu(network) <= mtu:
            continue
        option = network.options.get(MTU_OPTION)
        yield Result(
            subjects=subjects(network.name, me),
            summary=(
                f"{network.name}'s VXLAN packets are up to {link_mtu(network)} bytes, but "
                f"{me}'s link to the other nodes ({device}) has MTU {mtu}: large packets "
                "between tasks on different nodes are fragmented or lost"
            ),
            evidence={
                "overlay": f"{network.name}: {MTU_OPTION} "
                + (f"{option}" if option else f"unset (the driver assumes {DEFAULT_LINK_MTU})")
                + f", so its interfaces get MTU {interface_mtu(network)}"
                + (" (encrypted: ESP overhead included)" if network.encrypted else "")
                + f" and VXLAN adds {VXLAN_OVERHEAD} bytes",
                "underlay": f"{device} holds {swarm.node_addr} (the node's swarm address), "
                f"mtu {mtu} (read in {me}'s host network namespace)",
            },
            fix=(
                f"Recreate {network.name} for that link: `docker network create -d overlay"
                + (" --attachable" if network.attachable else "")
                + (" --opt encrypted" if network.encrypted else "")
                + f" --opt {MTU_OPTION}={mtu} {network.name}` (in a stack file: driver_opts: "
                f'{{{MTU_OPTION}: "{mtu}"}}); its options cannot change in place, so remove '
                "its services (or the stack) first"
            ),
        )
