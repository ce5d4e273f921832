"""A container uses host.docker.internal, which its /etc/hosts does not define.

Docker Desktop gives every container the names `host.docker.internal` and
`gateway.docker.internal` for the machine it runs on. A Linux engine does not: the name is
defined only when the service asks for it with `extra_hosts`, and the special address
`host-gateway` (Engine 20.10+) stands for the host there. A compose file written on a Mac
therefore fails on Linux with "name not found" for the host, while every container is up.

Detected from the source's network namespace: the configuration references one of those
names (environment, x-ddiag rules), and the container's /etc/hosts has no entry for it.
The name is never asked of DNS: the embedded DNS would forward it to resolvers outside this
machine.

Fix: add `extra_hosts: ["host.docker.internal:host-gateway"]` to the service (the line
for the name it uses), then recreate it (`docker compose up -d SERVICE`).
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_evidence, edge_subjects, plan
from diag.model.context import CheckContext
from diag.model.edges import HOST_ALIASES, HOST_GATEWAY
from diag.model.findings import Result

ID = "host.gateway-name"
SEVERITY = "error"
TITLE = "host.docker.internal is not defined in the container"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    edge = state.edge
    if edge.name.lower() not in HOST_ALIASES or state.hosts_ips != []:
        return None  # another name, defined in /etc/hosts, or the file was not read
    # The hosts file read is that of the namespace's owner (network_mode: service:X shares
    # X's), so the extra_hosts line belongs to that service.
    service = state.netns.service or state.netns.name
    line = f"{edge.name.lower()}:{HOST_GATEWAY}"
    return Result(
        subjects=edge_subjects(state, edge.name),
        summary=(
            f"{edge.source_label} uses {edge.name}, which its /etc/hosts does not define: "
            "a Linux engine defines it only through extra_hosts"
        ),
        evidence=edge_evidence(state, hosts_file=f"no entry for {edge.name}"),
        fix=(
            f"Define the name for {service} (the engine writes the host's address for "
            f"host-gateway), then `docker compose up -d {service}`:\n  {service}:\n"
            f'    extra_hosts:\n      - "{line}"'
        ),
    )


# Before dns.name-confusion (60), which would call it a misspelt container name.
EXPLAINS = Explainer(rank=55, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
