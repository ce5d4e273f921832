"""A container cannot join a swarm overlay that is not attachable.

An overlay created by `docker network create -d overlay` (or by `docker stack deploy`)
without `--attachable` takes swarm services' tasks only. A standalone container (`docker
run --network`, a `docker compose` service naming the overlay as an external network) is
refused when it starts: "Could not attach to network X: ... not manually attachable". The
container stays `Created`, and everything that expected to reach it over the overlay fails.
ddiag's own probe is such a container: it cannot join the overlay to see it as a peer.

Detected from the engine and from what failed: an overlay that is not attachable (its
`Attachable` is false) among the run's networks, and a container of the target that is not
running with an endpoint on it (with the engine's error, when it kept one), or ddiag's own
probe refused on it.

Fix: recreate the overlay attachable (the flag cannot be changed in place; remove the
services or the stack using it first):

    docker network create -d overlay --attachable NAME

in a compose or stack file:

    networks:
      back:
        driver: overlay
        attachable: true

or run the workload as a swarm service (`docker service create --network NAME ...`, or
`docker stack deploy`), which may join any overlay.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.topology import SWARM_TASK_ID, Container, Network

ID = "swarm.not-attachable"
SEVERITY = "error"
TITLE = "Overlay network is not attachable"


def _closed(network: Network) -> bool:
    return network.driver == "overlay" and network.scope == "swarm" and not network.attachable


def _refused(ctx: CheckContext, network: Network) -> list[Container]:
    """Standalone containers of the target that hold an endpoint on it but never ran."""
    return [
        c
        for c in ctx.target.containers
        if not c.running and SWARM_TASK_ID not in c.labels and c.endpoint(network) is not None
    ]


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for network in ctx.target.networks:
        if not _closed(network) or network.ingress:
            continue
        refused = _refused(ctx, network)
        probe = ctx.observations.failure(ctx.peer_placement(network)) or ""
        if "attachable" not in probe:  # refused for another reason: not this check's
            probe = ""
        if not refused and not probe:
            continue
        evidence: dict[str, object] = {"engine": f"{network.name}: Attachable false"}
        if refused:
            evidence["containers"] = [
                f"{c.name}: {c.status}" + (f", {c.error}" if c.error else "") for c in refused
            ]
        if probe:
            evidence["probe"] = probe
        who = [c.service or c.name for c in refused] + (["ddiag's probe"] if probe else [])
        yield Result(
            subjects=subjects(
                [c.service for c in refused], [c.name for c in refused], network.name
            ),
            summary=(
                f"{network.name} is a swarm overlay that is not attachable: "
                f"{', '.join(who)} cannot join it (only swarm services' tasks can)"
            ),
            evidence=evidence,
            fix=(
                f"Recreate it attachable: `docker network create -d overlay --attachable "
                f"{network.name}` (or `attachable: true` under the network in the compose or "
                "stack file), after removing what uses it; or run the workload as a swarm "
                "service"
            ),
        )
