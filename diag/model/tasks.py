"""Probe tasks as plain data, where they run, and what they observed.

Checks ask for observations by returning `(Placement, Task)` pairs; the runner groups them
by placement (one probe each), and the agent answers every task with a JSON dict, parsed
into the record of the task's kind (diag.model.observations). Keeping all three as plain
values is what lets checks be tested with recorded observations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Literal, cast

from diag.model.observations import (
    A,
    Answer,
    ArpSweepAnswer,
    CaptureAnswer,
    ConnectAnswer,
    ConnectionsAnswer,
    HostsAnswer,
    InterfacesAnswer,
    ListeningAnswer,
    NeighbourTablesAnswer,
    PmtuAnswer,
    ReachAnswer,
    ResolvConfAnswer,
    ResolveAnswer,
    SysctlAnswer,
)

if TYPE_CHECKING:
    from diag.model.topology import Network

PlacementKind = Literal["network", "netns", "host", "node"]


@dataclass(frozen=True)
class Placement:
    """Where a probe runs: attached to a network, inside a container's network namespace, or
    attached to a swarm overlay on one node (`ref` NETWORK_ID@NODE_ID, see diag.probes.swarm)."""

    kind: PlacementKind
    ref: str
    label: str = field(default="", compare=False)

    @cached_property
    def _hash(self) -> int:
        return hash((self.kind, self.ref))

    def __hash__(self) -> int:
        """Computed once: every planning wave looks ~10,000 planned pairs up (N = 50), and a
        dataclass would hash every field again on each lookup."""
        return self._hash

    def describe(self) -> str:
        if self.kind == "host":
            return "in the Docker host's network namespace"
        where = "in the netns of" if self.kind == "netns" else "on network"
        return f"{where} {self.label or self.ref[:12]}"


def peer_placement(network: Network) -> Placement:
    """A probe attached to `network`: it sees the network as any peer on it does."""
    return Placement("network", network.id, network.name)


# The engine host's own network namespace: its routes, interfaces and sysctls. Read there
# (not on the machine ddiag runs on) so that a remote engine's host is the one judged.
HOST = Placement("host", "host", "the Docker host")


@dataclass(frozen=True)
class Task(Generic[A]):
    """One observation to make. `kind` is one of the agent's task kinds (see diag.agent);
    `A` is the record its answer is parsed into, which the constructors below give each
    kind (so that `Observations.get` returns that record, not any answer)."""

    kind: Literal[
        "resolve",
        "connect",
        "listening",
        "connections",
        "resolv_conf",
        "hosts",
        "reach",
        "interfaces",
        "sysctl",
        "neighbour_tables",
        "arp_sweep",
        "pmtu",
        "capture",
    ]
    target: str = ""
    port: int = 0
    rdtype: str = ""
    server: str = ""
    dns: bool = False
    allow: tuple[str, ...] = ()
    sizes: tuple[int, ...] = ()
    addresses: tuple[str, ...] = ()
    # a kind's own settings, sent as they are (the capture task's bounds and attempts)
    extra: tuple[tuple[str, Any], ...] = field(default=(), compare=False)

    @cached_property
    def _hash(self) -> int:
        return hash((self.kind, self.target, self.port, self.allow, self.addresses))

    def __hash__(self) -> int:
        """Computed once, as Placement's is."""
        return self._hash

    def to_wire(self) -> dict[str, Any]:
        wire = {k: v for k, v in asdict(self).items() if v not in ("", 0, False, ())}
        wire.pop("extra", None)
        for name in ("allow", "sizes", "addresses"):
            if getattr(self, name):
                wire[name] = list(getattr(self, name))
        return wire | dict(self.extra)

    def describe(self) -> str:
        if self.kind == "resolve":
            via = f" via {self.server}" if self.server else ""
            return f"resolve {self.target} {self.rdtype or 'A'}{via}"
        if self.kind == "connect":
            return f"connect {self.target}:{self.port}"
        if self.kind == "reach":
            return f"reach {self.target}" + (f":{self.port}" if self.port else "")
        if self.kind == "arp_sweep":
            return f"ARP sweep of {self.target}"
        if self.kind == "pmtu":
            sizes = ", ".join(map(str, self.sizes))
            return f"DF ping {len(self.addresses)} addresses at {sizes} bytes"
        if self.kind == "sysctl":
            return f"read sysctl {self.target}"
        if self.kind == "neighbour_tables":
            return f"read the kernel's neighbour table counters ({self.target})"
        if self.kind == "capture":
            return f"capture around {self.target}:{self.port}"
        return f"read {self.kind.replace('_', ' ')}"


def resolve(name: str, rdtype: str = "A", server: str = "") -> Task[ResolveAnswer]:
    return Task("resolve", target=name, rdtype=rdtype, server=server)


def connect(host: str, port: int) -> Task[ConnectAnswer]:
    return Task("connect", target=host, port=port)


def reach(name: str, port: int | None, use_dns: bool, allow: tuple[str, ...]) -> Task[ReachAnswer]:
    """hosts file, then DNS (only if `use_dns`), then connect to addresses inside `allow`."""
    return Task("reach", target=name, port=port or 0, dns=use_dns, allow=allow)


def sysctl(name: str) -> Task[SysctlAnswer]:
    """A /proc/sys value as the viewed network namespace sees it, e.g. net/ipv4/ip_forward."""
    return Task("sysctl", target=name)


def neighbour_tables(moment: Literal["opening", "closing"]) -> Task[NeighbourTablesAnswer]:
    """The kernel's neighbour (ARP, NDP) table counters, /proc/net/stat/{arp,ndisc}_cache.
    `moment` tells the run's two reads apart: the opening one goes first in its batch, the
    closing one is planned once every other observation has ended (`CheckContext.closing`),
    so that the overflows counted between them happened during the run."""
    return Task("neighbour_tables", target=moment)


def arp_sweep(cidr: str, expected: tuple[str, ...] = ()) -> Task[ArpSweepAnswer]:
    """Who answers ARP for each address of `cidr` on the viewed namespace's interface in it.
    `expected`: the addresses that should answer at once (the engine's); once they have,
    the sweep listens only for late claimers (diag.agent.packets), not its whole window."""
    return Task("arp_sweep", target=cidr, addresses=tuple(sorted(set(expected))))


def pmtu(addresses: tuple[str, ...], sizes: tuple[int, ...]) -> Task[PmtuAnswer]:
    """ICMP echoes with DF set, one per address and IP packet size: which sizes get back."""
    return Task("pmtu", addresses=tuple(sorted(set(addresses))), sizes=tuple(sorted(set(sizes))))


def capture(target: str, port: int, allow: tuple[str, ...], **settings: Any) -> Task[CaptureAnswer]:
    """Capture in the placement's netns (and `also`'s) while reaching target:port (see
    diag.agent.capture for the settings)."""
    return Task("capture", target=target, port=port, allow=allow, extra=tuple(settings.items()))


LISTENING: Task[ListeningAnswer] = Task("listening")
# The namespace's ESTABLISHED and SYN_SENT TCP sockets, with their peers' addresses.
CONNECTIONS: Task[ConnectionsAnswer] = Task("connections")
RESOLV_CONF: Task[ResolvConfAnswer] = Task("resolv_conf")
HOSTS: Task[HostsAnswer] = Task("hosts")
INTERFACES: Task[InterfacesAnswer] = Task("interfaces")

Planned = tuple[Placement, "Task[Any]"]

# The order in which a probe takes up a batch's tasks (a sort key by kind). The agent
# starts each task in the order received and runs it up to its first wait; reading files
# never waits, so reads sent first would delay every timer behind them. The packet tasks
# come first: they cost a few sends and then listen for silence (an ARP sweep's grace, DF
# pings' rounds), which on a healthy network is the longest wait of a run, so it runs while
# the rest of the batch is worked through (issue 19). Then listening sockets (the connects
# that most runs wait longest for are planned from them), then what may wait out a timeout
# (connects, reaches, DNS), then the other reads.
FIRST_STEPS: dict[str, int] = {
    kind: rank
    for rank, kind in enumerate(
        (
            "neighbour_tables",  # the opening read: before the run's first packet
            "arp_sweep",
            "pmtu",
            "listening",
            "connect",
            "reach",
            "resolve",
            "capture",
            "connections",
            "resolv_conf",
            "hosts",
            "interfaces",
            "sysctl",
        )
    )
}


class AnswerTable(dict[Planned, Answer]):
    """The answers, counting every write: what is computed once per set of observations
    (`CheckContext.per_observations`) must notice an answer replaced, not only one added
    (a run only adds; a test may replace one)."""

    writes = 0

    def __setitem__(self, key: Planned, value: Answer) -> None:
        self.writes += 1
        super().__setitem__(key, value)


@dataclass
class Observations:
    """Results by (placement, task), and why a placement could not be observed at all.
    Each result is the record `parse` made of the agent's answer to that very task."""

    results: dict[Planned, Answer] = field(default_factory=AnswerTable)
    failures: dict[Placement, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.results, AnswerTable):
            self.results = AnswerTable(self.results)

    @property
    def version(self) -> tuple[int, int, int]:
        """Changes whenever an answer or a failure is added, or an answer replaced."""
        writes = self.results.writes if isinstance(self.results, AnswerTable) else 0
        return (len(self.results), writes, len(self.failures))

    def get(self, placement: Placement, task: Task[A]) -> A | None:
        # parse gave the answer to `task` the record of its kind, which is `A`
        return cast("A | None", self.results.get((placement, task)))

    def missing(self, planned: Iterable[Planned]) -> list[Planned]:
        """What was planned but neither observed nor already known to be unobservable."""
        return [
            pair
            for pair in dict.fromkeys(planned)
            if pair not in self.results and pair[0] not in self.failures
        ]

    def failure(self, placement: Placement) -> str | None:
        return self.failures.get(placement)
