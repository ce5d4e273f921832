"""Checks of the Docker host itself (issue 4), on the real engine: the host is changed the
way the failure happens in the field, for the length of one ddiag run, and put back.

Both changes touch only this machine and only ranges the project owns: a blackhole route
for 10.213.136.0/23 (standing in for a VPN's route; it carries no traffic) and IPv4
forwarding (which only traffic leaving a bridge needs; none of the tests sends any).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.integration.stacks import ddiag, running

HOST_ROUTE = "10.213.136.0/23"
FORWARDING = Path("/proc/sys/net/ipv4/ip_forward")


@contextmanager
def blackhole_route(destination: str) -> Iterator[None]:
    subprocess.run(["ip", "route", "add", "blackhole", destination], check=True)
    try:
        yield
    finally:
        subprocess.run(["ip", "route", "del", "blackhole", destination], check=True)


@contextmanager
def forwarding_off() -> Iterator[None]:
    before = FORWARDING.read_text()
    FORWARDING.write_text("0\n")
    try:
        yield
    finally:
        FORWARDING.write_text(before)


def _findings(*args: str) -> tuple[int, list[dict]]:
    result = ddiag(*args, "--format", "json")
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    assert report["inconclusive"] == [], report["inconclusive"]
    return result.returncode, report["findings"]


def test_a_subnet_that_overlaps_a_host_route_is_found_with_a_free_one_named() -> None:
    with running("net-subnet-overlap") as stack:
        network = f"{stack.project}_default"
        code, findings = _findings("network", network)
        assert [f for f in findings if f["check"] == "net.subnet-overlap"] == []
        with blackhole_route(HOST_ROUTE):
            code, findings = _findings("network", network)
    overlaps = [f for f in findings if f["check"] == "net.subnet-overlap"]
    assert code == 1
    assert len(overlaps) == 1, findings
    assert overlaps[0]["subjects"] == [network]
    assert HOST_ROUTE in overlaps[0]["evidence"]["probe"]
    suggested = overlaps[0]["fix"].split(" to ", 1)[1].split(":", 1)[0]
    assert not suggested.startswith("10.213.13"), overlaps[0]["fix"]


def test_forwarding_off_on_the_host_is_found() -> None:
    with running("host-ip-forward") as stack:
        network = f"{stack.project}_default"
        with forwarding_off():
            code, findings = _findings("network", network)
        after, clean = _findings("network", network)
    assert code == 1
    assert [(f["check"], f["subjects"]) for f in findings if f["severity"] == "error"] == [
        ("host.ip-forward", [network])
    ]
    assert after == 0 and not [f for f in clean if f["check"] == "host.ip-forward"]
