"""Edges to the host (issue 16) and the checks that explain their failures, on hand-built
topologies and observations of the shapes the agent returns (diag/agent/tasks.py).

Compose project `n` on `n_default` (10.213.227.0/24, gateway 10.213.227.1): `web`
(10.213.227.2) calls a service on the host. With `host.docker.internal:host-gateway` its
/etc/hosts gives the DEFAULT bridge's gateway (172.17.0.1); the host's listening sockets
are read in the engine host's namespace (`ctx.host_placement()`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from diag.checks._edges import local_networks, states
from diag.checks.dns import name_confusion
from diag.checks.registry import all_checks, edge_views, find
from diag.model.compose import project_from_config
from diag.model.context import CheckContext
from diag.model.findings import Finding
from diag.model.targets import compose_target
from diag.model.tasks import HOSTS, LISTENING, Planned, reach

from .recorded import record
from .test_net_engine_checks import PROJECT, _compose_ctx, _container, _network, _topology

WEB_IP, GATEWAY, DOCKER0 = "10.213.227.2", "10.213.227.1", "172.17.0.1"
NETWORK = _network("default", "10.213.227.0/24", gateway=GATEWAY)
HOST_GATEWAY_LINE = ("host.docker.internal:host-gateway",)
PORT = 8765
REFUSED = {"status": "refused", "elapsed_ms": 1}
OPEN = {"status": "open", "elapsed_ms": 1}


UPLINK = "192.0.2.10"  # the engine host's own address on its uplink (TEST-NET-1)


def _ctx(
    env: dict[str, str],
    extra_hosts: tuple[str, ...] = (),
    host_addresses: frozenset[str] = frozenset(),
    hosts_file_names: frozenset[str] = frozenset(),
) -> CheckContext:
    """web on NETWORK with `env`; `host_addresses` and `hosts_file_names`: the engine host's
    own addresses and its /etc/hosts' dotted names, as diag/engine/engine_host.py reads
    them (none known by default)."""
    topology = _topology(
        (NETWORK,), _container("web", (NETWORK, WEB_IP), env=env, extra_hosts=extra_hosts)
    )
    engine = replace(
        topology.engine, host_addresses=host_addresses, hosts_file_names=hosts_file_names
    )
    return _compose_ctx(replace(topology, engine=engine), {"web": {"environment": env}})


def _web_placement(ctx: CheckContext) -> Any:
    web = ctx.topology.container_named(f"{PROJECT}-web-1")
    assert web is not None
    return ctx.netns_placement(web)


def _observe(
    ctx: CheckContext, name: str, hosts: tuple[str, ...], connects: dict[str, Any]
) -> None:
    """web's reach of `name`:PORT, from its /etc/hosts only (no DNS: `resolve` is None)."""
    answer = {"status": "ok", "hosts_ips": list(hosts), "resolve": None, "connects": connects}
    task = reach(name, PORT, False, local_networks(ctx))
    record(ctx.observations, _web_placement(ctx), task, answer)


def _host_listening(ctx: CheckContext, *sockets: str) -> None:
    found = [
        {"family": "tcp6" if ":" in a else "tcp", "address": a, "port": int(p)}
        for a, _, p in (s.rpartition(":") for s in sockets)
    ]
    record(ctx.observations, ctx.host_placement(), LISTENING, {"status": "ok", "sockets": found})


def _findings(ctx: CheckContext) -> list[Finding]:
    return [f for check in all_checks() for f in check.evaluate(ctx)]


def _reaches(ctx: CheckContext) -> list[Planned]:
    check = find("host.not-listening")
    assert check is not None
    return [(at, task) for at, task in check.plan(ctx) if task.kind == "reach"]


# --- which references are host edges ------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "extra_hosts", "name"),
    [
        ({"API_URL": f"http://host.docker.internal:{PORT}"}, (), "host.docker.internal"),
        ({"API": f"gateway.docker.internal:{PORT}"}, (), "gateway.docker.internal"),
        ({"API_URL": f"http://{GATEWAY}:{PORT}/v1"}, (), GATEWAY),
        ({"API_URL": f"http://{DOCKER0}:{PORT}/v1"}, (), DOCKER0),
        ({"API_URL": f"http://devbox.lan:{PORT}"}, ("devbox.lan:host-gateway",), "devbox.lan"),
        ({"API_URL": f"http://devbox.lan:{PORT}"}, (f"devbox.lan:{GATEWAY}",), "devbox.lan"),
    ],
)
def test_references_to_the_host_are_host_edges(
    env: dict[str, str], extra_hosts: tuple[str, ...], name: str
) -> None:
    ctx = _ctx(env, extra_hosts)
    (edge,) = ctx.target.edges
    assert (edge.name, edge.port, edge.to_host) == (name, PORT, True)
    # Observed from /etc/hosts only: the reach task never asks DNS for the name.
    (task,) = [task for _, task in _reaches(ctx)]
    assert task.target == name and task.dns is False
    assert (ctx.host_placement(), LISTENING) in find("host.not-listening").plan(ctx)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("env", "extra_hosts"),
    [
        ({"DB_URL": f"postgres://{UPLINK}:{PORT}/app"}, ()),
        ({"DB_HOST": "dbhost", "DB_PORT": str(PORT)}, (f"dbhost:{UPLINK}",)),
    ],
)
def test_any_address_of_the_engine_host_is_the_host(
    env: dict[str, str], extra_hosts: tuple[str, ...]
) -> None:
    (edge,) = _ctx(env, extra_hosts, frozenset({UPLINK})).target.edges
    assert (edge.port, edge.to_host) == (PORT, True)
    # where the host's addresses are not known (a VM behind the socket), it is not the host
    assert not any(edge.to_host for edge in _ctx(env, extra_hosts).target.edges)


def test_outside_names_stay_outside() -> None:
    ctx = _ctx({"API_URL": f"http://devbox.lan:{PORT}", "CDN": "https://cdn.example.com"})
    assert ctx.target.edges == ()
    ctx = _ctx({"API_URL": f"http://devbox.lan:{PORT}"}, ("devbox.lan:192.168.50.7",))
    assert ctx.target.edges == ()  # mapped, but not to the host


# --- host.gateway-name --------------------------------------------------------------------


def test_gateway_name_absent_from_etc_hosts() -> None:
    ctx = _ctx({"API_URL": f"http://host.docker.internal:{PORT}"})
    _observe(ctx, "host.docker.internal", (), {})
    (finding,) = _findings(ctx)
    assert finding.check == "host.gateway-name"
    assert finding.subjects == ("web", f"{PROJECT}-web-1", "host.docker.internal")
    assert '- "host.docker.internal:host-gateway"' in finding.fix
    assert "  web:\n    extra_hosts:" in finding.fix
    (view,) = edge_views(ctx)
    assert (view.check, view.status) == ("host.gateway-name", "failed")


def test_name_confusion_never_claims_a_host_alias() -> None:
    ctx = _ctx({"API_URL": f"http://host.docker.internal:{PORT}"})
    _observe(ctx, "host.docker.internal", (), {})
    (state,) = states(ctx)
    assert name_confusion.explains(state, ctx) is None
    assert name_confusion.ID not in {f.check for f in _findings(ctx)}


def test_gateway_name_silent_before_etc_hosts_is_read() -> None:
    ctx = _ctx({"API_URL": f"http://host.docker.internal:{PORT}"})
    assert _findings(ctx) == []
    (view,) = edge_views(ctx)
    assert view.status == "not checked"


# --- host.service-loopback / host.not-listening -------------------------------------------


def _refused_at_docker0(*host_sockets: str) -> CheckContext:
    ctx = _ctx({"API_URL": f"http://host.docker.internal:{PORT}"}, HOST_GATEWAY_LINE)
    _observe(ctx, "host.docker.internal", (DOCKER0,), {DOCKER0: REFUSED})
    _host_listening(ctx, "0.0.0.0:22", *host_sockets)
    return ctx


@pytest.mark.parametrize("sockets", [("127.0.0.1:8765",), ("127.0.0.1:8765", "::1:8765")])
def test_service_on_loopback_only(sockets: tuple[str, ...]) -> None:
    ctx = _refused_at_docker0(*sockets)
    (finding,) = _findings(ctx)
    assert finding.check == "host.service-loopback"
    assert finding.summary.startswith(f"the host listens on {sockets[0].rpartition(':')[0]}")
    # the address the container connected to: docker0's, not the compose network's gateway
    assert f"listen on {DOCKER0}:{PORT}" in finding.fix and GATEWAY not in finding.fix
    assert f"--dport {PORT} ! -s 172.17.0.0/16 ! -i lo -j DROP" in finding.fix
    assert finding.evidence["hosts_file"] == [f"{DOCKER0} host.docker.internal"]


def test_service_on_the_compose_networks_gateway_is_not_where_host_gateway_goes() -> None:
    """host-gateway is docker0's address; the service binds web's own network's gateway,
    which web could use instead."""
    (finding,) = _findings(_refused_at_docker0(f"{GATEWAY}:{PORT}", f"127.0.0.1:{PORT}"))
    assert finding.check == "host.service-other-address"
    assert finding.summary.startswith(
        f"the host listens on {GATEWAY}, 127.0.0.1 for port {PORT}, not on {DOCKER0}"
    )
    assert f'- "host.docker.internal:{GATEWAY}"' in finding.fix
    assert f"listen on {DOCKER0}:{PORT}" in finding.fix


def test_a_literal_address_is_pointed_at_the_gateway_the_service_binds() -> None:
    (finding,) = _findings(_refused_at_the_uplink(f"{GATEWAY}:{PORT}"))
    assert finding.check == "host.service-other-address"
    assert finding.fix.startswith(f"Use {GATEWAY} in web's environment API_URL")


def test_a_service_on_an_address_no_network_of_the_source_holds_must_be_rebound() -> None:
    (finding,) = _findings(_refused_at_docker0(f"192.0.2.99:{PORT}"))
    assert finding.check == "host.service-other-address"
    assert finding.fix.startswith(f"Make the host service listen on {DOCKER0}:{PORT}")
    assert "extra_hosts" not in finding.fix


def test_nothing_listens_on_the_host() -> None:
    ctx = _refused_at_docker0("127.0.0.1:9999")
    (finding,) = _findings(ctx)
    assert finding.check == "host.not-listening"
    assert f"nothing on the host listens on port {PORT}" in finding.summary
    assert finding.evidence["host_listening"] == f"nothing on port {PORT}"
    assert f"listening on {DOCKER0}" in finding.fix


def test_not_listening_silent_when_the_host_was_not_read() -> None:
    ctx = _ctx({"API_URL": f"http://host.docker.internal:{PORT}"}, HOST_GATEWAY_LINE)
    _observe(ctx, "host.docker.internal", (DOCKER0,), {DOCKER0: REFUSED})
    assert {f.check for f in _findings(ctx)} <= {"port.refused"}  # no host.* guess


@pytest.mark.parametrize("bound", ["0.0.0.0", DOCKER0, "::"])
def test_a_healthy_host_gives_no_finding(bound: str) -> None:
    ctx = _ctx({"API_URL": f"http://host.docker.internal:{PORT}"}, HOST_GATEWAY_LINE)
    _observe(ctx, "host.docker.internal", (DOCKER0,), {DOCKER0: OPEN})
    _host_listening(ctx, f"{bound}:{PORT}")
    assert _findings(ctx) == []
    (view,) = edge_views(ctx)
    assert (view.edge.to_host, view.status, view.check) == (True, "ok", None)


def _refused_at_the_uplink(*host_sockets: str) -> CheckContext:
    ctx = _ctx({"API_URL": f"http://{UPLINK}:{PORT}/"}, host_addresses=frozenset({UPLINK}))
    _observe(ctx, UPLINK, (), {UPLINK: REFUSED})
    _host_listening(ctx, *host_sockets)
    return ctx


def test_service_on_loopback_only_reached_at_the_hosts_uplink_address() -> None:
    (finding,) = _findings(_refused_at_the_uplink(f"127.0.0.1:{PORT}"))
    assert finding.check == "host.service-loopback"
    assert f"listen on {UPLINK}:{PORT}" in finding.fix
    assert "-j DROP" not in finding.fix  # no engine subnet holds the uplink: no rule to guess


def test_nothing_listens_at_the_hosts_uplink_address() -> None:
    (finding,) = _findings(_refused_at_the_uplink("0.0.0.0:22"))
    assert finding.check == "host.not-listening"


# --- dns.host-only-name -------------------------------------------------------------------


def _host_only(address: str, *, read_host: bool = True, name: str = "legacybox") -> CheckContext:
    ctx = _ctx({"LEGACY_URL": f"http://{name}:{PORT}"}, hosts_file_names=frozenset({name}))
    _observe(ctx, name, (), {})
    assert (ctx.host_placement(), HOSTS) in find("dns.host-only-name").plan(ctx)  # type: ignore[union-attr]
    if read_host:
        entries = [
            {"ip": "127.0.0.1", "names": ["localhost"]},
            {"ip": address, "names": ["x", name.upper()]},
        ]
        record(ctx.observations, ctx.host_placement(), HOSTS, {"status": "ok", "entries": entries})
    return ctx


def test_name_in_the_hosts_etc_hosts_only() -> None:
    (finding,) = _findings(_host_only("192.168.50.7"))
    assert finding.check == "dns.host-only-name"
    assert "the host's /etc/hosts maps to 192.168.50.7" in finding.summary
    assert finding.severity == "error"  # a bare name: no DNS server answers it
    assert '- "legacybox:192.168.50.7"' in finding.fix


def test_a_dotted_name_of_the_hosts_etc_hosts_is_a_warning_that_says_dns_was_not_asked() -> None:
    """legacy.corp.lan: an edge only because the host's /etc/hosts defines it; the host's
    DNS servers might know it too, and ddiag does not ask them."""
    (finding,) = _findings(_host_only("192.168.50.7", name="legacy.corp.lan"))
    assert (finding.check, finding.severity) == ("dns.host-only-name", "warning")
    assert "unless the host's DNS servers know the name too" in finding.summary
    assert finding.evidence["dns"].startswith("not asked")
    assert '- "legacy.corp.lan:192.168.50.7"' in finding.fix


def test_host_only_name_on_the_hosts_loopback_becomes_host_gateway() -> None:
    (finding,) = _findings(_host_only("127.0.1.1"))
    assert '- "legacybox:host-gateway"' in finding.fix


def test_host_only_name_unread_host_leaves_it_to_name_confusion() -> None:
    (finding,) = _findings(_host_only("192.168.50.7", read_host=False))
    assert finding.check == "dns.name-confusion"


def test_a_gateway_the_engine_did_not_write_is_the_subnets_first_address() -> None:
    network = _network("default", "10.213.227.0/24")  # IPAM without Gateway, as 20.10 has it
    env = {"API_URL": f"http://{GATEWAY}:{PORT}"}
    topology = _topology((network,), _container("web", (network, WEB_IP), env=env))
    ctx = _compose_ctx(topology, {"web": {"environment": env}})
    assert [e.to_host for e in ctx.target.edges] == [True]


def test_an_expect_rule_may_name_the_host() -> None:
    env = {"API_URL": f"http://host.docker.internal:{PORT}"}
    topology = _topology((NETWORK,), _container("web", (NETWORK, WEB_IP), env=env))
    rules = {"expect": [{"from": "web", "to": "host.docker.internal:9000", "reachable": True}]}
    services = {"web": {"environment": env}}
    networks = {"default": {"name": NETWORK.name}}
    model = {"name": PROJECT, "services": services, "networks": networks, "x-ddiag": rules}
    ctx = CheckContext(topology, compose_target(topology, project_from_config(model)))
    assert sorted((e.port, e.to_host, e.rule) for e in ctx.target.edges) == [
        (PORT, True, ""),
        (9000, True, "x-ddiag expect[0]"),
    ]
