"""Checks of the Docker host itself (net.subnet-overlap, host.ip-forward), on an engine whose
host is a network namespace of this test's own (tests/integration/netns_engine.py).

The host is changed the way the failure happens in the field, for the length of one ddiag
run, and put back: a blackhole route for 10.213.136.0/23 (standing in for a VPN's route)
and IPv4 forwarding turned off. Both changes are made in that namespace only, never on the
machine the tests run on, and go with the namespace at the end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.netns_engine import BUSYBOX, NetnsEngine, diagnose, in_netns, started

HOST_ROUTE = "10.213.136.0/23"
OVERLAPPING = ("ddiagt-hn-overlap", "10.213.137.0/24")  # inside HOST_ROUTE
PLAIN = ("ddiagt-hn-plain", "10.213.143.0/24")


@pytest.fixture(scope="module")
def engine() -> Iterator[NetnsEngine]:
    with started() as made:
        client = made.client()
        for name, subnet in (OVERLAPPING, PLAIN):
            ipam = {"Driver": "default", "Config": [{"Subnet": subnet}]}
            client.api.create_network(name, driver="bridge", ipam=ipam)
            client.containers.run(
                BUSYBOX, ["sleep", "600"], name=f"{name}-app", network=name, detach=True
            )
        client.close()
        yield made


def _findings(engine: NetnsEngine, network: str) -> tuple[int, list[dict]]:
    code, report = diagnose(engine, "network", network)
    assert report["inconclusive"] == [], report["inconclusive"]
    return code, report["findings"]


def test_a_subnet_that_overlaps_a_host_route_is_found_with_a_free_one_named(
    engine: NetnsEngine,
) -> None:
    network = OVERLAPPING[0]
    code, findings = _findings(engine, network)
    assert [f for f in findings if f["check"] == "net.subnet-overlap"] == []
    in_netns("ip", "route", "add", "blackhole", HOST_ROUTE)
    try:
        code, findings = _findings(engine, network)
    finally:
        in_netns("ip", "route", "del", "blackhole", HOST_ROUTE)
    overlaps = [f for f in findings if f["check"] == "net.subnet-overlap"]
    assert code == 1
    assert len(overlaps) == 1, findings
    assert overlaps[0]["subjects"] == [network]
    assert HOST_ROUTE in overlaps[0]["evidence"]["probe"]
    suggested = overlaps[0]["fix"].split(" to ", 1)[1].split(":", 1)[0]
    assert not suggested.startswith("10.213.13"), overlaps[0]["fix"]


def test_forwarding_off_on_the_host_is_found(engine: NetnsEngine) -> None:
    network = PLAIN[0]
    in_netns("sysctl", "-qw", "net.ipv4.ip_forward=0")
    try:
        code, findings = _findings(engine, network)
    finally:
        in_netns("sysctl", "-qw", "net.ipv4.ip_forward=1")
    after, clean = _findings(engine, network)
    assert code == 1
    assert [(f["check"], f["subjects"]) for f in findings if f["severity"] == "error"] == [
        ("host.ip-forward", [network])
    ]
    assert after == 0 and not [f for f in clean if f["check"] == "host.ip-forward"]
