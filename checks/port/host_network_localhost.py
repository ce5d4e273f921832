"""A client in the host's network namespace uses localhost for an unpublished container port.

A service with `network_mode: host` shares the Docker host's network namespace: its
`localhost` is the host's, not a container's (unlike everywhere else, see
port.localhost-in-container), and the service names of the stack do not resolve there (no
embedded DNS). It reaches another container's service only through a port that container
publishes on the host. A container that only exposes or listens on the port is refused.

Detected from the source's namespace (the host's): nothing listens on the referenced port,
the connect to localhost fails, and a running container of the target serves that port
without publishing it on the host.

Fix: publish the port on the host's loopback, so that only the host (and host-network
services) reach it: `ports: ["127.0.0.1:PORT:PORT"]` on the serving service.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_evidence, plan
from diag.checks.port._sockets import listening, listening_texts, serving
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.topology import Container

ID = "port.host-network-localhost"
SEVERITY = "error"
TITLE = "Host-network client uses localhost for an unpublished port"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def _publishes(container: Container, port: int) -> bool:
    return any(b.host_port == str(port) for b in container.published)


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    edge = state.edge
    if state.netns.network_mode != "host" or not edge.is_localhost or not edge.port:
        return None
    sockets = listening(ctx, state.netns)
    if sockets is None or any(s.port == edge.port for s in sockets):
        return None
    servers = [c for c in serving(ctx, edge.port, state.netns.id) if not _publishes(c, edge.port)]
    if not servers:
        return None
    names = sorted({c.service or c.name for c in servers})
    server = names[0] if len(names) == 1 else "<the serving service>"
    port = edge.port
    return Result(
        subjects=subjects(edge.source.service, names, edge.source.name, [c.name for c in servers]),
        summary=(
            f"{edge.source_label} runs in the host's network namespace (network_mode: host) "
            f"and uses {edge.name}:{port}, the host's; {', '.join(names)} "
            f"{'serves' if len(names) == 1 else 'serve'} {port} without publishing it there"
        ),
        evidence=edge_evidence(
            state,
            source_network_mode="host",
            listening_on_the_host=listening_texts(s for s in sockets if s.port == port)
            or f"nothing on port {port}",
            probe=state.connect_text(),
            serving_port=names,
        ),
        fix=(
            f"Publish {port} on the host's loopback, then `docker compose up -d {server}`:\n"
            f'  {server}:\n    ports:\n      - "127.0.0.1:{port}:{port}"'
        ),
    )


# Before port.localhost-in-container (20), whose "localhost is the container itself" is
# not true in the host's namespace.
EXPLAINS = Explainer(rank=19, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
