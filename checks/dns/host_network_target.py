"""The target runs in the host's network namespace (`network_mode: host`).

A service with `network_mode: host` has no address on any Docker network and no name in
the embedded DNS: the other services cannot resolve it, whatever networks they join. It
listens on the Docker host's own addresses, so the others reach it as they reach any
service on the host: at the host's address on their bridge, through a name that
`extra_hosts` maps to `host-gateway` (the default bridge's gateway, docker0's address).
Joining "the host network" as well, what a shared-network fix would suggest, is not
possible for a container on other networks.

Detected from the engine: every running container of the name is in host network mode,
and the source has no registration for it and no /etc/hosts entry. The host's listening
sockets (read in its namespace) say whether the service listens where a container can
reach it: on loopback only, it must also listen on the gateway address or on all.

Fix: map the name to the host in the source (`extra_hosts: ["NAME:host-gateway"]`), so the
configuration keeps its name; the edge is then an edge to the host, and the `host.*` checks
judge what listens there.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_evidence, edge_subjects, states
from diag.checks._edges import plan as edges_plan
from diag.checks.host._side import host_sockets
from diag.checks.port._sockets import is_loopback, listening_texts
from diag.model.context import CheckContext
from diag.model.findings import Result
from diag.model.observations import Socket
from diag.model.tasks import LISTENING, Planned

ID = "dns.host-network-target"
SEVERITY = "error"
TITLE = "Target runs in the host's network namespace"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def _on_host_network(state: EdgeState) -> bool:
    """The name's running containers all use the host's network namespace, and the source
    finds the name neither in the embedded DNS nor in its /etc/hosts."""
    holders = state.running_holders
    return (
        bool(holders)
        and all(c.network_mode == "host" for c in holders)
        and not state.registrations
        and not state.hosts_ips
    )


def plan(ctx: CheckContext) -> list[Planned]:
    wanted = any(_on_host_network(state) for state in states(ctx))
    return edges_plan(ctx) + ([(ctx.host_placement(), LISTENING)] if wanted else [])


def _host_listeners(ctx: CheckContext, port: int | None) -> list[Socket] | None:
    """The host's listeners on `port` (None: not read, or no port to look at)."""
    sockets = host_sockets(ctx)
    if sockets is None or not port:
        return None
    return [s for s in sockets if s.port == port]


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    if not _on_host_network(state):
        return None
    edge = state.edge
    service = state.netns.service or state.netns.name
    on_port = _host_listeners(ctx, edge.port)
    evidence = edge_evidence(
        state, target_network_mode="host", hosts_file=f"no entry for {edge.name}"
    )
    if on_port is not None:
        evidence["host_listening"] = listening_texts(on_port) or f"nothing on port {edge.port}"
    fix = (
        f"Reach {edge.name} on the Docker host: map its name to the host in {service}, "
        f"then `docker compose up -d {service}`:\n  {service}:\n    extra_hosts:\n"
        f'      - "{edge.name}:host-gateway"'
    )
    if on_port and all(is_loopback(s.address) for s in on_port):
        fix += (
            f"\nand make {edge.name} listen on the default bridge's gateway (docker0's "
            f"address, `ip -4 addr show docker0`) or on 0.0.0.0:{edge.port}, not on "
            f"{', '.join(listening_texts(on_port))} only."
        )
    return Result(
        subjects=edge_subjects(state),
        summary=(
            f"{edge.source_label} uses {edge.name}, which runs in the host's network "
            "namespace (network_mode: host): it has no address on any network and no name "
            "in the embedded DNS"
        ),
        evidence=evidence,
        fix=fix,
    )


# Before dns.cross-network (70), whose shared-network fix cannot apply to the host's
# namespace; after dns.name-confusion (60), which never claims a name a container holds.
EXPLAINS = Explainer(rank=65, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
