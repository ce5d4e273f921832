"""The Docker host's connection-tracking table is full, or nearly full.

Every connection the host NATs or filters statefully takes an entry in netfilter's
conntrack table: each connection to a published port (DNAT), each connection a container
makes out of the host (MASQUERADE), and, with `br-netfilter`, traffic between containers
on a bridge. The table holds at most `net.netfilter.nf_conntrack_max` entries. When it is
full the kernel drops the first packet of every new connection (`nf_conntrack: table
full, dropping packet` in `dmesg`): clients see connects time out at random while
established connections keep working, so "it works when I retry" and it looks like a
flaky network, not a limit. Busy proxies, many short connections (HTTP without
keep-alive, DNS over UDP) and port scans fill it.

Detected by reading `net/netfilter/nf_conntrack_count` and `nf_conntrack_max` in the
Docker host's network namespace (through the probe, as `host.ip-forward` reads its
sysctl; the count is the one of that namespace, where Docker's NAT and forwarding
entries live, against the kernel's one limit). "Near" is at least 90 % of the maximum
(`NEAR`): the kernel drops nothing yet, but a burst fills the remaining tenth in seconds;
at 100 % it is an error. Absent files (the `nf_conntrack` module is not loaded: nothing
is tracked, nothing can fill up) or an unreadable one: nothing is said. The count is a
snapshot: a table that fills only at peak hours is full only while it is read.

Fix: raise the limit, and keep it across reboots, e.g. to four times the current one:

    sudo sysctl -w net.netfilter.nf_conntrack_max=262144
    echo 'net.netfilter.nf_conntrack_max = 262144' | sudo tee /etc/sysctl.d/99-conntrack.conf

(each entry costs about 300 bytes of kernel memory), and find what fills it:
`sudo conntrack -S` (drops per CPU), `sudo conntrack -L | awk '{print $1, $4}' | sort |
uniq -c | sort -rn | head` (by protocol and state); shorten timeouts of idle entries
(`net.netfilter.nf_conntrack_tcp_timeout_established`, default five days) when many stay
ESTABLISHED that are long gone.
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.model.context import CheckContext
from diag.model.findings import Result, Severity
from diag.model.tasks import Planned, sysctl

ID = "host.conntrack-full"
SEVERITY = "warning"
TITLE = "The host's conntrack table is full or nearly full"

COUNT = sysctl("net/netfilter/nf_conntrack_count")
MAX = sysctl("net/netfilter/nf_conntrack_max")
NEAR = 0.9  # from this share of the maximum on, a burst fills the rest
RAISE_FACTOR = 4


def plan(ctx: CheckContext) -> list[Planned]:
    return [(ctx.host_placement(), COUNT), (ctx.host_placement(), MAX)]


def _read(ctx: CheckContext) -> tuple[int, int] | None:
    answers = [ctx.observations.get(ctx.host_placement(), task) for task in (COUNT, MAX)]
    values: list[int] = []
    for answer in answers:
        if answer is None or answer.status != "ok":
            return None  # not loaded (no file) or unreadable: nothing to judge
        try:
            values.append(int(answer.value))
        except ValueError:
            return None
    count, maximum = values
    return (count, maximum) if maximum > 0 else None


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    read = _read(ctx)
    if read is None:
        return
    count, maximum = read
    share = count / maximum
    if share < NEAR:
        return
    full = count >= maximum
    raised = maximum * RAISE_FACTOR
    yield Result(
        subjects=("the Docker host",),
        summary=(
            f"the host's conntrack table is {'full' if full else 'nearly full'} "
            f"({count} of {maximum} entries, {share:.0%}): "
            + (
                "the kernel drops the first packet of every new connection (published ports, "
                "containers' way out), so connects time out at random"
                if full
                else "a burst of new connections fills it, and the kernel then drops their "
                "first packets"
            )
        ),
        evidence={
            "nf_conntrack_count": str(count),
            "nf_conntrack_max": str(maximum),
            "read": "net/netfilter/nf_conntrack_{count,max} in the host's network namespace",
            "near_from": f"{NEAR:.0%} of the maximum",
        },
        fix=(
            f"sudo sysctl -w net.netfilter.nf_conntrack_max={raised} && echo "
            f"'net.netfilter.nf_conntrack_max = {raised}' | sudo tee "
            "/etc/sysctl.d/99-conntrack.conf ; then find what fills it: `sudo conntrack -S`, "
            "`sudo conntrack -L | awk '{print $1, $4}' | sort | uniq -c | sort -rn | head`"
        ),
        severity=Severity.ERROR if full else None,
    )
