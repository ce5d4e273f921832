"""Each check's `plan()` and `evaluate()` on the recorded topology with recorded observations.

The topology is the recorded `ddiag-unitrec` stack (tests/data/inspect-api141): on
`ddiag-unitrec_back`, `web` (10.213.200.4, exposes 8080, publishes 127.0.0.1:32768->8080)
and `api` (10.213.200.2, alias api-internal) run; `job` exited 3, `init` exited 0, a one-off
`job` run exited 3; `legacy` runs on the default bridge (172.17.0.2). Observations have the
shapes the agent returns (diag/agent/tasks.py): the recorded ones, edited per scenario.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from diag.checks.registry import Check, all_checks, find
from diag.model.context import CheckContext
from diag.model.findings import Finding, Severity
from diag.model.tasks import LISTENING, RESOLV_CONF, Observations, Placement, connect, resolve
from diag.model.topology import Container, PortBinding, Topology

from .recorded import BACK, PROJECT, record, recorded_observations

API = f"{PROJECT}-api-1"
WEB = f"{PROJECT}-web-1"
JOB = f"{PROJECT}-job-1"
INIT = f"{PROJECT}-init-1"
LEGACY = f"{PROJECT}-legacy-1"
API_IP = "10.213.200.2"
WEB_IP = "10.213.200.4"
EMBEDDED_DNS_SOCKET = "127.0.0.11:43261"  # the embedded DNS's TCP listener, in every netns

MakeCtx = Callable[..., CheckContext]


# --- helpers -------------------------------------------------------------------------------


def check(check_id: str) -> Check:
    found = find(check_id)
    assert found is not None, f"no check {check_id}"
    return found


def evaluate(check_id: str, ctx: CheckContext) -> list[Finding]:
    return list(check(check_id).evaluate(ctx))


def socket_dict(text: str) -> dict[str, object]:
    """`127.0.0.1:8000` / `[::]:8080` -> the agent's socket dict."""
    host, _, port = text.rpartition(":")
    family = "tcp6" if host.startswith("[") else "tcp"
    return {"family": family, "address": host.strip("[]"), "port": int(port)}


def container(ctx: CheckContext, name: str) -> Container:
    found = ctx.topology.container_named(name)
    assert found is not None, name
    return found


def peer(ctx: CheckContext) -> Placement:
    return ctx.peer_placement(ctx.target.networks[0])


def set_listening(ctx: CheckContext, name: str, *sockets: str, status: str = "ok") -> None:
    placement = ctx.netns_placement(container(ctx, name))
    result: dict[str, object] = {"status": status}
    if status == "ok":
        result["sockets"] = [socket_dict(text) for text in sockets]
    else:
        result["detail"] = "probe exited"
    record(ctx.observations, placement, LISTENING, result)


def set_connect(ctx: CheckContext, ip: str, port: int, status: str, elapsed_ms: int = 3) -> None:
    result: dict[str, object] = {"status": status, "elapsed_ms": elapsed_ms}
    if status == "refused":
        result["detail"] = "Connection refused"
    elif status == "unreachable":
        result["detail"] = "No route to host"
    record(ctx.observations, peer(ctx), connect(ip, port), result)


def set_resolve(
    ctx: CheckContext, name: str, status: str, addresses: list[str], rcode: str = "NOERROR"
) -> None:
    result: dict[str, object] = {"status": status, "server": "127.0.0.11"}
    if status == "timeout":
        result["elapsed_ms"] = 2003
    else:
        result.update(rcode=rcode, addresses=addresses, elapsed_ms=2)
    record(ctx.observations, peer(ctx), resolve(name), result)


def with_container(topology: Topology, name: str, **changes: object) -> Topology:
    """The topology with one container's fields replaced (frozen dataclasses)."""
    containers = tuple(
        dataclasses.replace(c, **changes) if c.name == name else c for c in topology.containers
    )
    assert any(c.name == name for c in containers), name
    return dataclasses.replace(topology, containers=containers)


@pytest.fixture
def recorded_ctx(topology141: Topology, make_ctx: MakeCtx) -> CheckContext:
    """Target ddiag-unitrec_back with everything the agent observed there."""
    return make_ctx(topology141, BACK, observations=recorded_observations())


# --- the catalog ---------------------------------------------------------------------------


def test_catalog_has_the_checks_with_their_severities() -> None:
    catalog = {c.id: c.severity for c in all_checks()}
    assert {
        "container.not-running": Severity.ERROR,
        "dns.default-bridge": Severity.WARNING,
        "dns.wrong-address": Severity.ERROR,
        "port.app-loopback": Severity.ERROR,
        "port.filtered": Severity.ERROR,
        "port.not-listening": Severity.WARNING,
        "port.published-mismatch": Severity.ERROR,
        "port.refused": Severity.ERROR,
    }.items() <= catalog.items()
    assert find("port.no-such-check") is None
    assert all(c.doc and c.title for c in all_checks())


def test_recorded_healthy_stack_has_no_port_or_dns_findings(recorded_ctx: CheckContext) -> None:
    """web serves [::]:8080, api listens nowhere, names resolve right: nothing to say."""
    for check_id in (
        "port.app-loopback",
        "port.not-listening",
        "port.published-mismatch",
        "port.refused",
        "port.filtered",
        "dns.wrong-address",
        "dns.default-bridge",
    ):
        assert evaluate(check_id, recorded_ctx) == [], check_id


# --- port plan (shared by every port check) ------------------------------------------------


@pytest.mark.parametrize(
    "check_id",
    [
        "port.app-loopback",
        "port.not-listening",
        "port.published-mismatch",
        "port.refused",
        "port.filtered",
    ],
)
def test_port_plan_reads_sockets_then_connects(
    check_id: str, topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK)
    api_ns = ctx.netns_placement(container(ctx, API))
    web_ns = ctx.netns_placement(container(ctx, WEB))
    assert api_ns == Placement("netns", container(ctx, API).id)
    # round 1: sockets of the running members, and connects to the declared ports
    assert check(check_id).plan(ctx) == [
        (api_ns, LISTENING),
        (web_ns, LISTENING),
        (peer(ctx), connect(WEB_IP, 8080)),
    ]
    # round 2: a port found listening is connected to as well (the embedded DNS's is not)
    set_listening(ctx, API, "127.0.0.1:8000", EMBEDDED_DNS_SOCKET)
    set_listening(ctx, WEB, "[::]:8080", "127.0.0.11:34385")
    assert check(check_id).plan(ctx) == [
        (api_ns, LISTENING),
        (web_ns, LISTENING),
        (peer(ctx), connect(API_IP, 8000)),
        (peer(ctx), connect(WEB_IP, 8080)),
    ]


def test_port_plan_ignores_stopped_members(recorded_ctx: CheckContext) -> None:
    planned = check("port.refused").plan(recorded_ctx)
    refs = {placement.ref for placement, _ in planned if placement.kind == "netns"}
    assert refs == {container(recorded_ctx, API).id, container(recorded_ctx, WEB).id}
    assert all(task.target != "" for _, task in planned if task.kind == "connect")


# --- port.app-loopback ---------------------------------------------------------------------


def test_app_loopback_exposed_port_is_error(recorded_ctx: CheckContext) -> None:
    set_listening(recorded_ctx, WEB, "127.0.0.1:8080", "127.0.0.11:34385")
    set_connect(recorded_ctx, WEB_IP, 8080, "refused")
    (finding,) = evaluate("port.app-loopback", recorded_ctx)
    assert finding.check == "port.app-loopback"
    assert finding.severity is Severity.ERROR
    assert finding.title == "Service listens on loopback only"
    assert finding.subjects == ("web", WEB, BACK)
    assert finding.evidence["listening"] == ["127.0.0.1:8080"]
    assert finding.evidence["probe"] == (f"connect {WEB_IP}:8080 refused (from a peer on {BACK})")
    assert finding.summary == (
        f"web listens on 127.0.0.1:8080 only; peers on {BACK} get connection refused"
    )
    assert "0.0.0.0" in finding.fix


def test_app_loopback_unexposed_port_is_warning(recorded_ctx: CheckContext) -> None:
    set_listening(recorded_ctx, API, "127.0.0.1:8000", "[::1]:8000", EMBEDDED_DNS_SOCKET)
    (finding,) = evaluate("port.app-loopback", recorded_ctx)
    assert finding.severity is Severity.WARNING
    assert finding.subjects == ("api", API, BACK)
    assert finding.evidence["listening"] == ["127.0.0.1:8000", "[::1]:8000"]
    assert "probe" not in finding.evidence  # no connect to 8000 was observed


@pytest.mark.parametrize("port", [53, 8080, 43261])
def test_app_loopback_never_fires_for_the_embedded_dns(
    recorded_ctx: CheckContext, port: int
) -> None:
    """127.0.0.11 is the engine's resolver, listening in every netns: not the app's."""
    set_listening(recorded_ctx, WEB, f"127.0.0.11:{port}")
    set_listening(recorded_ctx, API, f"127.0.0.11:{port}")
    assert evaluate("port.app-loopback", recorded_ctx) == []


def test_app_loopback_silent_when_also_on_a_wildcard_or_own_ip(
    recorded_ctx: CheckContext,
) -> None:
    set_listening(recorded_ctx, WEB, "127.0.0.1:8080", "0.0.0.0:8080")
    set_listening(recorded_ctx, API, "127.0.0.1:9000", f"{API_IP}:9000")
    assert evaluate("port.app-loopback", recorded_ctx) == []


def test_app_loopback_silent_when_sockets_unknown(recorded_ctx: CheckContext) -> None:
    set_listening(recorded_ctx, WEB, status="error")
    set_connect(recorded_ctx, WEB_IP, 8080, "refused")
    assert evaluate("port.app-loopback", recorded_ctx) == []


def test_app_loopback_one_finding_per_port(recorded_ctx: CheckContext) -> None:
    set_listening(recorded_ctx, API, "127.0.0.1:8000", "127.0.0.1:9000", "0.0.0.0:7000")
    findings = evaluate("port.app-loopback", recorded_ctx)
    assert [f.evidence["listening"] for f in findings] == [["127.0.0.1:8000"], ["127.0.0.1:9000"]]


# --- port.not-listening --------------------------------------------------------------------


@pytest.fixture
def unpublished_ctx(topology141: Topology, make_ctx: MakeCtx) -> CheckContext:
    """web exposes 8080 and publishes nothing."""
    topology = with_container(topology141, WEB, published=())
    return make_ctx(topology, BACK, observations=recorded_observations())


def test_not_listening_exposed_port_without_listener(unpublished_ctx: CheckContext) -> None:
    set_listening(unpublished_ctx, WEB, "[::]:8000", "127.0.0.11:34385")
    set_connect(unpublished_ctx, WEB_IP, 8080, "refused")
    (finding,) = evaluate("port.not-listening", unpublished_ctx)
    assert finding.severity is Severity.WARNING
    assert finding.subjects == ("web", WEB, BACK)
    assert finding.evidence["exposed"] == "8080/tcp"
    assert finding.evidence["listening"] == ["[::]:8000"]
    assert finding.evidence["probe"] == f"connect {WEB_IP}:8080 refused (from a peer on {BACK})"
    assert (
        finding.summary == "web exposes 8080/tcp but nothing listens on it (listening: [::]:8000)"
    )


def test_not_listening_no_listener_at_all(unpublished_ctx: CheckContext) -> None:
    set_listening(unpublished_ctx, WEB, EMBEDDED_DNS_SOCKET)
    (finding,) = evaluate("port.not-listening", unpublished_ctx)
    assert finding.evidence["listening"] == []
    assert finding.summary.endswith("(no TCP listener)")


def test_not_listening_silent_when_loopback_or_served(unpublished_ctx: CheckContext) -> None:
    set_listening(unpublished_ctx, WEB, "127.0.0.1:8080")  # port.app-loopback's case
    assert evaluate("port.not-listening", unpublished_ctx) == []
    set_listening(unpublished_ctx, WEB, "[::]:8080")
    assert evaluate("port.not-listening", unpublished_ctx) == []


def test_not_listening_leaves_published_ports_to_published_mismatch(
    recorded_ctx: CheckContext,
) -> None:
    set_listening(recorded_ctx, WEB, "[::]:8000")
    assert evaluate("port.not-listening", recorded_ctx) == []
    assert [f.check for f in evaluate("port.published-mismatch", recorded_ctx)] == [
        "port.published-mismatch"
    ]


# --- port.published-mismatch --------------------------------------------------------------


def test_published_mismatch_names_the_listening_ports(recorded_ctx: CheckContext) -> None:
    set_listening(recorded_ctx, WEB, "[::]:8000", "127.0.0.11:34385")
    (finding,) = evaluate("port.published-mismatch", recorded_ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("web", WEB, BACK)
    assert finding.evidence == {
        "published": ["127.0.0.1:32768->8080/tcp"],
        "listening": ["[::]:8000"],
    }
    assert finding.summary == (
        "web publishes 127.0.0.1:32768->8080/tcp but nothing listens on 8080 inside the "
        "container (it listens on 8000)"
    )
    assert '"32768:8000"' in finding.fix


def test_published_mismatch_several_listening_ports(recorded_ctx: CheckContext) -> None:
    set_listening(recorded_ctx, WEB, "0.0.0.0:8000", "0.0.0.0:9090")
    (finding,) = evaluate("port.published-mismatch", recorded_ctx)
    assert finding.evidence["listening"] == ["0.0.0.0:8000", "0.0.0.0:9090"]
    assert "(it listens on 8000, 9090)" in finding.summary
    assert "<port it listens on>" in finding.fix


def test_published_mismatch_silent_when_the_port_listens(recorded_ctx: CheckContext) -> None:
    set_listening(recorded_ctx, WEB, "0.0.0.0:8080")
    assert evaluate("port.published-mismatch", recorded_ctx) == []
    set_listening(recorded_ctx, WEB, status="error")  # unknown sockets: no claim
    assert evaluate("port.published-mismatch", recorded_ctx) == []
    set_listening(recorded_ctx, WEB, "127.0.0.1:8080")  # port.app-loopback's case
    assert evaluate("port.published-mismatch", recorded_ctx) == []


def test_published_mismatch_one_finding_per_container_port(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    # As this engine grants `ports: ["8080"]`: {"8080/tcp": [{"HostIp": "0.0.0.0", ...},
    # {"HostIp": "::", ...}]} (seen with `docker run -p 18081:81` on Engine 20.10.24).
    bindings = (
        PortBinding(8080, "tcp", "0.0.0.0", "32769"),
        PortBinding(8080, "tcp", "::", "32769"),
    )
    ctx = make_ctx(with_container(topology141, WEB, published=bindings), BACK)
    set_listening(ctx, WEB, "0.0.0.0:8000")
    findings = evaluate("port.published-mismatch", ctx)
    assert len(findings) == 1
    assert "8080" in findings[0].summary


# --- port.refused --------------------------------------------------------------------------


def test_refused_fires_when_listening_on_all_addresses(recorded_ctx: CheckContext) -> None:
    set_listening(recorded_ctx, WEB, "0.0.0.0:8080", "127.0.0.11:34385")
    set_connect(recorded_ctx, WEB_IP, 8080, "refused")
    (finding,) = evaluate("port.refused", recorded_ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("web", WEB, BACK)
    assert finding.evidence == {
        "probe": f"connect {WEB_IP}:8080 refused (from a peer on {BACK})",
        "listening": ["0.0.0.0:8080"],
    }
    assert finding.summary == (
        f"peers on {BACK} are refused at {WEB_IP}:8080 (web) although it listens on that port"
    )
    assert f"container:{WEB}" in finding.fix


def test_refused_fires_when_sockets_unknown(recorded_ctx: CheckContext) -> None:
    set_listening(recorded_ctx, WEB, status="error")
    set_connect(recorded_ctx, WEB_IP, 8080, "refused")
    (finding,) = evaluate("port.refused", recorded_ctx)
    assert finding.evidence["listening"] == "unknown"
    assert finding.summary == f"peers on {BACK} are refused at {WEB_IP}:8080 (web)"


@pytest.mark.parametrize(
    "sockets",
    [
        ("127.0.0.1:8080",),  # loopback only: port.app-loopback explains it
        ("[::1]:8080", "127.0.0.1:8080"),
        ("[::]:8000",),  # nothing on 8080: port.published-mismatch explains it
        (),
    ],
)
def test_refused_leaves_explained_refusals_alone(
    recorded_ctx: CheckContext, sockets: tuple[str, ...]
) -> None:
    set_listening(recorded_ctx, WEB, *sockets)
    set_connect(recorded_ctx, WEB_IP, 8080, "refused")
    assert evaluate("port.refused", recorded_ctx) == []


def test_refused_ignores_other_statuses(recorded_ctx: CheckContext) -> None:
    set_listening(recorded_ctx, WEB, "0.0.0.0:8080")
    for status in ("open", "timeout", "unreachable", "error"):
        set_connect(recorded_ctx, WEB_IP, 8080, status)
        assert evaluate("port.refused", recorded_ctx) == [], status


# --- port.filtered -------------------------------------------------------------------------


def test_filtered_timeout(recorded_ctx: CheckContext) -> None:
    set_connect(recorded_ctx, WEB_IP, 8080, "timeout", elapsed_ms=2004)
    (finding,) = evaluate("port.filtered", recorded_ctx)
    assert finding.severity is Severity.ERROR
    assert finding.title == "Connection attempts time out"
    assert finding.subjects == ("web", WEB, BACK)
    assert finding.evidence == {
        "probe": f"connect {WEB_IP}:8080 timed out after 2004 ms (from a peer on {BACK})",
        "listening": ["[::]:8080"],  # recorded: httpd on the tcp6 wildcard
    }
    assert finding.summary == (
        f"connects from {BACK} to {WEB_IP}:8080 (web) timed out: packets are dropped"
    )
    assert "DOCKER-USER" in finding.fix


def test_filtered_host_unreachable(recorded_ctx: CheckContext) -> None:
    set_listening(recorded_ctx, WEB, status="error")
    set_connect(recorded_ctx, WEB_IP, 8080, "unreachable")
    (finding,) = evaluate("port.filtered", recorded_ctx)
    assert "host unreachable" in finding.summary
    assert finding.evidence["listening"] == "unknown"


def test_filtered_silent_on_refused_and_open(recorded_ctx: CheckContext) -> None:
    set_connect(recorded_ctx, WEB_IP, 8080, "refused")
    assert evaluate("port.filtered", recorded_ctx) == []
    set_connect(recorded_ctx, WEB_IP, 8080, "open")
    assert evaluate("port.filtered", recorded_ctx) == []


# --- dns.wrong-address ---------------------------------------------------------------------


def test_wrong_address_plan_queries_every_name_of_running_members(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK)
    assert check("dns.wrong-address").plan(ctx) == [
        (peer(ctx), resolve(name))
        for name in (API, "api", "api-internal", "5e867449712c", WEB, "web", "ef4b8ad416d9")
    ]
    assert peer(ctx) == Placement("network", ctx.target.networks[0].id)


def test_wrong_address_plan_on_api144_uses_dns_names(
    topology144: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology144, BACK)
    names = [task.target for _, task in check("dns.wrong-address").plan(ctx)]
    assert names == [API, "api", "api-internal", "5e867449712c", WEB, "web", "ef4b8ad416d9"]


def test_wrong_address_wrong_ip(recorded_ctx: CheckContext) -> None:
    set_resolve(recorded_ctx, "api", "ok", ["10.213.200.9"])
    (finding,) = evaluate("dns.wrong-address", recorded_ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("api", API, BACK)
    assert finding.summary == (f"api resolves to 10.213.200.9 on {BACK}; the engine says {API_IP}")
    assert finding.evidence == {
        "query": "api A @127.0.0.11",
        "answer": ["10.213.200.9"],
        "rcode": "NOERROR",
        "engine": [API_IP],
    }
    assert "--force-recreate api" in finding.fix


def test_wrong_address_extra_foreign_ip(recorded_ctx: CheckContext) -> None:
    set_resolve(recorded_ctx, "web", "ok", [WEB_IP, "10.213.200.77"])
    (finding,) = evaluate("dns.wrong-address", recorded_ctx)
    assert finding.subjects == ("web", WEB, BACK)
    assert finding.evidence["answer"] == [WEB_IP, "10.213.200.77"]


def test_wrong_address_nxdomain(recorded_ctx: CheckContext) -> None:
    set_resolve(recorded_ctx, "api-internal", "nxdomain", [], rcode="NXDOMAIN")
    (finding,) = evaluate("dns.wrong-address", recorded_ctx)
    assert finding.subjects == ("api", API, BACK)
    assert finding.summary == (
        f"api-internal resolves to no address (NXDOMAIN) on {BACK}; the engine says {API_IP}"
    )
    assert finding.evidence["answer"] == []
    assert finding.evidence["rcode"] == "NXDOMAIN"


def test_wrong_address_correct_answer_is_silent(recorded_ctx: CheckContext) -> None:
    # recorded: web, api-internal and ddiag-unitrec-web-1 resolved right
    assert evaluate("dns.wrong-address", recorded_ctx) == []
    set_resolve(recorded_ctx, "API", "ok", [API_IP])  # names match case-insensitively
    set_resolve(recorded_ctx, "api", "ok", [API_IP])
    assert evaluate("dns.wrong-address", recorded_ctx) == []


@pytest.mark.parametrize("status", ["timeout", "error"])
def test_wrong_address_no_answer_is_not_a_wrong_answer(
    recorded_ctx: CheckContext, status: str
) -> None:
    set_resolve(recorded_ctx, "api", status, [])
    assert evaluate("dns.wrong-address", recorded_ctx) == []


def test_wrong_address_shared_name_round_robin(topology141: Topology, make_ctx: MakeCtx) -> None:
    """Two members holding one alias: an answer with both of their addresses is right."""
    back = topology141.network_named(BACK)
    web = topology141.container_named(WEB)
    endpoint = dataclasses.replace(web.endpoint(back), dns_names=(WEB, "web", "api-internal"))
    ctx = make_ctx(with_container(topology141, WEB, endpoints=(endpoint,)), BACK)
    set_resolve(ctx, "api-internal", "ok", [API_IP, WEB_IP])
    assert evaluate("dns.wrong-address", ctx) == []
    set_resolve(ctx, "api-internal", "ok", [API_IP])  # web's record is missing
    (finding,) = evaluate("dns.wrong-address", ctx)
    assert finding.subjects == ("web", WEB, BACK)
    assert finding.evidence["engine"] == [API_IP, WEB_IP]


def test_wrong_address_skips_the_default_bridge(topology141: Topology, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(topology141, "bridge")
    assert check("dns.wrong-address").plan(ctx) == []
    set_resolve(ctx, LEGACY, "nxdomain", [], rcode="NXDOMAIN")
    assert evaluate("dns.wrong-address", ctx) == []


# --- dns.default-bridge --------------------------------------------------------------------


def test_default_bridge_plan_and_finding(topology141: Topology, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(topology141, "bridge")
    bridge = ctx.target.networks[0]
    assert check("dns.default-bridge").plan(ctx) == [(Placement("network", bridge.id), RESOLV_CONF)]
    record(
        ctx.observations,
        peer(ctx),
        RESOLV_CONF,
        {
            "status": "ok",
            "nameservers": ["10.255.255.53"],  # what `legacy` really got on this engine
            "search": [],
            "options": [],
        },
    )
    (finding,) = evaluate("dns.default-bridge", ctx)
    assert finding.check == "dns.default-bridge"
    assert finding.severity is Severity.WARNING
    assert finding.subjects == ("legacy", LEGACY, "bridge")
    assert finding.evidence == {
        "network": "bridge (default bridge: no embedded DNS at 127.0.0.11)",
        "containers": [LEGACY],
        "peer_resolv_conf": "nameserver 10.255.255.53",
    }
    assert finding.summary == (
        f"1 container(s) on the default bridge ({LEGACY}) cannot resolve each other's names"
    )
    assert "legacy:\n    networks: [app]" in finding.fix


def test_default_bridge_without_observation(topology141: Topology, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(topology141, "bridge")
    (finding,) = evaluate("dns.default-bridge", ctx)
    assert "peer_resolv_conf" not in finding.evidence


def test_default_bridge_silent_on_user_defined(recorded_ctx: CheckContext) -> None:
    assert check("dns.default-bridge").plan(recorded_ctx) == []
    assert evaluate("dns.default-bridge", recorded_ctx) == []


def test_default_bridge_silent_when_nobody_runs_there(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    stopped = with_container(topology141, LEGACY, status="exited", exit_code=137)
    assert evaluate("dns.default-bridge", make_ctx(stopped, "bridge")) == []


# --- container.not-running -----------------------------------------------------------------


def test_not_running_exit_3_is_error_and_exit_0_info(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    topology = with_container(topology141, JOB, last_logs=("migration failed",))
    ctx = make_ctx(topology, BACK)
    assert check("container.not-running").plan(ctx) == []
    findings = {f.subjects: f for f in evaluate("container.not-running", ctx)}
    # the one-off `compose run` container (exit 3 too) is not reported
    assert set(findings) == {("init", INIT, BACK), ("job", JOB, BACK)}
    job = findings[("job", JOB, BACK)]
    assert job.severity is Severity.ERROR
    assert job.summary == "job is exited (exit code 3)"
    assert job.evidence == {
        "state": "exited (exit code 3)",
        "restarts": 0,
        "last_logs": ["migration failed"],
    }
    assert f"docker compose -p {PROJECT} logs job" in job.fix
    assert f"docker compose -p {PROJECT} up -d job" in job.fix
    init = findings[("init", INIT, BACK)]
    assert init.severity is Severity.INFO
    assert init.summary == "init is exited (exit code 0)"


def test_not_running_reports_engine_error_and_restarting(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    topology = with_container(
        topology141,
        JOB,
        status="restarting",
        restart_count=7,
        error="driver failed programming external connectivity",
    )
    findings = [
        f
        for f in evaluate("container.not-running", make_ctx(topology, BACK))
        if "job" in f.subjects
    ]
    (job,) = findings
    assert job.severity is Severity.ERROR
    assert job.evidence == {
        "state": "restarting",
        "restarts": 7,
        "error": "driver failed programming external connectivity",
    }


def test_not_running_ignores_non_compose_containers(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    topology = with_container(topology141, JOB, labels={})
    topology = with_container(topology, INIT, labels={})
    assert evaluate("container.not-running", make_ctx(topology, BACK)) == []


def test_not_running_ignores_running_ones(recorded_ctx: CheckContext) -> None:
    subjects = [f.subjects for f in evaluate("container.not-running", recorded_ctx)]
    assert all(WEB not in s and API not in s for s in subjects)


def test_not_running_only_on_target_networks(topology141: Topology, make_ctx: MakeCtx) -> None:
    stopped = with_container(topology141, LEGACY, status="exited", exit_code=1)
    (finding,) = evaluate("container.not-running", make_ctx(stopped, "bridge"))
    assert finding.subjects == ("legacy", LEGACY, "bridge")
    assert finding.severity is Severity.ERROR


def test_not_running_once_per_container_across_networks(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    bridge = topology141.network_named("bridge")
    job = topology141.container_named(JOB)
    second = dataclasses.replace(
        job.endpoints[0], network_id=bridge.id, network_name="bridge", dns_names=()
    )
    topology = with_container(topology141, JOB, endpoints=(*job.endpoints, second))
    findings = [
        f
        for f in evaluate("container.not-running", make_ctx(topology, BACK, "bridge"))
        if JOB in f.subjects
    ]
    (finding,) = findings
    assert finding.subjects == ("job", JOB, BACK, "bridge")


def test_observations_missing_skips_failed_placements(recorded_ctx: CheckContext) -> None:
    planned = check("port.refused").plan(recorded_ctx)
    assert recorded_ctx.observations.missing(planned) == []
    web_ns = recorded_ctx.netns_placement(container(recorded_ctx, WEB))
    extra = (peer(recorded_ctx), connect(WEB_IP, 9999))
    assert recorded_ctx.observations.missing([*planned, extra, extra]) == [extra]
    recorded_ctx.observations.failures[peer(recorded_ctx)] = "probe not created"
    assert recorded_ctx.observations.missing([*planned, extra]) == []
    assert isinstance(recorded_ctx.observations, Observations)
    assert web_ns.describe() == f"in the netns of {WEB}"
