"""The per-service checks (no probe: the engine's and the compose model's facts only).

`port.host-mode-discard`, `port.bound-localhost`, `port.already-allocated`,
`container.unhealthy`, `container.no-readiness`, and `container.not-running` in compose and
container mode. Hand-built topologies of compose project `s` on `s_default`
(10.213.90.0/24), plus the recorded `ddiag-unitrec` stack (tests/data/inspect-api141) where
the engine's own shapes matter. Engine strings (State.Error, health output) are the ones
the test engine (20.10.24) wrote.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from diag.checks.registry import find
from diag.engine.discover import topology_from_inspect
from diag.model.compose import project_from_config
from diag.model.context import CheckContext
from diag.model.findings import Finding, Severity
from diag.model.targets import compose_target, container_target, network_target
from diag.model.topology import (
    Container,
    Endpoint,
    EngineInfo,
    Health,
    Network,
    PortBinding,
    Subnet,
    Topology,
)

from .recorded import BACK, load_inspect

PROJECT = "s"
NET = "s_default"
_SERVICE_DEFAULTS: dict[str, Any] = {"image": "ddiag-test/busybox:latest"}

ALLOCATED_ERROR = (
    "driver failed programming external connectivity on endpoint s-two-1 "
    "(d14ef0217e04131b850ef2aa5ed0b200d8dde5efa7021a65e4d99b8b64ecdd31): Bind for "
    "127.0.0.1:48123 failed: port is already allocated"
)
IN_USE_ERROR = (
    "driver failed programming external connectivity on endpoint s-two-1 (0f3c): Error "
    "starting userland proxy: listen tcp4 0.0.0.0:8080: bind: address already in use"
)


def _network(name: str, subnet: str, **options: str) -> Network:
    return Network(
        id=(name.encode().hex() * 8)[:64],
        name=name,
        driver="bridge",
        scope="local",
        internal=False,
        attachable=False,
        enable_ipv6=False,
        subnets=(Subnet(subnet, None),),
        options=dict(options),
        labels={"com.docker.compose.project": PROJECT},
    )


USER = _network(NET, "10.213.90.0/24")


def _container(service: str, ip: str = "", **changes: Any) -> Container:
    """A running compose container of project `s` on s_default (no endpoint without ip)."""
    name = f"{PROJECT}-{service}-1"
    cid = (service.encode().hex() * 16)[:64]
    names = (name, service, cid[:12])
    labels = {"com.docker.compose.project": PROJECT, "com.docker.compose.service": service}
    labels.update(changes.pop("extra_labels", {}))
    container = Container(
        id=cid,
        name=name,
        image="ddiag-test/busybox:latest",
        status="running",
        exit_code=0,
        error="",
        restart_count=0,
        health=None,
        network_mode=NET,
        endpoints=(Endpoint(USER.id, NET, ip, 24, "", "", names, names),) if ip else (),
        exposed=(),
        published=(),
        labels=labels,
    )
    return dataclasses.replace(container, **changes)


def _topology(*containers: Container, network: Network = USER) -> Topology:
    return Topology(EngineInfo("20.10.24", "1.41"), (network,), containers)


def _compose_ctx(topology: Topology, services: dict[str, dict[str, Any]]) -> CheckContext:
    services = {name: {**_SERVICE_DEFAULTS, **raw} for name, raw in services.items()}
    model = {"name": PROJECT, "services": services, "networks": {"default": {"name": NET}}}
    return CheckContext(topology, compose_target(topology, project_from_config(model)))


def _network_ctx(topology: Topology, *names: str) -> CheckContext:
    return CheckContext(topology, network_target(topology, names or (NET,)))


def _evaluate(check_id: str, ctx: CheckContext) -> list[Finding]:
    check = find(check_id)
    assert check is not None, check_id
    assert check.plan(ctx) == []  # per-service checks need no probe
    return list(check.evaluate(ctx))


def _binding(host_ip: str, host_port: str, port: int, proto: str = "tcp") -> PortBinding:
    return PortBinding(port, proto, host_ip, host_port)


def test_catalog_knows_the_per_service_checks() -> None:
    for check_id, severity in (
        ("port.host-mode-discard", Severity.WARNING),
        ("port.bound-localhost", Severity.INFO),
        ("port.already-allocated", Severity.ERROR),
        ("container.unhealthy", Severity.ERROR),
        ("container.no-readiness", Severity.INFO),
    ):
        check = find(check_id)
        assert check is not None and check.severity is severity, check_id
        assert "Fix" in check.doc and "Detected" in check.doc


# --- port.host-mode-discard ----------------------------------------------------------------

HMD = "port.host-mode-discard"


def test_host_mode_discard_from_recorded_inspect() -> None:
    """The engine keeps HostConfig.PortBindings in host mode and grants nothing."""
    version, networks, containers = load_inspect("inspect-api141")
    web = copy.deepcopy(next(c for c in containers if c["Name"] == "/ddiag-unitrec-web-1"))
    web["HostConfig"]["NetworkMode"] = "host"
    web["HostConfig"]["PortBindings"] = {"8080/tcp": [{"HostIp": "", "HostPort": "48125"}]}
    web["NetworkSettings"]["Ports"] = {}
    host = next(n for n in networks if n["Name"] == "host")
    web["NetworkSettings"]["Networks"] = {"host": {"NetworkID": host["Id"], "IPAddress": ""}}
    topology = topology_from_inspect(version, networks, [web])
    container = topology.container_named("ddiag-unitrec-web-1")
    assert container is not None
    assert container.port_bindings == (_binding("", "48125", 8080),)
    (finding,) = _evaluate(HMD, CheckContext(topology, container_target(topology, container.name)))
    assert finding.severity is Severity.WARNING
    assert finding.subjects == ("web", "ddiag-unitrec-web-1")
    assert finding.evidence == {"network_mode": "host", "discarded": ["0.0.0.0:48125->8080/tcp"]}
    assert "the host's port 8080 directly" in finding.fix
    assert '    # ports: ["48125:8080"]   <- remove' in finding.fix
    assert "    network_mode: host" in finding.fix


def test_host_mode_discard_only_for_host_mode_with_ports() -> None:
    bridged = _container("web", "10.213.90.2", published=(_binding("", "8080", 80),))
    bare_host = _container("agent", network_mode="host")
    topology = _topology(bridged, bare_host)
    assert _evaluate(HMD, _compose_ctx(topology, {"web": {}, "agent": {}})) == []


def test_host_mode_discard_compose_model_when_no_container() -> None:
    web = _container("web", "10.213.90.2")
    ctx = _compose_ctx(
        _topology(web),
        {
            "web": {},
            "agent": {
                "network_mode": "host",
                "ports": [{"target": 9100, "published": "19100", "protocol": "tcp"}],
            },
        },
    )
    (finding,) = _evaluate(HMD, ctx)
    assert finding.subjects == ("agent",)
    assert finding.evidence["ports"] == ["19100:9100"]
    assert '# ports: ["19100:9100"]' in finding.fix


def test_host_mode_discard_plain_container_gets_docker_run_advice() -> None:
    agent = _container("agent", network_mode="host", labels={}, name="agent")
    agent = dataclasses.replace(agent, port_bindings=(_binding("127.0.0.1", "9000", 9000),))
    topology = _topology(agent)
    (finding,) = _evaluate(HMD, CheckContext(topology, container_target(topology, "agent")))
    assert finding.subjects == ("agent",)
    assert "without -p" in finding.fix


# --- port.bound-localhost ------------------------------------------------------------------

BL = "port.bound-localhost"


def test_bound_localhost_recorded_web(topology141: Topology) -> None:
    """web publishes 127.0.0.1::8080 (the engine picked 32768)."""
    ctx = CheckContext(topology141, network_target(topology141, [BACK]))
    (finding,) = _evaluate(BL, ctx)
    assert finding.severity is Severity.INFO
    assert finding.subjects == ("web", "ddiag-unitrec-web-1")
    assert finding.evidence == {"published": ["127.0.0.1:32768->8080/tcp"]}
    assert finding.summary == (
        "web is published on 127.0.0.1:32768->8080/tcp: reachable from this host only, "
        "not from other machines"
    )
    assert '      - "32768:8080"   # was 127.0.0.1:32768:8080' in finding.fix


def test_bound_localhost_ipv6_loopback_and_several_ports() -> None:
    web = _container(
        "web",
        "10.213.90.2",
        published=(
            _binding("::1", "8443", 443),
            _binding("0.0.0.0", "8080", 80),
            _binding("127.0.0.1", "5353", 53, "udp"),
        ),
    )
    (finding,) = _evaluate(BL, _network_ctx(_topology(web)))
    assert finding.evidence["published"] == ["[::1]:8443->443/tcp", "127.0.0.1:5353->53/udp"]
    assert '"8443:443"' in finding.fix and '"5353:53/udp"' in finding.fix


def test_bound_localhost_silent_for_wildcards_stopped_and_host_mode() -> None:
    everywhere = _container("web", "10.213.90.2", published=(_binding("0.0.0.0", "80", 80),))
    stopped = _container(
        "db", status="exited", exit_code=1, published=(_binding("127.0.0.1", "5432", 5432),)
    )
    host = _container(
        "agent", network_mode="host", published=(_binding("127.0.0.1", "9000", 9000),)
    )
    ctx = _compose_ctx(_topology(everywhere, stopped, host), {"web": {}, "db": {}, "agent": {}})
    assert _evaluate(BL, ctx) == []


def test_bound_localhost_by_the_network_default() -> None:
    """`host_binding_ipv4=127.0.0.1` on the network: asked without address, granted on lo."""
    network = _network(
        NET, "10.213.90.0/24", **{"com.docker.network.bridge.host_binding_ipv4": "127.0.0.1"}
    )
    web = _container(
        "web",
        "10.213.90.2",
        published=(_binding("127.0.0.1", "8080", 80),),
        port_bindings=(_binding("", "8080", 80),),
    )
    web = dataclasses.replace(
        web, endpoints=(dataclasses.replace(web.endpoints[0], network_id=network.id),)
    )
    topology = _topology(web, network=network)
    (finding,) = _evaluate(BL, _network_ctx(topology))
    assert finding.evidence["network_option"] == (
        f"{NET}: com.docker.network.bridge.host_binding_ipv4=127.0.0.1"
    )
    assert '"0.0.0.0:8080:80"' in finding.fix and "driver_opts" in finding.fix


def test_bound_localhost_plain_container() -> None:
    web = _container("web", "10.213.90.2", labels={}, name="web")
    web = dataclasses.replace(web, published=(_binding("127.0.0.1", "8080", 80),))
    topology = _topology(web)
    (finding,) = _evaluate(BL, CheckContext(topology, container_target(topology, "web")))
    assert finding.subjects == ("web",)
    assert "-p 8080:80" in finding.fix


# --- port.already-allocated ----------------------------------------------------------------

AA = "port.already-allocated"


def _allocation_stack(error: str, holder_binding: PortBinding | None) -> Topology:
    asked = _binding("127.0.0.1", "48123", 8080)
    two = _container(
        "two",
        status="created",
        exit_code=128,
        error=error,
        published=(asked,),
        port_bindings=(asked,),
    )
    one = _container(
        "one",
        "10.213.90.2",
        published=(holder_binding,) if holder_binding else (),
        port_bindings=(holder_binding,) if holder_binding else (),
    )
    return _topology(one, two)


def test_already_allocated_names_the_container_holding_the_port() -> None:
    topology = _allocation_stack(ALLOCATED_ERROR, _binding("127.0.0.1", "48123", 8080))
    (finding,) = _evaluate(AA, _compose_ctx(topology, {"one": {}, "two": {}}))
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("two", "one", "s-two-1", "s-one-1")
    assert finding.summary == "two could not start: one already publishes 127.0.0.1:48123"
    assert finding.evidence == {
        "state": "created",
        "error": ALLOCATED_ERROR,
        "host_port": "127.0.0.1:48123",
        "held_by": ["s-one-1 (127.0.0.1:48123->8080/tcp)"],
    }
    assert '      - "127.0.0.1:48124:8080"   # was 48123; or "127.0.0.1::8080"' in finding.fix
    assert "docker compose -p s up -d two" in finding.fix


def test_already_allocated_wildcard_holder_blocks_a_loopback_binding() -> None:
    topology = _allocation_stack(ALLOCATED_ERROR, _binding("0.0.0.0", "48123", 80))
    (finding,) = _evaluate(AA, _compose_ctx(topology, {"one": {}, "two": {}}))
    assert finding.evidence["held_by"] == ["s-one-1 (0.0.0.0:48123->80/tcp)"]


def test_already_allocated_by_a_host_process() -> None:
    topology = _allocation_stack(IN_USE_ERROR, _binding("0.0.0.0", "9090", 80))
    (finding,) = _evaluate(AA, _compose_ctx(topology, {"one": {}, "two": {}}))
    assert finding.subjects == ("two", "s-two-1")
    assert finding.evidence["host_port"] == "0.0.0.0:8080"
    assert "sport = :8080" in finding.evidence["held_by"]
    assert finding.summary == "two could not start: 0.0.0.0:8080 is taken by a process on the host"


def test_already_allocated_other_address_is_no_holder() -> None:
    topology = _allocation_stack(ALLOCATED_ERROR, _binding("10.0.0.1", "48123", 80))
    (finding,) = _evaluate(AA, _compose_ctx(topology, {"one": {}, "two": {}}))
    assert finding.subjects == ("two", "s-two-1")


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "running", "error": ALLOCATED_ERROR},  # started since: the error is stale
        {"status": "exited", "error": "OCI runtime create failed: exec: no such file"},
    ],
)
def test_already_allocated_silent_otherwise(changes: dict[str, Any]) -> None:
    topology = _allocation_stack(ALLOCATED_ERROR, None)
    two = dataclasses.replace(topology.containers[1], **changes)
    topology = dataclasses.replace(topology, containers=(topology.containers[0], two))
    assert _evaluate(AA, _compose_ctx(topology, {"one": {}, "two": {}})) == []


# --- container.unhealthy -------------------------------------------------------------------

UH = "container.unhealthy"
SICK = Health("unhealthy", 4, "not ready yet")


def test_unhealthy_reports_streak_and_last_output() -> None:
    db = _container("db", "10.213.90.3", health=SICK, healthcheck=True)
    (finding,) = _evaluate(UH, _network_ctx(_topology(db)))
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("db", "s-db-1")
    assert finding.summary == (
        "db is unhealthy: its healthcheck failed 4 time(s) in a row: not ready yet"
    )
    assert finding.evidence == {
        "health": "unhealthy",
        "failing_streak": 4,
        "last_output": "not ready yet",
    }
    assert "docker inspect --format '{{json .State.Health}}' s-db-1" in finding.fix
    assert "docker compose -p s logs db" in finding.fix
    assert "    healthcheck:" in finding.fix


@pytest.mark.parametrize(
    ("test", "command"),
    [
        (("CMD-SHELL", "pg_isready -U app"), "sh -c 'pg_isready -U app'"),
        (("CMD", "sh", "-c", "echo no; exit 1"), "sh -c 'echo no; exit 1'"),
        (("CMD", "curl", "-f", "http://localhost/"), "curl -f http://localhost/"),
    ],
)
def test_unhealthy_spells_out_the_check(test: tuple[str, ...], command: str) -> None:
    db = _container("db", "10.213.90.3", health=SICK, healthcheck=True, healthcheck_test=test)
    (finding,) = _evaluate(UH, _network_ctx(_topology(db)))
    assert finding.evidence["healthcheck"] == command
    assert f"`docker exec s-db-1 {command}`" in finding.fix


def test_unhealthy_names_the_services_waiting_for_it() -> None:
    db = _container("db", "10.213.90.3", health=Health("unhealthy", 1, ""), healthcheck=True)
    api = _container("api", status="created")
    ctx = _compose_ctx(
        _topology(api, db),
        {"api": {"depends_on": {"db": {"condition": "service_healthy"}}}, "db": {}},
    )
    (finding,) = _evaluate(UH, ctx)
    assert finding.subjects == ("db", "api", "s-db-1", "s-api-1")
    assert finding.evidence["waiting"] == ["api (depends_on: service_healthy)"]
    assert finding.evidence["last_output"] == "(the check printed nothing)"


@pytest.mark.parametrize(
    "changes",
    [
        {"health": Health("healthy", 0, "ok")},
        {"health": Health("starting", 1, "not ready yet")},
        {"health": None},
        {"health": SICK, "status": "exited", "exit_code": 1},  # container.not-running's
    ],
)
def test_unhealthy_silent_otherwise(changes: dict[str, Any]) -> None:
    db = _container("db", "10.213.90.3", **changes)
    assert _evaluate(UH, _network_ctx(_topology(db))) == []


# --- container.no-readiness ----------------------------------------------------------------

NR = "container.no-readiness"


def test_no_readiness_default_condition_without_healthcheck() -> None:
    web = _container("web", "10.213.90.2")
    db = _container("db", "10.213.90.3", image="postgres:16-alpine")
    ctx = _compose_ctx(_topology(web, db), {"web": {"depends_on": {"db": {}}}, "db": {}})
    (finding,) = _evaluate(NR, ctx)
    assert finding.severity is Severity.INFO
    assert finding.subjects == ("web", "db", "s-web-1", "s-db-1")
    assert finding.evidence == {
        "depends_on": ["web -> db (service_started)"],
        "healthcheck": "db has none (neither healthcheck: nor the image's)",
    }
    assert finding.fix.splitlines()[1:] == [
        "services:",
        "  db:",
        "    healthcheck:",
        '      test: ["CMD-SHELL", "pg_isready -U postgres"]',
        "      interval: 5s",
        "      retries: 10",
        "  web:",
        "    depends_on:",
        "      db:",
        "        condition: service_healthy",
    ]


def test_no_readiness_one_finding_per_target() -> None:
    web = _container("web", "10.213.90.2")
    worker = _container("worker", "10.213.90.4")
    db = _container("db", "10.213.90.3")
    services = {"web": {"depends_on": {"db": {}}}, "worker": {"depends_on": {"db": {}}}, "db": {}}
    (finding,) = _evaluate(NR, _compose_ctx(_topology(web, worker, db), services))
    assert finding.subjects == ("web", "worker", "db", "s-web-1", "s-worker-1", "s-db-1")
    assert "web and worker depend on db" in finding.summary
    assert "<a command that succeeds once it is ready>" in finding.fix


@pytest.mark.parametrize(
    ("web", "db_changes"),
    [
        ({"depends_on": {"db": {"condition": "service_healthy"}}}, {"healthcheck": True}),
        ({"depends_on": {"db": {}}}, {"healthcheck": True}),  # the image's HEALTHCHECK
        ({"depends_on": {"db": {"condition": "service_completed_successfully"}}}, {}),
        # compose's own dependencies for links: and network_mode: service:
        ({"links": ["db"], "depends_on": {"db": {"restart": True}}}, {}),
        ({"network_mode": "service:db", "depends_on": {"db": {"restart": True}}}, {}),
    ],
)
def test_no_readiness_silent(web: dict[str, Any], db_changes: dict[str, Any]) -> None:
    containers = (_container("web", "10.213.90.2"), _container("db", "10.213.90.3", **db_changes))
    ctx = _compose_ctx(_topology(*containers), {"web": web, "db": {}})
    assert _evaluate(NR, ctx) == []


def test_no_readiness_from_labels_in_network_mode() -> None:
    label = {
        "com.docker.compose.depends_on": "db:service_started:false,cache:service_healthy:false"
    }
    web = _container("web", "10.213.90.2", extra_labels=label)
    db = _container("db", "10.213.90.3")
    cache = _container("cache", "10.213.90.4", healthcheck=True)
    (finding,) = _evaluate(NR, _network_ctx(_topology(web, db, cache)))
    assert finding.subjects == ("web", "db", "s-web-1", "s-db-1")


def test_no_readiness_target_without_container_uses_the_model() -> None:
    web = _container("web", "10.213.90.2")
    services = {"web": {"depends_on": {"db": {}, "cache": {}}}, "db": {}, "cache": {}}
    services["cache"]["healthcheck"] = {"disable": True}
    (finding,) = _evaluate(NR, _compose_ctx(_topology(web), services))
    # db: compose does not know (the image may have a HEALTHCHECK); cache: disabled
    assert finding.subjects == ("web", "cache", "s-web-1")


# --- container.not-running beyond network members ------------------------------------------

NRUN = "container.not-running"


def test_not_running_compose_mode_sees_a_service_without_endpoint() -> None:
    web = _container("web", "10.213.90.2")
    worker = _container("worker", status="exited", exit_code=3, network_mode="host")
    ctx = _compose_ctx(_topology(web, worker), {"web": {}, "worker": {}})
    (finding,) = _evaluate(NRUN, ctx)
    assert finding.subjects == ("worker", "s-worker-1")
    assert finding.summary == "worker is exited (exit code 3)"
    # as a network target, only the members are judged: the worker is on no network
    assert _evaluate(NRUN, _network_ctx(_topology(web, worker))) == []


def test_not_running_compose_mode_keeps_the_networks_in_subjects() -> None:
    web = _container("web", "10.213.90.2")
    job = _container("job", status="exited", exit_code=1)
    job = dataclasses.replace(
        job, endpoints=(dataclasses.replace(web.endpoints[0], ip="", dns_names=()),)
    )
    (finding,) = _evaluate(NRUN, _compose_ctx(_topology(web, job), {"web": {}, "job": {}}))
    assert finding.subjects == ("job", "s-job-1", NET)


def test_not_running_container_mode() -> None:
    job = _container("job", status="restarting", restart_count=5)
    topology = _topology(job)
    (finding,) = _evaluate(NRUN, CheckContext(topology, container_target(topology, "s-job-1")))
    assert finding.subjects == ("job", "s-job-1")
    assert finding.evidence["restarts"] == 5
