"""Probes on every node of a swarm (diag.probes.swarm), driven through ProbeSession on the
test bed (scripts/swarm-bed.sh): a global service `web` (busybox httpd on 8080) on the
overlay `ddiag-ov` has a task on every node; a node placement on each node resolves
`tasks.web` (every task's address), `web` (the service's virtual IP) and connects to every
task, across nodes. Afterwards no probe service, config, task or container is left.

The bed's kernel has no IPVS, so the virtual IP is resolved but never connected to.
One node always (CI exercises the mechanism); three nodes marked `multinode`.
"""

from __future__ import annotations

import queue
import time
from typing import Any

import docker
import pytest

from diag.engine.client import read_topology
from diag.model.context import CheckContext, Target
from diag.model.tasks import Placement, Planned, Task, connect, resolve
from diag.model.topology import Network
from diag.probes.probe import PROBE_LABEL, remove_probes
from diag.probes.session import Answered, Event, ProbeSession, Unobservable
from tests.integration.stacks import PROBE_IMAGE
from tests.integration.test_swarm_bed import BUSYBOX, bed, settle

OVERLAY = "ddiag-ov"
SERVICE = "web"
PORT = 8080
TIMEOUT_S = 1.0
EVENTS_TIMEOUT_S = 120.0
PROBE_FILTER = {"label": PROBE_LABEL}


def web_service(client: docker.DockerClient) -> tuple[Network, str, list[str]]:
    """The overlay, and on it `web` with a running task on every node: the overlay as
    discovered, the service's virtual IP, its tasks' addresses."""
    overlay = client.networks.create(OVERLAY, driver="overlay", attachable=True)
    service = client.services.create(
        BUSYBOX,
        ["httpd", "-f", "-p", str(PORT)],
        name=SERVICE,
        mode=docker.types.ServiceMode("global"),
        networks=[OVERLAY],
    )

    def running() -> list[dict[str, Any]]:
        tasks = client.api.tasks(filters={"service": SERVICE, "desired-state": "running"})
        return [task for task in tasks if task["Status"]["State"] == "running"]

    every = {node.id for node in client.nodes.list()}
    settle(lambda: {task["NodeID"] for task in running()}, every, "web's tasks running")
    addresses = sorted(
        address.split("/")[0]
        for task in running()
        for attachment in task.get("NetworksAttachments") or []
        if attachment["Network"]["ID"] == overlay.id
        for address in attachment["Addresses"]
    )
    service.reload()
    vips = service.attrs["Endpoint"]["VirtualIPs"]
    vip = next(v["Addr"] for v in vips if v["NetworkID"] == overlay.id).split("/")[0]
    network = read_topology(client).network_named(OVERLAY)
    assert network is not None
    return network, vip, addresses


def node_placements(client: docker.DockerClient, network: Network) -> list[Placement]:
    ctx = CheckContext(read_topology(client), Target("network", (OVERLAY,), (network,)))
    return [
        ctx.node_placement(network, node.id, node.attrs["Description"]["Hostname"])
        for node in client.nodes.list()
    ]


def plan(placements: list[Placement], addresses: list[str]) -> list[Planned]:
    tasks: list[Task] = [resolve(f"tasks.{SERVICE}"), resolve(SERVICE)]
    tasks += [connect(address, PORT) for address in addresses]
    return [(placement, task) for placement in placements for task in tasks]


def observe(session: ProbeSession, planned: list[Planned]) -> dict[Planned, Event]:
    """Dispatch, and collect exactly one event per task (a second one fails the test)."""
    events: queue.Queue[Event] = queue.Queue()
    session.dispatch(planned, events.put)
    found: dict[Planned, Event] = {}
    while len(found) < len(planned):
        event = events.get(timeout=EVENTS_TIMEOUT_S)
        assert isinstance(event, Answered | Unobservable), event
        pair = (event.placement, event.task)
        assert pair in planned and pair not in found, f"unplanned or repeated: {event}"
        found[pair] = event
    return found


def assert_observed_across_nodes(
    found: dict[Planned, Event], vip: str, addresses: list[str]
) -> None:
    for (placement, task), event in found.items():
        assert isinstance(event, Answered), f"{placement.describe()}: {event}"
        if task == resolve(f"tasks.{SERVICE}"):
            assert sorted(event.result.addresses) == addresses
        elif task == resolve(SERVICE):
            assert list(event.result.addresses) == [vip]
        else:
            assert event.result.status == "open", f"{placement.label} {task.describe()}"


def assert_nothing_left(bed_clients: list[docker.DockerClient]) -> None:
    """No probe service, config or task on the manager (close() waits for the tasks); the
    nodes remove the tasks' containers a moment later."""
    manager = bed_clients[0]
    assert manager.api.services(filters=PROBE_FILTER) == []
    assert manager.api.configs(filters=PROBE_FILTER) == []
    assert manager.api.tasks(filters=PROBE_FILTER) == []

    def containers_left() -> set[str]:
        return {
            summary["Names"][0]
            for client in bed_clients
            for summary in client.api.containers(all=True, filters=PROBE_FILTER)
        }

    settle(containers_left, set(), "probe containers on the nodes")


def test_probes_on_one_node() -> None:
    with bed(1) as swarm:
        manager = swarm.client(swarm.manager)
        network, vip, addresses = web_service(manager)
        placements = node_placements(manager, network)
        nowhere = Placement("node", f"{network.id}@nosuchnode", f"{OVERLAY} on nowhere")
        planned = [*plan(placements, addresses), (nowhere, resolve(SERVICE))]
        session = ProbeSession(manager, PROBE_IMAGE, TIMEOUT_S)
        try:
            found = observe(session, planned)
        finally:
            session.close()
        unplaced = found.pop((nowhere, resolve(SERVICE)))
        assert isinstance(unplaced, Unobservable)
        assert unplaced.reason.startswith("the probe task cannot be placed on its node")
        assert_observed_across_nodes(found, vip, addresses)
        assert session.started == 1
        assert_nothing_left([manager])

        # A ddiag killed before its close(): `ddiag cleanup` removes its service and config.
        killed = ProbeSession(manager, PROBE_IMAGE, TIMEOUT_S)
        observe(killed, plan(placements, addresses)[:1])
        removed = remove_probes(manager, everything=True)
        assert removed == [f"ddiag-probe-{killed.run_id}-n1", f"ddiag-agent-{killed.run_id}"]
        killed.close()
        assert_nothing_left([manager])


@pytest.mark.multinode
def test_probes_on_three_nodes() -> None:
    with bed(3) as swarm:
        manager = swarm.client(swarm.manager)
        network, vip, addresses = web_service(manager)
        assert len(addresses) == 3
        placements = node_placements(manager, network)
        assert len(placements) == 3
        session = ProbeSession(manager, PROBE_IMAGE, TIMEOUT_S)
        started = time.monotonic()
        try:
            found = observe(session, plan(placements, addresses))
            answered_s = time.monotonic() - started
        finally:
            closing = time.monotonic()
            session.close()
            closed_s = time.monotonic() - closing
        print(f"3 nodes: every answer {answered_s:.1f} s after dispatch, close() {closed_s:.1f} s")
        assert_observed_across_nodes(found, vip, addresses)
        assert session.started == 3
        assert_nothing_left([swarm.client(node) for node in swarm.nodes])
