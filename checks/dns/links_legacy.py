"""Legacy `links:` are deprecated; a user-defined network does their job better.

`links:` (`docker run --link`) predate user-defined networks. On the default bridge they
are the only way to reach a container by name, and they work by writing the target's IP
into the client's /etc/hosts. The entry is tied to that one target container: a restart
of the target updates it, but when the target is recreated (a new image or configuration:
`docker compose up` replaces the container) the entry disappears, the name stops resolving
in the client, and the client cannot even be restarted ("Cannot link to a non running
container") until it is recreated as well. The environment variables a link injects
(`DB_PORT_5432_TCP_ADDR`) keep the old address even across a restart. On a user-defined
network a link only adds an alias that the embedded DNS answers for that one client, which
the service name (or a network alias) already does. Docker documents `--link` as a legacy
feature that may be removed.

Detected from the configuration, without sending anything: the compose model's `links:`
(compose mode), `HostConfig.Links` (containers started with `--link`), and whether the
client sits on the default bridge. Reported as info.

Fix: drop `links:` and use the service name on a user-defined network both containers
share; when the client uses the link's alias, make it a network alias of the target:

    services:
      web:
        # links: ["db:database"]   <- remove
        networks: [app]
      db:
        networks:
          app:
            aliases: [database]   # only if web still uses that name
    networks:
      app: {}
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from diag.checks._edges import netns_owner, network_key
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.topology import Container, Network
from diag.model.wording import listed

ID = "dns.links-legacy"
SEVERITY = "info"
TITLE = "Legacy links in use"


@dataclass
class _Link:
    alias: str
    target: str  # the service (compose) or container the link points at
    containers: list[Container] = field(default_factory=list)

    @property
    def spec(self) -> str:
        return self.target if self.alias == self.target else f"{self.target}:{self.alias}"


def _host_config_links(ctx: CheckContext, source: Container) -> list[_Link]:
    """`HostConfig.Links` entries `/target:/source/alias`."""
    found = []
    for entry in source.links:
        target, _, path = entry.partition(":")
        target = target.lstrip("/")
        holder = ctx.topology.container_named(target)
        name = holder.service if holder is not None and holder.service else target
        found.append(_Link(path.rsplit("/", 1)[-1] or target, name, [holder] if holder else []))
    return found


def _compose_links(ctx: CheckContext, source: Container, alias: str) -> _Link | None:
    project = ctx.target.project
    service = project.services.get(source.service or "") if project else None
    if project is None or service is None:
        return None
    for target, link_alias in service.links:
        if link_alias == alias:
            return _Link(alias, target, project.containers(ctx.topology, target))
    return None


def _links(ctx: CheckContext) -> dict[Container, list[_Link]]:
    """Each client (one per service) with its links, from the edges and from HostConfig."""
    found: dict[Container, list[_Link]] = {}
    for edge in ctx.target.edges:
        if "links" not in edge.origins:
            continue
        link = _compose_links(ctx, edge.source, edge.name) or next(
            (x for x in _host_config_links(ctx, edge.source) if x.alias == edge.name),
            _Link(edge.name, edge.name),
        )
        found.setdefault(edge.source, []).append(link)
    services = {(c.project, c.service) for c in found if c.service}
    for container in ctx.target.containers:
        if not container.links or container in found or container.is_oneoff:
            continue
        if container.service and (container.project, container.service) in services:
            continue  # one finding per service: its edges already name the links
        found[container] = _host_config_links(ctx, container)
        if container.service:
            services.add((container.project, container.service))
    for container, links in found.items():
        unique = {(x.target, x.alias): x for x in links}
        found[container] = list(unique.values())
    return found


def _networks(ctx: CheckContext, container: Container) -> list[Network]:
    return [n for n in ctx.topology.networks if container.endpoint(n) is not None]


def _fix(ctx: CheckContext, source: Container, links: list[_Link], shared: Network | None) -> str:
    specs = ", ".join(f'"{x.spec}"' if ":" in x.spec else x.spec for x in links)
    aliased = [x for x in links if x.alias != x.target]
    if not source.service:
        targets = " ".join(x.target for x in links)
        alias_flags = "".join(f" --alias {x.alias}" for x in aliased)
        return (
            f"Recreate {source.name} without --link, on a user-defined network shared with "
            f"{targets}: `docker network create app && docker network connect{alias_flags} "
            f"app <target>` for each target, and `docker run --network app ...` for "
            f"{source.name}; then use the target's name."
        )
    key = network_key(ctx, shared.name) if shared is not None else "app"
    lines = [
        "Drop links: and use the service name"
        + (
            f" (it already resolves on {shared.name}):"
            if shared is not None
            else " on a user-defined network both services share:"
        ),
        "services:",
        f"  {source.service}:",
        f"    # links: [{specs}]   <- remove",
    ]
    if shared is None:
        lines.append(f"    networks: [{key}]   # and drop network_mode: bridge")
    for link in links:
        if link.alias != link.target:
            lines += [
                f"  {link.target}:",
                "    networks:",
                f"      {key}:",
                f"        aliases: [{link.alias}]   # only if {source.service} keeps this name",
            ]
        elif shared is None:
            lines += [f"  {link.target}:", f"    networks: [{key}]"]
    if shared is None:
        lines += ["networks:", f"  {key}: {{}}"]
    return "\n".join(lines)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for source, links in _links(ctx).items():
        netns = netns_owner(ctx, source)
        networks = _networks(ctx, netns)
        bridge = next((n for n in networks if n.is_default_bridge), None)
        targets = list(dict.fromkeys(c for x in links for c in x.containers))
        shared = next(
            (
                n
                for n in networks
                if targets
                and n.has_embedded_dns
                and all(c.endpoint(n) is not None for c in targets)
            ),
            None,
        )
        label = source.service or source.name
        described = ", ".join(
            x.target if x.alias == x.target else f"{x.target} as {x.alias}" for x in links
        )
        if bridge is not None:
            summary = (
                f"{label} uses legacy links ({described}) on the default bridge: /etc/hosts "
                "entries tied to one target container, which vanish (and keep "
                f"{label} from restarting) when "
                f"{listed(list(dict.fromkeys(x.target for x in links)), 'or')} is recreated"
            )
        else:
            summary = (
                f"{label} uses legacy links ({described}): deprecated, and on a user-defined "
                "network they only add aliases the service name or a network alias provides"
            )
        evidence: dict[str, object] = {
            "links": [x.spec for x in links],
            "networks": [
                f"{n.name} (default bridge: links write /etc/hosts)"
                if n.is_default_bridge
                else f"{n.name} (embedded DNS)"
                for n in networks
            ]
            or [netns.network_mode],
        }
        if targets:
            evidence["targets"] = [c.name for c in targets]
        yield Result(
            subjects=subjects(
                source.service,
                [c.service for c in targets if c.service],
                source.name,
                [c.name for c in targets],
                [bridge.name] if bridge is not None else [],
            ),
            summary=summary,
            evidence=evidence,
            fix=_fix(ctx, source, links, shared),
        )
