"""net.pool-exhausted, net.internal-egress and net.icc-disabled on hand-built topologies.

Compose project `n`: networks `n_small` (10.213.130.0/28), `n_back` (10.213.131.0/24,
internal) and `n_iso` (10.213.132.0/24, enable_icc=false); the engine's default `bridge` is
172.17.0.0/16. Observations have the shapes the agent returns (diag/agent/tasks.py): a
reach from the client's netns whose connect timed out, a peer's connect that timed out.
Engine strings (State.Error) are the ones the test engine (20.10.24) wrote.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

import pytest

from diag.checks._edges import plan as edges_plan
from diag.checks.net.pool_exhausted import free_subnet
from diag.checks.registry import find
from diag.model.compose import NETWORK_LABEL, project_from_config
from diag.model.context import CheckContext
from diag.model.findings import Severity
from diag.model.targets import compose_target, container_target, network_target
from diag.model.tasks import LISTENING, connect
from diag.model.topology import Container, Endpoint, EngineInfo, Network, Subnet, Topology

from .recorded import evaluate, record

PROJECT = "n"
ICC = "com.docker.network.bridge.enable_icc"
NO_ADDRESS = (
    "no available IPv4 addresses on this network's address pools: n_small "
    "(6e5f736d616c6c6e5f736d616c6c6e5f736d616c6c6e5f736d616c6c6e5f736d)"
)


def _network(
    key: str,
    subnet: str,
    *,
    internal: bool = False,
    options: dict[str, str] | None = None,
    gateway: str | None = None,
    ip_range: str | None = None,
    compose: bool = True,
) -> Network:
    name = f"{PROJECT}_{key}" if compose else key
    labels = {"com.docker.compose.project": PROJECT, "com.docker.compose.network": key}
    return Network(
        id=(name.encode().hex() * 8)[:64],
        name=name,
        driver="bridge",
        scope="local",
        internal=internal,
        attachable=False,
        enable_ipv6=False,
        subnets=(Subnet(subnet, gateway, ip_range),),
        options=dict(options or {}),
        labels=labels if compose else {},
    )


BRIDGE = _network(
    "bridge",
    "172.17.0.0/16",
    gateway="172.17.0.1",
    options={"com.docker.network.bridge.default_bridge": "true"},
    compose=False,
)
SMALL = _network("small", "10.213.130.0/28")
BACK = _network("back", "10.213.131.0/24", internal=True)
ISO = _network("iso", "10.213.132.0/24", options={ICC: "false"})


def _container(
    service: str, *attachments: tuple[Network, str], number: int = 1, **changes: Any
) -> Container:
    """A running compose container of project `n`, on each (network, ip) given."""
    name = f"{PROJECT}-{service}-{number}"
    cid = (f"{service}{number}".encode().hex() * 16)[:64]
    names = (name, service, cid[:12])
    container = Container(
        id=cid,
        name=name,
        image="ddiag-test/busybox:latest",
        status="running",
        exit_code=0,
        error="",
        restart_count=0,
        health=None,
        network_mode=attachments[0][0].name if attachments else "none",
        endpoints=tuple(
            Endpoint(network.id, network.name, ip, 24, "", "", names, names)
            for network, ip in attachments
        ),
        exposed=(),
        published=(),
        labels={"com.docker.compose.project": PROJECT, "com.docker.compose.service": service},
    )
    return dataclasses.replace(container, **changes)


def _topology(networks: tuple[Network, ...], *containers: Container) -> Topology:
    return Topology(EngineInfo("20.10.24", "1.41"), (BRIDGE, *networks), containers)


def _compose_ctx(topology: Topology, services: dict[str, dict[str, Any]]) -> CheckContext:
    keys = {
        n.labels[NETWORK_LABEL]: {"name": n.name}
        for n in topology.networks
        if NETWORK_LABEL in n.labels
    }
    model = {"name": PROJECT, "services": services, "networks": keys}
    return CheckContext(topology, compose_target(topology, project_from_config(model)))


def _network_ctx(topology: Topology, *names: str) -> CheckContext:
    return CheckContext(topology, network_target(topology, names))


def test_catalog_knows_the_three_checks() -> None:
    for check_id, severity in (
        ("net.pool-exhausted", Severity.WARNING),
        ("net.internal-egress", Severity.WARNING),
        ("net.icc-disabled", Severity.ERROR),
    ):
        check = find(check_id)
        assert check is not None and check.severity is severity, check_id
        assert "Fix" in check.doc and "Detected" in check.doc


# --- net.pool-exhausted --------------------------------------------------------------------

POOL = "net.pool-exhausted"


def _workers(network: Network, count: int, first_host: int = 2) -> list[Container]:
    base = ipaddress.ip_network(network.subnets[0].subnet).network_address
    return [
        _container("worker", (network, str(base + first_host + i)), number=i + 1)
        for i in range(count)
    ]


def test_pool_exhausted_counts_the_unreported_gateway() -> None:
    """12 replicas and the gateway (reserved, though IPAM.Config omits it) on a /28: 13 of 14."""
    ctx = _network_ctx(_topology((SMALL,), *_workers(SMALL, 12)), SMALL.name)
    assert find(POOL) is not None and find(POOL).plan(ctx) == []  # type: ignore[union-attr]
    [finding] = evaluate(POOL, ctx)
    assert finding.severity is Severity.WARNING
    assert finding.subjects == ("n_small",)
    assert finding.evidence == {
        "subnet": "10.213.130.0/28",
        "usable": 14,
        "held": 13,
        "used": "93%",
        "gateway": "reserved (its address not reported)",
        "endpoints": 12,
        "free": 1,
    }
    assert "1 of 14 addresses left" in finding.summary
    # room for twice 13: a /27, the block around the old /28 (nothing else uses it)
    assert "networks:\n    small:\n      ipam:" in finding.fix
    assert finding.fix.endswith("- subnet: 10.213.130.0/27")


def test_pool_exhausted_silent_below_ninety_percent_and_for_stopped_members() -> None:
    workers = _workers(SMALL, 12)
    stopped = [dataclasses.replace(workers[0], status="exited"), *workers[1:]]
    for containers in (workers[:11], stopped):  # 12 of 14 held: 86 %
        assert evaluate(POOL, _network_ctx(_topology((SMALL,), *containers), SMALL.name)) == []


def test_pool_exhausted_suggests_a_subnet_no_network_uses() -> None:
    """The /27 around the full /28 overlaps another network: the next free /27 is named."""
    neighbour = _network("next", "10.213.130.16/28")
    topology = _topology((SMALL, neighbour), *_workers(SMALL, 13))
    [finding] = evaluate(POOL, _network_ctx(topology, SMALL.name))
    assert finding.evidence["used"] == "100%"
    assert finding.fix.endswith("- subnet: 10.213.0.0/27")


def test_pool_exhausted_names_containers_that_could_not_start() -> None:
    full = _workers(SMALL, 13)
    starved = _container(
        "worker", (SMALL, ""), number=14, status="created", error=NO_ADDRESS, exit_code=128
    )
    ctx = _network_ctx(_topology((SMALL,), *full, starved), SMALL.name)
    [finding] = evaluate(POOL, ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("worker", "n-worker-14", "n_small")
    assert finding.evidence["not_started"] == [f"n-worker-14: {NO_ADDRESS}"]
    assert "n-worker-14 could not start" in finding.summary


def test_pool_exhausted_judges_the_ip_range_and_widens_it() -> None:
    """An ip_range 10.213.130.0/29 of a /24: 7 addresses (not .0), the gateway and 6 hold them."""
    ranged = _network("lan", "10.213.130.0/24", gateway="10.213.130.1", ip_range="10.213.130.0/29")
    ctx = _network_ctx(_topology((ranged,), *_workers(ranged, 6)), ranged.name)
    [finding] = evaluate(POOL, ctx)
    assert finding.evidence["usable"] == 7 and finding.evidence["held"] == 7
    assert finding.evidence["ip_range"] == "10.213.130.0/29"
    assert "10.213.130.0/29 (ip_range of 10.213.130.0/24)" in finding.summary
    assert "ip_range: 10.213.130.0/28" in finding.fix
    assert "subnet: 10.213.130.0/24" in finding.fix


def test_pool_exhausted_fix_for_a_network_made_by_hand() -> None:
    plain = _network("plain", "10.213.130.32/29", gateway="10.213.130.33", compose=False)
    ctx = _network_ctx(_topology((plain,), *_workers(plain, 5, first_host=2)), "plain")
    [finding] = evaluate(POOL, ctx)
    assert "docker network create --driver bridge --subnet 10.213.130.32/28 plain" in (finding.fix)


def _default_pool_networks(count: int) -> tuple[Network, ...]:
    """`count` networks in Docker's default pools, after docker0's 172.17.0.0/16."""
    blocks = [f"172.{n}.0.0/16" for n in range(18, 32)]
    blocks += [f"192.168.{16 * i}.0/20" for i in range(16)]
    return tuple(
        _network(f"auto{i}", block, compose=False) for i, block in enumerate(blocks[:count])
    )


def test_default_pools_nearly_used_up_is_info_with_daemon_advice() -> None:
    """docker0 and 27 more networks: 28 of the 31 built-in pools taken (90 %)."""
    automatic = _default_pool_networks(27)
    topology = _topology((SMALL, *automatic), *_workers(SMALL, 2))
    [finding] = evaluate(POOL, _network_ctx(topology, SMALL.name, "auto0"))
    assert finding.severity is Severity.INFO
    assert finding.subjects == ("auto0",)  # the target's networks that live in the pools
    assert finding.evidence["taken"] == 28
    assert finding.evidence["free_pools"] == [
        "192.168.208.0/20",
        "192.168.224.0/20",
        "192.168.240.0/20",
    ]
    assert "built-in defaults" in finding.evidence["assumed"]
    assert "API 1.41" in finding.evidence["assumed"]
    assert "only 3 more networks" in finding.summary
    assert '"default-address-pools": [{"base": "10.0.0.0/16", "size": 24}]' in finding.fix


def test_default_pools_silent_below_ninety_percent() -> None:
    topology = _topology(_default_pool_networks(26), *_workers(SMALL, 1))  # 27 of 31
    assert evaluate(POOL, _network_ctx(topology, "auto0")) == []


def test_free_subnet_jumps_past_what_it_collides_with() -> None:
    net = ipaddress.ip_network
    taken = [net("10.0.0.0/9"), net("10.128.0.0/24"), net("10.128.1.0/25")]
    assert free_subnet([net("10.0.0.0/8")], 24, taken) == net("10.128.2.0/24")
    assert free_subnet([net("10.0.0.0/8")], 8, taken) is None
    assert free_subnet([net("10.0.0.0/24"), net("192.168.0.0/16")], 16, taken) == net(
        "192.168.0.0/16"
    )


# --- net.internal-egress -------------------------------------------------------------------

EGRESS = "net.internal-egress"


def _egress_ctx(env: dict[str, str], **changes: Any) -> CheckContext:
    api = _container("api", (BACK, "10.213.131.2"), env=env, **changes)
    db = _container("db", (BACK, "10.213.131.3"))
    return _compose_ctx(_topology((BACK,), api, db), {"api": {"environment": env}, "db": {}})


def test_internal_egress_outside_url_on_internal_network_only() -> None:
    ctx = _egress_ctx(
        {"PAYMENTS_URL": "https://user:s3cret@payments.example.com/v1", "DB_HOST": "db"}
    )
    assert find(EGRESS).plan(ctx) == []  # type: ignore[union-attr]  # engine facts only
    [finding] = evaluate(EGRESS, ctx)
    assert finding.severity is Severity.WARNING
    assert finding.subjects == ("api", "n-api-1", "n_back")
    assert finding.evidence == {
        "networks": ["n_back (internal)"],
        "references": ["environment PAYMENTS_URL: payments.example.com:443"],
    }
    assert "s3cret" not in str(finding.to_dict())
    assert "configured to use payments.example.com" in finding.summary
    assert "networks: [back, egress]" in finding.fix and "egress: {}" in finding.fix


@pytest.mark.parametrize(
    "env",
    [
        {"DB_URL": "postgres://db:5432/x"},  # a sibling on the network
        {"DB_HOST": "db.n_back"},  # `name.network` resolves on the engine
        {"CACHE": "10.213.131.9:6379"},  # an address inside the engine's networks
        {"LOCAL": "http://localhost:9000/"},
        {"TYPO_HOST": "paymnts"},  # a bare name: the DNS checks' business
        {"PUBLIC_URL": "https://shop.example.com/", "VIRTUAL_HOST": "shop.example.com"},
        {"HTTPS_PROXY": "http://db:3128", "PAYMENTS_URL": "https://payments.example.com/"},
    ],
)
def test_internal_egress_silent_for_local_or_self_references(env: dict[str, str]) -> None:
    assert evaluate(EGRESS, _egress_ctx(env)) == []


def test_internal_egress_ignores_listen_and_bind_addresses() -> None:
    """Server settings (issue 17, 4a): where the service itself listens is no outside host."""
    env = {
        "ADDRESS": "0.0.0.0:8000",
        "SERVER_ADDR": "0.0.0.0",
        "LISTEN_ADDR": "127.0.0.1:9000",
        "GRPC_BIND": "[::]:50051",
        "METRICS_URL": "http://0.0.0.0:9100/metrics",
    }
    assert evaluate(EGRESS, _egress_ctx(env)) == []
    [finding] = evaluate(EGRESS, _egress_ctx({**env, "LEDGER": "203.0.113.7:5432"}))
    assert finding.evidence["references"] == ["environment LEDGER: 203.0.113.7:5432"]


def test_internal_egress_outside_address_and_outside_proxy() -> None:
    env = {"HTTPS_PROXY": "http://proxy.corp.example:3128", "LEDGER": "203.0.113.7:5432"}
    [finding] = evaluate(EGRESS, _egress_ctx(env))
    assert finding.evidence["references"] == [
        "environment HTTPS_PROXY: proxy.corp.example:3128",
        "environment LEDGER: 203.0.113.7:5432",
    ]


def test_internal_egress_judges_the_address_extra_hosts_gives() -> None:
    env = {"PAYMENTS_URL": "https://payments.example.com/"}
    for entry in ("payments.example.com:10.213.131.3", "payments.example.com=10.213.131.3"):
        assert evaluate(EGRESS, _egress_ctx(env, extra_hosts=(entry,))) == [], entry
    outside = _egress_ctx(env, extra_hosts=("payments.example.com:198.51.100.4",))
    assert [f.check for f in evaluate(EGRESS, outside)] == [EGRESS]


def test_internal_egress_silent_with_a_regular_network_too() -> None:
    front = _network("front", "10.213.133.0/24")
    env = {"PAYMENTS_URL": "https://payments.example.com/"}
    api = _container("api", (BACK, "10.213.131.2"), (front, "10.213.133.2"), env=env)
    ctx = _compose_ctx(_topology((BACK, front), api), {"api": {"environment": env}})
    assert evaluate(EGRESS, ctx) == []


def test_internal_egress_judges_a_shared_namespace_by_its_owner() -> None:
    """`network_mode: container:api`: the sidecar has no endpoints; api's are internal."""
    env = {"PAYMENTS_URL": "https://payments.example.com/"}
    api = _container("api", (BACK, "10.213.131.2"))
    sidecar = _container("sidecar", network_mode=f"container:{api.name}", env=env)
    topology = _topology((BACK,), api, sidecar)
    [finding] = evaluate(EGRESS, CheckContext(topology, container_target(topology, "n-sidecar-1")))
    assert finding.subjects == ("sidecar", "n-sidecar-1", "n_back")
    assert "services:\n    sidecar:\n      networks: [back, egress]" in finding.fix


# --- net.icc-disabled ----------------------------------------------------------------------

ICC_ID = "net.icc-disabled"
SERVER_IP = "10.213.132.3"
TIMEOUT = {"status": "timeout", "elapsed_ms": 1001}


def _icc_topology(network: Network = ISO, client_env: dict[str, str] | None = None) -> Topology:
    env = {"SERVER_URL": "http://server:8080/"} if client_env is None else client_env
    client = _container("client", (network, "10.213.132.2"), env=env)
    server = _container("server", (network, SERVER_IP), exposed=((8080, "tcp"),))
    return _topology((network,), client, server)


def _observe_edge(ctx: CheckContext, result: dict[str, Any]) -> None:
    """The client's reach of server:8080: resolved by the embedded DNS, then `result`."""
    [(placement, task)] = [(p, t) for p, t in edges_plan(ctx) if t.kind == "reach"]
    record(
        ctx.observations,
        placement,
        task,
        {
            "status": "ok",
            "hosts_ips": [],
            "resolve": {"status": "ok", "rcode": "NOERROR", "addresses": [SERVER_IP]},
            "connects": {SERVER_IP: result},
        },
    )


def _observe_peer(ctx: CheckContext, network: Network, result: dict[str, Any]) -> None:
    """The server's sockets ([::]:8080) and a peer's connect to it on `network`."""
    server = ctx.topology.container_named("n-server-1")
    assert server is not None
    sockets = [{"family": "tcp6", "address": "::", "port": 8080}]
    record(
        ctx.observations,
        ctx.netns_placement(server),
        LISTENING,
        {
            "status": "ok",
            "sockets": sockets,
        },
    )
    record(ctx.observations, ctx.peer_placement(network), connect(SERVER_IP, 8080), result)


SERVICES = {"client": {"environment": {"SERVER_URL": "http://server:8080/"}}, "server": {}}


def test_icc_disabled_owns_the_dropped_edge() -> None:
    ctx = _compose_ctx(_icc_topology(), SERVICES)
    _observe_edge(ctx, TIMEOUT)
    _observe_peer(ctx, ISO, TIMEOUT)
    [finding] = evaluate(ICC_ID, ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("client", "server", "n-client-1", "n-server-1", "n_iso")
    assert finding.evidence == {
        "edge": "client → server:8080",
        "from": "environment SERVER_URL",
        "probe": f"connect {SERVER_IP}:8080 timeout (from client's netns)",
        "network": "n_iso",
        "option": f"{ICC}=false",
    }
    assert f'{ICC}: "true"' in finding.fix
    assert evaluate("port.filtered", ctx) == []  # neither the edge nor the peer's connect


def test_icc_disabled_leaves_other_networks_to_port_filtered() -> None:
    open_net = _network("iso", "10.213.132.0/24")  # same network, inter-container traffic on
    ctx = _compose_ctx(_icc_topology(open_net), SERVICES)
    _observe_edge(ctx, TIMEOUT)
    _observe_peer(ctx, open_net, TIMEOUT)
    assert evaluate(ICC_ID, ctx) == []
    assert [f.check for f in evaluate("port.filtered", ctx)] == ["port.filtered"]


def test_icc_disabled_ignores_connects_that_got_through_or_were_refused() -> None:
    for result in ({"status": "open", "elapsed_ms": 1}, {"status": "refused", "elapsed_ms": 1}):
        ctx = _compose_ctx(_icc_topology(), SERVICES)
        _observe_edge(ctx, result)
        _observe_peer(ctx, ISO, result)
        assert evaluate(ICC_ID, ctx) == [], result


def test_icc_disabled_network_run_one_finding_instead_of_filtered_ports() -> None:
    ctx = _network_ctx(_icc_topology(), ISO.name)
    _observe_peer(ctx, ISO, TIMEOUT)
    [finding] = evaluate(ICC_ID, ctx)
    assert finding.severity is Severity.ERROR  # client's environment names server
    assert finding.subjects == ("client", "server", "n-client-1", "n-server-1", "n_iso")
    assert finding.evidence == {
        "option": f"{ICC}=false",
        "probe": [f"connect {SERVER_IP}:8080 timeout after 1001 ms (from a peer on n_iso)"],
        "references": ["client → server:8080 (environment SERVER_URL)"],
    }
    assert evaluate("port.filtered", ctx) == []


def test_icc_disabled_network_run_without_references_is_info() -> None:
    ctx = _network_ctx(_icc_topology(client_env={}), ISO.name)
    _observe_peer(ctx, ISO, TIMEOUT)
    [finding] = evaluate(ICC_ID, ctx)
    assert finding.severity is Severity.INFO
    assert finding.evidence["references"] == "none between its members"


@pytest.mark.parametrize(
    ("driver", "value", "disabled"),
    [
        ("bridge", "false", True),
        ("bridge", "False", True),
        ("bridge", "0", True),
        ("bridge", "true", False),
        ("bridge", None, False),
        ("overlay", "false", False),
    ],
)
def test_icc_disabled_reads_the_option_as_the_engine_does(
    driver: str, value: str | None, disabled: bool
) -> None:
    options = {ICC: value} if value is not None else {}
    network = dataclasses.replace(ISO, driver=driver, options=options)
    assert network.icc_disabled is disabled
