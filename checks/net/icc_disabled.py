"""Inter-container traffic disabled on the network (enable_icc=false).

A bridge network created with the driver option `com.docker.network.bridge.enable_icc`
set to false gets a firewall rule on the host that drops every packet from one member to
another (`-i br-X -o br-X -j DROP`). Names still resolve and each container still reaches
the outside, but a client's connects to a service on the same network get no answer and
time out, which looks like a dead server.

Detected from the engine (the network's option) and the probe: a dependency's TCP connect,
made from the client's network namespace to the target's address on such a network, timed
out. That edge is reported here rather than as `port.filtered`. `ddiag network` on such a
network sees the same from its peer probe: one finding for the network instead of a
time-out per port; an error when members' environments reference each other, else info
(the isolation may be intended).

Fix: remove the option (or set it to "true") and recreate the network, or put the services
that must talk on a network of their own that allows it.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import DROPPED, Explainer, Symptom, edge_results, owned, peer_symptoms
from diag.checks._edges import EdgeState, edge_evidence, edge_subjects
from diag.checks._edges import plan_with_ports as plan
from diag.checks._members import Member
from diag.model.compose import NETWORK_LABEL
from diag.model.context import CheckContext
from diag.model.edges import references_in_env
from diag.model.findings import Result, Severity, subjects
from diag.model.observations import ConnectAnswer
from diag.model.topology import ICC_OPTION, Container, Network

ID = "net.icc-disabled"
SEVERITY = "error"
TITLE = "Inter-container traffic disabled on the network"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def _fix(network: Network) -> str:
    key = network.labels.get(NETWORK_LABEL)
    if key:
        return (
            f"Let the members of network {key} talk: drop the option from the compose file (or "
            f'set it to "true") and recreate the network (`docker compose down` and '
            f"`docker compose up -d`):\n  networks:\n    {key}:\n"
            f'      driver_opts:\n        {ICC_OPTION}: "true"\n'
            "or put the services that must talk on a network of their own and use it."
        )
    return (
        f"Recreate {network.name} without `-o {ICC_OPTION}=false` (`docker network rm "
        f"{network.name}` and `docker network create {network.name}`, then reconnect its "
        "containers), or connect the containers that must talk to another network."
    )


def _crossed(ctx: CheckContext, state: EdgeState, ip: str) -> Network | None:
    """The icc-disabled network a connect to `ip` went over: the source's namespace and
    the target are both on it and `ip` is the target's address there."""
    target = state.owner_of(ip)
    if target is None or target.id == state.netns.id:
        return None
    for network in ctx.topology.networks:
        endpoint = target.endpoint(network)
        if (
            network.icc_disabled
            and endpoint is not None
            and endpoint.ip == ip
            and state.netns.endpoint(network) is not None
        ):
            return network
    return None


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    for ip, result in state.failed_connects().items():
        network = _crossed(ctx, state, ip) if result.status in DROPPED else None
        if network is None:
            continue
        edge = state.edge
        return Result(
            subjects=edge_subjects(state, network.name),
            summary=(
                f"{edge.source_label}'s connects to {edge.name}:{edge.port} ({ip}) are "
                f"dropped: {network.name} disables traffic between its containers "
                f"({ICC_OPTION}=false)"
            ),
            evidence=edge_evidence(
                state,
                probe=state.connect_text(),
                network=network.name,
                option=f"{ICC_OPTION}={network.options.get(ICC_OPTION)}",
            ),
            fix=_fix(network),
        )
    return None


def explains_peer(symptom: Symptom, ctx: CheckContext) -> bool:
    """A peer's dropped connect on a network that drops inter-container traffic by design."""
    return (
        symptom.status in DROPPED
        and symptom.member is not None
        and symptom.member.network.icc_disabled
    )


EXPLAINS = Explainer(rank=140, edge=explains, peer=explains_peer)


def _explained_networks(ctx: CheckContext) -> set[str]:
    """Networks on which a dependency's failure is already reported by this check."""
    return {
        network.id
        for verdict in owned(ctx, ID)
        if verdict.symptom.edge is not None
        for ip in verdict.state.failed_connects()
        if (network := _crossed(ctx, verdict.state, ip)) is not None
    }


def _references(ctx: CheckContext, network: Network) -> list[tuple[Container, str]]:
    """(member, `a → b:port (environment X)`) for each reference in a member's environment
    to another member, by a name that member holds on this network or its address there."""
    members = [(c, ep) for c, ep in ctx.topology.members(network) if c.running and ep.ip]
    found = []
    for source, _ in members:
        for ref in references_in_env(source.env):
            host = ref.host.lower()
            for target, endpoint in members:
                names = {n.lower() for n in (target.name, *endpoint.dns_names, *endpoint.aliases)}
                if target.id != source.id and (host in names or host == endpoint.ip):
                    port = f":{ref.port}" if ref.port else ""
                    text = f"{source.service or source.name} → {ref.host}{port} ({ref.origin})"
                    found.append((source, text))
                    break
    return found


def _dropped_by_network(ctx: CheckContext) -> dict[str, list[tuple[Member, int, ConnectAnswer]]]:
    """A peer's dropped connects to members of each icc-disabled target network."""
    found: dict[str, list[tuple[Member, int, ConnectAnswer]]] = {}
    for symptom in peer_symptoms(ctx, ID):
        if symptom.member is not None and symptom.connect is not None:
            found.setdefault(symptom.member.network.id, []).append(
                (symptom.member, symptom.port, symptom.connect)
            )
    return found


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from edge_results(ctx, ID)
    explained = _explained_networks(ctx)
    for network_id, dropped in _dropped_by_network(ctx).items():
        if network_id in explained:
            continue
        network = dropped[0][0].network
        references = _references(ctx, network)
        involved = [source for source, _ in references] + [m.container for m, _, _ in dropped]
        containers = list({c.id: c for c in involved}.values())
        texts = [text for _, text in references]
        yield Result(
            subjects=subjects(
                [c.service for c in containers], [c.name for c in containers], network.name
            ),
            summary=(
                f"connects between containers on {network.name} are dropped: the network "
                f"disables inter-container traffic ({ICC_OPTION}=false)"
                + (f", yet its members use each other: {texts[0]}" if texts else "")
                + (f" and {len(texts) - 1} more" if len(texts) > 1 else "")
            ),
            evidence={
                "option": f"{ICC_OPTION}={network.options.get(ICC_OPTION)}",
                "probe": [
                    f"connect {m.endpoint.ip}:{port} {result.status} after "
                    f"{result.elapsed_ms} ms (from a peer on {network.name})"
                    for m, port, result in dropped
                ],
                "references": texts or "none between its members",
            },
            fix=_fix(network),
            severity=None if references else Severity.INFO,
        )
