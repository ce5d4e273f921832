"""Service listens on another of its own addresses than the one its clients use.

A container on two networks has an address on each. A server bound to one of them (not to
0.0.0.0 or ::) accepts connections on that network only: clients that reach it over the
other network are refused, although "it listens on the port" and a peer on the first
network gets through. The usual cause is a bind address computed at start-up
(`--bind $(hostname -i):8000`, `HOST=$(hostname -i)`, a `listen` directive with an IP),
which picks whichever address comes first.

Detected from a refused connect (a dependency's, from the source's netns, or a peer's on a
network) and the target's listening sockets read in its own netns: the port listens only on
addresses of the target other than the one connected to.

Fix: bind to 0.0.0.0 (or ::), or to the address of the network the clients share with it.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._arbiter import Explainer, PortFinding, Symptom, merged, peer_symptoms
from diag.checks._edges import EdgeState, edge_evidence, edge_subjects
from diag.checks._edges import plan_with_ports as plan
from diag.checks.port._sockets import WILDCARDS, is_loopback, listening, listening_texts, own_ips
from diag.model.context import CheckContext
from diag.model.findings import Result
from diag.model.observations import Socket
from diag.model.topology import Container

ID = "port.bound-other-address"
SEVERITY = "error"
TITLE = "Service listens on another of its addresses only"

__all__ = ["EXPLAINS", "ID", "SEVERITY", "TITLE", "evaluate", "explains", "plan"]


def _elsewhere(sockets: list[Socket], port: int, ip: str, owner: Container) -> list[str]:
    """The owner's own addresses that `port` listens on, when the refused `ip` is not one
    of them, nor a wildcard: [] when that is not the case (another check's, or unknown)."""
    addresses = {sock.address for sock in sockets if sock.port == port}
    own = own_ips(owner)
    if ip in addresses or addresses & WILDCARDS:
        return []
    if any(not is_loopback(address) for address in addresses - own):
        return []  # an address the engine did not give it: not a case this check knows
    return sorted(addresses & own)


def _fix(name: str, port: int, bound: list[str]) -> str:
    return (
        f"Make {name} listen on all its addresses: bind to 0.0.0.0:{port} (or [::]:{port}) "
        f"instead of {', '.join(bound)} (e.g. `--bind 0.0.0.0:{port}`, `HOST=0.0.0.0`; not "
        "`$(hostname -i)`, which picks one network's address)."
    )


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    edge = state.edge
    if not edge.port:
        return None
    for ip, connect in state.failed_connects().items():
        owner = state.owner_of(ip)
        sockets = listening(ctx, owner) if owner is not None else None
        if connect.status != "refused" or owner is None or sockets is None:
            continue
        bound = _elsewhere(sockets, edge.port, ip, owner)
        if bound:
            name = owner.service or owner.name
            return Result(
                subjects=edge_subjects(state),
                summary=(
                    f"{name} listens on {', '.join(bound)}:{edge.port} only; "
                    f"{edge.source_label} reaches it at {ip} and is refused"
                ),
                evidence=edge_evidence(
                    state,
                    listening=listening_texts(s for s in sockets if s.port == edge.port),
                    probe=state.connect_text(),
                ),
                fix=_fix(name, edge.port, bound),
            )
    return None


def explains_peer(symptom: Symptom, ctx: CheckContext) -> bool:
    member = symptom.member
    if symptom.status != "refused" or member is None or symptom.sockets is None:
        return False
    return bool(_elsewhere(symptom.sockets, symptom.port, member.endpoint.ip, member.container))


EXPLAINS = Explainer(rank=145, edge=explains, peer=explains_peer)


def _per_port(ctx: CheckContext) -> Iterator[PortFinding]:
    for symptom in peer_symptoms(ctx, ID):
        assert symptom.member is not None and symptom.sockets is not None
        member, port = symptom.member, symptom.port
        container = member.container
        bound = _elsewhere(symptom.sockets, port, member.endpoint.ip, container)
        name = container.service or container.name
        address = f"{member.endpoint.ip}:{port}"
        yield PortFinding(
            container,
            port,
            [member.network.name],
            summary=(
                f"{name} listens on {', '.join(bound)}:{port} only: peers on "
                f"{member.network.name} are refused at {address}"
            ),
            evidence={
                "probe": f"connect {address} refused (from a peer on {member.network.name})",
                "listening": listening_texts(s for s in symptom.sockets if s.port == port),
            },
            fix=_fix(name, port, bound),
        )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from merged(ctx, ID, _per_port(ctx))
