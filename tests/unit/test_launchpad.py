"""diag.probes.launchpad: which probes are asked for before the imports, and how the guesses'
reads are asked over the unix socket. The requests themselves are the integration tests'
(every diagnosing run on the test bed goes through here)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from diag.agent.__main__ import Agent
from diag.agent.view import open_home_view
from diag.probes import bridges
from diag.probes.launchpad import Launchpad, UnixReads
from diag.probes.spec import SHARED_KEY
from tests.unit.test_bridges import BACK, FRONT, _bridge


def _asked(monkeypatch: pytest.MonkeyPatch, networks: list[Any]) -> tuple[Launchpad, list[Any]]:
    pad = Launchpad("/nonexistent.sock", "img", "64m")
    asked: list[Any] = []
    monkeypatch.setattr(pad, "_launch", lambda *args: asked.append(args))
    monkeypatch.setattr("diag.probes.launchpad.agent_payload", lambda: b"")
    pad.launch(networks)
    return pad, asked


def test_the_shared_probe_joins_the_bridges_and_is_their_anchor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One container to start and remove for the shared probe and the bridges anchor; a
    network that cannot share (here: a name that is not a DNS label) gets its own anchor."""
    odd = _bridge("Odd_Name", "10.9.0.0/24")
    pad, asked = _asked(monkeypatch, [BACK, FRONT, odd])
    assert pad.bridged == [BACK, FRONT]
    assert asked == [
        (SHARED_KEY, None, BACK.id, [FRONT.id]),
        (f"anchor:{odd.id}", odd, odd.id, []),
    ]


def test_with_one_bridge_the_shared_probe_joins_no_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pad, asked = _asked(monkeypatch, [BACK])
    assert pad.bridged == []
    assert asked == [
        (SHARED_KEY, None, "none", []),
        (f"anchor:{BACK.id}", BACK, BACK.id, []),
    ]
    assert bridges.KEY not in [key for key, *_ in asked]


def test_the_guesses_filters_are_sent_as_docker_py_sends_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = UnixReads("/nonexistent.sock")
    asked: list[str] = []
    monkeypatch.setattr(reads, "_get", lambda where: asked.append(where) or [])
    reads.networks(filters={"label": "com.docker.compose.project=shop"})
    reads.networks()
    assert asked == [
        "/networks?filters=%7B%22label%22%3A%20%5B%22com.docker.compose.project%3Dshop%22%5D%7D",
        "/networks",
    ]


def test_the_agent_observes_its_own_networks_from_the_namespace_it_started_in() -> None:
    """/proc/PID/ns/net follows the agent's main thread into every container it enters, so
    a task routed to the agent's own pid (the shared probe as the bridges anchor) uses
    the namespace kept at start."""
    agent = Agent()
    assert agent.view(os.getpid(), "any") is agent.home
    home = open_home_view()
    assert home.netns_inode() == os.stat("/proc/self/ns/net").st_ino
    assert home.read_proc("net/dev").startswith("Inter-")
