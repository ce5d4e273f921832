"""Which networks a run will probe as a peer, guessed before the engine is read in full.

Container starts are a run's largest fixed cost, and a network's anchor (diag.probes.session) is
needed by the observations that wait longest (a peer's connects to every listening port).
So the CLI starts the anchors of the networks a target names while it reads every
container and resolves the compose file, instead of when the first observation asks.

The guess costs one or two cheap engine calls. It never changes a finding: an anchor
guessed wrong is only started for nothing (and removed with the others), one not guessed
starts at first use, as it would without a guess. Only local bridge networks are guessed:
the networks an anchor can always join (an overlay's anchor may be refused, and is then a
finding of its own, `swarm.not-attachable`, left to the run proper).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from diag.engine.discover import network_from_inspect
from diag.model.topology import COMPOSE_PROJECT, Network


class EngineReads(Protocol):
    """The reads a guess makes: docker-py's APIClient has them, and so has
    diag.probes.launchpad.UnixReads, which asks before docker-py is imported. Whatever
    either raises costs only the guess (no anchor starts early; the run proper asks
    again and says what is wrong), so the guesses catch every exception."""

    def inspect_network(self, net_id: str) -> dict[str, Any]: ...

    def networks(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]: ...

    def inspect_container(self, container: str) -> dict[str, Any]: ...


Guess = Callable[[EngineReads], list[Network]]


def _peers(networks: Iterable[dict[str, Any]]) -> list[Network]:
    return [
        network_from_inspect(n)
        for n in networks
        if n.get("Driver") == "bridge" and n.get("Scope") == "local" and n.get("Id")
    ]


def named_networks(names: Sequence[str]) -> Guess:
    """`ddiag network NAME...`: the networks named (an unknown name is the run's to report)."""

    def guess(api: EngineReads) -> list[Network]:
        found = []
        for name in names:
            try:
                found.append(api.inspect_network(name))
            except Exception:  # see EngineReads
                continue
        return _peers(found)

    return guess


def project_networks(project: str | None) -> Guess:
    """`ddiag compose`: the networks compose created for project P (labelled so), P from
    `-p` or as compose would name it (diag.engine.project_name); None: no guess."""

    def guess(api: EngineReads) -> list[Network]:
        if not project:
            return []
        try:
            return _peers(api.networks(filters={"label": f"{COMPOSE_PROJECT}={project}"}))
        except Exception:  # see EngineReads
            return []

    return guess


def container_networks(name: str) -> Guess:
    """`ddiag container X`: the networks X is attached to."""

    def guess(api: EngineReads) -> list[Network]:
        try:
            attached = (api.inspect_container(name).get("NetworkSettings") or {}).get("Networks")
            ids = {str(n.get("NetworkID")) for n in (attached or {}).values()}
            return [n for n in _peers(api.networks()) if n.id in ids]
        except Exception:  # see EngineReads
            return []

    return guess
