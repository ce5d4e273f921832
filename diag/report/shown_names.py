"""The names a report shows: what redaction must never turn into `***`.

A known secret value that is also a name (`MYSQL_PASSWORD: wordpress` beside a service
`wordpress`) is masked where it stands as a value and spared where it stands as a name
(`diag/report/redact.py` says why). These are the names: everything the topology and the
target call something by, as the engine and the compose model spell it.
"""

from __future__ import annotations

import re

from diag.model.context import Target
from diag.model.topology import Topology


def topology_names(topology: Topology, target: Target) -> set[str]:
    """Networks (name, id, driver), containers (name, id, image, status, service, project,
    DNS names and aliases on each network, link aliases, extra_hosts names), swarm services
    and nodes, and the target: the names it was given, its compose project, the project's
    compose files, services and networks, and the names its dependency edges point at."""
    names = set(target.names)
    for network in topology.networks:
        names |= {network.name, network.id, network.driver}
    for container in topology.containers:
        names |= {container.name, container.id, container.image, container.status}
        names |= {container.service or "", container.project or ""}
        names |= set(container.link_aliases)
        names |= {re.split("[:=]", entry, maxsplit=1)[0] for entry in container.extra_hosts}
        for endpoint in container.endpoints:
            names |= {endpoint.network_name, *endpoint.dns_names, *endpoint.aliases}
    if topology.swarm is not None:
        names |= {node.hostname for node in topology.swarm.nodes}
        for service in topology.swarm.services:
            names |= {service.name, *(alias for _, alias in service.aliases)}
    project = target.project
    if project is not None:
        names |= {project.name, *project.config_files, *project.services}
        names |= set(project.networks) | set(project.networks.values())
    names |= {edge.name for edge in target.edges}
    names.discard("")
    return names
