"""One anchor for several bridge networks: which of a network's tasks it may observe.

A network's tasks are observed "as a fresh peer on it sees it" from an anchor (a sleeping
container on that network, diag.probes.session). Starting one anchor per network cost a run
about 0.25 s of the engine's time per network, at the moment the shared probe is starting
too: with 4 networks, 1.0 s against 0.45 s for one anchor attached to all 4 (measured on
the 260-container benchmark host, issue 8). So the local bridge networks of a run share
one *bridges anchor*, for the tasks whose answer cannot depend on which other networks
the observer is on:

- **connect, DF pings, ARP sweeps** to addresses inside the network's own subnets: the
  kernel sends them out of the interface on that subnet, exactly as a single-network peer
  would (and the agent binds its ping socket to that interface);
- **DNS lookups asked of the embedded DNS** (no server of their own, A or AAAA): the
  embedded DNS answers a multi-network container from its first network that knows the
  name, so the name is asked as `NAME.NETWORK`, which the engine resolves in that network
  only (libnetwork's Sandbox.ResolveName: "{a.b in network c.d}"). Only networks whose
  names are plain lowercase DNS labels take part, so that the qualified name means
  nothing else.

Everything else (resolv.conf, routes and egress to outside addresses, queries to other
servers, the default bridge, overlays) keeps an anchor of its own network, as before.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from diag.model.topology import Network

if TYPE_CHECKING:  # not imported at run time: diag.probes.launchpad runs before the imports
    from diag.model.tasks import Task

KEY = "anchor:bridges"
DNS_LABEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
EMBEDDED_DNS_TYPES = ("", "A", "AAAA")


def joins(network: Network) -> bool:
    """Whether `network` may share the bridges anchor."""
    return (
        network.driver == "bridge"
        and network.scope == "local"
        and not network.is_default_bridge
        and bool(network.subnets)
        and DNS_LABEL.fullmatch(network.name) is not None
    )


def sharing(networks: Sequence[Network]) -> list[Network]:
    """The networks one bridges anchor joins: those that may, when there are two or more
    of them (one network alone gets an anchor of its own)."""
    joining = [network for network in networks if joins(network)]
    return joining if len(joining) >= 2 else []


def _inside(address: str, network: Network) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(s.subnet, strict=False) for s in network.subnets)


def serves(network: Network, task: Task) -> bool:
    """Whether the bridges anchor observes `task` on `network` as a peer of it alone would."""
    if task.kind == "resolve":
        return not task.server and task.rdtype in EMBEDDED_DNS_TYPES
    if task.kind == "connect":
        return _inside(task.target, network)
    if task.kind == "pmtu":
        return bool(task.addresses) and all(_inside(a, network) for a in task.addresses)
    if task.kind == "arp_sweep":
        return task.target in {s.subnet for s in network.subnets}
    return False


def asked_name(task: Task, network: Network) -> str:
    """The name the bridges anchor asks the embedded DNS for `task` on `network`."""
    return f"{task.target.rstrip('.')}.{network.name}"
