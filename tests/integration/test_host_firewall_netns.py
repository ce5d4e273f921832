"""port.exposed-despite-firewall, host.firewall-split and host.firewall-input, and edges
to an address of the engine's host, against an engine whose host is a network namespace of
this test's own (tests/integration/netns_engine.py): the rules (iptables' and ip6tables',
and native nftables tables loaded with `nft`) and the addresses go into that namespace,
never into this machine's firewall or interfaces. The engine is dual-stack and writes
ip6tables rules (`ipv6=True`). The containers are the stack compose-fixtures/host-boundary,
brought up on that engine once for the module; NETWORK6 has a ULA prefix, in the namespace
only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration import netns_engine
from tests.integration.netns_engine import NETNS, NetnsEngine, in_netns, started

# As compose-fixtures/host-boundary/compose.yaml writes them (networks, ports, addresses).
NETWORK = "ddiagt-hr-app"
PUBLISHED = 18401
NETWORK6, GATEWAY6 = "ddiagt-hr-app6", "fd00:db8:7f::1"
PUBLISHED6 = 18403


FIXTURE = Path(__file__).parents[2] / "compose-fixtures" / "host-boundary" / "compose.yaml"


@pytest.fixture(scope="module")
def engine() -> Iterator[NetnsEngine]:
    """The netns engine with the host-boundary stack up (removed with the engine)."""
    with started(ipv6=True) as made:
        up = subprocess.run(
            ["docker", "compose", "-p", "ddiagt-hr", "-f", str(FIXTURE), "up", "-d"],
            env={**os.environ, "DOCKER_HOST": made.host},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert up.returncode == 0, up.stderr
        yield made


def diagnose(engine: NetnsEngine, *target: str) -> dict[str, Any]:
    """`ddiag network NETWORK` (or `ddiag TARGET...`) inside NETNS: the report."""
    return netns_engine.diagnose(engine, *(target or ("network", NETWORK)))[1]


def of(report: dict[str, Any], check: str) -> list[dict[str, Any]]:
    assert check in report["checks_run"]
    return [f for f in report["findings"] if f["check"] == check]


def test_healthy_namespace_has_neither_finding(engine: NetnsEngine) -> None:
    report = diagnose(engine)
    assert of(report, "port.exposed-despite-firewall") == []
    assert of(report, "host.firewall-split") == []
    assert of(report, "host.conntrack-full") == []
    assert not any("firewall" in i["where"] for i in report["inconclusive"])


def test_input_drop_policy_does_not_close_a_published_port(engine: NetnsEngine) -> None:
    in_netns("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
    in_netns("iptables", "-P", "INPUT", "DROP")
    try:
        (finding,) = of(diagnose(engine), "port.exposed-despite-firewall")
    finally:
        in_netns("iptables", "-P", "INPUT", "ACCEPT")
        in_netns("iptables", "-D", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
    assert finding["subjects"] == ["web", "ddiagt-hr-web"]
    binding = f"0.0.0.0:{PUBLISHED}->8080/tcp"
    assert finding["evidence"][binding].endswith(
        f"INPUT ends {PUBLISHED}/tcp at the INPUT policy (DROP)"
    )
    assert f"-p {PUBLISHED}" not in finding["fix"]
    assert f"127.0.0.1:{PUBLISHED}:8080" in finding["fix"]


def test_legacy_forward_drop_beside_the_engines_nft_rules(engine: NetnsEngine) -> None:
    in_netns("iptables-legacy", "-P", "FORWARD", "DROP")
    try:
        (finding,) = of(diagnose(engine), "host.firewall-split")
    finally:
        in_netns("iptables-legacy", "-P", "FORWARD", "ACCEPT")
    assert finding["severity"] == "error"
    assert NETWORK in finding["subjects"]
    assert "in the nft iptables backend, but the legacy backend's FORWARD" in finding["summary"]
    assert "sudo iptables-legacy -P FORWARD ACCEPT" in finding["fix"]


HOST_SERVICE_PORT = 18402
UPLINK = "10.213.127.10"  # NETNS's own "uplink": a veth pair with both ends in NETNS


def _listen(address: str = "0.0.0.0") -> subprocess.Popen[bytes]:
    """A host service in NETNS on `address`:HOST_SERVICE_PORT, until killed."""
    family = "socket.AF_INET6" if ":" in address else "socket.AF_INET"
    program = (
        "import socket, time\n"
        f"server = socket.socket({family})\n"
        "server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"server.bind(({address!r}, {HOST_SERVICE_PORT}))\n"
        "server.listen(16)\n"
        "time.sleep(600)\n"
    )
    return subprocess.Popen(
        ["ip", "netns", "exec", NETNS, sys.executable, "-c", program],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _gateway(client: docker.DockerClient) -> str:
    """NETWORK's gateway in NETNS: as IPAM says, else its subnet's first address (20.10
    leaves Gateway empty unless asked)."""
    config = client.api.inspect_network(NETWORK)["IPAM"]["Config"][0]
    if config.get("Gateway"):
        return str(config["Gateway"])
    return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def _bridge(engine: NetnsEngine, network: str) -> str:
    """The bridge interface of `network` on the engine."""
    client = engine.client()
    try:
        return "br-" + client.networks.get(network).id[:12]
    finally:
        client.close()


def test_input_drop_policy_keeps_a_container_from_a_host_service(engine: NetnsEngine) -> None:
    """host.firewall-input: a service on NETNS's own address space, listening on every
    address, and NETNS's INPUT policy DROP: the container's connect to the gateway times out."""
    client = engine.client()
    gateway = _gateway(client)
    client.close()
    listener = _listen()
    in_netns("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
    in_netns("iptables", "-P", "INPUT", "DROP")
    try:
        report = diagnose(engine, "container", "ddiagt-hr-client", "--timeout", "1")
    finally:
        in_netns("iptables", "-P", "INPUT", "ACCEPT")
        in_netns("iptables", "-D", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
        listener.kill()
        listener.wait()
    (finding,) = of(report, "host.firewall-input")
    assert "the INPUT policy (DROP)" in finding["summary"]
    assert f"--dport {HOST_SERVICE_PORT} -j ACCEPT" in finding["fix"]
    [edge] = [e for e in report["edges"] if e["target"] == gateway]
    assert edge["check"] == "host.firewall-input"


@pytest.fixture
def uplink_client(engine: NetnsEngine) -> Iterator[str]:
    """A container that calls a host service at NETNS's uplink address (not a gateway):
    the address goes on a veth pair whose both ends stay in NETNS (this kernel has no dummy
    links), so nothing can leave through it; the pair goes at the end."""
    in_netns("ip", "link", "add", "ddiagt-up0", "type", "veth", "peer", "name", "ddiagt-up1")
    in_netns("ip", "addr", "add", f"{UPLINK}/24", "dev", "ddiagt-up0")
    for end in ("ddiagt-up0", "ddiagt-up1"):
        in_netns("ip", "link", "set", end, "up")
    try:
        yield "ddiagt-hr-uplink-client"
    finally:
        in_netns("ip", "link", "del", "ddiagt-up0", check=False)


@pytest.mark.parametrize(
    ("bound", "check"), [("0.0.0.0", None), ("127.0.0.1", "host.service-loopback")]
)
def test_an_address_of_the_engine_host_is_an_edge_to_the_host(
    engine: NetnsEngine, uplink_client: str, bound: str, check: str | None
) -> None:
    """Any address of the engine's host (here NETNS's uplink, which no engine network
    holds) is "the host": observed from the container, explained from the host's side."""
    listener = _listen(bound)
    try:
        report = diagnose(engine, "container", uplink_client, "--timeout", "2")
    finally:
        listener.kill()
        listener.wait()
    [edge] = [e for e in report["edges"] if e["target"] == UPLINK]
    assert edge["check"] == check
    assert edge["status"] == ("ok" if check is None else "failed")
    found = [f for f in report["findings"] if UPLINK in f["subjects"]]
    assert [f["check"] for f in found] == ([check] if check else [])
    if check:
        assert f"listen on {UPLINK}:{HOST_SERVICE_PORT}" in found[0]["fix"]


def test_a_dotted_name_only_the_hosts_etc_hosts_defines(
    engine: NetnsEngine, uplink_client: str
) -> None:
    """dns.host-only-name for a name with dots: an edge only because the engine host's
    /etc/hosts defines it; never asked of DNS, so a warning."""
    report = diagnose(engine, "container", uplink_client, "--timeout", "2")
    name = netns_engine.HOST_ONLY_NAME
    (finding,) = [f for f in report["findings"] if name in f["subjects"]]
    assert (finding["check"], finding["severity"]) == ("dns.host-only-name", "warning")
    assert finding["evidence"]["host_hosts_file"] == [f"{netns_engine.HOST_ONLY_ADDRESS} {name}"]
    assert f'- "{name}:{netns_engine.HOST_ONLY_ADDRESS}"' in finding["fix"]


@pytest.mark.parametrize("on_docker0", [True, False])
def test_host_gateway_is_the_default_bridges_gateway(engine: NetnsEngine, on_docker0: bool) -> None:
    """`host.docker.internal:host-gateway` goes to docker0's address (netns_engine.OWN.1),
    whatever network the container is on: a service there is reached; one bound to the
    container's own network's gateway is refused, and the fix points the name there."""
    client = engine.client()
    gateway = _gateway(client)
    client.close()
    listener = _listen(f"{netns_engine.OWN}.1" if on_docker0 else gateway)
    try:
        report = diagnose(engine, "container", "ddiagt-hr-hostgw-client", "--timeout", "2")
    finally:
        listener.kill()
        listener.wait()
    [edge] = [e for e in report["edges"] if e["target"] == "host.docker.internal"]
    if on_docker0:
        assert (edge["status"], edge["check"]) == ("ok", None)
        return
    assert edge["check"] == "host.service-other-address"
    (finding,) = of(report, "host.service-other-address")
    assert f"not on {netns_engine.OWN}.1" in finding["summary"]
    assert f'- "host.docker.internal:{gateway}"' in finding["fix"]


def _fill_conntrack(share: float) -> int:
    """Fill NETNS's conntrack table (its count is per namespace; the limit is the kernel's
    one, which a namespace may not change) to `share` of the limit with unreplied UDP
    flows to NETNS's own loopback: nothing leaves it. The entries expire by themselves
    (nf_conntrack_udp_timeout, 30 s)."""
    limit = int(in_netns("cat", "/proc/sys/net/netfilter/nf_conntrack_max").stdout)
    wanted = int(limit * share)
    program = (
        "import socket, sys\n"
        "wanted = int(sys.argv[1])\n"
        "socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]\n"
        "for n in range(wanted):\n"
        "    # a flow is (source, destination) pairs: 8 sockets x 127.0.0.0/8 addresses\n"
        "    address = f'127.{n // 65536 % 256}.{n // 256 % 256}.{n % 256 or 1}'\n"
        "    socks[n % 8].sendto(b'', (address, 9))\n"
    )
    in_netns(sys.executable, "-c", program, str(wanted))
    return limit


def test_a_conntrack_table_near_its_limit(engine: NetnsEngine) -> None:
    """host.conntrack-full from the kernel's own counters, in the engine host's namespace."""
    limit = _fill_conntrack(0.93)
    report = diagnose(engine)
    (finding,) = of(report, "host.conntrack-full")
    assert finding["severity"] == "warning"
    assert finding["evidence"]["nf_conntrack_max"] == str(limit)
    assert int(finding["evidence"]["nf_conntrack_count"]) >= 0.9 * limit


def test_a_loopback_resolver_on_the_host_leaves_the_default_bridge_with_the_fallback(
    engine: NetnsEngine,
) -> None:
    """dns.host-resolver-loopback from files alone: NETNS's resolv.conf lists 127.0.0.1
    only (netns_engine.RESOLV_CONF), and the engine hands the default bridge 8.8.8.8."""
    report = diagnose(engine, "network", "bridge")
    (finding,) = of(report, "dns.host-resolver-loopback")
    assert "ddiagt-hr-default" in finding["subjects"]


needs_nft = pytest.mark.skipif(shutil.which("nft") is None, reason="no nft command")


@contextlib.contextmanager
def native_table(family: str, name: str, body: str) -> Iterator[None]:
    """`table FAMILY NAME { BODY }` loaded with nft into NETNS (only there), deleted at the
    end whatever happens."""
    ruleset = f"table {family} {name} {{\n{body}\n}}\n"
    subprocess.run(
        ["ip", "netns", "exec", NETNS, "nft", "-f", "-"],
        input=ruleset,
        capture_output=True,
        text=True,
        check=True,
    )
    try:
        yield
    finally:
        in_netns("nft", "delete", "table", family, name, check=False)


NFT_INPUT_DROP = """
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif "lo" accept
    tcp dport 22 accept
  }
"""
FIREWALLD_INPUT = """
  chain filter_INPUT {
    type filter hook input priority 10; policy accept;
    ct state established,related accept
    iifname "lo" accept
    jump filter_INPUT_ZONES
    reject with icmpx admin-prohibited
  }
  chain filter_INPUT_ZONES {
    goto filter_IN_public
  }
  chain filter_IN_public {
    tcp dport 22 ct state new,untracked accept
  }
"""


@needs_nft
def test_a_native_nft_input_chain_keeps_a_container_from_a_host_service(
    engine: NetnsEngine,
) -> None:
    """host.firewall-input from an nftables.conf-style table (policy drop), beside the
    engine's iptables-nft rules; the fix it gives, run in NETNS, lets the container in."""
    client = engine.client()
    gateway = _gateway(client)
    client.close()
    bridge = _bridge(engine, NETWORK)
    listener = _listen()
    try:
        with native_table("inet", "ddiagt_filter", NFT_INPUT_DROP):
            report = diagnose(engine, "container", "ddiagt-hr-client", "--timeout", "1")
            (finding,) = of(report, "host.firewall-input")
            fix = finding["fix"].split("`")[1]
            assert fix == (
                f'sudo nft insert rule inet ddiagt_filter input iifname "{bridge}" '
                f"tcp dport {HOST_SERVICE_PORT} accept"
            )
            in_netns("sh", "-c", fix.removeprefix("sudo "))
            fixed = diagnose(engine, "container", "ddiagt-hr-client", "--timeout", "1")
    finally:
        listener.kill()
        listener.wait()
    assert "table inet ddiagt_filter chain input: its policy (drop)" in finding["summary"]
    assert finding["evidence"]["firewall"].startswith("nft -j list ruleset (nft v")
    assert of(fixed, "host.firewall-input") == []
    [edge] = [e for e in fixed["edges"] if e["target"] == gateway]
    assert (edge["status"], edge["check"]) == ("ok", None)


@needs_nft
def test_firewalld_s_nft_table_does_not_close_a_published_port(engine: NetnsEngine) -> None:
    """port.exposed-despite-firewall from a firewalld-shaped `table inet firewalld` that
    rejects the published port at the input hook: Docker's DNAT sends it past."""
    with native_table("inet", "firewalld", FIREWALLD_INPUT):
        (finding,) = of(diagnose(engine), "port.exposed-despite-firewall")
    binding = f"0.0.0.0:{PUBLISHED}->8080/tcp"
    assert finding["evidence"][binding].endswith(
        f"input hook ends {PUBLISHED}/tcp at table inet firewalld chain filter_INPUT: "
        "reject with icmpx admin-prohibited"
    )
    assert f"127.0.0.1:{PUBLISHED}:8080" in finding["fix"]


@contextlib.contextmanager
def ipv6_input_drop() -> Iterator[None]:
    """NETNS's ip6tables INPUT (only there): policy DROP, ssh and ICMPv6 allowed, as
    every working IPv6 firewall does (ufw6, firewalld): without neighbour discovery no
    container even finds its IPv6 gateway's link address. Undone at the end."""
    allowed = [
        ["INPUT", "-p", "ipv6-icmp", "-j", "ACCEPT"],
        ["INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"],
    ]
    for rule in allowed:
        in_netns("ip6tables", "-A", *rule)
    in_netns("ip6tables", "-P", "INPUT", "DROP")
    try:
        yield
    finally:
        in_netns("ip6tables", "-P", "INPUT", "ACCEPT")
        for rule in allowed:
            in_netns("ip6tables", "-D", *rule, check=False)


def test_an_ipv6_input_deny_is_bypassed_only_where_the_engine_dnats_ipv6(
    engine: NetnsEngine,
) -> None:
    """Both containers are published on `::`. The engine's ip6tables DNAT rule for
    ddiagt-hr-web6 (an IPv6 address on NETWORK6) sends its port past INPUT: exposed over
    IPv6. ddiagt-hr-web (IPv4 only) has no IPv6 DNAT: docker-proxy answers on `::`
    through INPUT, where the deny holds, so nothing is exposed."""
    with ipv6_input_drop():
        dual = diagnose(engine, "network", NETWORK6)
        v4_only = diagnose(engine)
    (finding,) = of(dual, "port.exposed-despite-firewall")
    assert finding["subjects"] == ["web6", "ddiagt-hr-web6"]
    binding = f"[::]:{PUBLISHED6}->8080/tcp"
    assert set(finding["evidence"]) >= {binding, "dnat"}
    assert f"0.0.0.0:{PUBLISHED6}->8080/tcp" not in finding["evidence"]
    assert finding["evidence"][binding].startswith("ip6tables-save v")
    assert finding["evidence"][binding].endswith(
        f"INPUT ends {PUBLISHED6}/tcp at the INPUT policy (DROP)"
    )
    assert (
        f"--dport {PUBLISHED6} -j DNAT --to-destination [fd00:db8:7f::"
        in (finding["evidence"]["dnat"])
    )
    assert (
        f"sudo ip6tables -I FORWARD -i eth0 -p tcp -m conntrack --ctorigdstport {PUBLISHED6}"
        in (finding["fix"])
    )
    assert of(v4_only, "port.exposed-despite-firewall") == []


def test_an_ipv6_input_deny_keeps_a_container_from_a_host_service_at_the_ipv6_gateway(
    engine: NetnsEngine,
) -> None:
    """host.firewall-input over IPv6: a host service on `::`, NETNS's ip6tables INPUT
    policy DROP, and the container's connect to NETWORK6's IPv6 gateway times out; the
    ip6tables fix it gives, run in NETNS, lets the container in."""
    bridge = _bridge(engine, NETWORK6)
    listener = _listen("::")
    try:
        with ipv6_input_drop():
            report = diagnose(engine, "container", "ddiagt-hr-client6", "--timeout", "1")
            (finding,) = of(report, "host.firewall-input")
            fix = finding["fix"].split("`")[1]
            assert fix == (
                f"sudo ip6tables -I INPUT -i {bridge} -p tcp --dport {HOST_SERVICE_PORT} -j ACCEPT"
            )
            in_netns(*fix.removeprefix("sudo ").split())
            try:
                fixed = diagnose(engine, "container", "ddiagt-hr-client6", "--timeout", "1")
            finally:
                in_netns(*fix.removeprefix("sudo ").replace(" -I ", " -D ").split(), check=False)
    finally:
        listener.kill()
        listener.wait()
    assert finding["summary"].startswith("the host's ip6tables INPUT chain stops ")
    assert (
        f"([{GATEWAY6}]:{HOST_SERVICE_PORT}) from {bridge}: the INPUT policy (DROP)"
        in (finding["summary"])
    )
    [edge] = [e for e in fixed["edges"] if e["target"] == GATEWAY6]
    assert (edge["status"], edge["check"]) == ("ok", None)
