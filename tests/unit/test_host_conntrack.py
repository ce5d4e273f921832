"""host.conntrack-full on the recorded topology, with the agent's sysctl answers.

The answers have the agent's shapes (diag/agent/tasks.py `sysctl`): `{"status": "ok",
"value": "..."}` read from /proc/sys, and `{"status": "error", "detail": "No such file or
directory"}` when the nf_conntrack module is not loaded (no file to read).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from diag.checks.host.conntrack_full import COUNT, MAX
from diag.model.context import CheckContext
from diag.model.findings import Severity
from diag.model.tasks import HOST
from diag.model.topology import Topology

from .recorded import BACK, evaluate, plan, record

MakeCtx = Callable[..., CheckContext]
ID = "host.conntrack-full"
ABSENT = {"status": "error", "detail": "No such file or directory"}


def answered(ctx: CheckContext, count: object, maximum: object) -> CheckContext:
    for task, value in ((COUNT, count), (MAX, maximum)):
        raw = value if isinstance(value, dict) else {"status": "ok", "value": str(value)}
        record(ctx.observations, HOST, task, raw)
    return ctx


def test_plan_reads_both_files_in_the_hosts_namespace(
    topology141: Topology, make_ctx: MakeCtx
) -> None:
    assert plan(ID, make_ctx(topology141, BACK)) == [(HOST, COUNT), (HOST, MAX)]
    assert COUNT.to_wire()["target"] == "net/netfilter/nf_conntrack_count"


def test_full_table_is_an_error(topology141: Topology, make_ctx: MakeCtx) -> None:
    ctx = answered(make_ctx(topology141, BACK), 65536, 65536)
    (finding,) = evaluate(ID, ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects == ("the Docker host",)
    assert finding.summary.startswith(
        "the host's conntrack table is full (65536 of 65536 entries, 100%): the kernel drops"
    )
    assert finding.evidence["nf_conntrack_count"] == "65536"
    assert finding.fix.startswith(
        "sudo sysctl -w net.netfilter.nf_conntrack_max=262144 && echo "
        "'net.netfilter.nf_conntrack_max = 262144' | sudo tee /etc/sysctl.d/99-conntrack.conf"
    )


def test_nearly_full_is_a_warning(topology141: Topology, make_ctx: MakeCtx) -> None:
    ctx = answered(make_ctx(topology141, BACK), 59000, 65536)  # 90.03 %
    (finding,) = evaluate(ID, ctx)
    assert finding.severity is Severity.WARNING
    assert "nearly full (59000 of 65536 entries, 90%)" in finding.summary


@pytest.mark.parametrize(
    ("count", "maximum"),
    [
        (58982, 65536),  # 89.99 %: below NEAR
        (212, 262144),  # this machine's usual state
        (ABSENT, ABSENT),  # nf_conntrack not loaded
        (100, ABSENT),
        ({"status": "error", "detail": "Permission denied"}, 65536),
        ("", 65536),
        (5, 0),
    ],
)
def test_silent_below_near_or_without_the_files(
    topology141: Topology, make_ctx: MakeCtx, count: object, maximum: object
) -> None:
    assert evaluate(ID, answered(make_ctx(topology141, BACK), count, maximum)) == []


def test_silent_without_answers(topology141: Topology, make_ctx: MakeCtx) -> None:
    assert evaluate(ID, make_ctx(topology141, BACK)) == []
