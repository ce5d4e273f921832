"""net.egress and net.egress-dns on hand-built topologies, and the options' parsing.

The stack, compose project `p`: `lan` (10.213.140.0/24, gateway 10.213.140.1) with `app`
(10.213.140.2, dns: [10.213.140.1]) and `web` (10.213.140.3); `sealed` (internal,
10.213.141.0/24) with `vault` (10.213.141.2); `empty` (10.213.142.0/24) with no running
member. Observations have the shapes the agent returns (diag/agent/tasks.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from typer.testing import CliRunner

from diag.checks.registry import find
from diag.cli.app import app
from diag.errors import DiagError
from diag.model.context import CheckContext, Target
from diag.model.egress import egress_text, parse_egress, parse_egress_dns
from diag.model.findings import Finding
from diag.model.tasks import RESOLV_CONF, Observations, Placement, Planned, connect, resolve
from diag.model.topology import Container, Endpoint, EngineInfo, Network, Subnet, Topology

from .recorded import parsed

GATEWAY = "10.213.140.1"
EMBEDDED = "127.0.0.11"


def _network(name: str, subnet: str, internal: bool = False) -> Network:
    return Network(
        id=(name.encode().hex() * 16)[:64],
        name=f"p_{name}",
        driver="bridge",
        scope="local",
        internal=internal,
        attachable=False,
        enable_ipv6=False,
        subnets=(Subnet(subnet, None),),
        labels={"com.docker.compose.project": "p", "com.docker.compose.network": name},
    )


LAN = _network("lan", "10.213.140.0/24")
SEALED = _network("sealed", "10.213.141.0/24", internal=True)
EMPTY = _network("empty", "10.213.142.0/24")


def _container(service: str, *endpoints: tuple[Network, str], **changes: Any) -> Container:
    name = f"p-{service}-1"
    container = Container(
        id=(service.encode().hex() * 16)[:64],
        name=name,
        image="ddiag-test/busybox:latest",
        status="running",
        exit_code=0,
        error="",
        restart_count=0,
        health=None,
        network_mode=endpoints[0][0].name,
        endpoints=tuple(
            Endpoint(n.id, n.name, ip, 24, "", "", (name, service), (name, service))
            for n, ip in endpoints
        ),
        exposed=(),
        published=(),
        labels={"com.docker.compose.project": "p", "com.docker.compose.service": service},
    )
    return dataclasses.replace(container, **changes)


APP = _container("app", (LAN, "10.213.140.2"), dns=(GATEWAY,))
WEB = _container("web", (LAN, "10.213.140.3"))
VAULT = _container("vault", (SEALED, "10.213.141.2"))
GONE = _container("gone", (EMPTY, ""), status="exited")


def _ctx(
    *networks: Network,
    containers: tuple[Container, ...] = (APP, WEB, VAULT, GONE),
    egress: tuple[tuple[str, int], ...] = (),
    egress_dns: tuple[str, ...] = (),
    observed: dict[Planned, dict[str, Any]] | None = None,
) -> CheckContext:
    topology = Topology(EngineInfo("20.10.24", "1.41"), (LAN, SEALED, EMPTY), containers)
    target = Target("network", tuple(n.name for n in networks), networks, containers)
    observations = Observations(results=parsed(observed or {}))
    return CheckContext(topology, target, observations, egress=egress, egress_dns=egress_dns)


def _findings(check_id: str, ctx: CheckContext) -> list[Finding]:
    check = find(check_id)
    assert check is not None
    return list(check.evaluate(ctx))


def _peer(network: Network) -> Placement:
    return Placement("network", network.id, network.name)


def _netns(container: Container) -> Placement:
    return Placement("netns", container.id, container.name)


def _resolv(*servers: str) -> dict[str, Any]:
    return {"status": "ok", "nameservers": list(servers), "search": [], "options": []}


def _answer(status: str, *addresses: str, server: str = EMBEDDED) -> dict[str, Any]:
    rcode = {"ok": "NOERROR", "nxdomain": "NXDOMAIN", "servfail": "SERVFAIL"}.get(status)
    result: dict[str, Any] = {"status": status, "server": server, "elapsed_ms": 3}
    if rcode:
        result |= {"rcode": rcode, "addresses": list(addresses)}
    return result


def _connected(status: str) -> dict[str, Any]:
    return {"status": status, "elapsed_ms": 2000 if status == "timeout" else 1}


# --- the options -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("proxy.example.com:3128", ("proxy.example.com", 3128)),
        ("Proxy.Example.COM.:443", ("proxy.example.com", 443)),
        ("10.0.0.1:443", ("10.0.0.1", 443)),
        ("[2001:DB8::1]:443", ("2001:db8::1", 443)),
        ("db:65535", ("db", 65535)),
    ],
)
def test_egress_options_parse(text: str, parsed: tuple[str, int]) -> None:
    assert parse_egress([text]) == (parsed,)


@pytest.mark.parametrize(
    "text",
    ["proxy", "proxy:", ":443", "proxy:0", "proxy:65536", "proxy:http", "2001:db8::1:443",
     "[2001:db8::1]443", "[proxy]:443", "bad_-.name:80", "a..b:80", "10.0.0.256:80", "x y:80"],
)  # fmt: skip
def test_bad_egress_options_are_usage_errors(text: str) -> None:
    with pytest.raises(DiagError, match="--egress"):
        parse_egress([text])


def test_ipv6_without_brackets_says_how_to_write_it() -> None:
    with pytest.raises(DiagError, match=r"\[ADDRESS\]:PORT"):
        parse_egress(["2001:db8::1:443"])


def test_egress_dns_takes_names_only_and_repeats_collapse() -> None:
    assert parse_egress_dns(["API.example.com.", "api.example.com"]) == ("api.example.com",)
    for bad in ("10.0.0.1", "::1", "a..b", "-a.example", "x" * 64 + ".com", ""):
        with pytest.raises(DiagError, match="--egress-dns"):
            parse_egress_dns([bad])


def test_egress_text_brackets_ipv6() -> None:
    assert egress_text(("2001:db8::1", 443)) == "[2001:db8::1]:443"
    assert egress_text(("proxy", 3128)) == "proxy:3128"


@pytest.mark.parametrize(
    "args", [["--egress", "proxy"], ["--egress", "[::1]:0"], ["--egress-dns", "1.2.3.4"]]
)
@pytest.mark.parametrize("command", [["network", "n"], ["container", "c"], ["compose"]])
def test_bad_egress_options_exit_2_before_the_engine(command: list[str], args: list[str]) -> None:
    env = {"DOCKER_HOST": "unix:///nonexistent.sock"}
    result = CliRunner().invoke(app, [*command, *args], env=env)
    assert result.exit_code == 2, result.output
    assert "--egress" in result.output
    assert "Traceback" not in result.output and "Cannot reach" not in result.output


# --- net.egress --------------------------------------------------------------------------


def test_nothing_is_planned_or_found_without_the_options() -> None:
    ctx = _ctx(LAN, SEALED, EMPTY)
    for check_id in ("net.egress", "net.egress-dns"):
        check = find(check_id)
        assert check is not None
        assert check.plan(ctx) == []
        assert _findings(check_id, ctx) == []


def test_an_address_is_connected_to_from_each_open_network_only() -> None:
    ctx = _ctx(LAN, SEALED, egress=((GATEWAY, 47080),))
    check = find("net.egress")
    assert check is not None
    assert check.plan(ctx) == [(_peer(LAN), connect(GATEWAY, 47080))]


def test_an_open_connect_is_no_finding() -> None:
    observed = {(_peer(LAN), connect(GATEWAY, 47080)): _connected("open")}
    assert _findings("net.egress", _ctx(LAN, egress=((GATEWAY, 47080),), observed=observed)) == []


def test_not_yet_observed_is_no_finding() -> None:
    assert _findings("net.egress", _ctx(LAN, egress=((GATEWAY, 47080),))) == []


def test_a_refused_connect_points_at_the_target() -> None:
    observed = {(_peer(LAN), connect(GATEWAY, 47081)): _connected("refused")}
    [finding] = _findings("net.egress", _ctx(LAN, egress=((GATEWAY, 47081),), observed=observed))
    assert finding.subjects == ("p_lan",)
    assert finding.summary == "p_lan cannot reach 10.213.140.1:47081: the connect was refused"
    assert finding.evidence == {
        "probe": ["connect 10.213.140.1:47081 refused after 1 ms (from a peer on p_lan)"]
    }
    assert finding.fix.startswith("10.213.140.1 answers but refuses port 47081")
    assert "iptables" not in finding.fix


def test_a_timeout_points_at_the_firewall_and_the_members_proxy_without_credentials() -> None:
    proxied = dataclasses.replace(WEB, env={"HTTPS_PROXY": "http://joe:s3cret@proxy.corp:3128"})
    observed = {(_peer(LAN), connect("192.0.2.7", 443)): _connected("timeout")}
    ctx = _ctx(LAN, containers=(APP, proxied), egress=(("192.0.2.7", 443),), observed=observed)
    [finding] = _findings("net.egress", ctx)
    assert finding.summary == "p_lan cannot reach 192.0.2.7:443: the connect timed out"
    assert "iptables -S DOCKER-USER" in finding.fix
    assert "masquerades 10.213.140.0/24" in finding.fix
    assert "HTTPS_PROXY → proxy.corp:3128 (on p-web-1)" in finding.fix
    assert "s3cret" not in finding.fix and "joe" not in finding.fix


def test_an_internal_network_is_reported_from_the_engine_fact_with_a_compose_fix() -> None:
    ctx = _ctx(SEALED, egress=((GATEWAY, 47080), ("example.org", 443)))
    check = find("net.egress")
    assert check is not None
    assert check.plan(ctx) == []
    [finding] = _findings("net.egress", ctx)
    assert finding.subjects == ("p_sealed",)
    assert finding.summary == (
        "p_sealed is an internal network: nothing on it reaches 10.213.140.1:47080, example.org:443"
    )
    assert finding.evidence["engine"].startswith("network p_sealed: Internal=true")
    assert "    vault:\n      networks: [sealed, egress]\n" in finding.fix


def test_a_name_is_looked_up_through_the_peers_resolver_then_connected_to() -> None:
    at = _peer(LAN)
    observed: dict[Planned, dict[str, Any]] = {}
    check = find("net.egress")
    assert check is not None

    def planned() -> list[Planned]:
        return check.plan(_ctx(LAN, egress=(("api.example.com", 443),), observed=observed))

    assert planned() == [(at, RESOLV_CONF)]
    observed[(at, RESOLV_CONF)] = _resolv(EMBEDDED)
    assert planned() == [(at, RESOLV_CONF), (at, resolve("api.example.com", server=EMBEDDED))]
    observed[(at, resolve("api.example.com", server=EMBEDDED))] = _answer(
        "ok", "192.0.2.10", "192.0.2.11"
    )
    assert planned()[2:] == [(at, connect("192.0.2.10", 443)), (at, connect("192.0.2.11", 443))]
    observed[(at, connect("192.0.2.10", 443))] = _connected("timeout")
    observed[(at, connect("192.0.2.11", 443))] = _connected("open")
    ctx = _ctx(LAN, egress=(("api.example.com", 443),), observed=observed)
    assert _findings("net.egress", ctx) == []  # one address opens: the way out works
    observed[(at, connect("192.0.2.11", 443))] = _connected("refused")
    ctx = _ctx(LAN, egress=(("api.example.com", 443),), observed=observed)
    [finding] = _findings("net.egress", ctx)
    assert finding.summary == (
        "p_lan cannot reach api.example.com:443 (192.0.2.10): the connect timed out"
    )
    assert finding.evidence["lookup"] == ["127.0.0.11: 192.0.2.10, 192.0.2.11 after 3 ms"]
    assert len(finding.evidence["probe"]) == 2
    assert "iptables" in finding.fix and "refuses port 443" in finding.fix


def test_a_name_that_does_not_resolve_is_no_connect_and_points_at_dns() -> None:
    at = _peer(LAN)
    observed = {
        (at, RESOLV_CONF): _resolv(EMBEDDED),
        (at, resolve("nope.example.com", server=EMBEDDED)): _answer("nxdomain"),
    }
    ctx = _ctx(LAN, egress=(("nope.example.com", 443),), observed=observed)
    check = find("net.egress")
    assert check is not None
    assert not [task for _, task in check.plan(ctx) if task.kind == "connect"]
    [finding] = _findings("net.egress", ctx)
    assert finding.summary == (
        "p_lan cannot reach nope.example.com:443: nope.example.com does not resolve there "
        "(nxdomain), so no connect was tried"
    )
    assert "--egress-dns nope.example.com" in finding.fix


# --- net.egress-dns ----------------------------------------------------------------------


def _dns_observed(place: Placement, *answers: tuple[str, dict[str, Any]]) -> dict:
    observed: dict[Planned, dict[str, Any]] = {
        (place, RESOLV_CONF): _resolv(*(server for server, _ in answers))
    }
    for server, result in answers:
        observed[(place, resolve("api.example.com", server=server))] = result
    return observed


def test_names_are_resolved_in_a_running_members_netns_else_from_a_peer() -> None:
    ctx = _ctx(LAN, SEALED, EMPTY, egress_dns=("api.example.com",))
    check = find("net.egress-dns")
    assert check is not None
    assert check.plan(ctx) == [
        (_netns(APP), RESOLV_CONF),  # p-app-1 before p-web-1: the first running by name
        (_netns(VAULT), RESOLV_CONF),
        (_peer(EMPTY), RESOLV_CONF),  # gone is not running
    ]


def test_nxdomain_from_the_members_resolver_is_a_finding_with_the_dns_fix() -> None:
    observed = _dns_observed(_netns(APP), (EMBEDDED, _answer("nxdomain")))
    [finding] = _findings(
        "net.egress-dns", _ctx(LAN, egress_dns=("api.example.com",), observed=observed)
    )
    assert finding.subjects == ("app", "p-app-1", "p_lan")
    assert finding.summary == (
        "api.example.com does not resolve from p_lan: NXDOMAIN (asked from the netns of p-app-1)"
    )
    assert finding.evidence == {
        "asked": ["127.0.0.11: nxdomain after 3 ms"],
        "from": "the netns of p-app-1",
        "dns": [GATEWAY],
    }
    assert "/etc/docker/daemon.json" in finding.fix
    assert "services:\n    app:\n      dns: [RESOLVER-IP]" in finding.fix


def test_a_resolved_name_is_no_finding() -> None:
    observed = _dns_observed(_netns(APP), (EMBEDDED, _answer("ok", "192.0.2.10")))
    ctx = _ctx(LAN, egress_dns=("api.example.com",), observed=observed)
    assert _findings("net.egress-dns", ctx) == []


@pytest.mark.parametrize(
    ("answers", "status"),
    [
        ((_answer("timeout"), _answer("nxdomain")), "NXDOMAIN"),  # the next server decides
        ((_answer("servfail"), _answer("timeout")), "timeout"),  # none is final: the last
        ((_answer("ok"), _answer("ok", "192.0.2.10")), "no A record"),  # NOERROR, empty: final
    ],
)
def test_servers_are_asked_in_order_as_glibc_does(
    answers: tuple[dict[str, Any], ...], status: str
) -> None:
    servers = ("10.213.140.53", "10.213.140.54")
    observed = _dns_observed(_netns(APP), *zip(servers, answers, strict=True))
    ctx = _ctx(LAN, egress_dns=("api.example.com",), observed=observed)
    [finding] = _findings("net.egress-dns", ctx)
    assert finding.summary.endswith(f": {status} (asked from the netns of p-app-1)")


def test_a_later_server_is_not_waited_for_once_an_earlier_one_answered() -> None:
    place = _netns(APP)
    observed = _dns_observed(place, ("10.213.140.53", _answer("ok", "192.0.2.10")))
    observed[(place, RESOLV_CONF)] = _resolv("10.213.140.53", "10.213.140.54")
    ctx = _ctx(LAN, egress_dns=("api.example.com",), observed=observed)
    assert _findings("net.egress-dns", ctx) == []


def test_an_internal_only_member_is_told_to_attach_a_network() -> None:
    observed = _dns_observed(_netns(VAULT), (EMBEDDED, _answer("timeout")))
    [finding] = _findings(
        "net.egress-dns", _ctx(SEALED, egress_dns=("api.example.com",), observed=observed)
    )
    assert finding.summary.endswith(": timeout (asked from the netns of p-vault-1)")
    assert "host's resolvers" in finding.fix
    assert "p-vault-1 is on internal networks only (p_sealed)" in finding.fix


def test_a_member_on_two_networks_is_asked_once_and_reported_once() -> None:
    both = _container("app", (LAN, "10.213.140.2"), (EMPTY, "10.213.142.2"))
    observed = _dns_observed(_netns(both), (EMBEDDED, _answer("servfail")))
    ctx = _ctx(LAN, EMPTY, containers=(both,), egress_dns=("api.example.com",), observed=observed)
    check = find("net.egress-dns")
    assert check is not None
    assert len(check.plan(ctx)) == 2  # resolv.conf and one query
    [finding] = _findings("net.egress-dns", ctx)
    assert finding.subjects == ("app", "p-app-1", "p_lan", "p_empty")
    assert finding.summary.startswith("api.example.com does not resolve from p_lan, p_empty:")


def test_an_internal_network_without_compose_says_which_containers_to_connect() -> None:
    plain = dataclasses.replace(VAULT, labels={})
    [finding] = _findings("net.egress", _ctx(SEALED, containers=(plain,), egress=(("x", 1),)))
    assert finding.fix.endswith(
        "`docker network create egress`, then `docker network connect egress CONTAINER` "
        "for p-vault-1."
    )
