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

from diag.checks.port._sockets import containers_with_sockets, listening_texts, plan, reach
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects

ID = "port.published-mismatch"
SEVERITY = "error"
TITLE = "Published port has no listener"

__all__ = ["ID", "SEVERITY", "TITLE", "evaluate", "plan"]


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for container, memberships, sockets in containers_with_sockets(ctx):
        listening_ports = sorted({sock.port for sock in sockets})
        by_port: dict[int, list[str]] = {}
        for binding in container.published_tcp():
            host = f"{binding.host_ip or '0.0.0.0'}:{binding.host_port or '?'}"
            by_port.setdefault(binding.container_port, []).append(host)
        for port, hosts in sorted(by_port.items()):
            if reach(sockets, port, set()) != "absent":
                continue
            name = container.service or container.name
            host_port = hosts[0].rsplit(":", 1)[1]
            fix_port = (
                str(listening_ports[0]) if len(listening_ports) == 1 else "<port it listens on>"
            )
            published = [f"{host}->{port}/tcp" for host in hosts]
            also = f" (it listens on {', '.join(map(str, listening_ports))})"
            yield Result(
                subjects=subjects(container.subjects, [m.network.name for m in memberships]),
                summary=(
                    f"{name} publishes {', '.join(published)} but nothing listens on {port} "
                    f"inside the container" + (also if listening_ports else "")
                ),
                evidence={"published": published, "listening": listening_texts(sockets)},
                fix=(
                    f"Publish the port the application listens on, e.g. in compose:\n"
                    f"  {name}:\n    ports:\n"
                    f'      - "{host_port if host_port != "?" else port}:{fix_port}"\n'
                    f"or make {name} listen on {port}."
                ),
            )
