"""dns.stale-peer-address on recorded observations: web (10.213.200.4 on the recorded back
network, serving 8080) holds connections to 10.213.200.9:8000, an address no container has,
while api (10.213.200.2) now serves 8000."""

from __future__ import annotations

import dataclasses

import pytest

from diag.model.context import CheckContext
from diag.model.edges import Edge
from diag.model.findings import Severity
from diag.model.tasks import CONNECTIONS, LISTENING

from .recorded import BACK, evaluate, plan, record, recorded_observations
from .test_checks import API, API_IP, WEB, WEB_IP, MakeCtx, container, set_listening

ID = "dns.stale-peer-address"
OLD_IP = "10.213.200.9"


def _conn(state: str, peer: str, peer_port: int, port: int = 40000) -> dict[str, object]:
    return {
        "family": "tcp",
        "state": state,
        "address": WEB_IP,
        "port": port,
        "peer": peer,
        "peer_port": peer_port,
    }


def _connections(ctx: CheckContext, *sockets: dict[str, object]) -> None:
    placement = ctx.netns_placement(container(ctx, WEB))
    record(ctx.observations, placement, CONNECTIONS, {"status": "ok", "sockets": list(sockets)})


@pytest.fixture
def ctx(topology141, make_ctx: MakeCtx) -> CheckContext:
    ctx = make_ctx(topology141, BACK, observations=recorded_observations())
    set_listening(ctx, WEB, "0.0.0.0:8080")
    set_listening(ctx, API, "0.0.0.0:8000")
    return ctx


def test_plans_connections_and_listeners_of_running_members(ctx: CheckContext) -> None:
    planned = plan(ID, ctx)
    for name in (WEB, API):
        placement = ctx.netns_placement(container(ctx, name))
        assert (placement, CONNECTIONS) in planned and (placement, LISTENING) in planned
    assert {p.label for p, _ in planned} == {WEB, API}  # stopped members have no sockets


def test_connections_to_a_vanished_address_while_another_serves_the_port(
    ctx: CheckContext,
) -> None:
    _connections(
        ctx,
        _conn("syn_sent", OLD_IP, 8000, 40002),
        _conn("established", OLD_IP, 8000, 40001),
        _conn("established", API_IP, 8000, 40003),  # a connection to api's address now
    )
    (finding,) = evaluate(ID, ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("web", "api", WEB, API, BACK)
    assert finding.summary == (
        f"web holds 2 connection(s) (ESTABLISHED/SYN_SENT) to {OLD_IP}:8000 on {BACK}, an "
        f"address no container has any more; api is now at {API_IP}: web resolved it before "
        "its target was recreated and kept the address"
    )
    assert finding.evidence == {
        "connections": [
            f"{WEB_IP}:40002 -> {OLD_IP}:8000 SYN_SENT",
            f"{WEB_IP}:40001 -> {OLD_IP}:8000 ESTABLISHED",
        ],
        "stale_address": f"{OLD_IP} (no container on {BACK} has it)",
        "now": [f"{API} {API_IP}"],
    }
    assert "docker compose -p ddiag-unitrec restart web" in finding.fix
    assert "resolver 127.0.0.11 valid=10s;" in finding.fix
    assert "set $upstream http://api:8000;" in finding.fix


def test_the_name_comes_from_the_sources_reference(ctx: CheckContext) -> None:
    web = container(ctx, WEB)
    edge = Edge(web, "api-internal", 8000, ("environment API_URL",))
    ctx = CheckContext(
        ctx.topology, dataclasses.replace(ctx.target, edges=(edge,)), ctx.observations
    )
    _connections(ctx, _conn("syn_sent", OLD_IP, 8000))
    (finding,) = evaluate(ID, ctx)
    assert "api-internal is now at 10.213.200.2" in finding.summary
    assert "set $upstream http://api-internal:8000;" in finding.fix


@pytest.mark.parametrize(
    "sockets",
    [
        (_conn("established", API_IP, 8000),),  # the address api holds
        (_conn("syn_sent", OLD_IP, 9999),),  # nobody serves that port now
        (_conn("established", "10.213.200.1", 8000),),  # the gateway: the host
        (_conn("established", "10.9.9.9", 8000),),  # not on web's networks
        (_conn("established", OLD_IP, 8000, port=8080),),  # a client of web's own port
        (),
    ],
)
def test_silent_when_no_vanished_peer_is_replaced(
    ctx: CheckContext, sockets: tuple[dict[str, object], ...]
) -> None:
    _connections(ctx, *sockets)
    assert evaluate(ID, ctx) == []


def test_silent_without_observations(ctx: CheckContext) -> None:
    assert evaluate(ID, ctx) == []
    _connections(ctx, _conn("syn_sent", OLD_IP, 8000))
    set_listening(ctx, WEB, status="error")  # which of web's sockets are its clients'? unknown
    assert evaluate(ID, ctx) == []
