"""The swarm test bed (scripts/swarm-bed.sh) works: what the swarm checks' tests stand on.

One node, always: an attachable overlay, a global service with its task, and a plain
container of the engine joined to that overlay reaching the task (which is how ddiag's probes
get onto an overlay). Three nodes, marked `multinode` (about 30 s; CI may deselect it with
`-m "not multinode"`): a global service gets a running task on every node, the task on node 2
reaches the one on node 3 over the overlay (VXLAN between the nodes' namespaces), and the
manager reads every node's task output. Both hold `down` to leaving nothing on the host.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import docker
import pytest
from docker.models.containers import Container

from tests.integration.swarm import BedUnavailable, SwarmBed, leftovers, swarm_bed

BUSYBOX = "ddiag-test/busybox:latest"
OVERLAY = "ddiagt-bed-ov"
SERVICE = "ddiagt-bed-svc"
SETTLE_TIMEOUT_S = 60
SERVICE_LABEL = f"com.docker.swarm.service.name={SERVICE}"


@contextlib.contextmanager
def bed(nodes: int) -> Iterator[SwarmBed]:
    """The bed, or a skip where this machine cannot host it; then nothing may be left."""
    try:
        with swarm_bed(nodes) as running:
            yield running
    except BedUnavailable as exc:
        pytest.skip(f"no swarm bed here: {exc}")
    assert leftovers() == []


def node_names(client: docker.DockerClient) -> dict[str, str]:
    """Swarm node ID -> hostname (ddiag-node<i>)."""
    return {node.id: node.attrs["Description"]["Hostname"] for node in client.nodes.list()}


def ready_nodes(client: docker.DockerClient) -> set[str]:
    return {
        node.attrs["Description"]["Hostname"]
        for node in client.nodes.list()
        if node.attrs["Status"]["State"] == "ready"
    }


def global_service(client: docker.DockerClient) -> None:
    """On an attachable overlay, one task per node that says where it runs, then sleeps."""
    client.networks.create(OVERLAY, driver="overlay", attachable=True)
    client.services.create(
        BUSYBOX,
        ["sh", "-c", 'echo "task on $(hostname)"; exec sleep 600'],
        name=SERVICE,
        mode=docker.types.ServiceMode("global"),
        networks=[OVERLAY],
        hostname="{{.Node.Hostname}}",
    )


def running_on(client: docker.DockerClient) -> set[str]:
    """The nodes where the service has a running task."""
    names = node_names(client)
    tasks = client.api.tasks(filters={"service": SERVICE, "desired-state": "running"})
    return {names[task["NodeID"]] for task in tasks if task["Status"]["State"] == "running"}


def settle(probe: Callable[[], set[str]], want: set[str], what: str) -> None:
    """Wait until `probe()` returns `want` (a swarm converges asynchronously)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while (got := probe()) != want:
        assert time.monotonic() < deadline, f"{what}: want {want}, still {got}"
        time.sleep(0.5)


def task(bed: SwarmBed, number: int) -> Container:
    """The service's task container on node `number`."""
    found = bed.client(number).containers.list(filters={"label": SERVICE_LABEL})
    assert len(found) == 1, f"node {number} runs {len(found)} tasks of {SERVICE}"
    return found[0]


def overlay_ip(container: Container) -> str:
    return container.attrs["NetworkSettings"]["Networks"][OVERLAY]["IPAddress"]


def assert_pings(source: Container, address: str) -> None:
    code, output = source.exec_run(["ping", "-c", "1", "-W", "2", address])
    assert code == 0 and f"from {address}" in output.decode(), output.decode()


def test_single_node_swarm() -> None:
    with bed(1) as swarm:
        manager = swarm.client(swarm.manager)
        assert manager.info()["Swarm"]["ControlAvailable"] is True
        assert ready_nodes(manager) == {"ddiag-node1"}
        global_service(manager)
        settle(lambda: running_on(manager), {"ddiag-node1"}, "tasks running")
        peer = manager.containers.run(BUSYBOX, ["sleep", "600"], network=OVERLAY, detach=True)
        peer.reload()
        assert_pings(peer, overlay_ip(task(swarm, 1)))


@pytest.mark.multinode
def test_three_node_swarm() -> None:
    with bed(3) as swarm:
        manager = swarm.client(swarm.manager)
        every = {node.name for node in swarm.nodes}
        assert every == {"ddiag-node1", "ddiag-node2", "ddiag-node3"}
        assert ready_nodes(manager) == every
        assert all(not swarm.client(n).info()["Swarm"]["ControlAvailable"] for n in (2, 3))
        global_service(manager)
        settle(lambda: running_on(manager), every, "tasks running")
        assert_pings(task(swarm, 2), overlay_ip(task(swarm, 3)))

        def log_lines() -> set[str]:
            logs = manager.api.service_logs(SERVICE, stdout=True, stderr=True)
            return set(b"".join(logs).decode().split())

        settle(lambda: {n for n in every if n in log_lines()}, every, "nodes in the logs")
