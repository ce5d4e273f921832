"""The container could not start: the host port it publishes is already taken.

Publishing `ports: ["8080:80"]` asks the engine to bind host port 8080. When another
container already publishes that port (on the same address, or on all addresses), the
engine refuses with "Bind for 0.0.0.0:8080 failed: port is already allocated"; when a
process on the host listens there, with "listen tcp4 0.0.0.0:8080: bind: address already in
use". The container stays `created` (or exited), `docker compose up` reports the error
once, and every service that depends on it sees it as down.

Detected from the engine: the container is not running and its `State.Error` says "port is
already allocated" or "address already in use". The evidence names the host port and the
running containers that publish it; when none does, a host process holds it.

Fix: choose another host port (or let the engine pick one), then start the service again:

    services:
      web:
        ports:
          - "8081:80"      # a free host port; "80" alone lets Docker choose one
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from diag.checks._services import binding_text, port_spec, target_containers
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.topology import Container, PortBinding
from diag.model.wording import names_verb

ID = "port.already-allocated"
SEVERITY = "error"
TITLE = "Host port already allocated"

MARKERS = ("port is already allocated", "address already in use")
_ADDRESS = [
    re.compile(r"Bind for (?P<ip>\S*?):(?P<port>\d+) failed"),
    re.compile(r"listen (?:tcp|udp|sctp)[46]? (?P<ip>\S*?):(?P<port>\d+): bind"),
]
_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


def _failed_address(error: str) -> tuple[str, str] | None:
    for pattern in _ADDRESS:
        match = pattern.search(error)
        if match:
            return match["ip"].strip("[]"), match["port"]
    return None


def _overlaps(ip: str, other: str) -> bool:
    return ip in _WILDCARDS or other in _WILDCARDS or ip.strip("[]") == other.strip("[]")


def _holders(
    ctx: CheckContext, failed: Container, host_ip: str, host_port: str
) -> list[tuple[Container, PortBinding]]:
    """Running containers on the engine that were granted this host port."""
    found = []
    for other in ctx.topology.containers:
        if other.id == failed.id or not other.running or other.network_mode == "host":
            continue
        for binding in other.published:
            if binding.host_port == host_port and _overlaps(host_ip, binding.host_ip):
                found.append((other, binding))
                break
    return found


def _asked(container: Container, host_port: str) -> list[PortBinding]:
    bindings = container.port_bindings or container.published
    return [b for b in bindings if b.host_port == host_port] or list(bindings)


def _fix(container: Container, asked: list[PortBinding], host_port: str) -> str:
    label = container.service or container.name
    if not asked:
        return f"Publish {label} on a free host port, then start it again."
    taken = int(host_port) if host_port.isdigit() else None
    free = str(taken + 1) if taken is not None and taken < 65535 else "<free port>"
    if not container.service:
        binding = asked[0]
        return (
            f"Recreate {container.name} with another host port, e.g. "
            f"-p {port_spec(binding.host_ip, free, binding.container_port, binding.proto)} "
            f"(or -p {port_spec(binding.host_ip, '', binding.container_port, binding.proto)} "
            "to let Docker choose one)."
        )
    lines = [
        "Choose another host port (any free one), or let Docker choose it:",
        "services:",
        f"  {container.service}:",
        "    ports:",
    ]
    for b in asked:
        if b.host_port == host_port:
            new = port_spec(b.host_ip, free, b.container_port, b.proto)
            auto = port_spec(b.host_ip, "", b.container_port, b.proto)
            lines.append(f'      - "{new}"   # was {b.host_port}; or "{auto}" for any free port')
        else:
            kept = port_spec(b.host_ip, b.host_port, b.container_port, b.proto)
            lines.append(f'      - "{kept}"')
    project = f"-p {container.project} " if container.project else ""
    lines.append(f"then: `docker compose {project}up -d {container.service}`")
    return "\n".join(lines)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for container in target_containers(ctx):
        error = container.error
        if container.running or not any(marker in error.lower() for marker in MARKERS):
            continue
        address = _failed_address(error)
        asked = _asked(container, address[1] if address else "")
        host_ip, host_port = address or (
            (asked[0].host_ip, asked[0].host_port) if asked else ("", "")
        )
        holders = _holders(ctx, container, host_ip, host_port) if host_port else []
        label = container.service or container.name
        shown = f"{host_ip or '0.0.0.0'}:{host_port}" if host_port else "its host port"
        evidence: dict[str, object] = {"state": container.status, "error": error}
        if host_port:
            evidence["host_port"] = shown
        if holders:
            evidence["held_by"] = [f"{c.name} ({binding_text(b)})" for c, b in holders]
            who = list(dict.fromkeys(c.service or c.name for c, _ in holders))
            because = f"{names_verb(who, 'already publishes', 'already publish')} {shown}"
        else:
            evidence["held_by"] = (
                "no container on this engine publishes it: a process on the host listens "
                f"there (`ss -ltnp 'sport = :{host_port}'` names it)"
                if host_port
                else "unknown"
            )
            because = f"{shown} is taken by a process on the host"
        yield Result(
            subjects=subjects(
                container.service,
                [c.service for c, _ in holders if c.service],
                container.name,
                [c.name for c, _ in holders],
            ),
            summary=f"{label} could not start: {because}",
            evidence=evidence,
            fix=_fix(container, asked, host_port),
        )
