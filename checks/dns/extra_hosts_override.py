"""An extra_hosts entry shadows a container's name.

`extra_hosts` (`--add-host`) writes /etc/hosts, and the C library reads /etc/hosts before
it asks any DNS server: `db:10.0.0.5` wins over the embedded DNS's answer for the `db`
container, so the client talks to an old address (a leftover from a migration, a VM that
is gone) while `docker compose ps` shows db healthy.

Detected by reading the source's /etc/hosts from its network namespace: the name has an
entry there, the entry comes from extra_hosts, and its address is not one the engine gives
the container holding that name on the source's networks.

Fix: remove the extra_hosts entry for that name (or rename the container or the entry).
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, edge_results
from diag.checks._edges import EdgeState, edge_evidence, edge_subjects, plan
from diag.model.context import CheckContext
from diag.model.findings import Result

ID = "dns.extra-hosts-override"
SEVERITY = "error"
TITLE = "extra_hosts entry shadows a container's name"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    edge = state.edge
    name = edge.name.lower()
    configured = [
        entry
        for entry in state.netns.extra_hosts + edge.source.extra_hosts
        if entry.replace("=", ":").split(":", 1)[0].lower() == name
    ]
    if not state.hosts_ips or not configured or not state.holders:
        return None
    if set(state.hosts_ips) & state.registered_ips:
        return None
    engine = sorted(state.registered_ips) or ["(not registered on a shared network)"]
    return Result(
        subjects=edge_subjects(state),
        summary=(
            f"{edge.source_label}'s /etc/hosts maps {edge.name} to "
            f"{', '.join(state.hosts_ips)} (extra_hosts), shadowing the container "
            f"{', '.join(c.name for c in state.holders)} at {', '.join(engine)}"
        ),
        evidence=edge_evidence(
            state,
            hosts_file=[f"{ip} {edge.name}" for ip in state.hosts_ips],
            extra_hosts=list(dict.fromkeys(configured)),
            engine=engine,
            probe=state.connect_text(),
        ),
        fix=(
            f"Remove the entry so the embedded DNS answers:\n  {edge.source_label}:\n"
            f'    extra_hosts:\n      # - "{configured[0]}"   <- delete this line'
        ),
    )


EXPLAINS = Explainer(rank=30, edge=explains)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
