"""An exposed port has no listener.

The image or the compose file declares the port (`EXPOSE`, `expose:`), so peers are told to
use it, but nothing inside the container listens on it: every connect is refused. Usually
the application listens on another port than the one declared (a changed default, a `PORT`
variable not passed through), or it has not started its server.

Detected by reading the container's listening sockets from inside its network namespace:
no socket on the port at any address. Published ports are left to
`port.published-mismatch`. Severity warning: `EXPOSE` is documentation, and a port that is
only declared may be unused on purpose.

Fix: make the server listen on the declared port, or declare the port it really uses
(the evidence lists the ports that do listen).
"""

from __future__ import annotations

from collections.abc import Iterator

from checks.port._sockets import (
    connect_texts,
    containers_with_sockets,
    listening_texts,
    plan,
    reach,
)
from diag.context import CheckContext
from diag.findings import Result, subjects

ID = "port.not-listening"
SEVERITY = "warning"
TITLE = "Exposed port has no listener"

__all__ = ["ID", "SEVERITY", "TITLE", "evaluate", "plan"]


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for container, memberships, sockets in containers_with_sockets(ctx):
        published = {binding.container_port for binding in container.published_tcp()}
        declared = {port for port, proto in container.exposed if proto == "tcp"} - published
        for port in sorted(declared):
            if reach(sockets, port, set()) != "absent":
                continue
            others = listening_texts(sockets)
            evidence = {"exposed": f"{port}/tcp", "listening": others}
            probes = connect_texts(ctx, memberships, port)
            if probes:
                evidence["probe"] = "; ".join(probes)
            name = container.service or container.name
            yield Result(
                subjects=subjects(container.subjects, [m.network.name for m in memberships]),
                summary=(
                    f"{name} exposes {port}/tcp but nothing listens on it"
                    + (f" (listening: {', '.join(others)})" if others else " (no TCP listener)")
                ),
                evidence=evidence,
                fix=(
                    f"Make {name} listen on port {port}, or expose the port it really uses, "
                    f'e.g. in compose:\n  {name}:\n    expose:\n      - "<port it listens on>"'
                ),
            )
