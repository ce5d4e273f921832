"""What the per-service checks share: the target's containers one by one, their compose
facts (depends_on, healthcheck) from the model when there is one, from labels otherwise,
and how a port binding is written."""

from __future__ import annotations

import ipaddress

from diag.model.compose import DEPENDS_ON_LABEL, Service
from diag.model.context import CheckContext
from diag.model.topology import Container, PortBinding

STARTED = "service_started"


def target_containers(ctx: CheckContext) -> list[Container]:
    """The target's own containers (compose-run one-offs left out), each once, by name."""
    unique = {c.id: c for c in ctx.target.containers if not c.is_oneoff}
    return sorted(unique.values(), key=lambda c: c.name)


def model_service(ctx: CheckContext, container: Container) -> Service | None:
    """The container's service in the compose model of a `ddiag compose` run."""
    project = ctx.target.project
    if project is None or container.project != project.name or not container.service:
        return None
    return project.services.get(container.service)


def depends_on(ctx: CheckContext, container: Container) -> dict[str, str]:
    """service → condition, from the model (compose mode) or the container's label."""
    service = model_service(ctx, container)
    if service is not None:
        return dict(service.depends_on)
    found = {}
    for item in filter(None, container.labels.get(DEPENDS_ON_LABEL, "").split(",")):
        parts = item.split(":")
        found[parts[0]] = parts[1] if len(parts) > 1 and parts[1] else STARTED
    return found


def service_containers(ctx: CheckContext, project: str, service: str) -> list[Container]:
    """Every regular (not one-off) container of a compose service on the engine."""
    return [
        c
        for c in ctx.topology.containers
        if c.project == project and c.service == service and not c.is_oneoff
    ]


def binding_text(binding: PortBinding) -> str:
    """`127.0.0.1:8080->80/tcp`, as `docker ps` writes it."""
    host_ip = binding.host_ip or "0.0.0.0"
    if ":" in host_ip:
        host_ip = f"[{host_ip}]"
    return f"{host_ip}:{binding.host_port or '?'}->{binding.container_port}/{binding.proto}"


def port_spec(host_ip: str, host_port: str, container_port: int, proto: str = "tcp") -> str:
    """A compose `ports:` short-syntax item: `127.0.0.1:8080:80`, `8080:80/udp`."""
    ip = f"[{host_ip}]" if ":" in host_ip else host_ip
    left = f"{ip}:{host_port}" if ip else host_port
    spec = f"{left}:{container_port}" if left else str(container_port)
    return spec + ("" if proto == "tcp" else f"/{proto}")


def is_loopback(host_ip: str) -> bool:
    try:
        return ipaddress.ip_address(host_ip.strip("[]")).is_loopback
    except ValueError:
        return host_ip.lower() == "localhost"
