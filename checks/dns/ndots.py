"""ndots sends the names a container uses through the search domains first.

resolv.conf's `options ndots:N` tells the resolver (glibc, musl) that a name with fewer than
N dots is relative: it is first tried with each `search` domain appended, and only then
as written. With `dns_opt: ["ndots:5"]` (a habit from Kubernetes) and `dns_search:
[corp.example]`, a lookup of `db` first asks for `db.corp.example`. The embedded DNS does
not hold that name, so it forwards it to the upstream resolvers (on the default bridge it
goes to them directly): every lookup costs a round trip outside the machine, times out
when the upstreams are slow or unreachable, or returns a wrong address when the search
domain has a wildcard record. Docker writes `options ndots:0` on user-defined networks
for exactly this reason; setting another ndots replaces it.

Detected from the engine and a file read, without sending any query: the container's
resolv.conf, read in its network namespace (Engine 20.10 writes no comments there; when it
cannot be read, `HostConfig.DnsOptions` / `DnsSearch` are used), has an explicit `ndots:N`
(N >= 1) and a non-empty search list, and the container references names (from its
environment, depends_on, links) with fewer than N dots. Names its /etc/hosts answers
(localhost, extra_hosts, links on the default bridge), IP addresses and absolute names
(`db.`) are not affected and not reported.

Fix: let names be tried as written first, and keep the search domains as a fallback:

    services:
      web:
        dns_opt: ["ndots:0"]
        # dns_search: [corp.example]   <- or drop the search domains if unused
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from diag.checks._edges import netns_owner
from diag.model.context import CheckContext
from diag.model.edges import Edge, is_localhost
from diag.model.findings import Result, subjects
from diag.model.tasks import HOSTS, RESOLV_CONF, Planned
from diag.model.topology import Container
from diag.model.wording import names_verb

ID = "dns.ndots"
SEVERITY = "warning"
TITLE = "ndots sends names through the search domains first"

MAX_NDOTS = 15  # glibc and musl cap the option here


def _candidate(name: str) -> bool:
    """A name the resolver would look up (not an IP, not absolute, not localhost)."""
    if not name or name.endswith(".") or is_localhost(name):
        return False
    try:
        ipaddress.ip_address(name.strip("[]"))
        return False
    except ValueError:
        return True


def _sources(ctx: CheckContext) -> dict[Container, list[Edge]]:
    """Each edge source with the edges whose names its resolver would look up."""
    found: dict[Container, list[Edge]] = {}
    for edge in ctx.target.edges:
        if _candidate(edge.name):
            found.setdefault(edge.source, []).append(edge)
    return found


def plan(ctx: CheckContext) -> list[Planned]:
    planned: list[Planned] = []
    for source in _sources(ctx):
        netns = netns_owner(ctx, source)
        if netns.running:
            at = ctx.netns_placement(netns)
            planned += [(at, RESOLV_CONF), (at, HOSTS)]
    return planned


def ndots_of(options: list[str] | tuple[str, ...]) -> int | None:
    """The effective `ndots:N` of resolver options (the last one wins), or None if unset."""
    found = None
    for option in options:
        key, _, value = option.partition(":")
        if key == "ndots" and value.isdigit():
            found = min(int(value), MAX_NDOTS)
    return found


def _resolver_config(
    ctx: CheckContext, source: Container, netns: Container
) -> tuple[list[str], list[str], str] | None:
    """(search, options, where they were read) from resolv.conf, else from HostConfig."""
    conf = ctx.observations.get(ctx.netns_placement(netns), RESOLV_CONF) if netns.running else None
    if conf and conf.status == "ok":
        where = f"/etc/resolv.conf in {netns.name}"
        return list(conf.search), list(conf.options), where
    if source.dns_search and source.dns_options:
        return list(source.dns_search), list(source.dns_options), "HostConfig (not read)"
    return None


def _hosts_names(ctx: CheckContext, netns: Container) -> set[str]:
    if not netns.running:
        return set()
    hosts = ctx.observations.get(ctx.netns_placement(netns), HOSTS)
    if hosts is None or hosts.status != "ok":
        return set()
    return {n.lower() for entry in hosts.entries for n in entry.names}


def _fix(source: Container, ndots: int, search: list[str]) -> str:
    if source.service:
        search_line = (
            f"    # dns_search: [{', '.join(source.dns_search)}]   <- or drop the search "
            "domains if nothing uses them\n"
            if source.dns_search
            else ""
        )
        kept = [o for o in source.dns_options if o.partition(":")[0] != "ndots"]
        options = ", ".join(f'"{o}"' for o in [*kept, "ndots:0"])
        return (
            f"Let names be tried as written first (search domains stay a fallback):\n"
            f"  {source.service}:\n"
            f"    dns_opt: [{options}]   # was ndots:{ndots}\n" + search_line
        ).rstrip("\n")
    return (
        f"Recreate {source.name} with --dns-option ndots:0 (instead of ndots:{ndots})"
        + (f", or without --dns-search {' '.join(search)}" if source.dns_search else "")
        + "."
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for source, edges in _sources(ctx).items():
        netns = netns_owner(ctx, source)
        config = _resolver_config(ctx, source, netns)
        if config is None:
            continue
        search, options, where = config
        ndots = ndots_of(options)
        if not search or not ndots:
            continue
        in_hosts = _hosts_names(ctx, netns)
        names = [
            edge.name
            for edge in edges
            if edge.name.lower() not in in_hosts and edge.name.rstrip(".").count(".") < ndots
        ]
        names = list(dict.fromkeys(names))
        if not names:
            continue
        first = names[0]
        walk = [f"{first}.{domain}" for domain in search] + [first]
        label = source.service or source.name
        evidence: dict[str, object] = {
            "resolv_conf": [f"search {' '.join(search)}", f"options {' '.join(options)}"],
            "read_from": where,
            "names": [f"{n} ({n.count('.')} dots < ndots:{ndots})" for n in names],
            "lookup_order": " → ".join(walk),
        }
        configured = [
            text
            for text in (
                f"dns_search: [{', '.join(source.dns_search)}]" if source.dns_search else "",
                f"dns_opt: [{', '.join(source.dns_options)}]" if source.dns_options else "",
            )
            if text
        ]
        if configured:
            evidence["configured"] = configured
        yield Result(
            subjects=subjects(source.service, source.name),
            summary=(
                f"{label} has ndots:{ndots} with search {' '.join(search)}: "
                f"{names_verb(names, 'is', 'are')} first looked up "
                f"as {walk[0]}{' …' if len(walk) > 2 else ''}, which is forwarded to the "
                "upstream resolvers (slow, or a wrong answer from a wildcard record)"
            ),
            evidence=evidence,
            fix=_fix(source, ndots, search),
        )
