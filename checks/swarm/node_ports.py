"""Swarm nodes cannot reach each other on the swarm's ports.

A swarm needs, between its nodes: 2377/tcp to every manager (joining, the managers' Raft,
workers' heartbeats), 7946/tcp and 7946/udp between all nodes (gossip: which task runs where,
what `tasks.NAME` and a service's name resolve to) and 4789/udp between all nodes (VXLAN:
the overlays' traffic itself). A firewall (a cloud security group, ufw, firewalld, an
`iptables` DROP) that blocks one of them breaks the swarm in ways that look unrelated:
nodes that go `Down` and come back, tasks that never start, names that resolve on one node
and not on another, or names that resolve everywhere while connections between tasks on
different nodes hang.

Detected from the manager ddiag talks to, in its host's own network namespace: a TCP
connect to every other node's address (`Status.Addr` in `docker node ls`) on 7946, and on
2377 for managers. A connect cannot confirm a UDP port: 7946/udp and 4789/udp are judged
from the overlays when ddiag runs probes on the nodes (a network it diagnoses, with tasks on
several nodes): when a probe on node A resolves `tasks.SERVICE` to the address of a task on
node B (so gossip works) but that task does not answer a ping from node A, VXLAN between A
and B is blocked (4789/udp, and on an encrypted overlay IPsec ESP, IP protocol 50, too).
Workers see nothing of the swarm (only managers list nodes): run ddiag against a manager.

Fix: open the ports between the nodes, on every node and in any firewall between them, e.g.
with firewalld:

    firewall-cmd --permanent --add-port=2377/tcp --add-port=7946/tcp \\
      --add-port=7946/udp --add-port=4789/udp && firewall-cmd --reload

or with ufw: `ufw allow from NODE_SUBNET to any port 7946` (and likewise 2377/tcp on the
managers, 4789/udp). Look for DROP rules with `iptables -S INPUT` on the node named.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from diag.checks.swarm._swarm import manager_view, node_label
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.tasks import Placement, Planned, Task, connect, pmtu, resolve
from diag.model.topology import Network, Swarm, SwarmNode, SwarmService, SwarmTask

ID = "swarm.node-ports"
SEVERITY = "error"
TITLE = "Swarm nodes cannot reach each other's swarm ports"

GOSSIP, CONTROL = 7946, 2377
PING_SIZE = 84  # what `ping` sends: far below any MTU, so only reachability is tested
FIREWALL_FIX = (
    "Open the swarm's ports between the nodes, on every node and in any firewall between "
    "them: 2377/tcp (to managers), 7946/tcp+udp and 4789/udp, e.g. `firewall-cmd "
    "--permanent --add-port=2377/tcp --add-port=7946/tcp --add-port=7946/udp "
    "--add-port=4789/udp && firewall-cmd --reload`"
)
ESP_FIX = (
    "; an encrypted overlay also needs IP protocol 50 (ESP) between the nodes and the "
    "kernel's esp4/xfrm modules (`modprobe esp4`)"
)


def _control_port(node: SwarmNode) -> int:
    return int(node.manager_addr.rsplit(":", 1)[1]) if ":" in node.manager_addr else CONTROL


def _ports(node: SwarmNode) -> list[int]:
    return [GOSSIP, _control_port(node)] if node.is_manager else [GOSSIP]


def _others(swarm: Swarm) -> list[SwarmNode]:
    return [n for n in swarm.nodes if n.id != swarm.node_id and n.addr]


@dataclass(frozen=True)
class Remote:
    service: SwarmService
    task: SwarmTask
    address: str


@dataclass(frozen=True)
class Crossing:
    """A probe on `node_id`, on overlay `network`: does it reach other nodes' tasks, whose
    `tasks.SERVICE` names it resolves?"""

    network: Network
    node_id: str
    remote: tuple[Remote, ...]
    placement: Placement
    ping: Task
    lookups: tuple[Task, ...]


def _crossings(ctx: CheckContext, swarm: Swarm) -> list[Crossing]:
    """For each target overlay with running tasks on two nodes or more, one per such node."""
    found = []
    for network in ctx.target.networks:
        if network.driver != "overlay" or network.ingress:
            continue
        by_node: dict[str, list[Remote]] = {}
        for service in swarm.services:
            for task in swarm.running_tasks(service):
                address = task.address(network)
                if address:
                    by_node.setdefault(task.node_id, []).append(Remote(service, task, address))
        if len(by_node) < 2:
            continue
        for node_id in by_node:
            remote = tuple(r for other, rs in by_node.items() if other != node_id for r in rs)
            found.append(
                Crossing(
                    network,
                    node_id,
                    remote,
                    ctx.node_placement(network, node_id, node_label(swarm, node_id)),
                    pmtu(tuple(r.address for r in remote), (PING_SIZE,)),
                    tuple(resolve(n) for n in sorted({f"tasks.{r.service.name}" for r in remote})),
                )
            )
    return found


def plan(ctx: CheckContext) -> list[Planned]:
    swarm = manager_view(ctx)
    if swarm is None:
        return []
    host = ctx.host_placement()
    planned: list[Planned] = [
        (host, connect(node.addr, port)) for node in _others(swarm) for port in _ports(node)
    ]
    for crossing in _crossings(ctx, swarm):
        at = crossing.placement
        planned += [(at, crossing.ping), *((at, lookup) for lookup in crossing.lookups)]
    return planned


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    swarm = manager_view(ctx)
    if swarm is None:
        return
    yield from _closed_ports(ctx, swarm)
    yield from _vxlan(ctx, swarm)


def _closed_ports(ctx: CheckContext, swarm: Swarm) -> Iterator[Result]:
    me = node_label(swarm, swarm.node_id)
    host = ctx.host_placement()
    for node in _others(swarm):
        results = {p: ctx.observations.get(host, connect(node.addr, p)) for p in _ports(node)}
        closed = {p: r for p, r in results.items() if r and r.status != "open"}
        if not closed:
            continue
        text = ", ".join(f"{port}/tcp ({r.status})" for port, r in closed.items())
        yield Result(
            subjects=subjects(node.hostname, me),
            summary=(
                f"{node.hostname} ({node.role}, {node.addr}) does not answer {me} on {text}: "
                + (
                    "the nodes cannot reach this manager's control plane"
                    if CONTROL in closed
                    else "the nodes cannot gossip with it (who runs what, names)"
                )
            ),
            evidence={
                "probe": "; ".join(
                    f"connect {node.addr}:{port} {r.status}"
                    + (f" after {r.elapsed_ms} ms" if r.elapsed_ms is not None else "")
                    for port, r in closed.items()
                )
                + f" (from {me}'s host network namespace)",
                "node": f"{node.hostname}: state {node.state}, availability {node.availability}",
                "not_confirmed": "7946/udp and 4789/udp: a connect cannot confirm UDP ports",
            },
            fix=f"{FIREWALL_FIX}; on {node.hostname}, look for DROP rules: `iptables -S INPUT`",
        )


def _vxlan(ctx: CheckContext, swarm: Swarm) -> Iterator[Result]:
    """A task's address resolves on node A (gossip works) but does not answer from there."""
    blocked: dict[tuple[str, ...], list[str]] = {}
    encrypted: set[tuple[str, ...]] = set()
    for crossing in _crossings(ctx, swarm):
        pinged = ctx.observations.get(crossing.placement, crossing.ping)
        if not pinged or pinged.status != "ok":
            continue
        known: set[str] = set()
        for lookup in crossing.lookups:
            answer = ctx.observations.get(crossing.placement, lookup)
            if answer and answer.status == "ok":
                known |= set(answer.addresses)
        source = node_label(swarm, crossing.node_id)
        for remote in crossing.remote:
            seen = pinged.targets.get(remote.address)
            if remote.address not in known or (seen and seen.largest_ok):
                continue
            pair = tuple(sorted((crossing.node_id, remote.task.node_id)))
            blocked.setdefault(pair, []).append(
                f"from {source} on {crossing.network.name}: tasks.{remote.service.name} "
                f"lists {remote.address} (a task on {node_label(swarm, remote.task.node_id)}), "
                "which does not answer a ping"
            )
            if crossing.network.encrypted:
                encrypted.add(pair)
    yield from _vxlan_results(swarm, blocked, encrypted)


def _vxlan_results(
    swarm: Swarm, blocked: dict[tuple[str, ...], list[str]], encrypted: set[tuple[str, ...]]
) -> Iterator[Result]:
    """One finding per node that every blocked pair involves (two pairs or more: that node's
    firewall), else one per pair of nodes."""
    common = set.intersection(*(set(pair) for pair in blocked)) if len(blocked) > 1 else set()
    groups: dict[tuple[str, ...], list[tuple[str, ...]]] = (
        {(next(iter(common)),): list(blocked)} if len(common) == 1 else {p: [p] for p in blocked}
    )
    for culprit, pairs in sorted(groups.items()):
        seen = [line for pair in pairs for line in blocked[pair]]
        esp = any(pair in encrypted for pair in pairs)
        ends = sorted({n for pair in pairs for n in pair}, key=lambda n: node_label(swarm, n))
        if len(culprit) == 1:
            node = culprit[0]
            others = [node_label(swarm, n) for n in ends if n != node]
            what = (
                f"tasks on {node_label(swarm, node)} cannot reach tasks on {', '.join(others)} "
                f"over the overlay although their names resolve: VXLAN (4789/udp) to or from "
                f"{node_label(swarm, node)} ({_addr(swarm, node)}) is blocked"
            )
            between = f"to and from {_addr(swarm, node)}"
        else:
            labels = [node_label(swarm, n) for n in ends]
            what = (
                f"tasks on {labels[0]} and {labels[1]} cannot reach each other over the overlay "
                f"although their names resolve: VXLAN (4789/udp) between "
                f"{_addr(swarm, ends[0])} and {_addr(swarm, ends[1])} is blocked"
            )
            between = f"between {_addr(swarm, ends[0])} and {_addr(swarm, ends[1])}"
        yield Result(
            subjects=subjects([node_label(swarm, n) for n in (*culprit, *ends)]),
            summary=what + (" (or ESP: the overlay is encrypted)" if esp else ""),
            evidence={"probe": seen},
            fix=f"Let 4789/udp (and 7946/udp) through {between}. "
            + FIREWALL_FIX
            + (ESP_FIX if esp else ""),
        )


def _addr(swarm: Swarm, node_id: str) -> str:
    node = swarm.node(node_id)
    return node.addr if node is not None and node.addr else node_id[:12]
