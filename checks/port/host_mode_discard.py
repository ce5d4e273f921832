"""Ports are published for a service with `network_mode: host`: the engine discards them.

A container in host mode has no network namespace of its own: it shares the host's, and
its application listens on the host's addresses directly. There is nothing to forward, so
`ports:` (`-p`) is silently ignored: `docker compose up` prints "Published ports are
discarded when using host network mode" once and starts the container. A mapping such as
`"8080:80"` then does not do what it says: the service is reachable on the host's port 80
(where the app listens), not on 8080, and two such services cannot both use port 80.

Detected from the configuration: `HostConfig.NetworkMode` is `host` and
`HostConfig.PortBindings` is not empty (the compose model's `ports:` with `network_mode:
host` for a service that has no container). Reported as a warning.

Fix: drop `ports:` and make the application listen on the port you want on the host, or
leave host mode and keep the mapping:

    services:
      web:
        network_mode: host
        # ports: ["8080:80"]   <- discarded: the app's own port (80) is the host's port
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._services import binding_text, port_spec, target_containers
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects

ID = "port.host-mode-discard"
SEVERITY = "warning"
TITLE = "Ports published in host network mode are discarded"


def _fix(service: str | None, name: str, specs: list[str], ports: list[int]) -> str:
    listens = ", ".join(str(p) for p in sorted(set(ports)))
    if not service:
        return (
            f"Recreate {name} without -p (it listens on the host's port {listens} directly), "
            "or without --network host to keep the mapping."
        )
    removed = ", ".join(f'"{s}"' for s in specs)
    return "\n".join(
        [
            f"Drop ports: ({service} listens on the host's port {listens} directly; change "
            "the application's own port to move it):",
            "services:",
            f"  {service}:",
            "    network_mode: host",
            f"    # ports: [{removed}]   <- remove",
            "or remove `network_mode: host` to keep the mapping.",
        ]
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    seen_services = set()
    for container in target_containers(ctx):
        if container.network_mode != "host":
            continue
        bindings = container.port_bindings or container.published
        if not bindings:
            continue
        if container.service:
            seen_services.add(container.service)
        label = container.service or container.name
        texts = [binding_text(b) for b in bindings]
        specs = [port_spec(b.host_ip, b.host_port, b.container_port, b.proto) for b in bindings]
        ports = [b.container_port for b in bindings]
        yield Result(
            subjects=subjects(container.subjects),
            summary=(
                f"{label} runs with network_mode host and publishes {', '.join(texts)}: the "
                "engine discards the mapping; the app is reachable on the host only on the "
                "port it listens on"
            ),
            evidence={"network_mode": "host", "discarded": texts},
            fix=_fix(container.service, container.name, specs, ports),
        )
    project = ctx.target.project
    if project is None:
        return
    for name, service in project.services.items():
        if name in seen_services or service.network_mode != "host" or not service.ports:
            continue
        if any(c.service == name for c in project.containers(ctx.topology)):
            continue  # its containers were judged above
        specs = [port_spec(p.host_ip, p.published, p.target, p.protocol) for p in service.ports]
        yield Result(
            subjects=subjects(name),
            summary=(
                f"{name} has network_mode host and ports {', '.join(specs)}: the engine will "
                "discard the mapping"
            ),
            evidence={"network_mode": "host", "ports": specs, "source": "compose model"},
            fix=_fix(name, name, specs, [p.target for p in service.ports]),
        )
