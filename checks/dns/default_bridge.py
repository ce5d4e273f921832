"""Containers on the default bridge cannot reach each other by name.

The engine's `bridge` network (what `docker run` uses without `--network`, and compose
with `network_mode: bridge`) has no embedded DNS: containers get the host's resolvers, so
`db` or `redis` never resolve there. Only legacy `--link` (which writes /etc/hosts) works,
and it is deprecated.

Detected from the engine (the network is the default bridge) and shown with the resolvers
a peer on it really gets (its resolv.conf, read in a probe: no query is sent).

Fix: put the containers on a user-defined network, where every container name, service
name and alias resolves.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._members import reachable_members
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.tasks import RESOLV_CONF, Planned

ID = "dns.default-bridge"
SEVERITY = "warning"
TITLE = "Names do not resolve on the default bridge"


def _bridges(ctx: CheckContext):
    return [n for n in ctx.target.networks if n.is_default_bridge]


def plan(ctx: CheckContext) -> list[Planned]:
    return [(ctx.peer_placement(network), RESOLV_CONF) for network in _bridges(ctx)]


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for network in _bridges(ctx):
        on_it = [m.container for m in reachable_members(ctx) if m.network == network]
        if not on_it:
            continue
        names = [c.name for c in on_it]
        services = [c.service for c in on_it if c.service]
        seen = ctx.observations.get(ctx.peer_placement(network), RESOLV_CONF)
        evidence = {
            "network": f"{network.name} (default bridge: no embedded DNS at 127.0.0.11)",
            "containers": names,
        }
        if seen is not None and seen.status == "ok":
            evidence["peer_resolv_conf"] = f"nameserver {', '.join(seen.nameservers)}"
        service_list = services or ["app"]
        snippet = "\n".join(
            f"  {svc}:\n    networks: [app]   # and drop network_mode: bridge"
            for svc in service_list
        )
        yield Result(
            subjects=subjects(services, names, network.name),
            summary=(
                f"{len(on_it)} container(s) on the default bridge ({', '.join(names)}) "
                "cannot resolve each other's names"
            ),
            evidence=evidence,
            fix=(
                "Use a user-defined network. In compose:\nnetworks:\n  app: {}\nservices:\n"
                f"{snippet}\nor by hand: `docker network create app && docker network connect "
                f"app {names[0]}` (for each container)."
            ),
        )
