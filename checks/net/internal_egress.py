"""A container on internal networks only, configured to use hosts outside.

A network created with `internal: true` has no way out: the engine's rules drop every
packet between it and any address outside its subnet (on Engine 20.10 its members still
get a default route, so outside connects time out), nothing is masqueraded, and its
embedded DNS does not forward names it does not know. That is the point of it (a backend
tier that must not talk to the world), but a service placed only on such networks while
its configuration names an outside host (a payment API, a SaaS database, a package
mirror) fails at run time: name lookups fail ("Temporary failure in name resolution") and
connects time out.

Detected from the engine: every network of the container (of the namespace it shares, for
`network_mode: container:X` / `service:X`) is internal, and its environment (the compose
model's, in compose mode) references a host that is not local: a URL, `host:port` or
`*_HOST` value whose host is neither a name any container holds on this engine (those are
the dependency checks' business), nor localhost, nor an address inside the engine's
networks, nor mapped to such an address by `extra_hosts`. Bare names without a dot are left
to the DNS checks (likely typos). Variables that say how others reach this container
(`PUBLIC_URL`, `VIRTUAL_HOST`, `CALLBACK_URL`, `ALLOWED_ORIGINS`, ...) are not dependencies
and are skipped, and so is a container whose HTTP(S) proxy variable points at a local
host (it goes out through that proxy).

A warning, not an error: the outside host is never contacted (ddiag sends nothing beyond
this machine), so whether the service really calls it cannot be observed, only that it
could not.

Fix: attach the service to a regular (non-internal) network as well, or route its
outside calls through a proxy container that sits on both networks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping

from diag.checks._edges import local_networks, netns_owner
from diag.checks._services import model_service, target_containers
from diag.model.compose import NETWORK_LABEL
from diag.model.context import CheckContext
from diag.model.edges import Reference, is_localhost, means_host, references_in_env
from diag.model.findings import Result, subjects
from diag.model.targets import host_addresses, known_names
from diag.model.topology import Container, Network

ID = "net.internal-egress"
SEVERITY = "warning"
TITLE = "Internal network, outside host configured"

__all__ = ["ID", "SEVERITY", "TITLE", "evaluate"]

# Words of a variable's name that say it is how others reach this container, not a host
# it calls (`PUBLIC_URL`, `VIRTUAL_HOST`, `OAUTH_CALLBACK_URL`, `CORS_ALLOWED_ORIGINS`).
SELF_WORDS = {"PUBLIC", "VIRTUAL", "CALLBACK", "REDIRECT", "ORIGIN", "ORIGINS", "ALLOWED", "CORS"}
PROXY_VARIABLES = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"}


def _networks(ctx: CheckContext, container: Container) -> list[Network] | None:
    """The container's networks, or None when one of them is not on the engine any more."""
    found = []
    for endpoint in container.endpoints:
        network = ctx.topology.network_named(endpoint.network_id or endpoint.network_name)
        if network is None:
            return None
        found.append(network)
    return found


def _environment(ctx: CheckContext, container: Container) -> dict[str, str]:
    service = model_service(ctx, container)
    return dict(service.environment if service is not None else container.env)


def _hosts_entries(container: Container) -> dict[str, str]:
    """extra_hosts as name → address (`name:address`, or `name=address` on newer engines)."""
    entries = {}
    for entry in container.extra_hosts:
        name, _, address = entry.replace("=", ":", 1).partition(":")
        entries[name.lower()] = address.strip("[]")
    return entries


class _Locality:
    """Which hosts this engine serves: container names, `name.network`, local addresses."""

    def __init__(self, ctx: CheckContext, container: Container) -> None:
        self.names = known_names(ctx.topology)
        self.networks = {n.name.lower() for n in ctx.topology.networks}
        self.subnets = [ipaddress.ip_network(s, strict=False) for s in local_networks(ctx)]
        self.hosts = _hosts_entries(container)
        self.extra_hosts = container.extra_hosts
        self.host_addresses = host_addresses(ctx.topology)

    def is_outside(self, host: str) -> bool:
        if means_host(host, self.extra_hosts, self.host_addresses):
            return False  # the engine's own host (an edge to the host, not the outside)
        host = self.hosts.get(host.lower(), host).lower()
        if is_localhost(host) or host in self.names:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            name, _, network = host.partition(".")
            return bool(network) and not (name in self.names and network in self.networks)
        return not address.is_loopback and not any(address in s for s in self.subnets)


def _names_self(variable: str) -> bool:
    return bool(SELF_WORDS & set(variable.upper().split("_")))


def outside_references(ctx: CheckContext, container: Container) -> list[Reference]:
    """The references of the container's environment to hosts beyond this engine; none
    when an HTTP(S) proxy variable points at a local host (it goes out through that)."""
    return list(ctx.once(f"outside-references:{container.id}", lambda: _outside(ctx, container)))


def _outside(ctx: CheckContext, container: Container) -> list[Reference]:
    env = _environment(ctx, container)
    locality = _Locality(ctx, container)
    proxies = [
        ref
        for name, value in env.items()
        if name.upper() in PROXY_VARIABLES
        for ref in references_in_env({name: value})
    ]
    if any(not locality.is_outside(ref.host) for ref in proxies):
        return []
    dependencies: Mapping[str, str] = {k: v for k, v in env.items() if not _names_self(k)}
    return [ref for ref in references_in_env(dependencies) if locality.is_outside(ref.host)]


def _fix(container: Container, networks: list[Network]) -> str:
    if container.service:
        keys = ", ".join([n.labels.get(NETWORK_LABEL, n.name) for n in networks] + ["egress"])
        return (
            f"Give {container.service} a way out: attach it to a network that is not "
            f"internal as well:\n  services:\n    {container.service}:\n"
            f"      networks: [{keys}]\n  networks:\n    egress: {{}}\n"
            "or send its outside calls through a proxy container that is on both networks "
            "(e.g. HTTPS_PROXY=http://proxy:3128)."
        )
    return (
        f"Connect {container.name} to a network that is not internal as well: "
        f"`docker network connect bridge {container.name}` (or any user-defined network "
        "created without --internal), or route its outside calls through a proxy "
        "container that is on both networks."
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for container in target_containers(ctx):
        networks = _networks(ctx, netns_owner(ctx, container))
        if not networks or not all(n.internal for n in networks):
            continue
        references = outside_references(ctx, container)
        if not references:
            continue
        hosts = sorted({ref.host for ref in references})
        evidence: dict[str, object] = {
            "networks": [f"{n.name} (internal)" for n in networks],
            "references": [
                f"{ref.origin}: {ref.host}" + (f":{ref.port}" if ref.port else "")
                for ref in references
            ],
        }
        yield Result(
            subjects=subjects(container.subjects, [n.name for n in networks]),
            summary=(
                f"{container.service or container.name} is only on internal networks "
                f"({', '.join(n.name for n in networks)}) but is configured to use "
                f"{', '.join(hosts)}: the engine lets nothing out of internal networks"
            ),
            evidence=evidence,
            fix=_fix(container, networks),
        )
