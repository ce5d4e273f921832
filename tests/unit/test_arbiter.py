"""The arbiter (checks/_arbiter.py): each symptom goes to the lowest-ranked check that
claims it, and the ranks, declared in each check's own module, are the only order.

`test_pairs_that_claim_the_same_symptom` runs every explainer on every symptom of recorded
scenarios where two checks could name the cause, and proves that the declared ranks pick
the winner; README's order table (kept in sync here) shows the same order to users.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diag.checks._arbiter import Explainer, Symptom, arbitrate, symptoms, verdicts
from diag.checks.catalog import order_block
from diag.checks.registry import all_checks, explainers
from diag.cli.app import app
from diag.model.context import CheckContext
from diag.model.findings import Result
from diag.model.observations import ConnectAnswer
from diag.model.topology import Topology

from . import test_net_engine_checks as icc
from . import test_net_host_checks as hosts
from . import test_net_netns_ipv6 as ipv6
from .recorded import BACK, evaluate, recorded_observations
from .test_checks import WEB, WEB_IP, MakeCtx, set_connect, set_listening

README = Path(__file__).resolve().parents[2] / "README.md"


def test_ranks_are_unique_and_every_explainer_explains_something() -> None:
    found = explainers()
    ranks = [explainer.rank for _, explainer in found]
    assert len(ranks) == len(set(ranks)), ranks
    assert all(explainer.kinds for _, explainer in found)


def test_a_module_with_an_explains_function_declares_it() -> None:
    """No check explains symptoms the arbiter does not know of (a policy pass excepted)."""
    for check in all_checks():
        if hasattr(check.module, "explains") and not hasattr(check.module, "POLICY"):
            assert check.explainer is not None, check.id


def test_readme_shows_the_order() -> None:
    assert order_block() in README.read_text(), "run `ddiag checks --order --markdown`"


def _result(text: str) -> Result:
    return Result(subjects=(text,), summary=text, evidence={}, fix="")


def test_the_lowest_rank_wins_whatever_the_declaration_order(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK)
    edge = Symptom("peer", port=80, connect=ConnectAnswer("refused"))
    generic = ("generic", Explainer(rank=20, peer=lambda s, c: True))
    specific = ("specific", Explainer(rank=10, peer=lambda s, c: True))
    for declared in ([generic, specific], [specific, generic]):
        [verdict] = arbitrate([edge], declared, ctx)
        assert verdict.check_id == "specific"
        assert verdict.result is None  # a peer symptom: reported in the check's own finding


def test_a_kind_without_a_function_is_never_claimed(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    ctx = make_ctx(topology141, BACK)
    peer = Symptom("peer", port=80, connect=ConnectAnswer("timeout"))
    edge_only = ("edges", Explainer(rank=1, edge=lambda s, c: _result("edge")))
    assert arbitrate([peer], [edge_only], ctx) == []


def _claims(explainer: Explainer, symptom: Symptom, ctx: CheckContext) -> bool:
    if symptom.edge is not None:
        return explainer.edge is not None and explainer.edge(symptom.edge, ctx) is not None
    return explainer.peer is not None and explainer.peer(symptom, ctx)


def _recorded(topology141: Topology, make_ctx: MakeCtx, sockets: tuple[str, ...]) -> CheckContext:
    ctx = make_ctx(topology141, BACK, observations=recorded_observations())
    set_listening(ctx, WEB, *sockets)
    set_connect(ctx, WEB_IP, 8080, "refused")
    return ctx


def _icc() -> CheckContext:
    ctx = icc._compose_ctx(icc._icc_topology(), icc.SERVICES)
    icc._observe_edge(ctx, icc.TIMEOUT)
    icc._observe_peer(ctx, icc.ISO, icc.TIMEOUT)
    return ctx


def _v6only() -> CheckContext:
    ctx = ipv6._rec6_ctx()
    ipv6._observe_api(ctx, ipv6.REFUSED)
    return ctx


SCENARIOS = {
    "refused, listening on all addresses": lambda t, m: _recorded(t, m, ("0.0.0.0:8080",)),
    "refused, loopback only": lambda t, m: _recorded(t, m, ("127.0.0.1:8080",)),
    "refused, nothing listens": lambda t, m: _recorded(t, m, ("0.0.0.0:9000",)),
    "dropped on a network without inter-container traffic": lambda t, m: _icc(),
    "refused by an IPv6-only listener": lambda t, m: _v6only(),
}
# (winner, loser): pairs of checks that both claim a symptom in the scenarios above.
EXPECTED_PAIRS = {
    ("net.icc-disabled", "port.filtered"),  # the edge and the peer's connect
    ("net.ipv6", "port.refused"),  # the edge and the peer's connect
}


def test_pairs_that_claim_the_same_symptom(topology141: Topology, make_ctx: MakeCtx) -> None:
    ranked = explainers()
    seen: set[tuple[str, str]] = set()
    for name, build in SCENARIOS.items():
        ctx = build(topology141, make_ctx)
        found = symptoms(ctx)
        assert found, name
        for symptom in found:
            claimers = [check_id for check_id, e in ranked if _claims(e, symptom, ctx)]
            decided = arbitrate([symptom], ranked, ctx)
            assert [v.check_id for v in decided] == claimers[:1], (name, symptom.kind)
            seen |= {(claimers[0], loser) for loser in claimers[1:]}
        # and the run's own verdicts agree with the one-symptom arbitration
        assert len(verdicts(ctx)) <= len(found)
    assert seen >= EXPECTED_PAIRS, seen
    rank = dict((check_id, e.rank) for check_id, e in ranked)
    assert all(rank[winner] < rank[loser] for winner, loser in seen)


@pytest.mark.parametrize("check_id", ["port.refused", "port.filtered", "net.icc-disabled"])
def test_no_check_module_names_another_to_stay_out_of_its_way(check_id: str) -> None:
    """The loop skips are gone: a check's source imports no other check family."""
    found = next(c for c in all_checks() if c.id == check_id)
    source = inspect.getsource(found.module)
    family = check_id.split(".", 1)[0]
    other_families = {c.family for c in all_checks()} - {family}
    for other in other_families:
        assert f"from checks.{other}." not in source, (check_id, other)


def test_ddiag_checks_order_lists_the_explainers_by_rank() -> None:
    result = CliRunner().invoke(app, ["checks", "--order"])
    assert result.exit_code == 0, result.output
    listed = [line.split()[1] for line in result.output.splitlines() if line.strip()]
    assert listed == [check_id for check_id, _ in explainers()]
    assert listed.index("port.app-loopback") < listed.index("port.refused")


def test_pings_and_sweep_answers_are_symptoms_too(topology141: Topology, make_ctx: MakeCtx) -> None:
    """A lost DF size and an ARP answer are symptoms like any other: net.mtu and
    net.duplicate-ip own them through the arbiter, from the peer placement of the network."""
    ctx = make_ctx(topology141, BACK)
    hosts.set_pmtu(ctx, {hosts.API_IP: hosts.outcomes(1500), WEB_IP: hosts.outcomes(1400)})
    hosts.set_sweep(ctx, {**hosts.HEALTHY_BACK, "10.213.200.9": [hosts.STRANGER_MAC]})
    found = symptoms(ctx)
    assert [(s.kind, s.address) for s in found if s.kind == "ping"] == [("ping", WEB_IP)]
    swept = sorted(s.address for s in found if s.kind == "sweep")
    assert swept == sorted([*hosts.HEALTHY_BACK, "10.213.200.9"])  # every answer
    owned = {(v.check_id, v.symptom.address) for v in verdicts(ctx)}
    assert owned == {("net.mtu", WEB_IP), ("net.duplicate-ip", "10.213.200.9")}


def test_a_per_port_finding_names_every_client_that_fails_there() -> None:
    """The edge client → api:8080 and a peer's connect are refused at one port: one
    port.refused finding, naming the client (subjects and evidence), not two."""
    ctx = ipv6._rec6_ctx()
    listening_everywhere = {
        "status": "ok",
        "sockets": [{"family": "tcp", "address": "0.0.0.0", "port": 8080}],
    }
    ipv6._observe_api(ctx, ipv6.REFUSED, sockets=listening_everywhere)
    [finding] = evaluate("port.refused", ctx)
    assert finding.subjects == ("api", "client", "rec6-api-1", "rec6-client-1", "rec6_default")
    assert finding.evidence["clients"] == [
        f"client → api:8080 (environment API_URL): connect {ipv6.API_IP}:8080 refused "
        "(from client's netns)"
    ]
    assert finding.summary.startswith("peers on rec6_default are refused at")
