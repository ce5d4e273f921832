"""What a check sees: the topology, the target of the run, the observations so far, options."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from diag.model.compose import ComposeProject
from diag.model.edges import Edge
from diag.model.firewall import HostFirewall
from diag.model.tasks import HOST, Observations, Placement, peer_placement
from diag.model.topology import Container, Network, Topology

TargetKind = Literal["network", "compose", "container"]
T = TypeVar("T")


@dataclass(frozen=True)
class Focus:
    """`ddiag compose web api`: the services named, as `docker compose ps web api` names them.
    Their edges are the target's; the checks look at them and at what they depend on (a
    dependency's sockets and state explain a failing edge), and the findings kept are those
    about them: that name one of them, or none of the project's services (a network's)."""

    services: tuple[str, ...]
    observed: frozenset[str]  # container ids: the named services' and their dependencies'
    names: frozenset[str]  # the named services and their containers
    others: frozenset[str]  # the project's other services and containers

    def concerns(self, subjects: Sequence[str]) -> bool:
        named = set(subjects)
        return bool(named & self.names) or not named & self.others


@dataclass(frozen=True)
class Target:
    """What a run diagnoses. `networks` are probed as a peer sees them; `edges` are the
    service-to-service dependencies observed from their source's netns; `containers` are
    those whose own state is judged (per-service checks)."""

    kind: TargetKind
    names: tuple[str, ...]
    networks: tuple[Network, ...]
    containers: tuple[Container, ...] = ()
    edges: tuple[Edge, ...] = ()
    project: ComposeProject | None = None
    matrix: bool = False  # also observe every service x service x port (ddiag compose --matrix)
    focus: Focus | None = None  # services named on the command line (None: all of them)

    def observes(self, container: Container) -> bool:
        """Whether the checks look at this container (as a member of the target's networks)."""
        return self.focus is None or container.id in self.focus.observed

    def concerns(self, subjects: Sequence[str]) -> bool:
        """Whether a finding about `subjects` belongs in this target's report."""
        return self.focus is None or self.focus.concerns(subjects)


@dataclass
class CheckContext:
    topology: Topology
    target: Target
    observations: Observations = field(default_factory=Observations)
    timeout: float = 2.0
    memo: dict[str, Any] = field(default_factory=dict)  # derived views computed once per run
    # The host's iptables rules, read by ddiag itself (diag.engine.hostfw) when the engine is local
    # and ddiag may read them; None otherwise (host.iptables then says nothing).
    host_firewall: HostFirewall | None = None
    # Opt-in only (diag.model.egress): outside (host, port)s and names the user asked to check.
    egress: tuple[tuple[str, int], ...] = ()
    egress_dns: tuple[str, ...] = ()
    # Set by the runner once every planned observation has ended (answered, or failed):
    # plans may then ask for the reads that must come last (the neighbour tables' closing
    # counters); the runner plans once more and waits for those too (diag.run.runner.observe).
    closing: bool = False

    def once(self, name: str, compute: Callable[[], T]) -> T:
        """`compute()` once per run: for views of the topology and the target alone, which
        every planning wave of every check would otherwise derive again."""
        if name not in self.memo:
            self.memo[name] = compute()
        return self.memo[name]

    def per_observations(self, name: str, compute: Callable[[], T]) -> T:
        """`compute()` once per set of observations (`Observations.version` tells a new
        set), not once per check that asks: a dozen checks plan and judge the same edges,
        and the runner plans again after every batch of answers."""
        key = self.observations.version
        cached = self.memo.get(name)
        if cached is None or cached[0] != key:
            cached = (key, compute())
            self.memo[name] = cached
        return cached[1]

    def peer_placement(self, network: Network) -> Placement:
        """A probe attached to `network`: it sees the network as any peer on it does."""
        return peer_placement(network)

    def netns_placement(self, container: Container) -> Placement:
        """A probe inside `container`'s network namespace: its sockets, resolv.conf, routes."""
        return Placement("netns", container.id, container.name)

    def node_placement(self, network: Network, node_id: str, node_name: str) -> Placement:
        """A probe on swarm overlay `network` on node `node_id`, scheduled there by the swarm
        itself (a one-task service): it sees the overlay as that node's tasks do."""
        return Placement("node", f"{network.id}@{node_id}", f"{network.name} on {node_name}")

    def host_placement(self) -> Placement:
        """The engine host's own netns (its routes, forwarding, MTU), however remote."""
        return HOST
