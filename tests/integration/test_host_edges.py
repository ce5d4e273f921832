"""Edges to the host on the real engine (issue 16): services on the host are listeners this
test starts on this machine, on the fixture network's gateway address (the host's own
address on the bridge) or on 127.0.0.1, on fixed high ports, and stops at the end.

The containers of `compose-fixtures/host-edges` name the host through extra_hosts or the
gateway address: ddiag reads their /etc/hosts (never DNS) and connects only to that gateway.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.integration.stacks import ddiag, running

GATEWAY = "10.213.246.17"  # compose-fixtures/host-edges: 10.213.246.16/28's first address


@contextmanager
def listener(address: str, port: int) -> Iterator[None]:
    """A TCP listener on this machine, accepting (and closing) for the test's length."""
    server = socket.create_server((address, port))
    try:
        yield
    finally:
        server.close()


def _host_only_name() -> str:
    """A name the host's /etc/hosts defines, without dots and not localhost's (so nothing
    would send it to DNS even by mistake); skip when there is none."""
    for line in Path("/etc/hosts").read_text().splitlines():
        for name in line.split("#", 1)[0].split()[1:]:
            if "." not in name and "localhost" not in name and not name.startswith("ip6-"):
                return name
    pytest.skip("the host's /etc/hosts defines no plain name")


def test_host_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    name = _host_only_name()
    monkeypatch.setenv("DDIAG_TEST_HOST_ONLY_NAME", name)
    with running("host-edges") as stack, ExitStack() as services:
        services.enter_context(listener(GATEWAY, 18766))
        services.enter_context(listener("127.0.0.1", 18767))
        result = ddiag("compose", "-p", stack.project, "--format", "json")
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    assert report["inconclusive"] == [], report["inconclusive"]
    found = {f["subjects"][0]: f for f in report["findings"]}
    assert sorted((s, f["check"]) for s, f in found.items()) == [
        ("absent", "host.not-listening"),
        ("legacy", "dns.host-only-name"),
        ("loopback", "host.service-loopback"),
    ]
    assert result.returncode == 1
    assert f"listen on {GATEWAY}:18767" in found["loopback"]["fix"]
    assert found["loopback"]["evidence"]["host_listening"] == ["127.0.0.1:18767"]
    assert f'- "{name}:' in found["legacy"]["fix"]
    edges = {(e["source"], e["target"], e["port"]): e for e in report["edges"]}
    assert edges[("healthy", "host.docker.internal", 18766)]["status"] == "ok"
    assert edges[("absent", GATEWAY, 18768)]["check"] == "host.not-listening"
