"""Turn what the user typed into a `Target`, or a DiagError that suggests what they meant."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from diag.context import Target
from diag.errors import DiagError
from diag.topology import Topology


def network_target(topology: Topology, names: Sequence[str]) -> Target:
    found = []
    for name in names:
        network = topology.network_named(name)
        if network is None:
            raise DiagError(_unknown_network(topology, name))
        if network.driver in ("host", "null"):
            raise DiagError(
                f"Network {network.name} uses the {network.driver} driver: it has no peers to "
                "probe. Diagnose a container that uses it with `ddiag container NAME`."
            )
        found.append(network)
    return Target("network", tuple(n.name for n in found), tuple(dict.fromkeys(found)))


def _unknown_network(topology: Topology, name: str) -> str:
    known = [n.name for n in topology.networks]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = (
        f" Did you mean {' or '.join(close)}?"
        if close
        else f" Networks on this engine: {', '.join(known) or 'none'}."
    )
    return f"No network named {name!r} on this engine.{hint} (`docker network ls` lists them.)"
