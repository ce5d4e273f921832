"""A service's virtual IP does not answer, while its tasks do.

In the default endpoint mode (`vip`) a service's name resolves to one virtual IP, and the
kernel's IPVS load balancer in each container's namespace spreads connections over the
tasks. Where IPVS is missing (the `ip_vs` module not loaded or not built, as in some
minimal or container-optimised kernels, WSL, some CI runners; the engine logs "Could not get
ipvs family information"), or its rules were not programmed, the name resolves but every
connection to it hangs, while each task answers on its own address. Clients see timeouts
for `http://api:8000` although `tasks.api` and `docker exec` into the task show a healthy
server.

Detected from a peer on the service's overlay (an anchor on the manager when the overlay is
attachable, else a probe task on the manager's node): a TCP connect to the service's virtual
IP on that overlay and to its running tasks' addresses, on the ports the service is known to
serve (the targets of its published ports, ports its clients name in their environment,
ports its tasks' images expose). The VIP failing while a task answers is reported. Only a
manager knows services and tasks: on a worker, or outside a swarm, nothing is checked.

Fix: let the name resolve to the tasks themselves (DNS round-robin), in the stack file:

    services:
      api:
        deploy:
          endpoint_mode: dnsrr

or `docker service update --endpoint-mode dnsrr api` (a dnsrr service cannot publish
through the routing mesh: publish its ports with `mode: host`). Clients can also name
`tasks.api`, which resolves to the tasks' addresses in either mode. Or give every node
IPVS: `modprobe ip_vs` (and `echo ip_vs > /etc/modules-load.d/ip_vs.conf`), then restart
the engine so that it programs its load balancers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from diag.checks.swarm._swarm import (
    called,
    manager_view,
    networks_of,
    node_label,
    services,
    task_addresses,
    tcp_ports,
    vantage,
)
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.tasks import Placement, Planned, Task, connect
from diag.model.topology import Network, SwarmService

ID = "swarm.vip-vs-dnsrr"
SEVERITY = "error"
TITLE = "Service VIP does not answer while its tasks do"


@dataclass(frozen=True)
class Trial:
    """From `placement`, the service's VIP on `network` and its tasks, on `port`."""

    service: SwarmService
    network: Network
    port: int
    placement: Placement
    vip: Task
    tasks: tuple[tuple[str, Task], ...]  # (where the task runs, its connect)


def _trials(ctx: CheckContext) -> list[Trial]:
    swarm = manager_view(ctx)
    if swarm is None:
        return []
    found = []
    for service in services(ctx):
        if service.endpoint_mode != "vip":
            continue
        for network in networks_of(ctx, service):
            vip = service.vip(network)
            placement = vantage(ctx, network)
            tasks = task_addresses(swarm, service, network)
            if vip is None or placement is None or not tasks:
                continue
            for port in tcp_ports(ctx, service):
                found.append(
                    Trial(
                        service,
                        network,
                        port,
                        placement,
                        connect(vip, port),
                        tuple(
                            (
                                f"{address} on {node_label(swarm, task.node_id)}",
                                connect(address, port),
                            )
                            for task, address in tasks
                        ),
                    )
                )
    return found


def plan(ctx: CheckContext) -> list[Planned]:
    return [
        (trial.placement, task)
        for trial in _trials(ctx)
        for task in (trial.vip, *(connect for _, connect in trial.tasks))
    ]


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    failing: dict[tuple[str, str], list[tuple[Trial, str, list[str]]]] = {}
    for trial in _trials(ctx):
        vip = ctx.observations.get(trial.placement, trial.vip)
        if not vip or vip.status == "open":
            continue
        answered = []
        for where, task in trial.tasks:
            result = ctx.observations.get(trial.placement, task)
            if result and result.status == "open":
                answered.append(where)
        if answered:
            key = (trial.service.id, trial.network.id)
            failing.setdefault(key, []).append((trial, vip.status, answered))
    for trials in failing.values():
        yield _result(trials)


def _result(trials: list[tuple[Trial, str, list[str]]]) -> Result:
    first = trials[0][0]
    service, network = first.service, first.network
    vip = first.vip.target
    ports = ", ".join(str(trial.port) for trial, _, _ in trials)
    short = called(service, network)
    return Result(
        subjects=subjects(service.name, network.name),
        summary=(
            f"{service.name}'s virtual IP {vip} on {network.name} does not answer on {ports} "
            f"while its tasks do: clients of `{short}` hang (no IPVS load balancer behind "
            "the VIP)"
        ),
        evidence={
            "probe": [
                f"connect {vip}:{trial.port} {status}; tasks open: {', '.join(answered)} "
                f"(from a probe {trial.placement.describe()})"
                for trial, status, answered in trials
            ],
            "endpoint_mode": "vip",
        },
        fix=(
            f"Resolve {short} to its tasks: `deploy: endpoint_mode: dnsrr` under {short} in "
            f"the stack file, or `docker service update --endpoint-mode dnsrr {service.name}` "
            "(ports then need `mode: host` publishing); clients may name "
            f"`tasks.{short}` instead. Or load IPVS on every node: `modprobe ip_vs`, then "
            "restart the engine."
        ),
    )
