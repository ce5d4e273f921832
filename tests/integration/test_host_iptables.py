"""host.iptables on the real host: an engine that writes no rules, and one that does.

The host's firewall is never changed here. The broken case is a second, private engine
(tests/integration/engine2.py) started with `--iptables=false`: its bridge network lives
on this host, but no MASQUERADE rule was ever written for its subnet. The main engine's
networks have theirs. Reading the firewall needs root (or CAP_NET_ADMIN), as in CI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from diag.engine import hostfw
from tests.integration import engine2
from tests.integration.stacks import PROBE_IMAGE, ddiag, running

pytestmark = pytest.mark.skipif(
    not hostfw.may_read(), reason="reading the host's firewall needs root or CAP_NET_ADMIN"
)

BUSYBOX = "ddiag-test/busybox:latest"
E2_NETWORK = "ddiagt-fw-nomasq"
E2_SUBNET = "10.213.123.0/24"  # engine2's range (its own bridge has 10.213.127.0/24)
HEALTHY_SUBNET = "10.213.1.0/24"  # compose-fixtures/healthy


def _iptables_findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    assert "host.iptables" in report["checks_run"]
    return [f for f in report["findings"] if f["check"] == "host.iptables"]


@pytest.fixture(scope="module")
def engine_without_iptables() -> Iterator[engine2.SecondEngine]:
    try:
        with engine2.running(PROBE_IMAGE, BUSYBOX) as engine:
            yield engine
    except engine2.EngineUnavailable as exc:
        pytest.skip(f"cannot run a second Docker engine here: {exc}")


def test_engine_with_iptables_false_leaves_its_network_without_a_way_out(
    engine_without_iptables: engine2.SecondEngine,
) -> None:
    client = engine_without_iptables.client()
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=E2_SUBNET)])
    network = client.networks.create(E2_NETWORK, driver="bridge", ipam=ipam)
    try:
        client.containers.run(
            BUSYBOX, ["sleep", "300"], name="ddiagt-fw-app", network=E2_NETWORK, detach=True
        )
        bridge = f"br-{network.id[:12]}"
        done = ddiag(
            "network",
            E2_NETWORK,
            "--format",
            "json",
            env={"DOCKER_HOST": engine_without_iptables.host},
        )
        assert done.returncode == 1, done.stderr
        found = _iptables_findings(json.loads(done.stdout))
        assert len(found) == 1, found
        finding = found[0]
        assert finding["subjects"] == ["ddiagt-fw-app", E2_NETWORK]
        assert f"no MASQUERADE rule for {E2_NETWORK} ({E2_SUBNET})" in finding["summary"]
        assert finding["evidence"]["network"] == f"{E2_NETWORK}: {E2_SUBNET} on bridge {bridge}"
        assert "--iptables=false" in finding["fix"]
    finally:
        for container in client.containers.list(all=True):
            container.remove(force=True)
        network.remove()
        client.close()


def test_main_engine_network_has_its_rules() -> None:
    """The healthy fixture's network has its MASQUERADE rule: the check read it, and found
    nothing to say."""
    firewall = hostfw.read()
    assert firewall is not None and firewall.jumps_to("nat", "PREROUTING", "DOCKER")
    with running("healthy") as stack:
        network = f"{stack.project}_default"
        done = ddiag("network", network, "--format", "json")
        assert done.returncode == 0, done.stdout + done.stderr
        assert _iptables_findings(json.loads(done.stdout)) == []
        firewall = hostfw.read()
        assert firewall is not None
        assert any(
            r.source is not None and r.source.value == HEALTHY_SUBNET for r in firewall.source_nat()
        ), "the check had a rule to find"
