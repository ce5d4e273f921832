"""A container left behind in a dead network namespace (network_mode container:X / service:X).

`network_mode: "service:app"` (compose) or `--network container:app` puts a sidecar (a
proxy, an exporter, a VPN or log shipper) into app's network namespace: they share
interfaces, addresses and localhost. The sidecar joins that namespace once, when it starts,
and keeps it. When app is then restarted on its own (`docker restart app`, `docker compose
restart --no-deps app`, the engine's restart policy after a crash), recreated (`docker
compose up -d --no-deps app`) or stopped, app gets a new namespace (or none), and the
sidecar stays in the old one, where nothing but `lo` is left: it keeps running, but
localhost:PORT of app is refused, no name resolves, nothing reaches it. (`docker compose
restart app` restarts the sidecar as well: compose records `depends_on: app: {restart:
true}` for `network_mode: service:app`.)

Detected from the engine and confirmed by the probe. The engine: the sidecar's
`HostConfig.NetworkMode` names a container that no longer exists (app was recreated), that
is not running, or whose `State.StartedAt` is later than the sidecar's (app was restarted).
The probe: the interfaces read in the sidecar's own namespace (not in app's, where a
sidecar is normally observed) are not app's: another namespace (its inode), or none of
app's addresses, only `lo`. The sidecar's dependencies, which fail from there, are reported
here (listed in the evidence) rather than as DNS or port findings.

Fix: recreate the sidecar so that it joins app's current namespace: `docker compose up -d
--force-recreate sidecar` (`docker restart sidecar` does too when app was only restarted;
a sidecar whose app was recreated names a container that is gone and cannot be restarted).
Then restart app through compose only, and if app may restart by itself, let the sidecar
restart too (each start joins app's current namespace):

    sidecar:
      network_mode: "service:app"
      restart: unless-stopped
      depends_on:
        app: {condition: service_started, restart: true}
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field

from diag.checks._arbiter import Explainer, owned
from diag.checks._edges import EdgeState, edge_evidence, joined, left_behind
from diag.checks._edges import plan as edges_plan
from diag.checks._netview import addresses, brief
from diag.model.compose import DEPENDS_ON_LABEL
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.observations import InterfacesAnswer
from diag.model.tasks import INTERFACES, Planned
from diag.model.topology import Container

ID = "net.service-netns-stale"
SEVERITY = "error"
TITLE = "Container left behind in a stale network namespace"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


@dataclass(frozen=True)
class Stale:
    """A sidecar whose own namespace the probe found not to be its owner's."""

    container: Container
    owner: Container | None  # None: the container its network_mode names is gone
    owner_service: str  # see _owner_service; '' for a plain container, or when unknown
    engine: str  # what the engine says (see diag.checks._edges.left_behind)
    seen: list[str]  # `ip -br addr` lines of the sidecar's namespace
    owner_seen: list[str] = field(default_factory=list)  # the owner's, when it runs
    inodes: tuple[int, int] | None = None  # (sidecar's, owner's) netns inode, when read
    isolated: bool = True  # only loopback (and link-local) addresses are left in it

    @property
    def owner_label(self) -> str:
        if self.owner_service:
            return self.owner_service
        return self.owner.name if self.owner is not None else joined(self.container)[:12]


def _owner(ctx: CheckContext, container: Container) -> Container | None:
    return ctx.topology.container_named(joined(container))


def _dependents(ctx: CheckContext) -> list[Container]:
    """Running `container:` containers of the target, and those that joined one of its
    containers (`ddiag network` lists only containers with an endpoint: not sidecars)."""
    ids = {c.id for c in ctx.target.containers}
    found = []
    for container in ctx.topology.containers:
        if not joined(container) or not container.running:
            continue
        owner = _owner(ctx, container)
        if container.id in ids or (owner is not None and owner.id in ids):
            found.append(container)
    return found


def _interfaces(ctx: CheckContext, container: Container) -> InterfacesAnswer | None:
    result = ctx.observations.get(ctx.netns_placement(container), INTERFACES)
    return result if result and result.status == "ok" else None


def _only_local(texts: set[str]) -> bool:
    """Nothing but loopback (and link-local) addresses: a namespace without a network."""
    for text in texts:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return False
        if not (address.is_loopback or address.is_link_local):
            return False
    return True


def _owner_service(ctx: CheckContext, container: Container, owner: Container | None) -> str:
    """The compose service whose namespace `container` joined: the owner's; when the owner
    is gone, the model's `service:X`, else the only service in its depends_on label
    (compose adds X there for `network_mode: service:X`); '' when none says."""
    if owner is not None:
        return owner.service or ""
    project = ctx.target.project
    service = project.services.get(container.service or "") if project else None
    if service is not None and service.shares_netns_with:
        return service.shares_netns_with
    depends = [i.split(":")[0] for i in container.labels.get(DEPENDS_ON_LABEL, "").split(",") if i]
    return depends[0] if len(depends) == 1 else ""


def _judge(ctx: CheckContext, container: Container) -> Stale | None:
    """The engine says the sidecar was left behind, and the probe confirms it."""
    return ctx.per_observations(f"{ID}:{container.id}", lambda: _judged(ctx, container))


def _judged(ctx: CheckContext, container: Container) -> Stale | None:
    engine = left_behind(ctx, container)
    seen = _interfaces(ctx, container) if engine else None
    if seen is None:
        return None  # nothing says so, or not observed (the run lists it as inconclusive)
    owner = _owner(ctx, container)
    owner_seen = _interfaces(ctx, owner) if owner is not None and owner.running else None
    found = list(seen.interfaces)
    isolated = _only_local(addresses(found))
    inodes = _inodes(seen, owner_seen)
    if inodes is not None:
        if inodes[0] == inodes[1]:
            return None
    else:  # no inode read: the owner's addresses (from the engine) are not in it
        owner_ips = {ep.ip for ep in owner.endpoints if ep.ip} if owner and owner.running else set()
        if (owner_ips & addresses(found)) if owner_ips else not isolated:
            return None
    return Stale(
        container,
        owner,
        _owner_service(ctx, container, owner),
        engine,
        brief(found),
        brief(list(owner_seen.interfaces)) if owner_seen else [],
        inodes,
        isolated,
    )


def _inodes(seen: InterfacesAnswer, owner_seen: InterfacesAnswer | None) -> tuple[int, int] | None:
    """Both namespaces' inodes (the agent's `netns`), when both were read."""
    mine, theirs = seen.netns, owner_seen.netns if owner_seen else None
    return (mine, theirs) if mine is not None and theirs is not None else None


def plan(ctx: CheckContext) -> list[Planned]:
    planned: list[Planned] = []
    for container in _dependents(ctx):
        if not left_behind(ctx, container):
            continue
        planned.append((ctx.netns_placement(container), INTERFACES))
        owner = _owner(ctx, container)
        if owner is not None and owner.running:
            planned.append((ctx.netns_placement(owner), INTERFACES))
    return planned + edges_plan(ctx)


def _failed(state: EdgeState) -> bool:
    """The edge was observed and fails: a connect failed, or its name resolved to nothing."""
    if state.hosts_ips is None:
        return False
    if state.failed_connects():
        return True
    return not (state.hosts_ips or (state.resolved and state.resolved.addresses))


def _edge_text(state: EdgeState) -> str:
    what = state.connect_text() or f"{state.edge.name} does not resolve there"
    return f"{state.edge.describe()} ({', '.join(state.edge.origins)}): {what}"


def _fix(stale: Stale) -> str:
    sidecar, owner = stale.container, stale.owner_service
    if sidecar.service and sidecar.project:
        recreate = (
            f"Recreate {sidecar.service} so that it joins {stale.owner_label}'s current "
            f"namespace: `docker compose -p {sidecar.project} up -d --force-recreate "
            f"{sidecar.service}`."
        )
        if not owner:
            return recreate
        return (
            f"{recreate} Restart {owner} through compose only (`docker compose restart "
            f"{owner}` restarts {sidecar.service} too); if {owner} may restart by itself, let "
            f"{sidecar.service} restart as well:\n  {sidecar.service}:\n"
            f'    network_mode: "service:{owner}"\n    restart: unless-stopped\n'
            f"    depends_on:\n      {owner}: {{condition: service_started, restart: true}}"
        )
    if stale.owner is None:
        return (
            f"{sidecar.name} names a container that is gone, so it cannot be restarted: "
            f"`docker rm -f {sidecar.name}` and run it again with "
            "`--network container:<the new container>`."
        )
    start = f"`docker start {stale.owner.name}`, then " if not stale.owner.running else ""
    return f"{start}`docker restart {sidecar.name}` (it joins {stale.owner.name}'s namespace anew)."


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    """A dependency of a left-behind sidecar fails from its dead namespace: reported with it."""
    source = state.edge.source
    if state.netns.id != source.id or not _failed(state):
        return None
    stale = _judge(ctx, source)
    if stale is None:
        return None
    return Result(
        subjects=_subjects(stale),
        summary=(
            f"{state.edge.describe()} fails from {source.service or source.name}'s stale "
            f"network namespace ({stale.engine})"
        ),
        evidence=edge_evidence(state, probe=_edge_text(state), interfaces=stale.seen),
        fix=_fix(stale),
    )


EXPLAINS = Explainer(rank=10, edge=explains)


def _subjects(stale: Stale) -> tuple[str, ...]:
    sidecar, owner = stale.container, stale.owner
    return subjects(sidecar.service, stale.owner_service, sidecar.name, owner.name if owner else "")


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    broken: dict[str, list[str]] = {}
    for verdict in owned(ctx, ID):
        broken.setdefault(verdict.state.edge.source.id, []).append(_edge_text(verdict.state))
    for container in _dependents(ctx):
        stale = _judge(ctx, container)
        if stale is None:
            continue
        label = container.service or container.name
        evidence: dict[str, object] = {
            "network_mode": f"container:{joined(container)[:12]}",
            "engine": stale.engine,
            "interfaces": stale.seen,
        }
        if stale.owner_seen:
            evidence[f"interfaces of {stale.owner_label}"] = stale.owner_seen
        if stale.inodes:
            evidence["netns"] = f"{stale.inodes[0]} ({stale.owner_label}: {stale.inodes[1]})"
        if container.id in broken:
            evidence["broken"] = broken[container.id]
        yield Result(
            subjects=_subjects(stale),
            summary=(
                f"{label} still runs in a network namespace {stale.owner_label} no longer "
                f"has ({stale.engine}); there it has {', '.join(stale.seen) or 'no interface'}"
                + (", so it reaches nothing and nothing reaches it" if stale.isolated else "")
            ),
            evidence=evidence,
            fix=_fix(stale),
        )
