"""A published container port has no listener.

`ports: ["8080:80"]` forwards host port 8080 to container port 80, but the application
listens on another port (8000, say): the host port accepts and then resets, or refuses.
The classic cause is publishing the image's documented port while the app was configured
for another, or swapping the two sides of `HOST:CONTAINER`.

Detected by reading the container's listening sockets from inside its network namespace:
nothing listens on the published container port at any address. The evidence names the
ports that do listen.

Fix: publish the port the application listens on (`"8080:8000"`), or make the application
listen on the published one.
"""

from __future__ import annotations

from collections.abc import Iterator

from checks.port._sockets import containers_with_sockets, listening_texts, plan, reach
from diag.context import CheckContext
from diag.findings import Result, subjects

ID = "port.published-mismatch"
SEVERITY = "error"
TITLE = "Published port has no listener"

__all__ = ["ID", "SEVERITY", "TITLE", "evaluate", "plan"]


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for container, memberships, sockets in containers_with_sockets(ctx):
        listening_ports = sorted({int(sock["port"]) for sock in sockets})
        for binding in container.published_tcp():
            port = binding.container_port
            if reach(sockets, port, set()) != "absent":
                continue
            host = f"{binding.host_ip or '0.0.0.0'}:{binding.host_port or '?'}"
            name = container.service or container.name
            if len(listening_ports) == 1:
                fix_port = str(listening_ports[0])
            else:
                fix_port = "<port it listens on>"
            yield Result(
                subjects=subjects(container.subjects, [m.network.name for m in memberships]),
                summary=(
                    f"{name} publishes {host}->{port}/tcp but nothing listens on {port} "
                    f"inside the container"
                    + (
                        f" (it listens on {', '.join(map(str, listening_ports))})"
                        if listening_ports
                        else ""
                    )
                ),
                evidence={
                    "published": f"{host}->{port}/tcp",
                    "listening": listening_texts(sockets),
                },
                fix=(
                    f"Publish the port the application listens on, e.g. in compose:\n"
                    f"  {name}:\n    ports:\n"
                    f'      - "{binding.host_port or port}:{fix_port}"\n'
                    f"or make {name} listen on {port}."
                ),
            )
