"""The Docker host does not forward IPv4 packets (`net.ipv4.ip_forward = 0`).

Containers on a bridge network reach anything beyond their own network through the host:
the bridge's gateway address is the host, which must forward the packets out of another
interface. With forwarding off, containers still reach each other on the same network,
but every way out fails: no egress to the internet or the LAN, no reply to a client on
another machine that came in through a published port, and no route between networks
that an admin opened up. Docker turns forwarding on when it starts (unless it runs with
`--ip-forward=false`), so this usually means something turned it off later: a sysctl
file applied after the engine started, a hardening script, a VPN client, or a
`systemctl restart systemd-sysctl`.

Detected by reading `net.ipv4.ip_forward` in the Docker host's network namespace, from
the probe (so the engine's host is judged even when ddiag talks to a remote engine).
Reported once per run, naming the target's non-internal bridge networks (internal networks
have no way out by design).

Fix: turn forwarding back on and keep it on across reboots:

    sudo sysctl -w net.ipv4.ip_forward=1
    echo 'net.ipv4.ip_forward = 1' | sudo tee /etc/sysctl.d/99-docker-forward.conf

or restart the engine (`sudo systemctl restart docker`), which turns it on again.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.model.context import CheckContext
from diag.model.findings import Result
from diag.model.tasks import Planned, sysctl
from diag.model.topology import Network

ID = "host.ip-forward"
SEVERITY = "error"
TITLE = "The Docker host does not forward packets"

IP_FORWARD = sysctl("net/ipv4/ip_forward")


def _routed(ctx: CheckContext) -> list[Network]:
    """The target's networks whose containers go out through the host: bridges, not internal."""
    return [n for n in ctx.target.networks if n.driver == "bridge" and not n.internal]


def plan(ctx: CheckContext) -> list[Planned]:
    return [(ctx.host_placement(), IP_FORWARD)] if _routed(ctx) else []


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    networks = _routed(ctx)
    result = ctx.observations.get(ctx.host_placement(), IP_FORWARD) if networks else None
    if not result or result.status != "ok" or result.value != "0":
        return
    yield Result(
        subjects=tuple(n.name for n in networks),
        summary=(
            "the Docker host has IPv4 forwarding off: containers on "
            f"{', '.join(n.name for n in networks)} cannot reach anything beyond their own "
            "network, and published ports do not answer other machines"
        ),
        evidence={
            "probe": "read net.ipv4.ip_forward in the host's network namespace: 0",
            "networks": [n.name for n in networks],
        },
        fix=(
            "sudo sysctl -w net.ipv4.ip_forward=1 && echo 'net.ipv4.ip_forward = 1' | "
            "sudo tee /etc/sysctl.d/99-docker-forward.conf  (or: sudo systemctl restart docker)"
        ),
    )
