"""Connection refused although the port should be served.

A peer on the network connects to the container's address and port and gets a TCP reset,
while nothing more specific explains it: the container does listen on that port on all
addresses (or its sockets could not be read). Typical causes: a firewall rule inside the
container's namespace (`iptables -j REJECT`), a server that accepts on another address
family only, or one that was restarting at that moment.

Detected by a TCP connect from a probe attached to the network. Refusals that
`port.app-loopback`, `port.not-listening` or `port.published-mismatch` explain are left to
them.

Fix: look at the container's own filter rules
(`docker run --rm --network container:NAME --cap-add NET_ADMIN nicolaka/netshoot iptables -S`)
and at the server's logs around the time of the run.
"""

from __future__ import annotations

from collections.abc import Iterator

from checks.port._sockets import connect_failures, listening_texts, own_ips, plan, reach
from diag.context import CheckContext
from diag.findings import Result, subjects

ID = "port.refused"
SEVERITY = "error"
TITLE = "Connection refused"

__all__ = ["ID", "SEVERITY", "TITLE", "evaluate", "plan"]


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for member, port, _result, sockets in connect_failures(ctx, {"refused"}):
        container = member.container
        if sockets is not None and reach(sockets, port, own_ips(container)) != "reachable":
            continue  # loopback-only or nothing listening: a more specific check says so
        address = f"{member.endpoint.ip}:{port}"
        evidence = {"probe": f"connect {address} refused (from a peer on {member.network.name})"}
        evidence["listening"] = listening_texts(sockets) if sockets is not None else "unknown"
        yield Result(
            subjects=subjects(container.subjects, member.network.name),
            summary=(
                f"peers on {member.network.name} are refused at {address} "
                f"({container.service or container.name})"
                + (" although it listens on that port" if sockets is not None else "")
            ),
            evidence=evidence,
            fix=(
                f"Check filter rules in {container.name}'s namespace: `docker run --rm "
                f"--network container:{container.name} --cap-add NET_ADMIN nicolaka/netshoot "
                f"iptables -S`, and the server's logs: `docker logs {container.name}`."
            ),
        )
