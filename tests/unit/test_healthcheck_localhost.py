"""container.healthcheck-localhost on recorded observations: web (a python3 server on
0.0.0.0:8080 in the recorded stack) gets a healthcheck that asks localhost:8080, and its
netns' /etc/hosts, lo's IPv6 switch and listeners are set per case."""

from __future__ import annotations

import pytest

from diag.checks.container.healthcheck_localhost import LO_IPV6_OFF, healthcheck_port
from diag.model.context import CheckContext
from diag.model.findings import Severity
from diag.model.tasks import HOSTS, LISTENING
from diag.model.topology import Health, Topology

from .recorded import BACK, evaluate, plan, record, recorded_observations
from .test_checks import WEB, MakeCtx, container, set_listening, with_container

ID = "container.healthcheck-localhost"
TEST = ("CMD-SHELL", "wget -q -O- http://localhost:8080/health || exit 1")
ENGINE_HOSTS = [
    {"ip": "127.0.0.1", "names": ["localhost"]},
    {"ip": "::1", "names": ["localhost", "ip6-localhost", "ip6-loopback"]},
]
FAILING = Health("unhealthy", 3, "wget: can't connect to remote host")
IPV6_ONLY_HOSTS = [{"ip": "::1", "names": ["localhost", "ip6-localhost", "ip6-loopback"]}]


def _ctx(
    topology141: Topology,
    make_ctx: MakeCtx,
    health: Health | None = FAILING,
    test: tuple[str, ...] = TEST,
) -> CheckContext:
    topology = with_container(
        topology141, WEB, healthcheck=True, healthcheck_test=test, health=health
    )
    return make_ctx(topology, BACK, observations=recorded_observations())


def _observe(ctx: CheckContext, hosts: list[dict], lo_off: str, *sockets: str) -> None:
    placement = ctx.netns_placement(container(ctx, WEB))
    record(ctx.observations, placement, HOSTS, {"status": "ok", "entries": hosts})
    record(ctx.observations, placement, LO_IPV6_OFF, {"status": "ok", "value": lo_off})
    set_listening(ctx, WEB, *sockets)


@pytest.fixture
def ctx(topology141: Topology, make_ctx: MakeCtx) -> CheckContext:
    return _ctx(topology141, make_ctx)


@pytest.mark.parametrize(
    ("test", "port"),
    [
        (("CMD-SHELL", "curl -f http://localhost:8080/health"), 8080),
        (("CMD", "wget", "-q", "localhost:80"), 80),
        (("CMD-SHELL", "curl -fsS https://localhost/ready"), 443),
        (("CMD-SHELL", "curl -f http://127.0.0.1:8080/"), None),
        (("CMD-SHELL", "pg_isready -h localhost"), None),
        (("CMD-SHELL", "curl http://localhost.example:8080/"), None),
        (("NONE",), None),
    ],
)
def test_the_port_a_healthcheck_asks_localhost_on(test: tuple[str, ...], port: int | None) -> None:
    assert healthcheck_port(test) == port


def test_plans_hosts_listeners_and_lo_ipv6_in_the_netns(ctx: CheckContext) -> None:
    placement = ctx.netns_placement(container(ctx, WEB))
    assert set(plan(ID, ctx)) == {
        (placement, HOSTS),
        (placement, LISTENING),
        (placement, LO_IPV6_OFF),
    }


def test_engine_hosts_file_with_ipv6_on_lo(ctx: CheckContext) -> None:
    _observe(ctx, ENGINE_HOSTS, "0", "0.0.0.0:8080")
    (finding,) = evaluate(ID, ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("web", WEB)
    assert finding.summary == (
        "web's healthcheck asks localhost:8080, which resolves to ::1 first, but web listens "
        "on IPv4 only there (0.0.0.0:8080)"
    )
    assert finding.evidence == {
        "healthcheck": f"sh -c '{TEST[1]}'",
        "hosts_file": ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"],
        "lo_ipv6": "enabled (::1 is sorted first)",
        "listening": ["0.0.0.0:8080"],
        "health": "unhealthy",
        "failing_streak": 3,
    }
    assert '"wget -q -O- http://127.0.0.1:8080/health || exit 1"' in finding.fix
    assert "listen on `::`" in finding.fix


def test_ipv6_only_hosts_file_without_ipv6_on_lo(ctx: CheckContext) -> None:
    _observe(ctx, IPV6_ONLY_HOSTS, "1", "127.0.0.1:8080")
    (finding,) = evaluate(ID, ctx)
    assert finding.evidence["lo_ipv6"] == "disabled"
    assert finding.evidence["hosts_file"] == ["::1 localhost ip6-localhost ip6-loopback"]
    assert "no IPv6 on lo" in finding.fix


@pytest.mark.parametrize(
    ("hosts", "lo_off", "sockets"),
    [
        (ENGINE_HOSTS, "1", ("0.0.0.0:8080",)),  # no IPv6 on lo: 127.0.0.1 comes first
        (ENGINE_HOSTS[:1], "0", ("0.0.0.0:8080",)),  # no ::1 line at all
        (ENGINE_HOSTS, "0", ("[::]:8080",)),  # listens on :: (IPv4 too)
        (ENGINE_HOSTS, "0", ("0.0.0.0:8080", "[::1]:8080")),  # and on ::1
        (ENGINE_HOSTS, "0", ("0.0.0.0:9090",)),  # nothing on the port: another check's
        (ENGINE_HOSTS, "0", ("10.213.200.4:8080",)),  # not on loopback at all
    ],
)
def test_silent_when_localhost_would_work_or_fail_otherwise(
    ctx: CheckContext, hosts: list[dict], lo_off: str, sockets: tuple[str, ...]
) -> None:
    _observe(ctx, hosts, lo_off, *sockets)
    assert evaluate(ID, ctx) == []


@pytest.mark.parametrize("health", [None, Health("healthy", 0, ""), Health("starting", 0, "")])
def test_silent_while_the_healthcheck_has_not_failed(
    topology141: Topology, make_ctx: MakeCtx, health: Health | None
) -> None:
    ctx = _ctx(topology141, make_ctx, health=health)
    _observe(ctx, ENGINE_HOSTS, "0", "0.0.0.0:8080")
    assert evaluate(ID, ctx) == []


def test_silent_without_observations(ctx: CheckContext) -> None:
    assert evaluate(ID, ctx) == []


def test_fix_keeps_the_exec_form(topology141: Topology, make_ctx: MakeCtx) -> None:
    test = ("CMD", "wget", "-q", "localhost:8080")
    ctx = _ctx(topology141, make_ctx, test=test)
    _observe(ctx, ENGINE_HOSTS, "0", "0.0.0.0:8080")
    (finding,) = evaluate(ID, ctx)
    assert '"CMD", "wget", "-q", "127.0.0.1:8080"' in finding.fix
