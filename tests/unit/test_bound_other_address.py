"""port.bound-other-address on recorded observations: web (10.213.200.4 on the recorded back
network) also gets an address on a second network, 10.213.201.4, and listens there only."""

from __future__ import annotations

import dataclasses

import pytest

from diag.model.context import CheckContext
from diag.model.findings import Severity
from diag.model.topology import Topology

from .recorded import BACK, evaluate, recorded_observations
from .test_checks import WEB, WEB_IP, MakeCtx, set_connect, set_listening, with_container

ID = "port.bound-other-address"
OTHER_IP = "10.213.201.4"


@pytest.fixture
def two_homed(topology141: Topology, make_ctx: MakeCtx) -> CheckContext:
    web = topology141.container_named(WEB)
    assert web is not None
    front = dataclasses.replace(
        web.endpoints[0], network_id="f" * 64, network_name="front", ip=OTHER_IP
    )
    topology = with_container(topology141, WEB, endpoints=(*web.endpoints, front))
    return make_ctx(topology, BACK, observations=recorded_observations())


def test_refused_on_the_network_it_does_not_listen_on(two_homed: CheckContext) -> None:
    set_listening(two_homed, WEB, f"{OTHER_IP}:8080")
    set_connect(two_homed, WEB_IP, 8080, "refused")
    (finding,) = evaluate(ID, two_homed)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("web", WEB, BACK)
    assert finding.summary == (
        f"web listens on {OTHER_IP}:8080 only: peers on {BACK} are refused at {WEB_IP}:8080"
    )
    assert finding.evidence == {
        "probe": f"connect {WEB_IP}:8080 refused (from a peer on {BACK})",
        "listening": [f"{OTHER_IP}:8080"],
    }
    assert "bind to 0.0.0.0:8080" in finding.fix
    assert evaluate("port.refused", two_homed) == []  # the same refusal, named once


@pytest.mark.parametrize(
    "sockets",
    [
        ("0.0.0.0:8080",),  # every address: a plain refusal (port.refused)
        (f"{WEB_IP}:8080",),  # the very address connected to
        ("127.0.0.1:8080",),  # loopback only: port.app-loopback
        ("10.9.9.9:8080",),  # an address the engine never gave it: unknown
        (),  # nothing listens: port.not-listening
    ],
)
def test_silent_when_another_cause_or_none_is_known(
    two_homed: CheckContext, sockets: tuple[str, ...]
) -> None:
    set_listening(two_homed, WEB, *sockets)
    set_connect(two_homed, WEB_IP, 8080, "refused")
    assert evaluate(ID, two_homed) == []


def test_silent_on_a_dropped_connect(two_homed: CheckContext) -> None:
    set_listening(two_homed, WEB, f"{OTHER_IP}:8080")
    set_connect(two_homed, WEB_IP, 8080, "timeout")
    assert evaluate(ID, two_homed) == []
