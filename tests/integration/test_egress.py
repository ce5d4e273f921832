"""net.egress and net.egress-dns on the real engine, with compose-fixtures/egress.

The fixture's `outside` container plays the world beyond the engine (see its compose.yaml):
it is published on lan's gateway address (the host), so lan's way out to it is real, while
nothing leaves this machine: every address below is the fixture's, and every name is
answered by the fixture's own DNS server or is a container name. The server logs each
query, which shows who answered, and that a run without the options asks nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.integration.stacks import Stack, ddiag, running

FIXTURE = "egress"
SELECT = ("--select", "net.egress", "--select", "net.egress-dns")
OPEN = "10.213.140.1:47080"  # published by outside on lan's gateway
REFUSED = "10.213.140.1:47081"  # nothing published there: the host refuses
DROPPED = "10.213.142.10:8080"  # outside's own address: bridge networks are isolated
KNOWN, UNKNOWN = "api.egress.test", "missing.egress.test"


def _run(*args: str) -> tuple[Any, dict[str, Any]]:
    result = ddiag(*args, *SELECT, "--format", "json")
    assert "Traceback" not in result.stderr, result.stderr
    return result, json.loads(result.stdout)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """One stack for every test: each counts only the queries its own run caused."""
    with running(FIXTURE) as up:
        yield up


def _queries(stack: Stack) -> list[str]:
    logs = docker.from_env().containers.get(f"{stack.project}-outside-1").logs().decode()
    return [line for line in logs.splitlines() if line.startswith("query ")]


def _network_of(finding: dict[str, Any], stack: Stack) -> str:
    [network] = [s for s in finding["subjects"] if s.startswith(f"{stack.project}_")]
    return network.removeprefix(f"{stack.project}_")


@pytest.mark.parametrize("mode", ["shared", "isolated"])
def test_ways_out_that_work_and_ways_that_do_not(stack: Stack, mode: str) -> None:
    asked_before = len(_queries(stack))
    egress = [a for target in (OPEN, REFUSED, DROPPED) for a in ("--egress", target)]
    names = ["--egress-dns", KNOWN, "--egress-dns", UNKNOWN]
    result, report = _run("compose", "-p", stack.project, *egress, *names, "--probe-mode", mode)
    netns = f"(asked from the netns of {stack.project}"
    found = sorted(
        (f["check"], _network_of(f, stack), f["summary"].split(": ", 1)[1])
        for f in report["findings"]
    )
    assert found == [
        ("net.egress", "lan", "the connect timed out"),  # DROPPED
        ("net.egress", "lan", "the connect was refused"),  # REFUSED
        ("net.egress", "outside", "the connect was refused"),  # REFUSED (DROPPED: own net)
        ("net.egress", "sealed", f"nothing on it reaches {OPEN}, {REFUSED}, {DROPPED}"),
        ("net.egress-dns", "lan", f"NXDOMAIN {netns}-app-1)"),
        ("net.egress-dns", "outside", f"NXDOMAIN {netns}-outside-1)"),
        ("net.egress-dns", "sealed", f"timeout {netns}-vault-1)"),  # KNOWN
        ("net.egress-dns", "sealed", f"timeout {netns}-vault-1)"),  # UNKNOWN
    ], json.dumps(report["findings"], indent=1)
    unknown = [f for f in report["findings"] if f["summary"].startswith(UNKNOWN)]
    assert {_network_of(f, stack) for f in unknown} == {"lan", "outside", "sealed"}
    assert result.returncode == 1
    assert report["inconclusive"] == []
    assert report["run"]["egress"] == [OPEN, REFUSED, DROPPED]
    assert report["run"]["egress_dns"] == [KNOWN, UNKNOWN]
    # Both names went to the fixture's server, from lan (via the published port) and
    # from outside (its own dns:); sealed's embedded DNS has no way to it.
    assert sorted(_queries(stack)[asked_before:]) == sorted(
        [f"query {KNOWN} type 1 -> NOERROR"] * 2 + [f"query {UNKNOWN} type 1 -> NXDOMAIN"] * 2
    )


def test_a_name_is_resolved_from_the_network_then_connected_to(stack: Stack) -> None:
    app = f"{stack.project}-app-1"
    result, report = _run("container", app, "--egress", "app:3128", "--egress", "app:3129")
    [finding] = report["findings"]
    assert finding["check"] == "net.egress"
    assert finding["summary"].startswith(f"{stack.project}_lan cannot reach app:3129 (10.")
    assert finding["summary"].endswith("the connect was refused")
    [looked_up] = finding["evidence"]["lookup"]
    assert looked_up.startswith("127.0.0.11: 10.213.140.")
    assert result.returncode == 1
    assert report["inconclusive"] == []


def test_nothing_is_asked_of_the_outside_without_the_options(stack: Stack) -> None:
    asked_before = len(_queries(stack))
    result, report = _run("compose", "-p", stack.project)
    assert report["findings"] == []
    assert "egress" not in report["run"]
    assert result.returncode == 0
    assert _queries(stack)[asked_before:] == []
