"""net.service-netns-stale and net.ipv6 with observations recorded on the test engine.

Recorded (Engine 20.10.24, API 1.41) from the fixtures' stacks, inspect trimmed to what
discovery reads:

- `rec` (compose-fixtures/net-service-netns-stale) after `compose restart --no-deps app`:
  sidecar (`network_mode: service:app`, started 10:32:10) stayed in app's old namespace
  (inode 4026532868, only lo); app (started again 10:32:20) is in 4026532944 with
  10.213.139.2. From sidecar's netns, `app` does not resolve and localhost:8080 is refused.
- `rec6` (compose-fixtures/net-ipv6): api (10.213.138.3) listens on [::]:8080 with
  IPV6_V6ONLY on a network without IPv6 (the engine's DNS listener at 127.0.0.11:46835 is
  there too); a peer's and client's connects to 10.213.138.3:8080 are refused, and so is
  127.0.0.1:8080 inside api's netns. A dual-stack `::` listener accepts the last one.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from diag.checks._edges import left_behind, netns_owner
from diag.checks._edges import plan as edges_plan
from diag.checks.registry import find
from diag.engine.discover import topology_from_inspect
from diag.model.compose import project_from_labels
from diag.model.context import CheckContext
from diag.model.findings import Severity
from diag.model.targets import compose_target, network_target
from diag.model.tasks import INTERFACES, LISTENING, Planned, connect

from .recorded import evaluate, record

STALE = "net.service-netns-stale"
IPV6 = "net.ipv6"
VERSION = {"Version": "20.10.24", "ApiVersion": "1.41"}

APP_ID = "4c40f99c5b88ea28089eeec4b286caa8a42e6b285372d36d4e6647d772650864"
REC_NET = "f2161b3035052988e3ab0807382cda1ffbd0ed2c8e6e0a6981a37af2a3e4ffe2"
REC_NETWORKS = [
    {
        "Id": REC_NET,
        "Name": "rec_default",
        "Driver": "bridge",
        "Scope": "local",
        "EnableIPv6": False,
        "IPAM": {"Config": [{"Subnet": "10.213.139.0/24"}]},
        "Labels": {"com.docker.compose.network": "default", "com.docker.compose.project": "rec"},
    }
]
REC_APP = {
    "Id": APP_ID,
    "Name": "/rec-app-1",
    "State": {
        "Status": "running",
        "Running": True,
        "Pid": 15223,
        "StartedAt": "2026-11-29T10:32:20.670976632Z",
    },
    "HostConfig": {"NetworkMode": "rec_default"},
    "Config": {
        "Image": "ddiag-test/busybox:latest",
        "Env": ["PATH=/bin"],
        "Labels": {
            "com.docker.compose.depends_on": "",
            "com.docker.compose.project": "rec",
            "com.docker.compose.service": "app",
        },
    },
    "NetworkSettings": {
        "Networks": {
            "rec_default": {
                "Aliases": ["rec-app-1", "app", "4c40f99c5b88"],
                "NetworkID": REC_NET,
                "IPAddress": "10.213.139.2",
                "IPPrefixLen": 24,
                "MacAddress": "02:42:0a:d5:8b:02",
            }
        }
    },
}
REC_SIDECAR = {
    "Id": "1d27c851506289edb2efd72f6c3717036cc858cb8604441fb2cd977a85367ab0",
    "Name": "/rec-sidecar-1",
    "State": {
        "Status": "running",
        "Running": True,
        "Pid": 15113,
        "StartedAt": "2026-11-29T10:32:10.017031265Z",
    },
    "HostConfig": {"NetworkMode": f"container:{APP_ID}"},
    "Config": {
        "Image": "ddiag-test/busybox:latest",
        "Env": ["APP_URL=http://localhost:8080/", "PATH=/bin"],
        "Labels": {
            "com.docker.compose.depends_on": "app:service_started:true",
            "com.docker.compose.project": "rec",
            "com.docker.compose.service": "sidecar",
        },
    },
    "NetworkSettings": {"Networks": {}},
}
LO = {"name": "lo", "up": True, "mtu": 65536, "addresses": ["127.0.0.1/8"]}
SIDECAR_SEEN = {"status": "ok", "interfaces": [LO], "routes": [], "netns": 4026532868}
APP_SEEN = {
    "status": "ok",
    "interfaces": [
        {"name": "eth0", "up": True, "mtu": 1500, "addresses": ["10.213.139.2/24"]},
        LO,
    ],
    "routes": [
        {"dst": "default", "dev": "eth0", "via": "10.213.139.1"},
        {"dst": "10.213.139.0/24", "dev": "eth0"},
    ],
    "netns": 4026532944,
}
REFUSED = {"status": "refused", "detail": "Connection refused", "elapsed_ms": 0}
NO_V6 = {"status": "error", "detail": "Cannot assign requested address", "elapsed_ms": 0}
# The reach tasks from sidecar's own netns: `app` is not in its hosts file and not asked
# of a DNS it is not on; localhost is, and nothing listens there any more.
SIDECAR_REACH = {
    "app": {"status": "ok", "hosts_ips": [], "resolve": None, "connects": {}},
    "localhost": {
        "status": "ok",
        "hosts_ips": ["127.0.0.1", "::1"],
        "resolve": None,
        "connects": {"127.0.0.1": REFUSED, "::1": NO_V6},
    },
}


def _inspect(raw: dict[str, Any], **state: Any) -> dict[str, Any]:
    changed = copy.deepcopy(raw)
    changed["State"].update(state)
    return changed


def _compose_ctx(project: str, networks: list[dict], *containers: dict) -> CheckContext:
    topology = topology_from_inspect(VERSION, networks, containers)
    return CheckContext(topology, compose_target(topology, project_from_labels(topology, project)))


def _rec_ctx(*containers: dict) -> CheckContext:
    return _compose_ctx("rec", REC_NETWORKS, *(containers or (REC_APP, REC_SIDECAR)))


def _container(ctx: CheckContext, name: str) -> Any:
    found = ctx.topology.container_named(name)
    assert found is not None, name
    return found


def _netns(ctx: CheckContext, name: str) -> Any:
    return ctx.netns_placement(_container(ctx, name))


def _reaches(ctx: CheckContext) -> list[Planned]:
    return [(at, task) for at, task in edges_plan(ctx) if task.kind == "reach"]


def _observe_sidecar(ctx: CheckContext, sidecar: dict[str, Any], app: dict | None) -> None:
    """What the probe saw in the sidecar's own netns, and (when running) in app's."""
    record(ctx.observations, _netns(ctx, "rec-sidecar-1"), INTERFACES, sidecar)
    if app is not None:
        record(ctx.observations, _netns(ctx, "rec-app-1"), INTERFACES, app)
    for at, task in _reaches(ctx):
        record(ctx.observations, at, task, SIDECAR_REACH[task.target])


# --- net.service-netns-stale ---------------------------------------------------------------


def test_discovery_reads_started_at() -> None:
    ctx = _rec_ctx()
    assert _container(ctx, "rec-app-1").started_at == "2026-11-29T10:32:20.670976632Z"


def test_sidecar_left_behind_after_a_restart_is_observed_in_its_own_netns() -> None:
    ctx = _rec_ctx()
    sidecar = _container(ctx, "rec-sidecar-1")
    assert netns_owner(ctx, sidecar) == sidecar  # not app's: the truth is in its own
    planned = set(find(STALE).plan(ctx))  # type: ignore[union-attr]
    assert (_netns(ctx, "rec-sidecar-1"), INTERFACES) in planned
    assert (_netns(ctx, "rec-app-1"), INTERFACES) in planned
    assert {at for at, _ in _reaches(ctx)} == {_netns(ctx, "rec-sidecar-1")}


def test_sidecar_left_behind_after_a_restart() -> None:
    ctx = _rec_ctx()
    _observe_sidecar(ctx, SIDECAR_SEEN, APP_SEEN)
    (finding,) = evaluate(STALE, ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("sidecar", "app", "rec-sidecar-1", "rec-app-1")
    assert "rec-app-1 started at 2026-11-29T10:32:20.670976632Z, after rec-sidecar-1" in (
        finding.summary
    )
    assert finding.evidence["interfaces"] == ["lo 127.0.0.1/8"]
    assert finding.evidence["interfaces of app"] == ["eth0 10.213.139.2/24", "lo 127.0.0.1/8"]
    assert finding.evidence["netns"] == "4026532868 (app: 4026532944)"
    assert finding.evidence["broken"] == [
        "sidecar → app (depends_on, network_mode): app does not resolve there",
        "sidecar → localhost:8080 (environment APP_URL): connect 127.0.0.1:8080 refused "
        "(from sidecar's netns); connect ::1:8080 error (from sidecar's netns)",
    ]
    assert "docker compose -p rec up -d --force-recreate sidecar" in finding.fix
    assert "app: {condition: service_started, restart: true}" in finding.fix
    # its broken dependencies are this finding, not a localhost or DNS finding each
    for other in ("port.localhost-in-container", "dns.cross-network", "dns.name-confusion"):
        assert evaluate(other, ctx) == [], other


def test_same_inode_is_no_stale_namespace() -> None:
    """The engine's timestamps alone do not make a finding: the probe must agree."""
    ctx = _rec_ctx()
    _observe_sidecar(ctx, {**APP_SEEN}, APP_SEEN)
    assert evaluate(STALE, ctx) == []


@pytest.mark.parametrize(
    ("addresses", "stale"), [(["127.0.0.1/8"], True), (["10.213.139.2/24"], False)]
)
def test_without_inodes_the_owners_address_decides(addresses: list[str], stale: bool) -> None:
    ctx = _rec_ctx()
    seen = {"status": "ok", "interfaces": [{**LO, "name": "eth0", "addresses": addresses}]}
    _observe_sidecar(ctx, seen, {k: v for k, v in APP_SEEN.items() if k != "netns"})
    assert len(evaluate(STALE, ctx)) == int(stale)


def test_sidecar_started_after_app_is_in_apps_netns() -> None:
    sidecar = _inspect(REC_SIDECAR, StartedAt="2026-11-29T10:32:20.9Z")  # fewer digits: later
    ctx = _rec_ctx(REC_APP, sidecar)
    assert left_behind(ctx, _container(ctx, "rec-sidecar-1")) == ""
    assert netns_owner(ctx, _container(ctx, "rec-sidecar-1")).name == "rec-app-1"
    assert find(STALE).plan(ctx) == edges_plan(ctx)  # type: ignore[union-attr]
    assert evaluate(STALE, ctx) == []


def test_nanoseconds_are_compared_as_time_not_text() -> None:
    """`...20.67Z` is before `...20.670976632Z` although it sorts after it as text."""
    sidecar = _inspect(REC_SIDECAR, StartedAt="2026-11-29T10:32:20.67Z")
    ctx = _rec_ctx(REC_APP, sidecar)
    assert left_behind(ctx, _container(ctx, "rec-sidecar-1")).startswith("rec-app-1 started")


def test_owner_recreated_names_a_container_that_is_gone() -> None:
    recreated = copy.deepcopy(REC_APP)
    recreated["Id"] = "9" * 64
    ctx = _rec_ctx(recreated, REC_SIDECAR)
    _observe_sidecar(ctx, SIDECAR_SEEN, APP_SEEN)
    (finding,) = evaluate(STALE, ctx)
    assert finding.subjects == ("sidecar", "app", "rec-sidecar-1")  # app from depends_on
    assert "names container 4c40f99c5b88, which no longer exists" in finding.summary
    assert "up -d --force-recreate sidecar" in finding.fix


def test_owner_stopped() -> None:
    app = _inspect(REC_APP, Status="exited", Running=False, Pid=0)
    ctx = _rec_ctx(app, REC_SIDECAR)
    _observe_sidecar(ctx, SIDECAR_SEEN, None)
    (finding,) = evaluate(STALE, ctx)
    assert "rec-app-1, whose namespace it joined, is exited" in finding.summary
    assert "interfaces of app" not in finding.evidence


def test_plain_container_fix_restarts_it() -> None:
    app, sidecar = copy.deepcopy(REC_APP), copy.deepcopy(REC_SIDECAR)
    for raw in (app, sidecar):
        raw["Config"]["Labels"] = {}
    topology = topology_from_inspect(VERSION, REC_NETWORKS, [app, sidecar])
    ctx = CheckContext(topology, network_target(topology, ["rec_default"]))
    record(ctx.observations, _netns(ctx, "rec-sidecar-1"), INTERFACES, SIDECAR_SEEN)
    record(ctx.observations, _netns(ctx, "rec-app-1"), INTERFACES, APP_SEEN)
    (finding,) = evaluate(STALE, ctx)  # a sidecar of a member, though not a member itself
    assert finding.subjects == ("rec-sidecar-1", "rec-app-1")
    assert finding.fix.startswith("`docker restart rec-sidecar-1`")


def test_not_observed_says_nothing() -> None:
    assert evaluate(STALE, _rec_ctx()) == []


# --- net.ipv6: a `::` listener with IPV6_V6ONLY --------------------------------------------

API_IP = "10.213.138.3"
REC6_NET = "27dc87bb959ffe116fe35967126f4f656138eeca3901d1d5618bf5a9adb62260"


def _rec6_network(enable_ipv6: bool = False) -> dict[str, Any]:
    return {
        "Id": REC6_NET,
        "Name": "rec6_default",
        "Driver": "bridge",
        "Scope": "local",
        "EnableIPv6": enable_ipv6,
        "IPAM": {"Config": [{"Subnet": "10.213.138.0/24"}]},
        "Labels": {"com.docker.compose.network": "default", "com.docker.compose.project": "rec6"},
    }


def _rec6_container(service: str, cid: str, ip: str, env: list[str]) -> dict[str, Any]:
    return {
        "Id": cid,
        "Name": f"/rec6-{service}-1",
        "State": {"Status": "running", "Running": True, "Pid": 17743},
        "HostConfig": {"NetworkMode": "rec6_default"},
        "Config": {
            "Image": "ddiag-test/python3:bookworm",
            "Env": env,
            "Labels": {
                "com.docker.compose.depends_on": "",
                "com.docker.compose.project": "rec6",
                "com.docker.compose.service": service,
            },
        },
        "NetworkSettings": {
            "Networks": {
                "rec6_default": {
                    "Aliases": [f"rec6-{service}-1", service, cid[:12]],
                    "NetworkID": REC6_NET,
                    "IPAddress": ip,
                    "IPPrefixLen": 24,
                }
            }
        },
    }


REC6_API = _rec6_container(
    "api", "567d9e2869059688ee414fcac69634598887d2eae0a76a4557c2e1634135128f", API_IP, []
)
REC6_CLIENT = _rec6_container(
    "client",
    "230b437f867c6d303ad1ba389c40b7667236367ec0777666166f91753658a0de",
    "10.213.138.2",
    ["API_URL=http://api:8080/", "PATH=/bin"],
)
API_SOCKETS = {
    "status": "ok",
    "sockets": [
        {"family": "tcp", "address": "127.0.0.11", "port": 46835},
        {"family": "tcp6", "address": "::", "port": 8080},
    ],
}
OPEN = {"status": "open", "elapsed_ms": 0}


def _rec6_ctx(enable_ipv6: bool = False, *, network_mode: bool = False) -> CheckContext:
    networks, containers = [_rec6_network(enable_ipv6)], [REC6_API, REC6_CLIENT]
    if network_mode:
        topology = topology_from_inspect(VERSION, networks, containers)
        return CheckContext(topology, network_target(topology, ["rec6_default"]))
    return _compose_ctx("rec6", networks, *containers)


def _observe_api(ctx: CheckContext, loopback: dict[str, Any], sockets: dict = API_SOCKETS) -> None:
    api = _netns(ctx, "rec6-api-1")
    record(ctx.observations, api, LISTENING, sockets)
    record(
        ctx.observations, ctx.peer_placement(ctx.target.networks[0]), connect(API_IP, 8080), REFUSED
    )
    record(ctx.observations, api, connect("127.0.0.1", 8080), loopback)
    for at, task in _reaches(ctx):
        record(
            ctx.observations,
            at,
            task,
            {
                "status": "ok",
                "hosts_ips": [],
                "resolve": {"status": "ok", "rcode": "NOERROR", "addresses": [API_IP]},
                "connects": {API_IP: REFUSED},
            },
        )


def test_v6only_plan_asks_for_ipv4_loopback_inside_the_listener() -> None:
    ctx = _rec6_ctx()
    record(ctx.observations, _netns(ctx, "rec6-api-1"), LISTENING, API_SOCKETS)
    planned = find(IPV6).plan(ctx)  # type: ignore[union-attr]
    loopback = [(at, t) for at, t in planned if t.kind == "connect" and t.target == "127.0.0.1"]
    assert loopback == [(_netns(ctx, "rec6-api-1"), connect("127.0.0.1", 8080))]


def test_v6only_listener_on_a_network_without_ipv6() -> None:
    ctx = _rec6_ctx()
    _observe_api(ctx, REFUSED)
    (finding,) = evaluate(IPV6, ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("api", "client", "rec6-api-1", "rec6-client-1", "rec6_default")
    assert "listens on [::]:8080 for IPv6 only" in finding.summary
    assert "rec6_default has no IPv6, so no peer can reach it" in finding.summary
    assert finding.evidence["probe"] == [
        f"connect {API_IP}:8080 refused (from a peer on rec6_default)",
        "connect 127.0.0.1:8080 refused (inside api's own netns)",
    ]
    assert finding.evidence["clients"] == [
        f"client → api:8080 (environment API_URL): connect {API_IP}:8080 refused "
        "(from client's netns)"
    ]
    assert "bind it to 0.0.0.0:8080" in finding.fix and "ipv6only=off" in finding.fix
    assert evaluate("port.refused", ctx) == []  # the same refusal, reported once


def test_v6only_per_member_for_ddiag_network() -> None:
    ctx = _rec6_ctx(network_mode=True)
    _observe_api(ctx, REFUSED)
    (finding,) = evaluate(IPV6, ctx)
    assert finding.subjects == ("api", "rec6-api-1", "rec6_default")
    assert evaluate("port.refused", ctx) == []


def test_v6only_on_a_network_with_ipv6_is_a_warning() -> None:
    ctx = _rec6_ctx(enable_ipv6=True)
    _observe_api(ctx, REFUSED)
    (finding,) = evaluate(IPV6, ctx)
    assert finding.severity is Severity.WARNING
    assert finding.summary.endswith("IPv4 connects are refused; IPv4 clients fail")


def test_dual_stack_listener_is_left_to_port_refused() -> None:
    """/proc shows `::` either way: the loopback IPv4 connect that opens tells dual-stack."""
    ctx = _rec6_ctx()
    _observe_api(ctx, OPEN)
    assert evaluate(IPV6, ctx) == []
    assert [f.check for f in evaluate("port.refused", ctx)] == ["port.refused"]


def test_ipv4_listener_beside_the_wildcard_is_no_v6only() -> None:
    ctx = _rec6_ctx()
    ipv4 = {"family": "tcp", "address": "0.0.0.0", "port": 8080}
    sockets = {"status": "ok", "sockets": [*API_SOCKETS["sockets"], ipv4]}
    _observe_api(ctx, REFUSED, sockets)
    assert evaluate(IPV6, ctx) == []


def test_v6only_without_the_loopback_connect_says_nothing() -> None:
    ctx = _rec6_ctx()
    _observe_api(ctx, REFUSED)
    del ctx.observations.results[(_netns(ctx, "rec6-api-1"), connect("127.0.0.1", 8080))]
    assert evaluate(IPV6, ctx) == []


# --- net.ipv6: references that need IPv6 ---------------------------------------------------

CLIENT_SEEN = {
    "status": "ok",
    "interfaces": [
        {"name": "eth0", "up": True, "mtu": 1500, "addresses": ["10.213.138.2/24"]},
        LO,
    ],
    "routes": [],
}


def _client_ctx(env: list[str], **inspect: Any) -> CheckContext:
    client = copy.deepcopy(REC6_CLIENT)
    client["Config"]["Env"] = env
    client["HostConfig"].update(inspect)
    return _compose_ctx("rec6", [_rec6_network()], REC6_API, client)


@pytest.mark.parametrize(
    ("addresses", "found"),
    [(["10.213.138.2/24"], 1), (["10.213.138.2/24", "fe80::42:aff:fed5:8a02/64"], 1),
     (["10.213.138.2/24", "fd00:db8:1::2/64"], 0)],
)  # fmt: skip
def test_ipv6_literal_reference(addresses: list[str], found: int) -> None:
    ctx = _client_ctx(["UPSTREAM_URL=http://[fd00::5]:80/", "LOCAL=http://[::1]:81/"])
    client = _netns(ctx, "rec6-client-1")
    assert (client, INTERFACES) in find(IPV6).plan(ctx)  # type: ignore[union-attr]
    interfaces = [{**CLIENT_SEEN["interfaces"][0], "addresses": addresses}, LO]
    record(ctx.observations, client, INTERFACES, {**CLIENT_SEEN, "interfaces": interfaces})
    findings = evaluate(IPV6, ctx)
    assert len(findings) == found
    if found:
        assert findings[0].subjects == ("client", "rec6-client-1", "rec6_default")
        assert findings[0].evidence["references"] == ["[fd00::5]:80 (environment UPSTREAM_URL)"]
        assert findings[0].evidence["networks"] == ["rec6_default: EnableIPv6 false"]
        assert "enable_ipv6: true" in findings[0].fix


def test_ipv6_literal_reference_not_observed_says_nothing() -> None:
    ctx = _client_ctx(["UPSTREAM_URL=http://[fd00::5]:80/"])
    assert evaluate(IPV6, ctx) == []


@pytest.mark.parametrize(("mapped", "found"), [(["fd00::7"], 1), (["fd00::7", "10.0.0.7"], 0)])
def test_name_mapped_to_ipv6_only_in_etc_hosts(mapped: list[str], found: int) -> None:
    ctx = _client_ctx(["LEGACY=http://legacy:8080/"], ExtraHosts=["legacy:fd00::7"])
    client = _netns(ctx, "rec6-client-1")
    ((at, task),) = [(at, t) for at, t in _reaches(ctx) if t.target == "legacy"]
    record(ctx.observations, at, task, {
        "status": "ok", "hosts_ips": mapped, "resolve": None, "connects": {},
    })  # fmt: skip
    planned = find(IPV6).plan(ctx)  # type: ignore[union-attr]
    assert ((client, INTERFACES) in planned) == bool(found)
    record(ctx.observations, client, INTERFACES, CLIENT_SEEN)
    findings = evaluate(IPV6, ctx)
    assert len(findings) == found
    if found:
        assert "/etc/hosts maps legacy to IPv6 only (fd00::7)" in findings[0].summary
        assert findings[0].evidence["interfaces"] == ["eth0 10.213.138.2/24", "lo 127.0.0.1/8"]
