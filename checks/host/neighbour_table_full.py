"""The kernel's neighbour (ARP/NDP) table overflowed while ddiag ran.

Before a container sends a packet to a peer on its network it needs the peer's MAC
address: an entry in the kernel's neighbour table (ARP for IPv4, NDP for IPv6), made on
both sides of every pair that talks. The table is one per machine, shared by every
container's namespace, and holds at most `net.ipv4.neigh.default.gc_thresh3` entries
(1024 by default; `net.ipv6.neigh.default.gc_thresh3` for IPv6). When it is full the kernel
first frees entries unused for five seconds; when that frees nothing, it refuses the new
entry ("neighbour: arp_cache: neighbor table overflow!" in `dmesg`) and drops the packet:
connects to a peer nobody talked to lately time out, at random, while busy pairs keep
working. Hosts with a few hundred containers, or stacks whose services all talk to many
others at once (and ddiag's own connects across a big stack), reach it.

Detected from the table's own counters (`table_fulls` in /proc/net/stat/arp_cache and
ndisc_cache, read in the Docker host's network namespace through the probe), read twice:
first thing in the run, and again once every other observation has ended. When the count
rose in between, allocations were refused while ddiag's connects ran, so the connects that
got no answer (timeouts, host unreachable) are not proof of a network fault: this check
claims them (after the checks that name a rule or an option that drops them) and
reports them here, to be checked again once the table has room (an error). When it rose
but no connect of the run went unanswered, the run's results stand and the finding is a
warning: the table was full at some moment (with ddiag's traffic or another's), and new
connections of any container could be dropped then. A count that rose before
the run (the counter is a total since boot, with no time) is not judged. An engine whose
host is not the kernel's initial network namespace (rootless, a namespace of its own) has
no such files: nothing is said.

Fix: raise the limits, and keep them across reboots, e.g. to four times the current ones:

    sudo sysctl -w net.ipv4.neigh.default.gc_thresh1=1024 \
        net.ipv4.neigh.default.gc_thresh2=2048 net.ipv4.neigh.default.gc_thresh3=4096
    printf '%s\n' net.ipv4.neigh.default.gc_thresh1=1024 \
        net.ipv4.neigh.default.gc_thresh2=2048 net.ipv4.neigh.default.gc_thresh3=4096 \
        | sudo tee /etc/sysctl.d/99-neighbours.conf

(the same `net.ipv6.neigh.default.*` keys when ndisc_cache overflowed), then run ddiag
again: what still fails then is the network's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from diag.checks._arbiter import DROPPED, Explainer, Symptom, dropped_at, dropped_result, owned
from diag.checks._edges import EdgeState
from diag.model.context import CheckContext
from diag.model.findings import Result, Severity
from diag.model.observations import NeighbourTablesAnswer
from diag.model.tasks import Planned, neighbour_tables, sysctl

ID = "host.neighbour-table-full"
SEVERITY = "error"
TITLE = "The kernel's neighbour (ARP) table overflowed during the run"

OPENING = neighbour_tables("opening")
CLOSING = neighbour_tables("closing")
# The table (in /proc/net/stat) -> its sysctl prefix.
FAMILIES = {"arp_cache": "net.ipv4.neigh.default", "ndisc_cache": "net.ipv6.neigh.default"}
LIMITS = {
    table: sysctl(f"{prefix.replace('.', '/')}/gc_thresh3") for table, prefix in FAMILIES.items()
}
DEFAULT_LIMIT = 1024  # the kernel's, when the sysctl could not be read
RAISE_FACTOR = 4
LISTED = 5  # failed connects named in the finding; the rest are counted


def plan(ctx: CheckContext) -> list[Planned]:
    host = ctx.host_placement()
    planned: list[Planned] = [(host, OPENING)]
    if ctx.closing:  # every other observation has ended
        planned += [(host, CLOSING), *((host, limit) for limit in LIMITS.values())]
    return planned


@dataclass(frozen=True)
class Overflow:
    """A table whose refusals rose between the two reads."""

    table: str
    refused: int  # allocations refused during the run
    entries: int  # at the closing read
    limit: int | None  # gc_thresh3, when read


def overflows(ctx: CheckContext) -> list[Overflow]:
    """The tables that overflowed during the run; none when either read is missing."""
    return ctx.per_observations(ID, lambda: _overflows(ctx))


def _overflows(ctx: CheckContext) -> list[Overflow]:
    host = ctx.host_placement()
    opening, closing = (ctx.observations.get(host, read) for read in (OPENING, CLOSING))
    if not _read(opening) or not _read(closing):
        return []
    assert opening is not None and closing is not None
    found = []
    for table in closing.tables:
        before = opening.table(table.name)
        if before is None or table.table_fulls <= before.table_fulls:
            continue
        found.append(
            Overflow(
                table.name,
                table.table_fulls - before.table_fulls,
                table.entries,
                _limit(ctx, table.name),
            )
        )
    return found


def _read(answer: NeighbourTablesAnswer | None) -> bool:
    return answer is not None and answer.status == "ok"


def _limit(ctx: CheckContext, table: str) -> int | None:
    task = LIMITS.get(table)
    answer = ctx.observations.get(ctx.host_placement(), task) if task is not None else None
    if answer is None or answer.status != "ok":
        return None
    try:
        return int(answer.value)
    except ValueError:
        return None


def explains(state: EdgeState, ctx: CheckContext) -> Result | None:
    """An edge whose connects got no answer while the table overflowed: the table's, until
    a run with room says otherwise (reported in this check's one finding)."""
    found = overflows(ctx)
    dropped = dropped_at(state) if found else []
    if not dropped:
        return None
    return dropped_result(
        state, dropped[0], "got no answer while the kernel's neighbour table was full", _fix(found)
    )


def explains_peer(symptom: Symptom, ctx: CheckContext) -> bool:
    return symptom.status in DROPPED and bool(overflows(ctx))


EXPLAINS = Explainer(rank=158, edge=explains, peer=explains_peer)


def _fix(found: list[Overflow]) -> str:
    settings = []
    for overflow in found:
        prefix = FAMILIES[overflow.table]
        limit = RAISE_FACTOR * max(overflow.limit or DEFAULT_LIMIT, overflow.entries)
        settings += [
            f"{prefix}.gc_thresh1={limit // 4}",
            f"{prefix}.gc_thresh2={limit // 2}",
            f"{prefix}.gc_thresh3={limit}",
        ]
    joined = " ".join(settings)
    return (
        f"sudo sysctl -w {joined} && printf '%s\\n' {joined} | sudo tee "
        "/etc/sysctl.d/99-neighbours.conf ; then run ddiag again: what still fails is the "
        "network's"
    )


def _failed_texts(ctx: CheckContext) -> list[str]:
    texts = []
    for verdict in owned(ctx, ID):
        symptom = verdict.symptom
        if symptom.edge is not None:
            edge = symptom.edge.edge
            texts.append(f"{edge.source_label} -> {edge.name}:{edge.port}")
        elif symptom.member is not None:
            where = symptom.member.network.name
            texts.append(f"peer on {where} -> {symptom.address}:{symptom.port}")
    return texts


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    found = overflows(ctx)
    if not found:
        return
    failed = _failed_texts(ctx)
    listed = "; ".join(failed[:LISTED]) + (
        f" and {len(failed) - LISTED} more" if len(failed) > LISTED else ""
    )
    tables = ", ".join(
        f"{o.table} refused {o.refused} new entries ({o.entries} entries"
        + (f", limit gc_thresh3 = {o.limit})" if o.limit is not None else ")")
        for o in found
    )
    yield Result(
        subjects=("the Docker host",),
        summary=(
            f"the kernel's neighbour table overflowed while ddiag ran ({tables}): packets to "
            "peers without an entry were dropped, so "
            + (
                f"{len(failed)} connect{'s' if len(failed) != 1 else ''} that got no answer "
                "may be the table's fault, not the network's"
                if failed
                else "connects between containers time out at random while it is full"
            )
        ),
        evidence={
            "table_fulls": "; ".join(f"{o.table} +{o.refused} during the run" for o in found),
            "read": "/proc/net/stat/{arp,ndisc}_cache in the host's network namespace, "
            "first thing in the run and after every other observation",
            **({"no_answer": listed} if failed else {}),
        },
        fix=_fix(found),
        # No connect of the run went unanswered: its results stand, the host is at its limit.
        severity=None if failed else Severity.WARNING,
    )
