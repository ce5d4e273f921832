"""`diag.engine.discover.topology_from_inspect` on recorded inspect data of both endpoint shapes."""

from __future__ import annotations

import copy

import pytest

from diag.engine.discover import topology_from_inspect
from diag.model.topology import EngineInfo, Network, PortBinding, Subnet, Topology

from .recorded import BACK, PROJECT, load_inspect

BACK_ID = "df72c1c1fccdc4c486420454aba5d8f87b2f5628dc0c694b9251439db3edcb79"
BRIDGE_ID = "a63bca81dda0831f723af5ff49082e466e0301a347986283462f01b6ff32b8a9"
API = f"{PROJECT}-api-1"
WEB = f"{PROJECT}-web-1"
JOB = f"{PROJECT}-job-1"
INIT = f"{PROJECT}-init-1"
LEGACY = f"{PROJECT}-legacy-1"
JOB_RUN = f"{PROJECT}-job-run-ad90f2492798"


def _container(topology: Topology, name: str):
    container = topology.container_named(name)
    assert container is not None, name
    return container


def _back_endpoint(topology: Topology, name: str):
    network = topology.network_named(BACK)
    assert network is not None
    endpoint = _container(topology, name).endpoint(network)
    assert endpoint is not None
    return endpoint


# --- engine and networks -------------------------------------------------------------------


def test_engine_version_of_each_shape(topology141: Topology, topology144: Topology) -> None:
    assert (topology141.engine.version, topology141.engine.api_version) == (
        "20.10.24+dfsg1",
        "1.41",
    )
    assert (topology144.engine.version, topology144.engine.api_version) == ("25.0.0", "1.44")


def test_networks_sorted_with_subnets(any_topology: Topology) -> None:
    assert [n.name for n in any_topology.networks] == ["bridge", BACK, "host", "none"]
    back = any_topology.network_named(BACK)
    bridge = any_topology.network_named("bridge")
    assert back is not None and bridge is not None
    assert back.id == BACK_ID
    assert back.driver == "bridge"
    assert back.subnets == (Subnet("10.213.200.0/24", "10.213.200.1"),)
    assert back.labels["com.docker.compose.network"] == "back"
    assert bridge.subnets == (Subnet("172.17.0.0/16", None),)
    assert bridge.options["com.docker.network.driver.mtu"] == "1500"
    assert any_topology.network_named("host").subnets == ()


def test_default_bridge_detection(any_topology: Topology) -> None:
    by_name = {n.name: n for n in any_topology.networks}
    assert by_name["bridge"].is_default_bridge
    assert not by_name["bridge"].has_embedded_dns
    assert not by_name[BACK].is_default_bridge
    assert by_name[BACK].has_embedded_dns
    assert not by_name["host"].has_embedded_dns
    assert not by_name["none"].has_embedded_dns


def test_default_bridge_found_by_option_even_under_another_name() -> None:
    renamed = Network(
        id="1" * 64,
        name="docker0-net",
        driver="bridge",
        scope="local",
        internal=False,
        attachable=False,
        enable_ipv6=False,
        subnets=(),
        options={"com.docker.network.bridge.default_bridge": "true"},
    )
    user_defined = Network("2" * 64, "app", "bridge", "local", False, False, False, ())
    assert renamed.is_default_bridge and not renamed.has_embedded_dns
    assert not user_defined.is_default_bridge and user_defined.has_embedded_dns


def test_network_named_exact_and_id_prefix(any_topology: Topology) -> None:
    assert any_topology.network_named(BACK).id == BACK_ID
    assert any_topology.network_named(BACK_ID).name == BACK
    assert any_topology.network_named("df72c1c1fccd").name == BACK
    assert any_topology.network_named("a63b").name == "bridge"
    # names are matched exactly, never by prefix
    assert any_topology.network_named("ddiag-unitrec") is None
    assert any_topology.network_named("nosuch") is None


def test_network_named_ambiguous_id_prefix_is_none() -> None:
    def net(id_: str, name: str) -> Network:
        return Network(id_, name, "bridge", "local", False, False, False, ())

    topology = Topology(
        EngineInfo("1", "1.41"),
        (net("abc111" + "0" * 58, "one"), net("abc222" + "0" * 58, "two")),
        (),
    )
    assert topology.network_named("abc") is None
    assert topology.network_named("abc2").name == "two"
    # an exact name wins over an id prefix
    assert topology.network_named("one").id.startswith("abc111")


# --- containers ----------------------------------------------------------------------------


def test_probe_containers_are_left_out(any_topology: Topology) -> None:
    names = [c.name for c in any_topology.containers]
    assert names == [API, INIT, JOB, JOB_RUN, LEGACY, WEB]
    assert "ddiag-unitrec-probe" not in names
    back = any_topology.network_named(BACK)
    assert any_topology.owner_of(back, "10.213.200.5") is None  # the probe's address


@pytest.mark.parametrize("shape", ["inspect-api141", "inspect-api144"])
def test_probe_label_is_what_excludes(shape: str) -> None:
    version, networks, containers = load_inspect(shape)
    probe = next(c for c in containers if c["Name"] == "/ddiag-unitrec-probe")
    relabelled = copy.deepcopy(probe)
    del relabelled["Config"]["Labels"]["ddiag.probe"]
    topology = topology_from_inspect(version, networks, [probe, relabelled])
    assert [c.name for c in topology.containers] == ["ddiag-unitrec-probe"]


def test_dns_names_api141_are_name_plus_aliases(topology141: Topology) -> None:
    api = _back_endpoint(topology141, API)
    assert api.dns_names == (API, "api", "api-internal", "5e867449712c")
    assert api.aliases == (API, "api", "api-internal", "5e867449712c")
    assert _back_endpoint(topology141, WEB).dns_names == (WEB, "web", "ef4b8ad416d9")


def test_dns_names_api141_add_container_name_once_case_insensitively() -> None:
    version, networks, containers = load_inspect("inspect-api141")
    web = copy.deepcopy(next(c for c in containers if c["Name"] == f"/{WEB}"))
    web["NetworkSettings"]["Networks"][BACK]["Aliases"] = ["web", WEB.upper()]
    topology = topology_from_inspect(version, networks, [web])
    assert _back_endpoint(topology, WEB).dns_names == (WEB, "web")


def test_dns_names_api144_are_exactly_dns_names(topology144: Topology) -> None:
    api = _back_endpoint(topology144, API)
    # the short id is only in DNSNames: Aliases + name would not give it
    assert api.dns_names == (API, "api", "api-internal", "5e867449712c")
    assert api.aliases == ("api", "api-internal")
    assert _back_endpoint(topology144, JOB_RUN).aliases == ()
    assert _back_endpoint(topology144, JOB_RUN).dns_names == (JOB_RUN, "bfa2496803a1")


def test_dns_names_api144_never_mix_in_aliases() -> None:
    version, networks, containers = load_inspect("inspect-api144")
    api = copy.deepcopy(next(c for c in containers if c["Name"] == f"/{API}"))
    endpoint = api["NetworkSettings"]["Networks"][BACK]
    endpoint["DNSNames"] = ["only-this", "and-this"]
    endpoint["Aliases"] = ["api", "not-a-dns-name"]
    topology = topology_from_inspect(version, networks, [api])
    assert _back_endpoint(topology, API).dns_names == ("only-this", "and-this")


def test_default_bridge_endpoint_has_no_dns_names(any_topology: Topology) -> None:
    bridge = any_topology.network_named("bridge")
    legacy = _container(any_topology, LEGACY)
    endpoint = legacy.endpoint(bridge)
    assert endpoint is not None
    assert endpoint.network_id == BRIDGE_ID
    assert endpoint.ip == "172.17.0.2"
    assert endpoint.ip_prefix_len == 16
    assert endpoint.dns_names == ()
    assert legacy.network_mode == "bridge"
    assert [c.name for c, _ in any_topology.members(bridge)] == [LEGACY]


def test_ports_exposed_and_published(any_topology: Topology) -> None:
    web = _container(any_topology, WEB)
    assert web.exposed == ((8080, "tcp"),)
    # as granted by the engine (host port chosen at start), not as asked ("")
    assert web.published == (PortBinding(8080, "tcp", "127.0.0.1", "32768"),)
    assert web.exposed_tcp_ports() == {8080}
    api = _container(any_topology, API)
    assert api.exposed == () and api.published == ()
    assert api.exposed_tcp_ports() == set()


def test_published_falls_back_to_asked_bindings_when_not_granted() -> None:
    version, networks, containers = load_inspect("inspect-api141")
    web = copy.deepcopy(next(c for c in containers if c["Name"] == f"/{WEB}"))
    web["NetworkSettings"]["Ports"] = {}
    web["State"]["Status"] = "exited"
    topology = topology_from_inspect(version, networks, [web])
    assert _container(topology, WEB).published == (PortBinding(8080, "tcp", "127.0.0.1", ""),)


def test_port_bindings_are_always_as_asked(any_topology: Topology) -> None:
    """`port_bindings` is HostConfig.PortBindings whatever the engine granted."""
    web = _container(any_topology, WEB)
    assert web.port_bindings == (PortBinding(8080, "tcp", "127.0.0.1", ""),)
    assert _container(any_topology, API).port_bindings == ()


def test_host_mode_keeps_asked_bindings_that_nothing_grants() -> None:
    version, networks, containers = load_inspect("inspect-api141")
    web = copy.deepcopy(next(c for c in containers if c["Name"] == f"/{WEB}"))
    web["HostConfig"]["NetworkMode"] = "host"
    web["HostConfig"]["PortBindings"] = {"8080/tcp": [{"HostIp": "", "HostPort": "48125"}]}
    web["NetworkSettings"]["Ports"] = {}
    container = _container(topology_from_inspect(version, networks, [web]), WEB)
    assert container.network_mode == "host"
    assert container.port_bindings == (PortBinding(8080, "tcp", "", "48125"),)
    assert container.published == container.port_bindings


def test_running_container_state_and_ip(any_topology: Topology) -> None:
    web = _container(any_topology, WEB)
    assert web.running and web.status == "running" and web.exit_code == 0
    assert web.service == "web" and web.project == PROJECT and not web.is_oneoff
    assert web.subjects == ("web", WEB)
    assert web.short_id == "ef4b8ad416d9"
    endpoint = _back_endpoint(any_topology, WEB)
    assert (endpoint.ip, endpoint.ip_prefix_len, endpoint.mac) == (
        "10.213.200.4",
        24,
        "02:42:0a:d5:c8:04",
    )
    assert any_topology.owner_of(any_topology.network_named(BACK), "10.213.200.4") == web


def test_stopped_container_keeps_endpoint_without_ip(any_topology: Topology) -> None:
    job = _container(any_topology, JOB)
    assert job.status == "exited"
    assert job.exit_code == 3
    assert not job.running
    endpoint = _back_endpoint(any_topology, JOB)
    assert endpoint.ip == ""
    assert endpoint.network_id == BACK_ID
    init = _container(any_topology, INIT)
    assert (init.status, init.exit_code) == ("exited", 0)
    job_run = _container(any_topology, JOB_RUN)
    assert (job_run.status, job_run.exit_code, job_run.is_oneoff) == ("exited", 3, True)
    assert job_run.service == "job"


def test_members_of_back_include_stopped_ones(any_topology: Topology) -> None:
    back = any_topology.network_named(BACK)
    members = any_topology.members(back)
    assert [(c.name, e.ip) for c, e in members] == [
        (API, "10.213.200.2"),
        (INIT, ""),
        (JOB, ""),
        (JOB_RUN, ""),
        (WEB, "10.213.200.4"),
    ]


def test_logs_are_attached_by_container_id() -> None:
    version, networks, containers = load_inspect("inspect-api141")
    job = next(c for c in containers if c["Name"] == f"/{JOB}")
    topology = topology_from_inspect(
        version, networks, containers, logs={job["Id"]: ("migration failed",)}
    )
    assert _container(topology, JOB).last_logs == ("migration failed",)
    assert _container(topology, WEB).last_logs == ()


def test_env_and_health_parsed() -> None:
    version, networks, containers = load_inspect("inspect-api141")
    web = copy.deepcopy(next(c for c in containers if c["Name"] == f"/{WEB}"))
    web["Config"]["Env"] = ["A=1", "URL=http://x/?q=a=b", "EMPTY="]
    web["State"]["Health"] = {
        "Status": "unhealthy",
        "FailingStreak": 4,
        "Log": [{"Output": "old\n"}, {"Output": "  connection refused\n"}],
    }
    container = _container(topology_from_inspect(version, networks, [web]), WEB)
    assert container.env == {"A": "1", "URL": "http://x/?q=a=b", "EMPTY": ""}
    assert container.health is not None
    assert (container.health.status, container.health.failing_streak) == ("unhealthy", 4)
    assert container.health.last_output == "connection refused"
    assert not container.healthcheck and container.healthcheck_test == ()


def test_healthcheck_test_is_the_effective_one() -> None:
    version, networks, containers = load_inspect("inspect-api141")
    web = copy.deepcopy(next(c for c in containers if c["Name"] == f"/{WEB}"))
    web["Config"]["Healthcheck"] = {"Test": ["CMD-SHELL", "wget -q -O- localhost:8080"]}
    container = _container(topology_from_inspect(version, networks, [web]), WEB)
    assert container.healthcheck
    assert container.healthcheck_test == ("CMD-SHELL", "wget -q -O- localhost:8080")
    web["Config"]["Healthcheck"] = {"Test": ["NONE"]}  # disabled: no check at all
    container = _container(topology_from_inspect(version, networks, [web]), WEB)
    assert not container.healthcheck and container.healthcheck_test == ()
