"""The swarm checks (checks/swarm/) and `ddiag compose -p STACK`, through the real CLI, on
the swarm bed (scripts/swarm-bed.sh), against the manager's engine.

One bed for the module: three nodes when a `multinode` test is selected, else one. The
bed's kernel has no IPVS: a service's virtual IP and the routing mesh never answer, which
is what swarm.vip-vs-dnsrr and swarm.ingress find; a task's own address, DNS round-robin
and host-mode publishing work, which is what their negative cases use. Each test removes
what it made (services, stacks, networks, firewall rules, MTU), so that the tests share
the bed in any order. Traffic goes only to the bed: its nodes' addresses and its tasks.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration.stacks import ddiag
from tests.integration.swarm import SwarmBed
from tests.integration.test_swarm_bed import BUSYBOX, bed, settle

STACK_FILE = """\
version: "3.8"
services:
  web:
    image: {image}
    command: ["httpd", "-f", "-p", "8080"]
    stop_grace_period: 1s
    environment:
      API_URL: http://api:8000/
    networks: [front]
  api:
    image: {image}
    command: ["httpd", "-f", "-p", "8000"]
    stop_grace_period: 1s
    networks: [front]
    deploy:
      endpoint_mode: {mode}
networks:
  front:
    driver: overlay
    attachable: true
"""
STOP_GRACE_NS = 1_000_000_000  # busybox ignores SIGTERM: without this, each stop costs 10 s
CLOSED_COMPOSE = """\
name: ddiagt-swna
services:
  app:
    image: {image}
    command: ["sleep", "600"]
    networks: [closed]
networks:
  closed:
    name: {network}
    external: true
"""


@pytest.fixture(scope="module")
def swarm(request: pytest.FixtureRequest) -> Iterator[SwarmBed]:
    """Three nodes if this module's selected tests include a multinode one, else one."""
    selected = [item for item in request.session.items if item.module is request.module]
    nodes = 3 if any(item.get_closest_marker("multinode") for item in selected) else 1
    with bed(nodes) as running:
        yield running


def run(swarm: SwarmBed, *args: str, cwd: Path | None = None) -> tuple[int, dict[str, Any]]:
    """`ddiag ARGS --format json` against the manager: exit code and report."""
    done = ddiag(*args, "--format", "json", env={"DOCKER_HOST": swarm.manager.host}, cwd=cwd)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def found(doc: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(f["check"], f["subjects"]) for f in doc["findings"]]


def docker_cli(swarm: SwarmBed, *args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["docker", "-H", swarm.manager.host, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def running_tasks(client: docker.DockerClient, service: str) -> Callable[[], int]:
    def count() -> int:
        tasks = client.api.tasks(filters={"service": service, "desired-state": "running"})
        return sum(task["Status"]["State"] == "running" for task in tasks)

    return count


def host_published(client: docker.DockerClient, service: str) -> set[int]:
    """The ports its running tasks publish in host mode (bound by the task itself; Engine
    20.10 lists each twice)."""
    tasks = client.api.tasks(filters={"service": service, "desired-state": "running"})
    return {
        port["PublishedPort"]
        for task in tasks
        if task["Status"]["State"] == "running"
        for port in (task["Status"].get("PortStatus") or {}).get("Ports") or ()
        if port.get("PublishMode") == "host"
    }


def remove_service(swarm: SwarmBed, name: str) -> None:
    """Remove it and wait until its containers are gone from every node (until then its
    overlay cannot be removed)."""
    swarm.client(swarm.manager).api.remove_service(name)

    def left() -> int:
        label = {"label": f"com.docker.swarm.service.name={name}"}
        return sum(
            len(swarm.client(n).api.containers(all=True, filters=label)) for n in swarm.nodes
        )

    settle(left, 0, f"{name}'s containers gone")


def overlay(client: docker.DockerClient, name: str, **options: Any) -> Any:
    return client.networks.create(name, driver="overlay", **options)


def netns(node: str, *argv: str) -> None:
    subprocess.run(["ip", "netns", "exec", node, *argv], check=True, timeout=30)


# --- swarm.not-attachable ----------------------------------------------------------------------


def test_not_attachable_overlay_refuses_ddiag_and_compose(swarm: SwarmBed, tmp_path: Path) -> None:
    manager = swarm.client(swarm.manager)
    network = "ddiagt-sw-closed"
    closed = overlay(manager, network)
    (tmp_path / "compose.yaml").write_text(CLOSED_COMPOSE.format(image=BUSYBOX, network=network))
    compose = ["docker", "-H", swarm.manager.host, "compose", "-f", str(tmp_path / "compose.yaml")]
    try:
        code, doc = run(swarm, "network", network)
        assert code == 1, doc
        assert found(doc) == [("swarm.not-attachable", [network])]
        (finding,) = doc["findings"]
        assert "not manually attachable" in finding["evidence"]["probe"]
        assert f"--attachable {network}" in finding["fix"]

        up = subprocess.run([*compose, "up", "-d"], capture_output=True, text=True, timeout=120)
        assert up.returncode != 0 and "not manually attachable" in up.stderr
        code, doc = run(swarm, "compose", "-p", "ddiagt-swna", cwd=tmp_path.parent)
        assert code == 1, doc
        assert sorted(found(doc)) == [
            ("container.not-running", ["app", "ddiagt-swna-app-1", network]),
            ("swarm.not-attachable", ["app", "ddiagt-swna-app-1", network]),
        ]
    finally:
        subprocess.run([*compose, "down"], capture_output=True, timeout=120)
        closed.remove()


# --- swarm.vip-vs-dnsrr, and a stack as a compose project --------------------------------------


def deploy(swarm: SwarmBed, directory: Path, stack: str, mode: str) -> None:
    """Deploy (or update) the stack, and wait until its new tasks run and the old are gone."""
    manager = swarm.client(swarm.manager)
    (directory / "stack.yaml").write_text(STACK_FILE.format(image=BUSYBOX, mode=mode))
    docker_cli(swarm, "stack", "deploy", "-c", str(directory / "stack.yaml"), stack)
    api = f"{stack}_api"

    def converged() -> tuple[str, int, int]:
        spec = manager.api.inspect_service(api)["Endpoint"].get("Spec") or {}
        return (
            spec.get("Mode", "vip"),
            running_tasks(manager, api)(),
            len(manager.api.tasks(filters={"service": api, "desired-state": "running"})),
        )

    settle(converged, (mode, 1, 1), f"{api} in {mode} mode")
    settle(running_tasks(manager, f"{stack}_web"), 1, f"{stack}_web running")


def test_stack_vip_without_ipvs_then_dnsrr(swarm: SwarmBed, tmp_path: Path) -> None:
    stack = "ddiagt-swstack"
    elsewhere = tmp_path / "elsewhere"  # no compose file: the stack comes from the swarm
    elsewhere.mkdir()
    try:
        deploy(swarm, tmp_path, stack, "vip")
        code, doc = run(swarm, "compose", "-p", stack, cwd=elsewhere)
        assert code == 1, doc
        assert (doc["target"]["kind"], doc["target"]["names"]) == ("compose", [stack])
        assert found(doc) == [("swarm.vip-vs-dnsrr", [f"{stack}_api", f"{stack}_front"])]
        (finding,) = doc["findings"]
        assert "does not answer on 8000 while its tasks do" in finding["summary"]
        assert "clients of `api` hang" in finding["summary"]
        assert doc["inconclusive"] == []

        deploy(swarm, tmp_path, stack, "dnsrr")
        code, doc = run(swarm, "compose", "-p", stack, cwd=elsewhere)
        assert (code, found(doc), doc["inconclusive"]) == (0, [], [])
    finally:
        docker_cli(swarm, "stack", "rm", stack)


# --- swarm.ingress ----------------------------------------------------------------------------


def test_ingress_port_silent_then_host_mode(swarm: SwarmBed) -> None:
    manager = swarm.client(swarm.manager)
    network, name = "ddiagt-sw-web", "ddiagt-sw-mesh"
    web = overlay(manager, network, attachable=True)
    try:
        manager.services.create(
            BUSYBOX,
            ["httpd", "-f", "-p", "8080"],
            name=name,
            networks=[network],
            stop_grace_period=STOP_GRACE_NS,
            endpoint_spec=docker.types.EndpointSpec(ports={18080: 8080}),
        )
        settle(running_tasks(manager, name), 1, f"{name} running")
        code, doc = run(swarm, "network", network, "--select", "swarm.ingress")
        assert code == 1, doc
        (finding,) = doc["findings"]
        nodes = [node.name for node in swarm.nodes]
        assert (finding["check"], finding["subjects"]) == ("swarm.ingress", [name, *nodes])
        assert finding["summary"] == (
            f"{name}'s published port 18080 does not answer on any node; its tasks answer on "
            "8080: the routing mesh does not carry it"
        )
        assert (
            "--publish-rm 8080 --publish-add mode=host,target=8080,published=18080"
            in (finding["fix"])
        )

        docker_cli(
            swarm,
            "service",
            "update",
            "--detach",
            "--publish-rm",
            "8080",
            "--publish-add",
            "mode=host,target=8080,published=18080",
            name,
        )
        settle(lambda: host_published(manager, name), {18080}, f"{name} published in host mode")
        code, doc = run(swarm, "network", network, "--select", "swarm.ingress")
        assert (code, found(doc), doc["inconclusive"]) == (0, [], [])
    finally:
        remove_service(swarm, name)
        web.remove()


# --- multinode: swarm.node-ports, swarm.overlay-mtu ---------------------------------------------


@pytest.mark.multinode
def test_gossip_port_blocked_on_a_node(swarm: SwarmBed) -> None:
    manager = swarm.client(swarm.manager)
    network = "ddiagt-sw-gossip"
    net = overlay(manager, network, attachable=True)
    rule = ["-p", "tcp", "--dport", "7946", "-j", "DROP"]
    node3 = swarm.node(3).name
    try:
        netns(node3, "iptables", "-I", "INPUT", *rule)
        code, doc = run(swarm, "network", network, "--select", "swarm.node-ports")
        assert code == 1, doc
        assert found(doc) == [("swarm.node-ports", [node3, swarm.manager.name])]
        assert doc["findings"][0]["evidence"]["probe"].startswith(
            f"connect {swarm.node(3).address}:7946 timeout"
        )
        netns(node3, "iptables", "-D", "INPUT", *rule)
        code, doc = run(swarm, "network", network, "--select", "swarm.node-ports")
        assert (code, found(doc)) == (0, [])
    finally:
        subprocess.run(["ip", "netns", "exec", node3, "iptables", "-D", "INPUT", *rule])
        net.remove()


@pytest.mark.multinode
def test_vxlan_blocked_on_a_node(swarm: SwarmBed) -> None:
    manager = swarm.client(swarm.manager)
    network, name = "ddiagt-sw-vxlan", "ddiagt-sw-everywhere"
    net = overlay(manager, network, attachable=True)
    rule = ["-p", "udp", "--dport", "4789", "-j", "DROP"]
    node3 = swarm.node(3).name
    try:
        manager.services.create(
            BUSYBOX,
            ["sleep", "600"],
            name=name,
            networks=[network],
            stop_grace_period=STOP_GRACE_NS,
            mode=docker.types.ServiceMode("global"),
        )
        settle(running_tasks(manager, name), 3, f"{name} on every node")
        netns(node3, "iptables", "-I", "INPUT", *rule)
        code, doc = run(swarm, "network", network, "--select", "swarm.node-ports")
        assert code == 1, doc
        (finding,) = doc["findings"]
        assert finding["summary"] == (
            f"tasks on {node3} cannot reach tasks on ddiag-node1, ddiag-node2 over the overlay "
            f"although their names resolve: VXLAN (4789/udp) to or from {node3} "
            f"({swarm.node(3).address}) is blocked"
        )
        netns(node3, "iptables", "-D", "INPUT", *rule)
        code, doc = run(swarm, "network", network, "--select", "swarm.node-ports")
        assert (code, found(doc), doc["inconclusive"]) == (0, [], [])
    finally:
        subprocess.run(["ip", "netns", "exec", node3, "iptables", "-D", "INPUT", *rule])
        remove_service(swarm, name)
        net.remove()


@pytest.mark.multinode
def test_overlay_larger_than_the_link(swarm: SwarmBed) -> None:
    manager = swarm.client(swarm.manager)
    big = overlay(manager, "ddiagt-sw-big", attachable=True)
    fit = overlay(
        manager,
        "ddiagt-sw-fit",
        attachable=True,
        options={"com.docker.network.driver.mtu": "1400"},
    )
    node1 = swarm.manager.name
    try:
        subprocess.run(["ip", "-n", node1, "link", "set", "eth0", "mtu", "1400"], check=True)
        code, doc = run(
            swarm, "network", "ddiagt-sw-big", "ddiagt-sw-fit", "--select", "swarm.overlay-mtu"
        )
        assert code == 0, doc  # a warning
        assert found(doc) == [("swarm.overlay-mtu", ["ddiagt-sw-big", node1])]
        assert "has MTU 1400" in doc["findings"][0]["summary"]
        subprocess.run(["ip", "-n", node1, "link", "set", "eth0", "mtu", "1500"], check=True)
        code, doc = run(
            swarm, "network", "ddiagt-sw-big", "ddiagt-sw-fit", "--select", "swarm.overlay-mtu"
        )
        assert (code, found(doc)) == (0, [])
    finally:
        subprocess.run(["ip", "-n", node1, "link", "set", "eth0", "mtu", "1500"], check=False)
        big.remove()
        fit.remove()
