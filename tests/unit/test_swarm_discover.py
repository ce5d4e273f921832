"""Swarm discovery (diag.engine.discover, diag.engine.client) and stack targets
(diag.model.targets) on data recorded from the swarm bed (tests/data/swarm, see its README)."""

from __future__ import annotations

import copy
from typing import Any

import docker.errors
import pytest

from diag.engine.client import _read_swarm
from diag.engine.discover import swarm_from_inspect, topology_from_inspect
from diag.model.targets import compose_target, known_names, stack_project
from diag.model.topology import ServicePort, Swarm, Topology

from .recorded import DATA, load_json

NODE1, NODE2, NODE3 = (
    "xku3w7a2qu0iuj5p9uyf0eq60",
    "zo90nufag6lgyx9q9uwqs8pee",
    "z4c56fcbt0wo6vxz87m8t64u5",
)
REC_ATT, INGRESS = "p4ltsqghqpw489sbfy0buical", "yxo1lun2q6foviqmp9nr67mw2"


def recorded_swarm(info: str = "info.json", **edits: Any) -> Swarm | None:
    raw = {name: load_json(f"swarm/{name}.json") for name in ("nodes", "services", "tasks")}
    raw.update(edits)
    return swarm_from_inspect(
        load_json(f"swarm/{info}"), raw["nodes"], raw["services"], raw["tasks"]
    )


def recorded_topology(swarm: Swarm | None) -> Topology:
    containers = [load_json(f"swarm/{p.name}") for p in sorted(DATA.glob("swarm/container-*"))]
    return topology_from_inspect(
        load_json("swarm/version.json"), load_json("swarm/networks.json"), containers, swarm=swarm
    )


@pytest.fixture
def swarm() -> Swarm:
    found = recorded_swarm()
    assert found is not None
    return found


# --- the swarm itself ------------------------------------------------------------------------


def test_no_swarm_is_none() -> None:
    assert recorded_swarm("info-none.json") is None


def test_a_worker_knows_only_that_it_is_one() -> None:
    worker = recorded_swarm("info-worker.json")
    assert worker == Swarm(NODE2, "10.213.180.12", manager=False)


def test_nodes(swarm: Swarm) -> None:
    assert swarm.manager and swarm.node_id == NODE1 and swarm.node_addr == "10.213.180.11"
    assert [(n.hostname, n.role, n.addr, n.state, n.availability) for n in swarm.nodes] == [
        ("ddiag-node1", "manager", "10.213.180.11", "ready", "active"),
        ("ddiag-node2", "worker", "10.213.180.12", "ready", "active"),
        ("ddiag-node3", "worker", "10.213.180.13", "ready", "active"),
    ]
    assert swarm.nodes[0].manager_addr == "10.213.180.11:2377" and swarm.nodes[0].is_manager


def test_a_manager_reporting_no_address_is_reached_at_its_manager_address() -> None:
    nodes = copy.deepcopy(load_json("swarm/nodes.json"))
    manager = next(n for n in nodes if n["ID"] == NODE1)
    manager["Status"]["Addr"] = "0.0.0.0"
    found = recorded_swarm(nodes=nodes)
    assert found is not None and found.node(NODE1).addr == "10.213.180.11"


def test_services(swarm: Swarm) -> None:
    by_name = {s.name: s for s in swarm.services}
    assert list(by_name) == ["rec-rr", "rec-vip", "recstack_api", "recstack_web"]
    vip = by_name["rec-vip"]
    assert vip.endpoint_mode == "vip"
    assert vip.vips == ((INGRESS, "10.213.188.5/26"), (REC_ATT, "10.213.189.2/26"))
    assert vip.ports == (ServicePort(8080, 8080, "tcp", "ingress"),)
    assert vip.networks == (REC_ATT,) and vip.labels == {"com.example": "x"}
    rr = by_name["rec-rr"]
    assert (rr.endpoint_mode, rr.vips) == ("dnsrr", ())
    assert rr.ports == (ServicePort(9090, 19090, "tcp", "host"),)
    api, web = by_name["recstack_api"], by_name["recstack_web"]
    assert api.stack == "recstack" and api.names() == ("recstack_api", "api")
    assert web.env == {"API_URL": "http://api:8000/"} and vip.stack is None


def test_tasks_wanted_running_on_every_node(swarm: Swarm) -> None:
    vip = next(s for s in swarm.services if s.name == "rec-vip")
    tasks = swarm.running_tasks(vip)
    assert sorted((t.node_id, t.addresses) for t in tasks) == [
        (NODE1, ((INGRESS, "10.213.188.8/26"), (REC_ATT, "10.213.189.11/26"))),
        (NODE3, ((INGRESS, "10.213.188.9/26"), (REC_ATT, "10.213.189.12/26"))),
    ]
    assert len(swarm.tasks) == 5


def test_probe_services_and_their_tasks_are_left_out() -> None:
    services = copy.deepcopy(load_json("swarm/services.json"))
    rr = next(s for s in services if s["Spec"]["Name"] == "rec-rr")
    rr["Spec"]["Labels"]["ddiag.probe"] = "1"
    found = recorded_swarm(services=services)
    assert found is not None
    assert "rec-rr" not in {s.name for s in found.services}
    assert rr["ID"] not in {t.service_id for t in found.tasks}


# --- the topology ----------------------------------------------------------------------------


def test_overlays(swarm: Swarm) -> None:
    topology = recorded_topology(swarm)
    view = {
        n.name: (n.driver, n.scope, n.attachable, n.ingress, n.encrypted)
        for n in topology.networks
        if n.driver == "overlay"
    }
    assert view == {
        "ingress": ("overlay", "swarm", False, True, False),
        "rec-att": ("overlay", "swarm", True, False, False),
        "rec-enc": ("overlay", "swarm", False, False, True),
        "recstack_front": ("overlay", "swarm", True, False, False),
    }
    enc = topology.network_named("rec-enc")
    assert enc is not None and enc.options["com.docker.network.driver.mtu"] == "1400"


def test_a_manager_leaves_out_its_replaced_tasks_containers(swarm: Swarm) -> None:
    names = [c.name for c in recorded_topology(swarm).containers]
    assert names == [
        "natest-app-1",
        "rec-vip.2.vggtcg03zxi1p404kmgz0loe8",
        "recstack_web.1.8qm47xeqvt8xx67sxdy1uik43",
    ]
    assert recorded_topology(swarm).swarm is swarm


def test_without_the_managers_view_every_container_stays() -> None:
    for swarm in (None, recorded_swarm("info-worker.json")):
        topology = recorded_topology(swarm)
        assert len(topology.containers) == 4 and topology.swarm == swarm


def test_a_stack_task_belongs_to_its_stack_as_a_compose_service(swarm: Swarm) -> None:
    topology = recorded_topology(swarm)
    web = topology.container_named("recstack_web.1.8qm47xeqvt8xx67sxdy1uik43")
    plain = topology.container_named("rec-vip.2.vggtcg03zxi1p404kmgz0loe8")
    natest = topology.container_named("natest-app-1")
    assert web is not None and plain is not None and natest is not None
    assert (web.project, web.service, web.subjects[0]) == ("recstack", "web", "web")
    assert (plain.project, plain.service) == (None, None)
    assert (natest.project, natest.service) == ("natest", "app")


# --- reading the engine ----------------------------------------------------------------------


class FakeApi:
    """The four calls `_read_swarm` makes, answered from the recording."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.asked: list[tuple[str, Any]] = []

    def nodes(self) -> Any:
        if self.fail:
            raise docker.errors.APIError("503 Server Error: The swarm does not have a leader")
        return load_json("swarm/nodes.json")

    def services(self) -> Any:
        return load_json("swarm/services.json")

    def tasks(self, filters: dict[str, str]) -> Any:
        self.asked.append(("tasks", filters))
        return load_json("swarm/tasks.json")


def test_read_swarm_asks_a_manager_for_the_tasks_wanted_running() -> None:
    api = FakeApi()
    found = _read_swarm(api, load_json("swarm/info.json"))
    assert found is not None and found.manager and len(found.nodes) == 3
    assert api.asked == [("tasks", {"desired-state": "running"})]


def test_read_swarm_asks_a_worker_nothing() -> None:
    api = FakeApi()
    found = _read_swarm(api, load_json("swarm/info-worker.json"))
    assert found is not None and not found.manager and api.asked == []


def test_a_manager_without_quorum_is_read_as_knowing_nothing() -> None:
    found = _read_swarm(FakeApi(fail=True), load_json("swarm/info.json"))
    assert found == Swarm(NODE1, "10.213.180.11", manager=False)


# --- a stack as a compose project ------------------------------------------------------------


def test_stack_project_from_the_services_specs(swarm: Swarm) -> None:
    project = stack_project(recorded_topology(swarm), "recstack")
    assert project is not None and project.source == "stack"
    assert list(project.services) == ["api", "web"]
    assert project.services["web"].environment == {"API_URL": "http://api:8000/"}
    assert project.services["api"].networks == ("recstack_front",)
    assert project.networks == {"front": "recstack_front"}
    assert stack_project(recorded_topology(swarm), "nostack") is None
    assert stack_project(recorded_topology(recorded_swarm("info-worker.json")), "recstack") is None


def test_stack_target_without_ingress_nor_edges_to_swarm_names(swarm: Swarm) -> None:
    topology = recorded_topology(swarm)
    project = stack_project(topology, "recstack")
    assert project is not None
    target = compose_target(topology, project)
    assert [c.name for c in target.containers] == ["recstack_web.1.8qm47xeqvt8xx67sxdy1uik43"]
    assert [n.name for n in target.networks] == ["recstack_front"]
    assert target.edges == ()  # web -> api:8000 resolves to api's VIP: swarm.vip-vs-dnsrr's
    assert {"api", "tasks.api", "recstack_api", "tasks.recstack_api"} <= known_names(topology)


def test_a_stack_with_no_task_on_this_node_is_still_a_target(swarm: Swarm) -> None:
    topology = recorded_topology(swarm)
    alone = Topology(topology.engine, topology.networks, (), topology.swarm)
    project = stack_project(alone, "recstack")
    assert project is not None
    target = compose_target(alone, project)
    assert target.containers == () and [n.name for n in target.networks] == ["recstack_front"]
