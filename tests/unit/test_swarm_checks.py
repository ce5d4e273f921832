"""The swarm checks' `plan()` and `evaluate()` on the swarm recorded from the bed
(tests/data/swarm, see its README), with observations in the agent's shapes.

On the recording: nodes ddiag-node1 (the manager, 10.213.180.11), ddiag-node2 (.12) and
ddiag-node3 (.13); on the attachable overlay rec-att, `rec-vip` (vip 10.213.189.2, tasks
10.213.189.11 on node 1 and .12 on node 3, 8080 published through the routing mesh) and
`rec-rr` (dnsrr, 10.213.189.5 on node 2, 19090 published in host mode); the stack
`recstack` on recstack_front (web on node 1 with API_URL=http://api:8000/, api on node 2 at
10.213.189.131, VIP .130); rec-enc, encrypted, MTU option 1400, not attachable, on which
compose project natest's `app` could not start.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from diag.checks.swarm.overlay_mtu import interface_mtu, link_mtu
from diag.model.compose import project_from_labels
from diag.model.context import CheckContext
from diag.model.findings import Severity
from diag.model.targets import compose_target, stack_project
from diag.model.tasks import HOST, INTERFACES, Observations, Placement, Task, connect, pmtu, resolve
from diag.model.topology import Swarm, Topology

from .recorded import evaluate, plan, record
from .test_swarm_discover import NODE1, NODE2, NODE3, recorded_swarm, recorded_topology

MakeCtx = Callable[..., CheckContext]
TASK1, TASK3, RR_TASK = "10.213.189.11", "10.213.189.12", "10.213.189.5"
NODE_ADDRS = {
    "ddiag-node1": "10.213.180.11",
    "ddiag-node2": "10.213.180.12",
    "ddiag-node3": "10.213.180.13",
}


def observe(ctx: CheckContext, placement: Placement, task: Task, **result: Any) -> None:
    record(ctx.observations, placement, task, result)


def connected(status: str) -> dict[str, Any]:
    return {"status": status, "elapsed_ms": 2000 if status == "timeout" else 1}


@pytest.fixture
def topology() -> Topology:
    return recorded_topology(recorded_swarm())


@pytest.fixture
def rec_att(topology: Topology, make_ctx: MakeCtx) -> CheckContext:
    return make_ctx(topology, "rec-att")


def peer(ctx: CheckContext, name: str = "rec-att") -> Placement:
    network = ctx.topology.network_named(name)
    assert network is not None
    return ctx.peer_placement(network)


def worker_view(topology: Topology) -> Topology:
    return dataclasses.replace(topology, swarm=recorded_swarm("info-worker.json"))


# --- swarm.vip-vs-dnsrr ----------------------------------------------------------------------


def test_vip_vs_dnsrr_plans_the_vip_and_the_tasks_from_a_peer(rec_att: CheckContext) -> None:
    at = peer(rec_att)
    assert set(plan("swarm.vip-vs-dnsrr", rec_att)) == {
        (at, connect("10.213.189.2", 8080)),
        (at, connect(TASK1, 8080)),
        (at, connect(TASK3, 8080)),
    }  # rec-rr is dnsrr: nothing to compare


def test_vip_silent_while_a_task_answers(rec_att: CheckContext) -> None:
    at = peer(rec_att)
    observe(rec_att, at, connect("10.213.189.2", 8080), **connected("timeout"))
    observe(rec_att, at, connect(TASK1, 8080), **connected("open"))
    observe(rec_att, at, connect(TASK3, 8080), **connected("timeout"))
    [finding] = evaluate("swarm.vip-vs-dnsrr", rec_att)
    assert finding.severity is Severity.ERROR and finding.subjects == ("rec-vip", "rec-att")
    assert finding.summary == (
        "rec-vip's virtual IP 10.213.189.2 on rec-att does not answer on 8080 while its tasks "
        "do: clients of `rec-vip` hang (no IPVS load balancer behind the VIP)"
    )
    assert finding.evidence["probe"] == [
        "connect 10.213.189.2:8080 timeout; tasks open: 10.213.189.11 on ddiag-node1 "
        "(from a probe on network rec-att)"
    ]
    assert "endpoint-mode dnsrr rec-vip" in finding.fix and "modprobe ip_vs" in finding.fix


@pytest.mark.parametrize(
    "vip, tasks", [("open", "open"), ("timeout", "timeout"), ("refused", "refused")]
)
def test_vip_vs_dnsrr_silent_unless_only_the_vip_fails(
    rec_att: CheckContext, vip: str, tasks: str
) -> None:
    at = peer(rec_att)
    observe(rec_att, at, connect("10.213.189.2", 8080), **connected(vip))
    for address in (TASK1, TASK3):
        observe(rec_att, at, connect(address, 8080), **connected(tasks))
    assert evaluate("swarm.vip-vs-dnsrr", rec_att) == []


def test_a_stack_clients_port_is_tried_on_the_stack_alias(topology: Topology) -> None:
    project = stack_project(topology, "recstack")
    assert project is not None
    ctx = CheckContext(topology, compose_target(topology, project), Observations())
    at = peer(ctx, "recstack_front")
    assert set(plan("swarm.vip-vs-dnsrr", ctx)) == {  # web serves no port anyone names
        (at, connect("10.213.189.130", 8000)),  # api's VIP: web's API_URL=http://api:8000/
        (at, connect("10.213.189.131", 8000)),
    }
    observe(ctx, at, connect("10.213.189.130", 8000), **connected("timeout"))
    observe(ctx, at, connect("10.213.189.131", 8000), **connected("open"))
    [finding] = evaluate("swarm.vip-vs-dnsrr", ctx)
    assert "clients of `api` hang" in finding.summary
    assert "`deploy: endpoint_mode: dnsrr` under api" in finding.fix


# --- swarm.ingress ---------------------------------------------------------------------------


def test_ingress_plans_every_node_and_the_tasks(rec_att: CheckContext) -> None:
    planned = set(plan("swarm.ingress", rec_att))
    assert {task for at, task in planned if at == HOST} == {
        connect(address, 8080) for address in NODE_ADDRS.values()
    }  # rec-rr's 19090 is published in host mode: not the mesh's
    assert {task for at, task in planned if at != HOST} == {
        connect(TASK1, 8080),
        connect(TASK3, 8080),
    }


def test_ingress_port_silent_on_every_node_while_tasks_answer(rec_att: CheckContext) -> None:
    for address in NODE_ADDRS.values():
        observe(rec_att, HOST, connect(address, 8080), **connected("refused"))
    observe(rec_att, peer(rec_att), connect(TASK1, 8080), **connected("open"))
    [finding] = evaluate("swarm.ingress", rec_att)
    assert finding.subjects == ("rec-vip", "ddiag-node1", "ddiag-node2", "ddiag-node3")
    assert finding.summary == (
        "rec-vip's published port 8080 does not answer on any node; its tasks answer on 8080: "
        "the routing mesh does not carry it"
    )
    assert finding.evidence["probe"][0] == (
        "connect 10.213.180.11:8080 refused (from ddiag-node1's host network namespace)"
    )
    assert "mode=host,target=8080,published=8080 rec-vip" in finding.fix


def test_ingress_port_silent_on_one_node(rec_att: CheckContext) -> None:
    for name, address in NODE_ADDRS.items():
        status = "timeout" if name == "ddiag-node2" else "open"
        observe(rec_att, HOST, connect(address, 8080), **connected(status))
    [finding] = evaluate("swarm.ingress", rec_att)
    assert finding.summary == "rec-vip's published port 8080 does not answer on ddiag-node2"
    assert finding.subjects == ("rec-vip", "ddiag-node2")


def test_ingress_port_whose_tasks_do_not_answer_either(rec_att: CheckContext) -> None:
    for address in NODE_ADDRS.values():
        observe(rec_att, HOST, connect(address, 8080), **connected("refused"))
    for address in (TASK1, TASK3):
        observe(rec_att, peer(rec_att), connect(address, 8080), **connected("refused"))
    [finding] = evaluate("swarm.ingress", rec_att)
    assert finding.summary.endswith("its tasks do not answer on 8080 either")
    assert finding.fix.startswith("Make rec-vip's tasks listen on 0.0.0.0:8080 first")


def test_ingress_port_answering_everywhere(rec_att: CheckContext) -> None:
    for address in NODE_ADDRS.values():
        observe(rec_att, HOST, connect(address, 8080), **connected("open"))
    assert evaluate("swarm.ingress", rec_att) == []


# --- swarm.node-ports ------------------------------------------------------------------------


def crossing(ctx: CheckContext, node_id: str, name: str) -> Placement:
    network = ctx.topology.network_named("rec-att")
    assert network is not None
    return ctx.node_placement(network, node_id, name)


def test_node_ports_plans_gossip_to_workers_and_pings_across_nodes(
    rec_att: CheckContext,
) -> None:
    planned = plan("swarm.node-ports", rec_att)
    assert {task for at, task in planned if at == HOST} == {
        connect("10.213.180.12", 7946),
        connect("10.213.180.13", 7946),
    }  # workers: no 2377; the manager itself: not asked
    node1 = crossing(rec_att, NODE1, "ddiag-node1")
    assert {task for at, task in planned if at == node1} == {
        pmtu((RR_TASK, TASK3), (84,)),
        resolve("tasks.rec-rr"),
        resolve("tasks.rec-vip"),
    }
    assert {at for at, _ in planned if at != HOST} == {
        node1,
        crossing(rec_att, NODE2, "ddiag-node2"),
        crossing(rec_att, NODE3, "ddiag-node3"),
    }


def test_a_node_silent_on_7946(rec_att: CheckContext) -> None:
    observe(rec_att, HOST, connect("10.213.180.12", 7946), **connected("open"))
    observe(rec_att, HOST, connect("10.213.180.13", 7946), **connected("timeout"))
    [finding] = evaluate("swarm.node-ports", rec_att)
    assert finding.subjects == ("ddiag-node3", "ddiag-node1")
    assert finding.summary == (
        "ddiag-node3 (worker, 10.213.180.13) does not answer ddiag-node1 on 7946/tcp (timeout): "
        "the nodes cannot gossip with it (who runs what, names)"
    )
    assert finding.evidence["probe"] == (
        "connect 10.213.180.13:7946 timeout after 2000 ms (from ddiag-node1's host network "
        "namespace)"
    )
    assert "7946/udp and 4789/udp" in finding.evidence["not_confirmed"]
    assert "--add-port=4789/udp" in finding.fix


def test_a_manager_silent_on_2377(topology: Topology, make_ctx: MakeCtx) -> None:
    swarm = topology.swarm
    assert swarm is not None
    node2 = dataclasses.replace(swarm.nodes[1], role="manager", manager_addr="10.213.180.12:2377")
    promoted = dataclasses.replace(swarm, nodes=(swarm.nodes[0], node2, swarm.nodes[2]))
    ctx = make_ctx(dataclasses.replace(topology, swarm=promoted), "rec-att")
    assert (HOST, connect("10.213.180.12", 2377)) in plan("swarm.node-ports", ctx)
    observe(ctx, HOST, connect("10.213.180.12", 7946), **connected("open"))
    observe(ctx, HOST, connect("10.213.180.12", 2377), **connected("refused"))
    [finding] = evaluate("swarm.node-ports", ctx)
    assert "on 2377/tcp (refused): the nodes cannot reach this manager's control plane" in (
        finding.summary
    )


def pings(ctx: CheckContext, node_id: str, name: str, answered: set[str]) -> None:
    """Node `name`'s probe: tasks.* resolve to every task; only `answered` answer a ping."""
    at = crossing(ctx, node_id, name)
    for lookup in (resolve("tasks.rec-rr"), resolve("tasks.rec-vip")):
        observe(ctx, at, lookup, status="ok", rcode="NOERROR", addresses=[TASK1, TASK3, RR_TASK])
    [ping] = [
        task for where, task in plan("swarm.node-ports", ctx) if where == at and task.kind == "pmtu"
    ]
    targets = {
        address: {
            "sizes": {"84": "ok" if address in answered else "timeout"},
            "largest_ok": 84 if address in answered else 0,
        }
        for address in ping.addresses
    }
    observe(ctx, at, ping, status="ok", targets=targets)


def test_vxlan_blocked_to_and_from_one_node(rec_att: CheckContext) -> None:
    pings(rec_att, NODE1, "ddiag-node1", {RR_TASK})
    pings(rec_att, NODE2, "ddiag-node2", {TASK1})
    pings(rec_att, NODE3, "ddiag-node3", set())
    [finding] = evaluate("swarm.node-ports", rec_att)
    assert finding.summary == (
        "tasks on ddiag-node3 cannot reach tasks on ddiag-node1, ddiag-node2 over the overlay "
        "although their names resolve: VXLAN (4789/udp) to or from ddiag-node3 "
        "(10.213.180.13) is blocked"
    )
    assert finding.subjects == ("ddiag-node3", "ddiag-node1", "ddiag-node2")
    assert (
        "from ddiag-node1 on rec-att: tasks.rec-vip lists 10.213.189.12 (a task on "
        "ddiag-node3), which does not answer a ping"
    ) in finding.evidence["probe"]
    assert finding.fix.startswith("Let 4789/udp (and 7946/udp) through to and from 10.213.180.13")


def test_vxlan_blocked_between_two_nodes(rec_att: CheckContext) -> None:
    pings(rec_att, NODE1, "ddiag-node1", {RR_TASK})
    pings(rec_att, NODE2, "ddiag-node2", {TASK1, TASK3})
    pings(rec_att, NODE3, "ddiag-node3", {RR_TASK})
    [finding] = evaluate("swarm.node-ports", rec_att)
    assert "tasks on ddiag-node1 and ddiag-node3 cannot reach each other" in finding.summary
    assert "between 10.213.180.11 and 10.213.180.13" in finding.summary


def test_no_vxlan_finding_when_the_name_does_not_list_the_task(rec_att: CheckContext) -> None:
    pings(rec_att, NODE1, "ddiag-node1", set())
    at = crossing(rec_att, NODE1, "ddiag-node1")
    for lookup in (resolve("tasks.rec-rr"), resolve("tasks.rec-vip")):
        observe(rec_att, at, lookup, status="ok", rcode="NOERROR", addresses=[TASK1])
    assert evaluate("swarm.node-ports", rec_att) == []  # gossip itself is in doubt: not VXLAN


# --- swarm.overlay-mtu -----------------------------------------------------------------------


def host_interfaces(ctx: CheckContext, mtu: int) -> None:
    observe(
        ctx,
        HOST,
        INTERFACES,
        status="ok",
        interfaces=[
            {"name": "lo", "up": True, "mtu": 65536, "addresses": ["127.0.0.1/8"]},
            {"name": "eth0", "up": True, "mtu": mtu, "addresses": ["10.213.180.11/24"]},
        ],
        routes=[{"dst": "10.213.180.0/24", "dev": "eth0", "via": "", "metric": 0}],
    )


def test_overlay_mtu_arithmetic_as_the_overlay_driver_does_it(topology: Topology) -> None:
    att, enc = topology.network_named("rec-att"), topology.network_named("rec-enc")
    assert att is not None and enc is not None
    assert (link_mtu(att), interface_mtu(att)) == (1500, 1450)
    assert (link_mtu(enc), interface_mtu(enc)) == (1400, 1324)  # as seen in rec-rr's task


def test_overlay_larger_than_the_managers_link(topology: Topology, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(topology, "rec-att", "rec-enc")
    assert plan("swarm.overlay-mtu", ctx) == [(HOST, INTERFACES)]
    host_interfaces(ctx, 1400)
    [finding] = evaluate("swarm.overlay-mtu", ctx)  # rec-enc was made for 1400
    assert finding.severity is Severity.WARNING and finding.subjects == ("rec-att", "ddiag-node1")
    assert finding.summary == (
        "rec-att's VXLAN packets are up to 1500 bytes, but ddiag-node1's link to the other "
        "nodes (eth0) has MTU 1400: large packets between tasks on different nodes are "
        "fragmented or lost"
    )
    assert finding.evidence["underlay"].startswith("eth0 holds 10.213.180.11")
    assert "--attachable --opt com.docker.network.driver.mtu=1400 rec-att" in finding.fix


def test_overlays_that_fit_the_link(topology: Topology, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(topology, "rec-att", "rec-enc")
    host_interfaces(ctx, 1500)
    assert evaluate("swarm.overlay-mtu", ctx) == []


def test_a_single_node_sends_no_vxlan(topology: Topology, make_ctx: MakeCtx) -> None:
    swarm = topology.swarm
    assert swarm is not None
    alone = dataclasses.replace(topology, swarm=dataclasses.replace(swarm, nodes=swarm.nodes[:1]))
    ctx = make_ctx(alone, "rec-att")
    assert plan("swarm.overlay-mtu", ctx) == []
    host_interfaces(ctx, 1400)
    assert evaluate("swarm.overlay-mtu", ctx) == []


# --- swarm.not-attachable --------------------------------------------------------------------


def natest(topology: Topology) -> CheckContext:
    target = compose_target(topology, project_from_labels(topology, "natest"))
    return CheckContext(topology, target, Observations())


REFUSED = (
    "Could not attach to network rec-enc: rpc error: code = PermissionDenied desc = network "
    "rec-enc not manually attachable"
)


def test_a_compose_container_refused_by_an_overlay(topology: Topology) -> None:
    ctx = natest(topology)
    [finding] = evaluate("swarm.not-attachable", ctx)
    assert finding.subjects == ("app", "natest-app-1", "rec-enc")
    assert finding.summary == (
        "rec-enc is a swarm overlay that is not attachable: app cannot join it (only swarm "
        "services' tasks can)"
    )
    assert finding.evidence["containers"] == [f"natest-app-1: created, {REFUSED}"]
    assert "docker network create -d overlay --attachable rec-enc" in finding.fix


def test_ddiags_own_probe_refused(topology: Topology, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(topology, "rec-enc")
    ctx.target = dataclasses.replace(ctx.target, containers=())
    assert evaluate("swarm.not-attachable", ctx) == []  # nothing failed: nothing to say
    failure = f"probe not started on network rec-enc: {REFUSED}"
    ctx.observations.failures[peer(ctx, "rec-enc")] = failure
    [finding] = evaluate("swarm.not-attachable", ctx)
    assert finding.summary.startswith("rec-enc is a swarm overlay that is not attachable: ddiag's")
    assert finding.evidence["probe"] == failure


def test_a_probe_refused_for_another_reason_is_not_this_checks(
    topology: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology, "rec-enc")
    ctx.target = dataclasses.replace(ctx.target, containers=())
    ctx.observations.failures[peer(ctx, "rec-enc")] = "probe not started: out of memory"
    assert evaluate("swarm.not-attachable", ctx) == []


def test_an_attachable_overlay_is_never_reported(topology: Topology) -> None:
    enc = topology.network_named("rec-enc")
    assert enc is not None
    opened = dataclasses.replace(enc, attachable=True)
    networks = tuple(opened if n.id == enc.id else n for n in topology.networks)
    assert (
        evaluate("swarm.not-attachable", natest(dataclasses.replace(topology, networks=networks)))
        == []
    )


# --- outside a swarm, or on a worker: nothing ------------------------------------------------

SWARM_CHECKS = (
    "swarm.ingress",
    "swarm.node-ports",
    "swarm.overlay-mtu",
    "swarm.vip-vs-dnsrr",
)


@pytest.mark.parametrize("check_id", SWARM_CHECKS)
@pytest.mark.parametrize("view", ["worker", "none"])
def test_without_the_managers_view_nothing_is_planned(
    topology: Topology, make_ctx: MakeCtx, check_id: str, view: str
) -> None:
    swarm: Swarm | None = recorded_swarm("info-worker.json") if view == "worker" else None
    ctx = make_ctx(dataclasses.replace(topology, swarm=swarm), "rec-att")
    assert plan(check_id, ctx) == []
    assert evaluate(check_id, ctx) == []
