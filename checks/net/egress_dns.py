"""An outside name does not resolve from a network (opt-in: `--egress-dns NAME`).

Container names resolve on every user-defined network, so a stack can look healthy while
every name outside it fails: the embedded DNS (127.0.0.11) forwards those to the
container's `dns:` servers (from the container's netns) or else to the host's resolvers
(from the host's namespace; not at all for a container only on `internal` networks), and
when none of them answers, the application sees "Temporary failure in name resolution"
(SERVFAIL, or a timeout) or "Name or service not known" (NXDOMAIN). ddiag never asks about
an outside name on its own: this check runs only for the `--egress-dns NAME` options given
on the command line (repeatable, on `ddiag network`, `compose` and `container`), never from
settings files.

Detected per target network, as its applications resolve: in the netns of one running
member of the network (the first by name), through its resolv.conf, so its own embedded
DNS and `dns:` servers answer; on a network without a running member, from a probe
attached to it (the network's peer placement). The name is looked up as glibc does it: its
A record from the nameservers in order, the first final answer (addresses, NXDOMAIN, or
no A record) deciding; SERVFAIL or a timeout passes the question to the next server. A
member on several networks is asked once, and one finding names them all.

Fix, by failure:

- NXDOMAIN (or no A record): the resolver asked says the name does not exist. Check the
  name; a private name needs the resolver that knows it: `dns:` on the service, or
  `"dns": [...]` in /etc/docker/daemon.json for every container:

      services:
        app:
          dns: [10.0.0.53]

- SERVFAIL or timeout: no upstream answers. Check the member's `dns:` servers (reachable
  from its netns?), or the host's resolvers (`nslookup NAME` on the host) when it has
  none; a network that is internal has no way to them: attach a non-internal network.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from diag.checks.net._egress import Lookup, lookup, lookup_plan, running_members
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.tasks import Placement, Planned
from diag.model.topology import Container, Network

ID = "net.egress-dns"
SEVERITY = "error"
TITLE = "Outside name does not resolve"


@dataclass(frozen=True)
class Resolver:
    """Where a network's lookups are observed: a member's netns, or a peer probe on it."""

    placement: Placement
    member: Container | None
    networks: tuple[Network, ...]

    def describe(self) -> str:
        if self.member is None:
            return f"a peer on {self.networks[0].name}"
        return f"the netns of {self.member.name}"


def resolvers(ctx: CheckContext) -> list[Resolver]:
    """One place per target network; networks sharing a member share its place."""
    found: dict[Placement, Resolver] = {}
    for network in ctx.target.networks:
        members = running_members(ctx, network)
        member = members[0] if members else None
        at = ctx.netns_placement(member) if member else ctx.peer_placement(network)
        known = found.get(at)
        networks = (*known.networks, network) if known else (network,)
        found[at] = Resolver(at, member, networks)
    return list(found.values())


def plan(ctx: CheckContext) -> list[Planned]:
    return [
        pair
        for where in (resolvers(ctx) if ctx.egress_dns else ())
        for name in ctx.egress_dns
        for pair in lookup_plan(ctx, where.placement, name)
    ]


def _fix(ctx: CheckContext, where: Resolver, name: str, found: Lookup) -> str:
    member = where.member
    label = (member.service or member.name) if member else "SERVICE"
    if found.status in ("nxdomain", "no-address"):
        what = "does not exist" if found.status == "nxdomain" else "has no IPv4 address"
        one = (
            f"for one service, `dns:`:\n  services:\n    {label}:\n      dns: [RESOLVER-IP]"
            if member is None or member.service
            else f"for {label}, recreate it with `--dns RESOLVER-IP`."
        )
        return (
            f"The resolver says {name} {what}. Check the name; if it is a private name, "
            "make the members ask the resolver that knows it: for every container, "
            f'"dns": [...] in /etc/docker/daemon.json; {one}'
        )
    if member is not None and member.dns:
        upstream = (
            f"{label}'s dns: servers ({', '.join(member.dns)}) do not answer for {name} from "
            "its netns: check that they run and are reachable from there, or point dns: at "
            "a resolver that is."
        )
    else:
        upstream = (
            "The embedded DNS forwards outside names to the host's resolvers: check them on "
            f'the host (`nslookup {name}`), or set resolvers: "dns": [...] in '
            f"/etc/docker/daemon.json, or `dns:` on {label}."
        )
    internal = _internal_only(ctx, where)
    if internal:
        who = f"{member.name} is" if member else "Its members are"
        upstream += (
            f" {who} on internal networks only ({', '.join(internal)}): no forwarding to "
            f"the host's resolvers and no route out; attach a non-internal network to {label}."
        )
    return upstream


def _internal_only(ctx: CheckContext, where: Resolver) -> list[str]:
    """The place's networks when every one is internal (no way out at all), else []."""
    own = (
        [n for n in ctx.topology.networks if where.member.endpoint(n) is not None]
        if where.member
        else list(where.networks)
    )
    return [n.name for n in own] if own and all(n.internal for n in own) else []


def _finding(ctx: CheckContext, where: Resolver, name: str, found: Lookup) -> Result:
    member = where.member
    networks = [n.name for n in where.networks]
    evidence: dict[str, object] = {"asked": list(found.asked), "from": where.describe()}
    if member is not None and member.dns:
        evidence["dns"] = list(member.dns)
    said = {"no-address": "no A record", "nxdomain": "NXDOMAIN", "servfail": "SERVFAIL"}
    return Result(
        subjects=subjects(
            member.service if member else None, member.name if member else None, networks
        ),
        summary=(
            f"{name} does not resolve from {', '.join(networks)}: "
            f"{said.get(found.status, found.status)} (asked from {where.describe()})"
        ),
        evidence=evidence,
        fix=_fix(ctx, where, name, found),
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for where in resolvers(ctx) if ctx.egress_dns else ():
        for name in ctx.egress_dns:
            found = lookup(ctx, where.placement, name)
            if found is not None and not found.resolved:
                yield _finding(ctx, where, name, found)
