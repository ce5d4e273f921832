"""A port is published on the host's loopback address only.

`ports: ["127.0.0.1:8080:80"]` (`-p 127.0.0.1:8080:80`) forwards the host's 127.0.0.1:8080
to the container: `curl localhost:8080` on the host works, but other machines (a
colleague's browser, a load balancer, another VM) get "connection refused" on the host's
own address. Often this is intended (a database reachable only by local tools); it is
reported so that "works on the host, not from my laptop" has an answer. A network created
with `com.docker.network.bridge.host_binding_ipv4=127.0.0.1` has the same effect on every
port published without an address.

Detected from the engine: a running container's granted port bindings
(`NetworkSettings.Ports`) on 127.0.0.0/8 or ::1. Reported as info.

Fix: if other machines must reach the port, publish it on every host address (or on the
one interface they use):

    services:
      web:
        ports:
          - "8080:80"            # or "0.0.0.0:8080:80", or "192.0.2.10:8080:80"
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._services import binding_text, is_loopback, port_spec, target_containers
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.topology import Container, Network, PortBinding

ID = "port.bound-localhost"
SEVERITY = "info"
TITLE = "Port published on the host's loopback only"

HOST_BINDING_OPTION = "com.docker.network.bridge.host_binding_ipv4"


def _asked_without_address(container: Container, binding: PortBinding) -> bool:
    """Granted on loopback although the container asked for no address: a network default."""
    return any(
        asked.container_port == binding.container_port
        and asked.proto == binding.proto
        and not asked.host_ip
        for asked in container.port_bindings
    )


def _loopback_default_network(ctx: CheckContext, container: Container) -> Network | None:
    for network in ctx.topology.networks:
        if container.endpoint(network) is not None and is_loopback(
            network.options.get(HOST_BINDING_OPTION, "")
        ):
            return network
    return None


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for container in target_containers(ctx):
        if not container.running or container.network_mode == "host":
            continue  # nothing is published while stopped; host mode: port.host-mode-discard
        bound = [b for b in container.published if b.host_port and is_loopback(b.host_ip)]
        if not bound:
            continue
        label = container.service or container.name
        texts = [binding_text(b) for b in bound]
        evidence: dict[str, object] = {"published": texts}
        by_default = _loopback_default_network(ctx, container)
        if by_default is not None and all(_asked_without_address(container, b) for b in bound):
            evidence["network_option"] = (
                f"{by_default.name}: {HOST_BINDING_OPTION}="
                f"{by_default.options[HOST_BINDING_OPTION]}"
            )
            fix = (
                f"{by_default.name} publishes ports on "
                f"{by_default.options[HOST_BINDING_OPTION]} by default. If other machines "
                f"must reach {label}, publish with an explicit address "
                + "(ports: "
                + ", ".join(
                    f'"0.0.0.0:{port_spec("", b.host_port, b.container_port, b.proto)}"'
                    for b in bound
                )
                + f"), or drop the option from {by_default.name}'s driver_opts."
            )
        elif container.service:
            lines = [
                "If other machines must reach it, publish on every host address:",
                "services:",
                f"  {container.service}:",
                "    ports:",
            ]
            lines += [
                f'      - "{port_spec("", b.host_port, b.container_port, b.proto)}"'
                f"   # was {port_spec(b.host_ip, b.host_port, b.container_port, b.proto)}"
                for b in bound
            ]
            fix = "\n".join(lines)
        else:
            flags = " ".join(
                f"-p {port_spec('', b.host_port, b.container_port, b.proto)}" for b in bound
            )
            fix = (
                f"If other machines must reach it, recreate {container.name} with {flags} "
                "(every host address) instead of the 127.0.0.1 binding."
            )
        yield Result(
            subjects=subjects(container.subjects),
            summary=(
                f"{label} is published on {', '.join(texts)}: reachable from this host "
                "only, not from other machines"
            ),
            evidence=evidence,
            fix=fix,
        )
