"""A service port published through the routing mesh does not answer on a node.

A port published in `ingress` mode (the default: `ports: ["8080:80"]` in a stack,
`--publish 8080:80`) is meant to answer on every node of the swarm, whether or not a task
runs there: the node's `ingress` sandbox takes the connection and its IPVS load balancer
sends it over the `ingress` overlay to a task. That path needs IPVS in every node's kernel,
the `ingress` network in working order on the node, and the nodes' 7946 and 4789 ports
open between them. When one of those is missing the port is refused or hangs on some
nodes or on all of them, while the service's tasks are fine.

Detected from the manager ddiag talks to, in its host's network namespace: a TCP connect
to every node's address (`Status.Addr`) on each ingress-published TCP port of the services
the run is about (those on its networks, of its stack, or of its containers) that have a
running task. Where a peer of one of the service's overlays can be placed, its tasks are
tried on the target port too, so the finding says whether the tasks themselves answer.
Only a manager knows services and nodes: on a worker, or outside a swarm, nothing is checked.

Fix: publish the port on the nodes that run a task, bypassing the mesh (clients or a load
balancer then need those nodes' addresses):

    services:
      web:
        ports:
          - target: 80
            published: 8080
            mode: host

(`docker service update --publish-rm 80 --publish-add mode=host,target=80,published=8080
web`: `--publish-rm` takes the target port), or repair the routing mesh: `modprobe ip_vs` on
every node, 7946/tcp+udp and 4789/udp open between the nodes (see swarm.node-ports), and
an `ingress` network that exists (`docker network inspect ingress`; recreate it with
`docker network create -d overlay --ingress ingress` when no service uses it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from diag.checks.swarm._swarm import (
    manager_view,
    networks_of,
    node_label,
    services,
    task_addresses,
    vantage,
)
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.tasks import Placement, Planned, Task, connect
from diag.model.topology import ServicePort, SwarmNode, SwarmService

ID = "swarm.ingress"
SEVERITY = "error"
TITLE = "Published service port does not answer on a node"


@dataclass(frozen=True)
class TaskTrial:
    address: str
    node: str
    connect: Task


@dataclass(frozen=True)
class Published:
    """One ingress-published port of a service: tried on every node, and on its tasks."""

    service: SwarmService
    port: ServicePort
    nodes: tuple[tuple[SwarmNode, Task], ...]
    tasks: tuple[TaskTrial, ...]  # its tasks on the target port ...
    tasks_from: Placement | None  # ... from a peer of one of the service's overlays


def _published(ctx: CheckContext) -> list[Published]:
    swarm = manager_view(ctx)
    if swarm is None:
        return []
    nodes = [n for n in swarm.nodes if n.addr]
    found = []
    for service in services(ctx):
        if not swarm.running_tasks(service):
            continue
        placement, tasks = None, []
        for network in networks_of(ctx, service):
            placement = vantage(ctx, network)
            if placement is not None:
                tasks = task_addresses(swarm, service, network)
                break
        for port in service.ports:
            if port.mode != "ingress" or port.protocol != "tcp" or not port.published:
                continue
            trials = tuple(
                TaskTrial(address, node_label(swarm, task.node_id), connect(address, port.target))
                for task, address in tasks
            )
            by_node = tuple((node, connect(node.addr, port.published)) for node in nodes)
            found.append(Published(service, port, by_node, trials, placement))
    return found


def plan(ctx: CheckContext) -> list[Planned]:
    planned: list[Planned] = []
    host = ctx.host_placement()
    for published in _published(ctx):
        planned += [(host, task) for _, task in published.nodes]
        if published.tasks_from is not None:
            planned += [(published.tasks_from, trial.connect) for trial in published.tasks]
    return planned


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    swarm = manager_view(ctx)
    if swarm is None:
        return
    host = ctx.host_placement()
    for published in _published(ctx):
        silent = {}
        for node, task in published.nodes:
            result = ctx.observations.get(host, task)
            if result and result.status != "open":
                silent[node.hostname] = f"connect {task.target}:{task.port} {result.status}"
        if silent:
            me = node_label(swarm, swarm.node_id)
            yield _result(published, silent, _task_outcomes(ctx, published), me)


def _task_outcomes(ctx: CheckContext, published: Published) -> dict[TaskTrial, str]:
    if published.tasks_from is None:
        return {}
    found = {}
    for trial in published.tasks:
        result = ctx.observations.get(published.tasks_from, trial.connect)
        if result:
            found[trial] = result.status
    return found


def _result(
    published: Published, silent: dict[str, str], tasks: dict[TaskTrial, str], me: str
) -> Result:
    service, port = published.service, published.port
    where = "on any node" if len(silent) == len(published.nodes) else f"on {', '.join(silent)}"
    answering = [trial for trial, status in tasks.items() if status == "open"]
    if answering:
        why = f"; its tasks answer on {port.target}: the routing mesh does not carry it"
    elif tasks:
        why = f"; its tasks do not answer on {port.target} either"
    else:
        why = ""
    evidence: dict[str, object] = {
        "probe": [f"{text} (from {me}'s host network namespace)" for text in silent.values()],
        "published": f"{port.published}->{port.target}/tcp, mode ingress",
    }
    if tasks and published.tasks_from is not None:
        evidence["tasks"] = [
            f"connect {trial.address}:{port.target} {status} (a task on {trial.node}; "
            f"from a probe {published.tasks_from.describe()})"
            for trial, status in tasks.items()
        ]
    mesh_fix = (
        f"Publish it on the nodes that run its tasks instead: ports: [{{target: {port.target}"
        f", published: {port.published}, mode: host}}] (`docker service update --publish-rm "
        f"{port.target} --publish-add mode=host,target={port.target},published="
        f"{port.published} {service.name}`), or repair the routing mesh: `modprobe ip_vs` on "
        "every node, 7946/tcp+udp and 4789/udp open between the nodes, and a working "
        "`ingress` network"
    )
    return Result(
        subjects=subjects(service.name, list(silent)),
        summary=f"{service.name}'s published port {port.published} does not answer {where}{why}",
        evidence=evidence,
        fix=mesh_fix
        if answering or not tasks
        else (
            f"Make {service.name}'s tasks listen on 0.0.0.0:{port.target} first (`docker "
            f"service logs {service.name}`); then, if the port still does not answer: "
            + mesh_fix[0].lower()
            + mesh_fix[1:]
        ),
    )
