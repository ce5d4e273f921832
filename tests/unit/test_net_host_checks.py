"""net.duplicate-ip, net.mtu, net.subnet-overlap and host.ip-forward on the recorded topology.

The recorded `ddiag-unitrec` stack (tests/data/inspect-api141): on `ddiag-unitrec_back`
(10.213.200.0/24, gateway 10.213.200.1, bridge br-df72c1c1fccd) `api` (10.213.200.2,
02:42:0a:d5:c8:02) and `web` (10.213.200.4, 02:42:0a:d5:c8:04) run, `job` and `init` are
stopped; `legacy` runs on the default `bridge` (172.17.0.0/16, no gateway in IPAM, docker0,
172.17.0.2). Situations are made with dataclasses.replace on its networks; observations
have the exact shapes the agent returns (diag/agent/packets.py: arp_sweep, pmtu;
diag/agent/netif.py: interfaces; diag/agent/tasks.py: sysctl).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from diag.checks.net.mtu import LADDER
from diag.checks.registry import find
from diag.model.context import CheckContext
from diag.model.findings import Finding, Severity
from diag.model.tasks import HOST, INTERFACES, Placement, arp_sweep, pmtu, sysctl
from diag.model.topology import Network, Subnet, Topology

from .recorded import BACK, PROJECT, evaluate, plan, record

API, WEB, LEGACY = (f"{PROJECT}-{s}-1" for s in ("api", "web", "legacy"))
API_IP, WEB_IP, LEGACY_IP = "10.213.200.2", "10.213.200.4", "172.17.0.2"
API_MAC, WEB_MAC = "02:42:0a:d5:c8:02", "02:42:0a:d5:c8:04"
GATEWAY_MAC = "02:42:5c:1e:33:0a"  # the host's bridge: a random MAC, not one derived from .1
STRANGER_MAC = "52:54:00:12:34:56"  # a machine the engine knows nothing of
BACK_DEVICE = "br-df72c1c1fccd"
MTU = "com.docker.network.driver.mtu"
IP_FORWARD = sysctl("net/ipv4/ip_forward")

MakeCtx = Callable[..., CheckContext]


# --- helpers -------------------------------------------------------------------------------


def with_network(topology: Topology, name: str, **changes: Any) -> Topology:
    """The topology with one network's fields replaced (its id, so its members, kept)."""
    assert topology.network_named(name) is not None, name
    networks = tuple(
        dataclasses.replace(n, **changes) if n.name == name else n for n in topology.networks
    )
    return dataclasses.replace(topology, networks=networks)


def back_with(topology: Topology, **options: str) -> Topology:
    back = topology.network_named(BACK)
    assert back is not None
    return with_network(topology, BACK, options={**back.options, **options})


def peer(ctx: CheckContext, name: str = BACK) -> Placement:
    network = ctx.topology.network_named(name)
    assert network is not None, name
    return ctx.peer_placement(network)


def interface(name: str, mtu: int, *addresses: str) -> dict[str, Any]:
    return {"name": name, "up": True, "mtu": mtu, "addresses": list(addresses)}


def interfaces_result(interfaces: list[dict[str, Any]], routes: list[dict[str, Any]]) -> dict:
    return {"status": "ok", "interfaces": interfaces, "routes": routes}


def host_result(
    *routes: dict[str, Any], egress: str = "eth0", egress_mtu: int = 1500
) -> dict[str, Any]:
    """The Docker host's INTERFACES answer: its uplink, docker0 and the routes given."""
    return interfaces_result(
        [
            interface("docker0", 1500, "172.17.0.1/16"),
            interface(egress, egress_mtu, "198.51.100.7/24"),
            interface("lo", 65536, "127.0.0.1/8", "::1/128"),
        ],
        list(routes),
    )


DEFAULT_ROUTE = {"dst": "default", "dev": "eth0", "via": "198.51.100.1"}
UPLINK_ROUTE = {"dst": "198.51.100.0/24", "dev": "eth0"}


# --- the catalog ---------------------------------------------------------------------------


def test_catalog_entries() -> None:
    expected = {
        "net.duplicate-ip": (Severity.ERROR, "An IP address is claimed twice on a network"),
        "net.mtu": (Severity.ERROR, "Large packets are lost (MTU)"),
        "net.subnet-overlap": (Severity.ERROR, "Subnet overlaps a host route or another network"),
        "host.ip-forward": (Severity.ERROR, "The Docker host does not forward packets"),
    }
    for check_id, (severity, title) in expected.items():
        found = find(check_id)
        assert found is not None, check_id
        assert (found.severity, found.title) == (severity, title)
        assert "Fix" in found.doc


# --- net.duplicate-ip ----------------------------------------------------------------------


def set_sweep(
    ctx: CheckContext, answers: dict[str, list[str]], name: str = BACK, status: str = "ok"
) -> None:
    """The agent's arp_sweep answer for the network's (first) IPv4 subnet, from a probe at .3."""
    network = ctx.topology.network_named(name)
    assert network is not None, name
    subnet = network.subnets[0].subnet
    result: dict[str, Any] = {"status": status}
    if status == "ok":
        total = ipaddress.ip_network(subnet).num_addresses - 2
        result.update(
            interface="eth0",
            source="10.213.200.3",
            source_mac="02:42:0a:d5:c8:03",
            swept=min(total, 1025),
            addresses=total,
            answers={ip: sorted(macs) for ip, macs in sorted(answers.items())},
        )
    else:
        result["detail"] = "no interface with an address in " + subnet
    record(ctx.observations, peer(ctx, name), arp_sweep(subnet), result)


HEALTHY_BACK = {"10.213.200.1": [GATEWAY_MAC], API_IP: [API_MAC], WEB_IP: [WEB_MAC]}
SWEEP_OF_BACK = f"ARP sweep of 10.213.200.0/24 from a peer on {BACK} (254 of 254 addresses)"


def test_duplicate_ip_plans_a_sweep_per_ipv4_subnet(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    back = topology141.network_named(BACK)
    assert back is not None
    v6 = (*back.subnets, Subnet("fd00:213:200::/64", "fd00:213:200::1"))
    ctx = make_ctx(with_network(topology141, BACK, subnets=v6), BACK, "bridge", "host")
    planned = plan("net.duplicate-ip", ctx)
    assert [(placement, task.target) for placement, task in planned] == [
        (peer(ctx), "10.213.200.0/24"),
        (peer(ctx, "bridge"), "172.17.0.0/16"),
    ]
    # what should answer at once, so that the sweep need not wait out its window: the
    # gateway and the endpoints (api, web), IPv4 only
    assert planned[0][1] == arp_sweep("10.213.200.0/24", ("10.213.200.1", API_IP, WEB_IP))
    assert planned[1][1].addresses == ("172.17.0.1", LEGACY_IP)


def test_duplicate_ip_expects_no_answer_on_a_lan(topology141: Topology, make_ctx: MakeCtx) -> None:
    """On macvlan and ipvlan the LAN's own machines answer too, unknown to the engine: the
    sweep is given nothing to expect, and listens for its whole window."""
    ctx = make_ctx(with_network(topology141, BACK, driver="macvlan"), BACK)
    assert [task for _, task in plan("net.duplicate-ip", ctx)] == [arp_sweep("10.213.200.0/24")]


def test_duplicate_ip_healthy_network_says_nothing(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK)
    assert evaluate("net.duplicate-ip", ctx) == []  # nothing observed
    set_sweep(ctx, HEALTHY_BACK)
    assert evaluate("net.duplicate-ip", ctx) == []
    set_sweep(ctx, {}, status="error")
    assert evaluate("net.duplicate-ip", ctx) == []


def test_duplicate_ip_two_macs_for_an_assigned_address(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    """web claims api's address by hand: both answer ARP for 10.213.200.2."""
    ctx = make_ctx(topology141, BACK)
    set_sweep(ctx, {**HEALTHY_BACK, API_IP: [API_MAC, WEB_MAC]})
    (finding,) = evaluate("net.duplicate-ip", ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("api", "web", API, WEB, BACK)
    assert finding.summary == (
        f"{API_IP} on {BACK} is answered by 2 MAC addresses: peers reach {API} or {WEB}, "
        "whichever answered last"
    )
    assert finding.evidence == {
        "probe": f"{SWEEP_OF_BACK}: {API_IP} answered by {API_MAC} ({API}), {WEB_MAC} ({WEB})",
        "engine": f"{API_IP} is assigned to {API}",
    }
    assert finding.fix.startswith(f"docker exec {WEB} ip addr del {API_IP}/24 dev eth0")


def test_duplicate_ip_second_mac_is_the_hosts_bridge(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK)
    set_sweep(ctx, {**HEALTHY_BACK, API_IP: [API_MAC, GATEWAY_MAC]})
    (finding,) = evaluate("net.duplicate-ip", ctx)
    assert finding.subjects == ("api", API, BACK)
    assert f"{GATEWAY_MAC} (the host's bridge)" in finding.evidence["probe"]
    assert f"reach {API} or another machine" in finding.summary
    assert finding.fix.startswith(f"docker exec CONTAINER ip addr del {API_IP}/24")


def test_duplicate_ip_unassigned_address_claimed_by_a_container(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK)
    set_sweep(ctx, {**HEALTHY_BACK, "10.213.200.50": [WEB_MAC]})
    (finding,) = evaluate("net.duplicate-ip", ctx)
    assert finding.severity is Severity.WARNING
    assert finding.subjects == ("web", WEB, BACK)
    assert finding.summary == (
        f"10.213.200.50 answers on {BACK} but the engine assigned it to no one: {WEB} claims "
        "it, and IPAM may hand it to the next container"
    )
    assert finding.evidence == {
        "probe": f"{SWEEP_OF_BACK}: 10.213.200.50 answered by {WEB_MAC} ({WEB})",
        "engine": f"no endpoint of {BACK} has 10.213.200.50",
    }
    assert finding.fix.startswith(f"docker exec {WEB} ip addr del 10.213.200.50/24 dev eth0")


def test_duplicate_ip_unassigned_address_of_a_stranger(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK)
    set_sweep(ctx, {**HEALTHY_BACK, "10.213.200.77": [STRANGER_MAC]})
    (finding,) = evaluate("net.duplicate-ip", ctx)
    assert finding.severity is Severity.WARNING
    assert finding.subjects == (BACK,)
    assert "a machine unknown to the engine claims it" in finding.summary
    assert finding.evidence["probe"].endswith(f"{STRANGER_MAC} (unknown to the engine)")


def test_duplicate_ip_endpoint_created_after_discovery_is_not_reported(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    """A MAC of 02:42 + the address's own bytes is an endpoint the engine made (a probe, a
    container started since); 02:42 + another address's bytes is not."""
    ctx = make_ctx(topology141, BACK)
    set_sweep(ctx, {**HEALTHY_BACK, "10.213.200.9": ["02:42:0a:d5:c8:09"]})
    assert evaluate("net.duplicate-ip", ctx) == []
    set_sweep(ctx, {**HEALTHY_BACK, "10.213.200.10": ["02:42:0a:d5:c8:09"]})
    assert [f.severity for f in evaluate("net.duplicate-ip", ctx)] == [Severity.WARNING]


def test_duplicate_ip_gateway_is_not_reported(topology141: Topology, make_ctx: MakeCtx) -> None:
    # configured (10.213.200.1), and IPAM's default when it shows none (172.17.0.1)
    ctx = make_ctx(topology141, BACK, "bridge")
    set_sweep(ctx, HEALTHY_BACK)
    set_sweep(ctx, {"172.17.0.1": [GATEWAY_MAC], LEGACY_IP: ["02:42:ac:11:00:02"]}, "bridge")
    assert evaluate("net.duplicate-ip", ctx) == []
    # no gateway in IPAM: the subnet's first address is the gateway
    ctx = make_ctx(with_network(topology141, BACK, subnets=(Subnet("10.213.200.0/24", None),)))
    set_sweep(ctx, HEALTHY_BACK)
    assert evaluate("net.duplicate-ip", ctx) == []


def test_duplicate_ip_configured_gateway_elsewhere_leaves_the_first_address_judged(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    gateway_254 = (Subnet("10.213.200.0/24", "10.213.200.254"),)
    ctx = make_ctx(with_network(topology141, BACK, subnets=gateway_254))
    set_sweep(
        ctx,
        {"10.213.200.254": [GATEWAY_MAC], API_IP: [API_MAC], "10.213.200.1": [STRANGER_MAC]},
    )
    (finding,) = evaluate("net.duplicate-ip", ctx)
    assert finding.summary.startswith(f"10.213.200.1 answers on {BACK}")


# --- net.mtu -------------------------------------------------------------------------------


def set_pmtu(ctx: CheckContext, targets: dict[str, dict[str, str]], name: str = BACK) -> None:
    """The agent's pmtu answer, planned as the check plans it: sizes -> outcome per address."""
    (task,) = [t for p, t in plan("net.mtu", ctx) if p == peer(ctx, name)]
    answer: dict[str, Any] = {}
    for ip, sizes in targets.items():
        ok = [int(size) for size, outcome in sizes.items() if outcome == "ok"]
        answer[ip] = {"sizes": sizes, "largest_ok": max(ok, default=0)}
    record(ctx.observations, peer(ctx, name), task, {"status": "ok", "targets": answer})


def outcomes(upto: int, beyond: str = "timeout", sizes: tuple[int, ...] = LADDER) -> dict:
    return {str(s): "ok" if s <= upto else beyond for s in sizes}


def set_netns_interfaces(ctx: CheckContext, name: str, ip: str, mtu: int) -> None:
    container = ctx.topology.container_named(name)
    assert container is not None, name
    record(
        ctx.observations,
        ctx.netns_placement(container),
        INTERFACES,
        interfaces_result(
            [interface("eth0", mtu, f"{ip}/24"), interface("lo", 65536, "127.0.0.1/8", "::1/128")],
            [
                {"dst": "default", "dev": "eth0", "via": "10.213.200.1"},
                {"dst": "10.213.200.0/24", "dev": "eth0"},
            ],
        ),
    )


def test_mtu_plans_pings_per_network_and_the_host_interfaces(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK, "bridge")
    pings = [
        (peer(ctx), pmtu((API_IP, WEB_IP), LADDER)),  # job and init are stopped
        (peer(ctx, "bridge"), pmtu((LEGACY_IP,), LADDER)),
    ]
    assert plan("net.mtu", ctx) == pings  # nobody talks to the outside: no host read
    ctx.egress = (("198.51.100.7", 443),)
    assert plan("net.mtu", ctx) == [*pings, (HOST, INTERFACES)]


@pytest.mark.parametrize(
    ("mtu", "sizes"),
    [("9000", (*LADDER, 9000)), ("1400", (576, 1000, 1280, 1400)), ("junk", LADDER)],
)
def test_mtu_pings_up_to_the_network_mtu(
    topology141: Topology, make_ctx: MakeCtx, mtu: str, sizes: tuple[int, ...]
) -> None:
    ctx = make_ctx(back_with(topology141, **{MTU: mtu}), BACK)
    assert plan("net.mtu", ctx)[0] == (peer(ctx), pmtu((API_IP, WEB_IP), sizes))


def test_mtu_internal_network_plans_no_host_interfaces(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(with_network(topology141, BACK, internal=True), BACK)
    assert plan("net.mtu", ctx) == [(peer(ctx), pmtu((API_IP, WEB_IP), LADDER))]
    record(ctx.observations, HOST, INTERFACES, host_result(DEFAULT_ROUTE, egress_mtu=1400))
    assert evaluate("net.mtu", ctx) == []
    assert plan("net.mtu", make_ctx(topology141, "host")) == []


def test_mtu_black_hole_with_the_members_interface_mtu(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK)
    set_pmtu(ctx, {API_IP: outcomes(1000), WEB_IP: outcomes(1500)})
    set_netns_interfaces(ctx, API, API_IP, 1200)
    (finding,) = evaluate("net.mtu", ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("api", API, BACK)
    assert finding.summary == (
        f"packets of 1280 bytes and more to api ({API_IP}) on {BACK} are dropped silently, "
        "1000 get through: large responses and uploads will hang (its interface's MTU is "
        "1200, the network's 1500)"
    )
    assert finding.evidence == {
        "probe": f"DF pings from a peer on {BACK} to {API_IP}: 576 ok, 1000 ok, 1280 timeout, "
        "1400 timeout, 1450 timeout, 1480 timeout, 1500 timeout",
        "network_mtu": 1500,
        "interface_mtu": f"{API}'s interface with {API_IP}: mtu 1200",
    }
    assert finding.fix.startswith(f"Stop lowering the MTU inside {API}")
    assert f'{MTU}: "1200"' in finding.fix


def test_mtu_black_hole_without_interfaces_observed(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK)
    set_pmtu(ctx, {API_IP: outcomes(1500), WEB_IP: outcomes(1400)})
    (finding,) = evaluate("net.mtu", ctx)
    assert finding.subjects == ("web", WEB, BACK)
    assert finding.summary.startswith(f"packets of 1450 bytes and more to web ({WEB_IP})")
    assert finding.summary.endswith("will hang")
    assert "interface_mtu" not in finding.evidence
    assert f'{MTU}: "1400"' in finding.fix
    assert f"--network container:{WEB}" in finding.fix


@pytest.mark.parametrize(
    "api_outcomes",
    [
        outcomes(0),  # nothing answers at all: not a size problem
        outcomes(1000, beyond="fragmentation needed (next hop MTU 1000)"),
        outcomes(1000, beyond="not sent: Message too long (local MTU)"),
        {**outcomes(1500), "576": "timeout"},  # one small echo lost, the large ones back
    ],
    ids=["all-lost", "frag-needed", "not-sent", "small-lost"],
)
def test_mtu_no_black_hole(
    topology141: Topology, make_ctx: MakeCtx, api_outcomes: dict[str, str]
) -> None:
    ctx = make_ctx(topology141, BACK)
    set_pmtu(ctx, {API_IP: api_outcomes, WEB_IP: outcomes(1500)})
    set_netns_interfaces(ctx, API, API_IP, 1200)
    assert evaluate("net.mtu", ctx) == []


def test_mtu_host_egress_smaller_than_the_networks(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK, "bridge")
    record(
        ctx.observations,
        HOST,
        INTERFACES,
        host_result(DEFAULT_ROUTE, UPLINK_ROUTE, egress_mtu=1450),
    )
    assert evaluate("net.mtu", ctx) == []  # nobody on them talks to the outside
    ctx.egress_dns = ("example.org",)  # the run checks the way out
    (finding,) = evaluate("net.mtu", ctx)
    assert finding.severity is Severity.INFO
    assert finding.subjects == (BACK, "bridge")
    assert finding.summary == (
        f"the Docker host's way out (eth0, MTU 1450) is smaller than the MTU of {BACK}, "
        "bridge: replies from outside larger than 1450 bytes rely on routers beyond the host "
        "to fragment or report them"
    )
    assert finding.evidence == {
        "host_egress": "default route via eth0, mtu 1450 (read in the Docker host's network "
        "namespace)",
        "network_mtu": f"{BACK} 1500, bridge 1500",
    }
    assert f'{MTU}: "1450"' in finding.fix


def test_mtu_host_egress_is_the_default_routes_device(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    """A VPN's wg0 carries the default route: its 1420 counts, not eth0's 1500; a network
    already at 1400 fits."""
    ctx = make_ctx(back_with(topology141, **{MTU: "1400"}), BACK, "bridge")
    ctx.egress = (("198.51.100.7", 443),)
    host = host_result({"dst": "default", "dev": "wg0"}, UPLINK_ROUTE)
    host["interfaces"].append(interface("wg0", 1420, "10.99.0.2/32"))
    record(ctx.observations, HOST, INTERFACES, host)
    (finding,) = evaluate("net.mtu", ctx)
    assert finding.subjects == ("bridge",)
    assert finding.evidence["network_mtu"] == "bridge 1500"
    assert "(wg0, MTU 1420)" in finding.summary


@pytest.mark.parametrize(
    "host",
    [
        host_result(DEFAULT_ROUTE, UPLINK_ROUTE, egress_mtu=1500),  # equal
        host_result(UPLINK_ROUTE, egress_mtu=1400),  # no default route: no way out
        {"status": "error", "detail": "cannot enter its network namespace: Permission denied"},
    ],
    ids=["equal", "no-default-route", "error"],
)
def test_mtu_host_egress_says_nothing(
    topology141: Topology, make_ctx: MakeCtx, host: dict[str, Any]
) -> None:
    ctx = make_ctx(topology141, BACK, "bridge")
    record(ctx.observations, HOST, INTERFACES, host)
    assert evaluate("net.mtu", ctx) == []


# --- net.subnet-overlap --------------------------------------------------------------------


def add_network(topology: Topology, name: str, subnet: str, **changes: Any) -> Topology:
    """The topology with one more (memberless) bridge network."""
    network = Network(
        id=(name.encode().hex() * 16)[:64],
        name=name,
        driver="bridge",
        scope="local",
        internal=False,
        attachable=False,
        enable_ipv6=False,
        subnets=(Subnet(subnet, None),),
    )
    network = dataclasses.replace(network, **changes)
    return dataclasses.replace(topology, networks=(*topology.networks, network))


ENGINE_ROUTES = (
    DEFAULT_ROUTE,
    UPLINK_ROUTE,
    {"dst": "10.213.200.0/24", "dev": BACK_DEVICE},
    {"dst": "172.17.0.0/16", "dev": "docker0"},
)


def set_host(ctx: CheckContext, *routes: dict[str, Any]) -> None:
    record(ctx.observations, HOST, INTERFACES, host_result(*ENGINE_ROUTES, *routes))


def taken(ctx: CheckContext) -> list[ipaddress.IPv4Network]:
    """Every engine subnet and every host route but the default."""
    nets = [ipaddress.IPv4Network(s.subnet) for n in ctx.topology.networks for s in n.subnets]
    host = ctx.observations.get(HOST, INTERFACES)
    routes = [r.dst for r in (host.routes if host else ()) if r.dst != "default"]
    return nets + [ipaddress.IPv4Network(r) for r in routes]


def fix_subnet(finding: Finding) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(finding.fix.split("Move ", 1)[1].split(" to ", 1)[1].split(":")[0])


def test_subnet_overlap_plans_the_host_interfaces(topology141: Topology, make_ctx: MakeCtx) -> None:
    assert plan("net.subnet-overlap", make_ctx(topology141, BACK)) == [(HOST, INTERFACES)]


def test_subnet_overlap_healthy_host_says_nothing(topology141: Topology, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(topology141, BACK, "bridge")
    assert evaluate("net.subnet-overlap", ctx) == []
    set_host(ctx)  # own bridge routes (br-ID[:12], docker0), the default route, the uplink
    assert evaluate("net.subnet-overlap", ctx) == []


def test_subnet_overlap_host_route(topology141: Topology, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(topology141, BACK)
    set_host(ctx, {"dst": "10.0.0.0/8", "dev": "tun0", "via": "10.8.0.1"})
    (finding,) = evaluate("net.subnet-overlap", ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == (BACK,)
    assert finding.summary == (
        f"{BACK} (10.213.200.0/24) overlaps the Docker host's route to 10.0.0.0/8 (dev tun0): "
        "the host and its containers lose whatever that route leads to in the overlap"
    )
    assert finding.evidence == {
        "probe": "host route 10.0.0.0/8 dev tun0 (read in the Docker host's network namespace)",
        "engine": f"{BACK}: 10.213.200.0/24",
    }
    assert finding.fix.startswith(
        f"Move {BACK} to 172.16.0.0/24: networks: {BACK}: ipam: config: [{{subnet: 172.16.0.0/24}}]"
    )


def test_subnet_overlap_free_subnet_overlaps_nothing_taken(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK)
    set_host(
        ctx,
        {"dst": "10.0.0.0/8", "dev": "tun0"},
        {"dst": "172.16.0.0/12", "dev": "wg0"},
        {"dst": "192.168.0.0/24", "dev": "eth1"},
    )
    (finding,) = evaluate("net.subnet-overlap", ctx)
    free = fix_subnet(finding)
    assert free == ipaddress.IPv4Network("192.168.1.0/24")
    assert not any(free.overlaps(net) for net in taken(ctx))


@pytest.mark.parametrize(
    ("network", "changes", "device"),
    [
        (BACK, {}, BACK_DEVICE),
        (BACK, {"com.docker.network.bridge.name": "ddiag-back0"}, "ddiag-back0"),
        ("bridge", {}, "docker0"),  # named by option (recorded)
        ("bridge", {"com.docker.network.bridge.name": ""}, "docker0"),  # the default bridge
    ],
)
def test_subnet_overlap_own_bridge_route_is_not_reported(
    topology141: Topology,
    make_ctx: MakeCtx,
    network: str,
    changes: dict[str, str],
    device: str,
) -> None:
    found = topology141.network_named(network)
    assert found is not None
    topology = with_network(topology141, network, options={**found.options, **changes})
    ctx = make_ctx(topology, network)
    subnet = found.subnets[0].subnet
    record(
        ctx.observations,
        HOST,
        INTERFACES,
        host_result(DEFAULT_ROUTE, {"dst": subnet, "dev": device}),
    )
    assert evaluate("net.subnet-overlap", ctx) == []
    # the same route on a device that is no Docker bridge is an overlap
    record(
        ctx.observations,
        HOST,
        INTERFACES,
        host_result(DEFAULT_ROUTE, {"dst": subnet, "dev": "virbr0"}),
    )
    assert [f.subjects for f in evaluate("net.subnet-overlap", ctx)] == [(network,)]


def test_subnet_overlap_default_route_is_ignored(topology141: Topology, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(topology141, BACK)
    record(
        ctx.observations,
        HOST,
        INTERFACES,
        host_result({"dst": "default", "dev": "tun0"}, DEFAULT_ROUTE),
    )
    assert evaluate("net.subnet-overlap", ctx) == []


def test_subnet_overlap_two_engine_networks_one_finding(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    """`other` (10.213.0.0/16, bridge br-6f74686572...) covers back: one finding for the
    pair, whether one or both are targeted; the route to other's bridge is that same
    overlap, not a host route."""
    topology = add_network(topology141, "other", "10.213.0.0/16")
    other = topology.network_named("other")
    assert other is not None
    other_route = {"dst": "10.213.0.0/16", "dev": f"br-{other.id[:12]}"}
    for targets in ((BACK,), (BACK, "other"), ("other", BACK)):
        ctx = make_ctx(topology, *targets)
        set_host(ctx, other_route)
        (finding,) = evaluate("net.subnet-overlap", ctx)
        first, second = targets[0], "other" if targets[0] == BACK else BACK
        assert finding.subjects == (first, second)
    ctx = make_ctx(topology, BACK)
    (finding,) = evaluate("net.subnet-overlap", ctx)  # no host observation: the engine's facts
    assert finding.summary == (
        f"{BACK} (10.213.200.0/24) overlaps Docker network other (10.213.0.0/16): addresses "
        "in the overlap mean two things"
    )
    assert finding.evidence == {
        "engine": f"{BACK}: 10.213.200.0/24 (bridge); other: 10.213.0.0/16 (bridge)"
    }
    assert fix_subnet(finding) == ipaddress.IPv4Network("10.0.0.0/24")  # 10/8 is free here


# --- host.ip-forward -----------------------------------------------------------------------


def set_forward(ctx: CheckContext, value: str | None) -> None:
    record(
        ctx.observations,
        HOST,
        IP_FORWARD,
        {"status": "ok", "value": value}
        if value is not None
        else {"status": "error", "detail": "Permission denied"},
    )


def test_ip_forward_plan(topology141: Topology, make_ctx: MakeCtx) -> None:
    assert plan("host.ip-forward", make_ctx(topology141, BACK)) == [(HOST, IP_FORWARD)]
    internal = with_network(topology141, BACK, internal=True)
    assert plan("host.ip-forward", make_ctx(internal, BACK)) == []
    assert plan("host.ip-forward", make_ctx(topology141, "host")) == []


def test_ip_forward_off_names_the_routed_networks(topology141: Topology, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(topology141, BACK, "bridge")
    set_forward(ctx, "0")
    (finding,) = evaluate("host.ip-forward", ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == (BACK, "bridge")
    assert finding.summary == (
        f"the Docker host has IPv4 forwarding off: containers on {BACK}, bridge cannot reach "
        "anything beyond their own network, and published ports do not answer other machines"
    )
    assert finding.evidence == {
        "probe": "read net.ipv4.ip_forward in the host's network namespace: 0",
        "networks": [BACK, "bridge"],
    }
    assert finding.fix.startswith("sudo sysctl -w net.ipv4.ip_forward=1")


def test_ip_forward_leaves_internal_networks_out(topology141: Topology, make_ctx: MakeCtx) -> None:
    topology = with_network(topology141, BACK, internal=True)
    ctx = make_ctx(topology, BACK, "bridge")
    set_forward(ctx, "0")
    (finding,) = evaluate("host.ip-forward", ctx)
    assert finding.subjects == ("bridge",)
    ctx = make_ctx(topology, BACK)  # internal only: nothing to forward
    set_forward(ctx, "0")
    assert evaluate("host.ip-forward", ctx) == []


@pytest.mark.parametrize("value", ["1", None])
def test_ip_forward_on_or_unknown_says_nothing(
    topology141: Topology, make_ctx: MakeCtx, value: str | None
) -> None:
    ctx = make_ctx(topology141, BACK, "bridge")
    set_forward(ctx, value)
    assert evaluate("host.ip-forward", ctx) == []


def test_duplicate_ip_gateway_answered_twice_names_no_mac_the_bridge(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK)
    set_sweep(ctx, {**HEALTHY_BACK, "10.213.200.1": [STRANGER_MAC, GATEWAY_MAC]})
    (finding,) = evaluate("net.duplicate-ip", ctx)
    assert "(the host's bridge)" not in finding.evidence["probe"]
    assert "peers reach the host's bridge or another machine" in finding.summary
    assert finding.evidence["engine"] == "10.213.200.1 is assigned to the gateway"


def test_duplicate_ip_unassigned_address_answered_twice_implies_no_owner(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK)
    set_sweep(ctx, {**HEALTHY_BACK, "10.213.200.77": [WEB_MAC, STRANGER_MAC]})
    (finding,) = evaluate("net.duplicate-ip", ctx)
    assert "owner" not in finding.summary
    assert "peers reach one of them, whichever answered last" in finding.summary
    assert finding.evidence["engine"] == "10.213.200.77 is assigned to no one"


def _legacy_env_behind_a_small_uplink(
    topology141: Topology, make_ctx: MakeCtx, env: dict[str, str]
) -> CheckContext:
    """The recorded back and bridge networks, legacy's environment `env`, and a host whose
    egress interface has an MTU of 1450."""
    legacy = next(c for c in topology141.containers if c.name == LEGACY)
    changed = dataclasses.replace(legacy, env=env)
    topology = dataclasses.replace(
        topology141,
        containers=tuple(changed if c is legacy else c for c in topology141.containers),
    )
    ctx = make_ctx(topology, BACK, "bridge")
    record(
        ctx.observations,
        HOST,
        INTERFACES,
        host_result(DEFAULT_ROUTE, UPLINK_ROUTE, egress_mtu=1450),
    )
    return ctx


def test_mtu_host_egress_only_for_networks_whose_members_reference_the_outside(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    env = {"MIRROR_URL": "https://pypi.example.org/simple"}
    ctx = _legacy_env_behind_a_small_uplink(topology141, make_ctx, env)
    (finding,) = evaluate("net.mtu", ctx)
    assert finding.subjects == ("bridge",)


def test_mtu_host_egress_not_for_members_that_only_bind_every_address(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    """`ADDRESS=0.0.0.0:8000` is where legacy listens (issue 17, 4a), not an outside host."""
    env = {"ADDRESS": "0.0.0.0:8000", "HOST": "0.0.0.0"}
    ctx = _legacy_env_behind_a_small_uplink(topology141, make_ctx, env)
    assert evaluate("net.mtu", ctx) == []
