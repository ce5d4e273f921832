"""No way out of a network to an outside HOST:PORT (opt-in: `--egress HOST:PORT`).

An application on a network needs to reach something beyond the engine: a payment API, a
package mirror, a database on another machine. Whether it can depends on the network
(`internal: true` networks have no route out), on the host (forwarding, masquerading,
`DOCKER-USER` rules, a corporate firewall) and on the target itself. ddiag never contacts an
outside address on its own: this check runs only for the `--egress HOST:PORT` options given
on the command line (repeatable, on `ddiag network`, `compose` and `container`; an IPv6
address is written `[ADDRESS]:PORT`), never from settings files.

Detected per target network, from a probe attached to it (the network's peer placement):
its packets leave the network the way every member's do, so one connect per network and
target answers for all members (a design decision: not one connect per member's netns). A
HOST that is a name is first looked up through that probe's resolver as glibc does it (the
nameservers in order, the first final answer deciding; on a user-defined network that is
the embedded DNS, which forwards outside names to the host's resolvers); then a TCP connect
goes to each address (up to four). The way out works when one connect opens. An `internal`
network is not probed: the engine's own fact (no route out) is the evidence.

Fix, by failure:

- internal network: attach the services that need the outside to a second, non-internal
  network (keep the internal one for the private traffic):

      services:
        worker:
          networks: [private, egress]
      networks:
        egress: {}      # not internal: the way out

- timeout or unreachable (packets dropped or no route): look at `iptables -S DOCKER-USER`
  and the host's firewall, check that the host forwards (`sysctl net.ipv4.ip_forward` = 1)
  and masquerades the network's subnet; if the members set `HTTP(S)_PROXY`, the outside is
  reached through that proxy: check it with `--egress PROXY:PORT`.
- refused: the path works, but nothing at HOST listens on PORT (or a firewall rejects):
  check the target's address and port.
- the name does not resolve: `--egress-dns NAME` shows how the members' resolver answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from diag.checks.net._egress import (
    Lookup,
    compose_key,
    lookup,
    lookup_plan,
    proxies,
    running_members,
)
from diag.model.context import CheckContext
from diag.model.egress import Egress, egress_text, is_address
from diag.model.findings import Result, subjects
from diag.model.observations import ConnectAnswer, ConnectStatus
from diag.model.tasks import Placement, Planned, connect
from diag.model.topology import Container, Network

ID = "net.egress"
SEVERITY = "error"
TITLE = "No way out to an outside address"

MAX_ADDRESSES = 4  # a name with many addresses: the first few answer for the rest
FAILED_HOW = {
    "refused": "was refused",
    "timeout": "timed out",
    "unreachable": "found no route",
}


def _open_networks(ctx: CheckContext) -> list[Network]:
    return [network for network in ctx.target.networks if not network.internal]


def _addresses(ctx: CheckContext, at: Placement, host: str) -> tuple[Lookup | None, list[str]]:
    """The lookup of a name (None for an address) and the addresses to connect to; an
    unfinished lookup yields no address yet."""
    if is_address(host):
        return None, [host]
    found = lookup(ctx, at, host)
    return found, list(found.addresses[:MAX_ADDRESSES]) if found else []


def plan(ctx: CheckContext) -> list[Planned]:
    planned: list[Planned] = []
    for network in _open_networks(ctx) if ctx.egress else ():
        at = ctx.peer_placement(network)
        for host, port in ctx.egress:
            if not is_address(host):
                planned += lookup_plan(ctx, at, host)
            planned += [(at, connect(ip, port)) for ip in _addresses(ctx, at, host)[1]]
    return planned


def _networks_of(ctx: CheckContext, container: Container) -> list[str]:
    """The container's networks as its compose file names them, plus the way out."""
    own = [compose_key(n) for n in ctx.topology.networks if container.endpoint(n) is not None]
    return [*own, "egress"]


def _internal(ctx: CheckContext, network: Network) -> Result:
    members = running_members(ctx, network) or [c for c, _ in ctx.topology.members(network)]
    by_service = {c.service: c for c in members if c.service}
    targets = ", ".join(egress_text(e) for e in ctx.egress)
    if by_service:
        fix = (
            f"{network.name} is internal (no route out, by design). Attach the services that "
            "need the outside to a second network that is not internal:\n  services:\n"
            + "".join(
                f"    {service}:\n      networks: [{', '.join(_networks_of(ctx, c))}]\n"
                for service, c in by_service.items()
            )
            + "  networks:\n    egress: {}   # not internal: the way out"
        )
    else:
        names = ", ".join(c.name for c in members) or "each container"
        fix = (
            f"{network.name} is internal (no route out, by design). Connect the containers "
            "that need the outside to a network that is not internal: `docker network create "
            f"egress`, then `docker network connect egress CONTAINER` for {names}."
        )
    return Result(
        subjects=subjects(network.name),
        summary=f"{network.name} is an internal network: nothing on it reaches {targets}",
        evidence={
            "engine": f"network {network.name}: Internal=true (no route out; not probed)",
            "egress": [egress_text(e) for e in ctx.egress],
        },
        fix=fix,
    )


def _probe_text(ip: str, port: int, result: ConnectAnswer, network: Network) -> str:
    status = result.status
    elapsed = f" after {result.elapsed_ms} ms" if result.elapsed_ms is not None else ""
    detail = f" ({result.detail})" if status == "error" and result.detail else ""
    address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    return f"connect {address} {status}{elapsed}{detail} (from a peer on {network.name})"


def _fix(ctx: CheckContext, network: Network, egress: Egress, statuses: set[ConnectStatus]) -> str:
    host, port = egress
    fixes = []
    if statuses & {"timeout", "unreachable", "error"}:
        subnets = ", ".join(s.subnet for s in network.subnets) or "its subnet"
        fixes.append(
            f"Packets from {network.name} to {egress_text(egress)} are dropped or have no "
            "route: look for DROP/REJECT rules (`iptables -S DOCKER-USER` and the host's "
            "firewall), check that the host forwards (`sysctl net.ipv4.ip_forward` must be 1) "
            f"and masquerades {subnets} (`iptables -t nat -S POSTROUTING`)."
        )
        used = proxies(running_members(ctx, network))
        if used:
            fixes.append(
                "The members reach the outside through a proxy ("
                + "; ".join(used)
                + "): check the proxy itself with --egress PROXY:PORT."
            )
    if "refused" in statuses:
        fixes.append(
            f"{host} answers but refuses port {port}: the way out works; check that the "
            f"target listens on {port} (the right port?) and that no firewall rejects it."
        )
    return "\n".join(fixes)


def _unresolved(network: Network, egress: Egress, found: Lookup) -> Result:
    host = egress[0]
    return Result(
        subjects=subjects(network.name),
        summary=(
            f"{network.name} cannot reach {egress_text(egress)}: {host} does not resolve "
            f"there ({found.status}), so no connect was tried"
        ),
        evidence={"lookup": list(found.asked), "from": f"a peer on {network.name}"},
        fix=(
            f"Check the name {host}; `--egress-dns {host}` shows how the members' resolver "
            "answers it. Outside names are forwarded by the embedded DNS to the `dns:` "
            'servers of the container, or to the host\'s resolvers ("dns" in '
            "/etc/docker/daemon.json sets them for every container)."
        ),
    )


def _judge(ctx: CheckContext, network: Network, egress: Egress) -> Result | None:
    at = ctx.peer_placement(network)
    host, port = egress
    found, addresses = _addresses(ctx, at, host)
    if found is not None and not found.resolved:
        return _unresolved(network, egress, found)
    results = {ip: ctx.observations.get(at, connect(ip, port)) for ip in addresses}
    if not results or any(r is None for r in results.values()):
        return None  # not observed (yet): the runner reports what is missing
    observed = {ip: r for ip, r in results.items() if r is not None}
    if any(r.status == "open" for r in observed.values()):
        return None
    statuses = {r.status for r in observed.values()}
    first_ip, first = next(iter(observed.items()))
    how = FAILED_HOW.get(first.status, "failed")
    named = f" ({first_ip})" if first_ip != host else ""
    evidence: dict[str, Any] = {
        "probe": [_probe_text(ip, port, r, network) for ip, r in observed.items()]
    }
    if found is not None:
        evidence["lookup"] = list(found.asked)
    return Result(
        subjects=subjects(network.name),
        summary=f"{network.name} cannot reach {egress_text(egress)}{named}: the connect {how}",
        evidence=evidence,
        fix=_fix(ctx, network, egress, statuses),
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    if not ctx.egress:
        return
    for network in ctx.target.networks:
        if network.internal:
            yield _internal(ctx, network)
            continue
        for egress in ctx.egress:
            result = _judge(ctx, network, egress)
            if result is not None:
                yield result
