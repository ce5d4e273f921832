"""What a diagnosing command names as its target, before the engine has been read.

A target is only known once the engine's topology is: a network name may be wrong, a
compose project's containers are found by their labels. But two things can be done
before that, and a run is faster for doing them while the engine is read:

- `guess()` names the networks whose anchors the shared probe may start at once
  (diag.engine.early): container starts are a run's largest fixed cost;
- `prepare()` does what is slow and needs no topology (for compose: `docker compose
  config` and the --expect file), and returns how to make the `Target` from the topology.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from diag.engine.compose_cli import load_config
from diag.engine.early import Guess, container_networks, named_networks, project_networks
from diag.model.compose import project_from_config, project_from_labels
from diag.model.context import Target
from diag.model.expectations import load_rules_file
from diag.model.targets import compose_target, container_target, network_target, stack_project
from diag.model.topology import Topology

MakeTarget = Callable[[Topology], Target]


class TargetSpec(Protocol):
    def guess(self) -> Guess: ...

    def prepare(self) -> MakeTarget: ...


@dataclass(frozen=True)
class NetworkSpec:
    """`ddiag network NAME...`: networks, as a peer on each sees them."""

    names: tuple[str, ...]

    def guess(self) -> Guess:
        return named_networks(self.names)

    def prepare(self) -> MakeTarget:
        return lambda topology: network_target(topology, self.names)


@dataclass(frozen=True)
class ContainerSpec:
    """`ddiag container NAME`: one container and the dependencies its configuration names."""

    name: str

    def guess(self) -> Guess:
        return container_networks(self.name)

    def prepare(self) -> MakeTarget:
        return lambda topology: container_target(topology, self.name)


@dataclass(frozen=True)
class ComposeSpec:
    """`ddiag compose`: a running project, from its compose file(s), or from the engine alone
    (containers' labels, or a swarm stack's services) when only -p names it."""

    files: tuple[str, ...] = ()
    project: str | None = None
    project_directory: str | None = None
    expect: Path | None = None  # a reachability rules file, added to x-ddiag's
    matrix: bool = False
    profiles: tuple[str, ...] = ()  # --profile, for docker compose
    env_files: tuple[str, ...] = ()  # --env-file, for docker compose
    services: tuple[str, ...] = ()  # only these services (none: all)

    def guess(self) -> Guess:
        # Without -p, docker compose takes the name from COMPOSE_PROJECT_NAME (or the
        # directory, which is not cheap to know before `docker compose config` answers).
        return project_networks(self.project or os.environ.get("COMPOSE_PROJECT_NAME"))

    def prepare(self) -> MakeTarget:
        rules = load_rules_file(self.expect) if self.expect else []
        model = load_config(
            self.files,
            self.project,
            self.project_directory,
            profiles=self.profiles,
            env_files=self.env_files,
        )

        def make_target(topology: Topology) -> Target:
            if model is None:
                assert self.project is not None  # load_config returns None only with -p
                found = stack_project(topology, self.project) or project_from_labels(
                    topology, self.project
                )
            else:
                found = project_from_config(model, self.files)
            return compose_target(topology, found, rules, self.matrix, self.services)

        return make_target
