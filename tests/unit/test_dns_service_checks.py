"""dns.custom-resolver-unreachable, dns.ndots and dns.links-legacy on hand-built topologies.

The stack, compose project `p` on `p_default` (10.213.80.0/24): `web` (10.213.80.2), `db`
(10.213.80.3) and `resolver` (10.213.80.53, runs no DNS server); the engine's default
`bridge` is 172.17.0.0/16. Observations have the shapes the agent returns
(diag/agent/tasks.py): a resolve that timed out, one refused by the kernel, one answered.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from diag.checks.dns.ndots import ndots_of
from diag.checks.registry import find
from diag.model.compose import project_from_config
from diag.model.context import CheckContext, Target
from diag.model.edges import Edge
from diag.model.findings import Finding, Severity
from diag.model.targets import compose_target, container_target, network_target
from diag.model.tasks import HOSTS, RESOLV_CONF, Observations, Placement, resolve
from diag.model.topology import Container, Endpoint, EngineInfo, Network, Subnet, Topology

from .recorded import record

PROJECT = "p"
NET = "p_default"
DEAD = "10.213.80.53"
OUTSIDE = "192.0.2.53"  # TEST-NET-1: not on this machine, never contacted


def _network(name: str, subnet: str, bridge: bool = False) -> Network:
    return Network(
        id=(name.encode().hex() * 8)[:64],
        name=name,
        driver="bridge",
        scope="local",
        internal=False,
        attachable=False,
        enable_ipv6=False,
        subnets=(Subnet(subnet, None),),
        options={"com.docker.network.bridge.default_bridge": "true"} if bridge else {},
        labels={} if bridge else {"com.docker.compose.project": PROJECT},
    )


USER = _network(NET, "10.213.80.0/24")
BRIDGE = _network("bridge", "172.17.0.0/16", bridge=True)


def _container(service: str, ip: str, network: Network = USER, **changes: Any) -> Container:
    name = f"{PROJECT}-{service}-1"
    cid = (service.encode().hex() * 16)[:64]
    names = (name, service, cid[:12]) if not network.is_default_bridge else ()
    container = Container(
        id=cid,
        name=name,
        image="ddiag-test/busybox:latest",
        status="running",
        exit_code=0,
        error="",
        restart_count=0,
        health=None,
        network_mode="bridge" if network.is_default_bridge else network.name,
        endpoints=(Endpoint(network.id, network.name, ip, 24, "", "", names, names),),
        exposed=(),
        published=(),
        labels={
            "com.docker.compose.project": PROJECT,
            "com.docker.compose.service": service,
        },
    )
    return dataclasses.replace(container, **changes)


def _topology(*containers: Container) -> Topology:
    return Topology(EngineInfo("20.10.24", "1.41"), (BRIDGE, USER), containers)


def _compose_ctx(topology: Topology, services: dict[str, dict[str, Any]]) -> CheckContext:
    model = {"name": PROJECT, "services": services, "networks": {"default": {"name": NET}}}
    return CheckContext(topology, compose_target(topology, project_from_config(model)))


def _evaluate(check_id: str, ctx: CheckContext) -> list[Finding]:
    check = find(check_id)
    assert check is not None, check_id
    return list(check.evaluate(ctx))


def _plan(check_id: str, ctx: CheckContext) -> list[tuple[Placement, Any]]:
    check = find(check_id)
    assert check is not None, check_id
    return check.plan(ctx)


def _netns(ctx: CheckContext, name: str) -> Placement:
    container = ctx.topology.container_named(name)
    assert container is not None, name
    return ctx.netns_placement(container)


def test_catalog_knows_the_three_checks() -> None:
    for check_id, severity in (
        ("dns.custom-resolver-unreachable", Severity.ERROR),
        ("dns.ndots", Severity.WARNING),
        ("dns.links-legacy", Severity.INFO),
    ):
        check = find(check_id)
        assert check is not None and check.severity is severity
        assert "Fix" in check.doc and "Detected" in check.doc


# --- dns.custom-resolver-unreachable -------------------------------------------------------

CRU = "dns.custom-resolver-unreachable"
WEB = f"{PROJECT}-web-1"
RESOLVER = f"{PROJECT}-resolver-1"


def _resolver_ctx(*servers: str, **web_changes: Any) -> CheckContext:
    web = _container("web", "10.213.80.2", dns=servers, **web_changes)
    resolver = _container("resolver", DEAD)
    services = {"web": {"dns": list(servers)}, "resolver": {}}
    return _compose_ctx(_topology(web, resolver), services)


def _set_query(ctx: CheckContext, server: str, result: dict[str, Any], where: str = WEB) -> None:
    record(
        ctx.observations,
        _netns(ctx, where),
        resolve("localhost", "A", server=server),
        {
            "server": server,
            **result,
        },
    )


TIMEOUT = {"status": "timeout", "elapsed_ms": 2003}
REFUSED = {"status": "error", "detail": "[Errno 111] Connection refused"}
ANSWERED = {"status": "ok", "rcode": "NOERROR", "addresses": ["127.0.0.1"], "elapsed_ms": 1}


def test_resolver_plan_queries_only_servers_on_this_machine() -> None:
    ctx = _resolver_ctx(DEAD, OUTSIDE, "127.0.0.1", "127.0.0.11", "8.8.8.8")
    web = _netns(ctx, WEB)
    assert _plan(CRU, ctx) == [
        (web, resolve("localhost", "A", server=DEAD)),
        (web, resolve("localhost", "A", server="127.0.0.1")),
    ]
    # traffic rule: nothing off the machine, and the embedded DNS (which forwards) is skipped
    assert all(task.server not in (OUTSIDE, "8.8.8.8", "127.0.0.11") for _, task in _plan(CRU, ctx))


def test_resolver_timeout_is_an_error_with_status_and_time() -> None:
    ctx = _resolver_ctx(DEAD)
    _set_query(ctx, DEAD, TIMEOUT)
    (finding,) = _evaluate(CRU, ctx)
    assert finding.severity is Severity.ERROR
    assert finding.title == "Configured DNS server does not answer"
    assert finding.subjects == ("web", "resolver", WEB, RESOLVER)
    assert "10.213.80.53" in finding.summary and "outside name" in finding.summary
    assert finding.evidence["dns"] == [DEAD]
    assert finding.evidence["no_answer"] == [
        f"{DEAD}: timeout after 2003 ms (query localhost. A from {WEB}'s netns)"
    ]
    assert finding.evidence["server_containers"] == [f"{RESOLVER} (running)"]
    assert "  web:\n    # dns: [10.213.80.53]" in finding.fix


def test_resolver_socket_error_is_a_non_answer() -> None:
    ctx = _resolver_ctx("127.0.0.1")
    _set_query(ctx, "127.0.0.1", REFUSED)
    (finding,) = _evaluate(CRU, ctx)
    assert "Connection refused" in finding.evidence["no_answer"][0]
    assert finding.subjects == ("web", WEB)


@pytest.mark.parametrize(
    "result",
    [
        ANSWERED,
        {"status": "error", "rcode": "REFUSED", "addresses": [], "elapsed_ms": 1},
        {"status": "servfail", "rcode": "SERVFAIL", "addresses": [], "elapsed_ms": 3},
        {"status": "nxdomain", "rcode": "NXDOMAIN", "addresses": [], "elapsed_ms": 1},
    ],
)
def test_resolver_any_dns_answer_means_reachable(result: dict[str, Any]) -> None:
    ctx = _resolver_ctx(DEAD)
    _set_query(ctx, DEAD, result)
    assert _evaluate(CRU, ctx) == []


def test_resolver_dead_one_beside_an_answering_one_is_a_warning() -> None:
    ctx = _resolver_ctx(DEAD, "127.0.0.1", OUTSIDE)
    _set_query(ctx, DEAD, TIMEOUT)
    _set_query(ctx, "127.0.0.1", ANSWERED)
    (finding,) = _evaluate(CRU, ctx)
    assert finding.severity is Severity.WARNING
    assert finding.evidence["answering"] == ["127.0.0.1"]
    assert finding.evidence["not_contacted"] == [
        f"{OUTSIDE} (not on this machine: not queried by default)"
    ]
    assert f"dns: [127.0.0.1, {OUTSIDE}]" in finding.fix


def test_resolver_outside_servers_are_neither_queried_nor_reported() -> None:
    ctx = _resolver_ctx(OUTSIDE)
    assert _plan(CRU, ctx) == []
    assert _evaluate(CRU, ctx) == []


def test_resolver_silent_without_observation_or_dns() -> None:
    assert _evaluate(CRU, _resolver_ctx(DEAD)) == []
    ctx = _resolver_ctx()
    assert _plan(CRU, ctx) == [] and _evaluate(CRU, ctx) == []


def test_resolver_skips_stopped_containers() -> None:
    ctx = _resolver_ctx(DEAD, status="exited")
    assert _plan(CRU, ctx) == []


def test_resolver_queried_from_the_netns_owner() -> None:
    """`network_mode: service:resolver` lives in resolver's netns: the probe goes there."""
    resolver = _container("resolver", DEAD)
    sidecar = dataclasses.replace(
        _container("sidecar", "", dns=(DEAD,)),
        network_mode=f"container:{resolver.id}",
        endpoints=(),
    )
    ctx = _compose_ctx(
        _topology(resolver, sidecar),
        {"resolver": {}, "sidecar": {"dns": [DEAD], "network_mode": "service:resolver"}},
    )
    assert _plan(CRU, ctx) == [(_netns(ctx, RESOLVER), resolve("localhost", "A", server=DEAD))]
    _set_query(ctx, DEAD, TIMEOUT, where=RESOLVER)
    (finding,) = _evaluate(CRU, ctx)
    assert finding.subjects[0] == "sidecar"


def test_resolver_plain_container_fix_uses_run_flags() -> None:
    web = _container("web", "10.213.80.2", dns=(DEAD,), labels={})
    topology = _topology(web, _container("resolver", DEAD))
    ctx = CheckContext(topology, container_target(topology, WEB))
    _set_query(ctx, DEAD, TIMEOUT)
    (finding,) = _evaluate(CRU, ctx)
    assert finding.subjects == ("resolver", WEB, RESOLVER)
    assert f"without --dns {DEAD}" in finding.fix


# --- dns.ndots -----------------------------------------------------------------------------


def _ndots_ctx(*names: str, **web_changes: Any) -> CheckContext:
    web = _container("web", "10.213.80.2", **web_changes)
    api = _container("api", "10.213.80.3")
    topology = _topology(web, api)
    edges = tuple(Edge(web, name, None, ("environment X_URL",)) for name in names)
    target = Target("compose", (PROJECT,), (USER,), (web, api), edges)
    return CheckContext(topology, target, Observations())


def _set_file(ctx: CheckContext, task: Any, result: dict[str, Any]) -> None:
    record(ctx.observations, _netns(ctx, WEB), task, {"status": "ok", **result})


def _resolv(ctx: CheckContext, search: list[str], options: list[str]) -> None:
    conf = {"nameservers": ["127.0.0.11"], "search": search, "options": options}
    _set_file(ctx, RESOLV_CONF, conf)


def test_ndots_plan_reads_files_only() -> None:
    ctx = _ndots_ctx("api", "10.213.80.3")
    assert _plan("dns.ndots", ctx) == [(_netns(ctx, WEB), RESOLV_CONF), (_netns(ctx, WEB), HOSTS)]
    assert _plan("dns.ndots", _ndots_ctx("10.213.80.3", "localhost")) == []


def test_ndots_names_with_fewer_dots_walk_the_search_list() -> None:
    ctx = _ndots_ctx("api", "api.svc.corp", "a.b.c.example", "localhost", "10.213.80.3", "x.")
    _resolv(ctx, ["corp.example", "example"], ["ndots:3"])
    _set_file(ctx, HOSTS, {"entries": [{"ip": "127.0.0.1", "names": ["localhost"]}]})
    (finding,) = _evaluate("dns.ndots", ctx)
    assert finding.severity is Severity.WARNING
    assert finding.subjects == ("web", WEB)
    assert finding.evidence["resolv_conf"] == ["search corp.example example", "options ndots:3"]
    assert finding.evidence["names"] == [
        "api (0 dots < ndots:3)",
        "api.svc.corp (2 dots < ndots:3)",
    ]
    assert finding.evidence["lookup_order"] == "api.corp.example → api.example → api"
    assert 'dns_opt: ["ndots:0"]' in finding.fix


def test_ndots_names_in_the_hosts_file_do_not_walk() -> None:
    ctx = _ndots_ctx("api", "db")
    _resolv(ctx, ["corp.example"], ["ndots:5"])
    _set_file(ctx, HOSTS, {"entries": [{"ip": "10.213.80.9", "names": ["db"]}]})
    (finding,) = _evaluate("dns.ndots", ctx)
    assert finding.evidence["names"] == ["api (0 dots < ndots:5)"]


@pytest.mark.parametrize(
    ("search", "options"),
    [
        (["corp.example"], ["ndots:0"]),  # Docker's own default
        (["corp.example"], []),  # no explicit ndots
        ([], ["ndots:5"]),  # nothing to walk
        (["corp.example"], ["ndots:5", "ndots:0"]),  # the last one wins
    ],
)
def test_ndots_silent(search: list[str], options: list[str]) -> None:
    ctx = _ndots_ctx("api")
    _resolv(ctx, search, options)
    assert _evaluate("dns.ndots", ctx) == []


def test_ndots_falls_back_to_host_config_when_unread() -> None:
    ctx = _ndots_ctx("api", dns_search=("corp.example",), dns_options=("timeout:1", "ndots:2"))
    (finding,) = _evaluate("dns.ndots", ctx)
    assert finding.evidence["read_from"] == "HostConfig (not read)"
    assert finding.evidence["configured"] == [
        "dns_search: [corp.example]",
        "dns_opt: [timeout:1, ndots:2]",
    ]
    assert 'dns_opt: ["timeout:1", "ndots:0"]   # was ndots:2' in finding.fix
    assert "# dns_search: [corp.example]" in finding.fix
    assert _evaluate("dns.ndots", _ndots_ctx("api")) == []  # nothing known: nothing said


def test_ndots_option_parsing() -> None:
    assert ndots_of(["timeout:1", "ndots:4"]) == 4
    assert ndots_of(["ndots:99"]) == 15
    assert ndots_of(["ndots:x", "rotate"]) is None


# --- dns.links-legacy ----------------------------------------------------------------------

DB = f"{PROJECT}-db-1"


def test_links_on_a_user_defined_network() -> None:
    web, db = _container("web", "10.213.80.2"), _container("db", "10.213.80.3")
    ctx = _compose_ctx(_topology(web, db), {"web": {"links": ["db", "db:database"]}, "db": {}})
    assert _plan("dns.links-legacy", ctx) == []  # configuration only: nothing is sent
    (finding,) = _evaluate("dns.links-legacy", ctx)
    assert finding.severity is Severity.INFO
    assert finding.subjects == ("web", "db", WEB, DB)
    assert finding.evidence["links"] == ["db:database", "db"]
    assert finding.evidence["targets"] == [DB]
    assert "only add aliases" in finding.summary
    assert '# links: ["db:database", db]   <- remove' in finding.fix
    assert "      default:\n        aliases: [database]" in finding.fix


def test_links_on_the_default_bridge_go_stale() -> None:
    db = _container("db", "172.17.0.3", BRIDGE)
    web = _container("web", "172.17.0.2", BRIDGE, links=(f"/{DB}:/{WEB}/db",))
    topology = _topology(web, db)
    ctx = CheckContext(topology, network_target(topology, ["bridge"]))
    (finding,) = _evaluate("dns.links-legacy", ctx)
    assert finding.subjects == ("web", "db", WEB, DB, "bridge")
    assert "/etc/hosts" in finding.summary and "is recreated" in finding.summary
    assert "networks: [app]   # and drop network_mode: bridge" in finding.fix
    assert "networks:\n  app: {}" in finding.fix


def test_links_of_a_plain_container() -> None:
    db = _container("db", "172.17.0.3", BRIDGE, labels={})
    web = _container("web", "172.17.0.2", BRIDGE, links=(f"/{DB}:/{WEB}/database",), labels={})
    topology = _topology(web, db)
    ctx = CheckContext(topology, container_target(topology, WEB))
    (finding,) = _evaluate("dns.links-legacy", ctx)
    assert finding.subjects == (WEB, DB, "bridge")
    assert finding.evidence["links"] == [f"{DB}:database"]
    assert "--alias database" in finding.fix


def test_no_links_no_finding() -> None:
    web, db = _container("web", "10.213.80.2"), _container("db", "10.213.80.3")
    ctx = _compose_ctx(_topology(web, db), {"web": {"depends_on": {"db": {}}}, "db": {}})
    assert _evaluate("dns.links-legacy", ctx) == []
