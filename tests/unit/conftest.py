"""Fixtures of the unit tests: topologies from recorded inspect data, check contexts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from diag.engine.discover import topology_from_inspect
from diag.model.context import CheckContext, Target
from diag.model.findings import Finding, Severity
from diag.model.tasks import Observations
from diag.model.topology import Topology
from diag.report.model import Report

from .recorded import BACK, load_inspect


@pytest.fixture(params=["inspect-api141", "inspect-api144"])
def any_topology(request: pytest.FixtureRequest) -> Topology:
    return topology_from_inspect(*load_inspect(request.param))


@pytest.fixture
def topology141() -> Topology:
    return topology_from_inspect(*load_inspect("inspect-api141"))


@pytest.fixture
def topology144() -> Topology:
    return topology_from_inspect(*load_inspect("inspect-api144"))


@pytest.fixture
def make_ctx() -> Callable[..., CheckContext]:
    """`make_ctx(topology, "net-name", observations)`: a network-target context, whose
    containers are the networks' members (stopped ones included), as `ddiag network` has."""

    def make(
        topology: Topology, *names: str, observations: Observations | None = None
    ) -> CheckContext:
        networks = []
        for name in names or (BACK,):
            network = topology.network_named(name)
            assert network is not None, name
            networks.append(network)
        members = {c.id: c for n in networks for c, _ in topology.members(n)}
        target = Target(
            "network",
            tuple(n.name for n in networks),
            tuple(networks),
            tuple(sorted(members.values(), key=lambda c: c.name)),
        )
        return CheckContext(topology, target, observations or Observations())

    return make


@pytest.fixture
def make_report() -> Callable[..., Report]:
    """`make_report(topology, Severity.WARNING, ..., deadline_reached=True)`: a finished run's
    report on the recorded back network, with one finding per severity given."""

    def make(topology: Topology, *severities: Severity, **run: Any) -> Report:
        network = topology.network_named(BACK)
        assert network is not None
        findings = [
            Finding(f"dns.check{i}", level, "t", ("a",), "s", {}, "f")
            for i, level in enumerate(severities)
        ]
        target = Target("network", (BACK,), (network,))
        started = datetime.now(timezone.utc)
        return Report(target, topology, started, 0.1, ["dns"], findings, **run)

    return make
