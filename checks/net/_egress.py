"""What net.egress and net.egress-dns share: a name looked up as the C library looks it up.

A lookup reads the resolv.conf of the place it runs in, then asks its nameservers (glibc
uses at most three) for the name's A record, each query straight to one server. As glibc
does, the first server in order whose answer is final decides: an address list or
NXDOMAIN; a timeout, SERVFAIL or REFUSED sends the lookup on to the next server. Queries go
to every listed server at once (not one after the other), so a dead first server costs one
timeout, not a sequence of them; only the user's own `--egress`/`--egress-dns` names are
looked up, so nothing is asked that the user did not name.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from diag.model.compose import NETWORK_LABEL
from diag.model.context import CheckContext
from diag.model.observations import ResolveAnswer, ResolveStatus
from diag.model.tasks import RESOLV_CONF, Placement, Planned, Task, resolve
from diag.model.topology import Container, Network

MAX_NAMESERVERS = 3  # glibc's MAXNS: further `nameserver` lines are ignored
FINAL: set[ResolveStatus] = {"ok", "nxdomain"}
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


@dataclass(frozen=True)
class Lookup:
    """How a lookup ended: `ok`, `no-address` (NOERROR without an A record), `nxdomain`,
    `servfail`, `timeout` or `error` (the last server's outcome when none was final)."""

    status: str
    addresses: tuple[str, ...]
    asked: tuple[str, ...]  # one line per server asked, for the evidence

    @property
    def resolved(self) -> bool:
        return self.status == "ok"


def _query(name: str, server: str) -> Task[ResolveAnswer]:
    return resolve(name, "A", server=server)


def _nameservers(ctx: CheckContext, at: Placement) -> list[str] | None:
    result = ctx.observations.get(at, RESOLV_CONF)
    if result is None or result.status != "ok":
        return None
    return list(result.nameservers)[:MAX_NAMESERVERS]


def lookup_plan(ctx: CheckContext, at: Placement, name: str) -> list[Planned]:
    """resolv.conf first; once it is known, one query per nameserver."""
    servers = _nameservers(ctx, at)
    return [(at, RESOLV_CONF)] + [(at, _query(name, s)) for s in servers or ()]


def answer_text(server: str, result: ResolveAnswer) -> str:
    status = result.status
    said = ", ".join(result.addresses) if status == "ok" else status
    if status == "ok" and not said:
        said = "NOERROR without an A record"
    elapsed = f" after {result.elapsed_ms} ms" if result.elapsed_ms is not None else ""
    detail = f" ({result.detail})" if result.detail else ""
    return f"{server}: {said}{elapsed}{detail}"


def _outcome(result: ResolveAnswer) -> str:
    if result.status == "ok" and not result.addresses:
        return "no-address"
    return result.status


def lookup(ctx: CheckContext, at: Placement, name: str) -> Lookup | None:
    """The lookup's outcome; None while what decides it is not observed yet (or the place
    could not be observed at all: the runner reports that as inconclusive)."""
    servers = _nameservers(ctx, at)
    if servers is None:
        return None
    if not servers:
        return Lookup("error", (), ("no nameserver in /etc/resolv.conf",))
    asked: list[str] = []
    status = "error"
    for server in servers:
        result = ctx.observations.get(at, _query(name, server))
        if result is None:
            return None
        asked.append(answer_text(server, result))
        status = _outcome(result)
        if result.status in FINAL:  # NOERROR without an address is final too
            addresses = result.addresses if status == "ok" else ()
            return Lookup(status, addresses, tuple(asked))
    return Lookup(status, (), tuple(asked))


def running_members(ctx: CheckContext, network: Network) -> list[Container]:
    """The running containers with an address on `network`, by name (a stable choice)."""
    found = [c for c, ep in ctx.topology.members(network) if c.running and ep.ip]
    return sorted(found, key=lambda c: c.name)


def proxies(members: list[Container]) -> list[str]:
    """`VARIABLE → host:port (on container)` for each proxy variable the members set; the
    URL's credentials are left out (only where the proxy lives matters here)."""
    found = []
    for container in members:
        for variable in PROXY_VARIABLES:
            value = container.env.get(variable, "").strip()
            if not value:
                continue
            try:
                parts = urlsplit(value if "://" in value else f"http://{value}")
                where = parts.hostname or ""
                where += f":{parts.port}" if parts.port else ""
            except ValueError:  # a port that is not a number
                where = ""
            found.append(f"{variable} → {where or 'unparsable'} (on {container.name})")
    return found


def compose_key(network: Network) -> str:
    """The network's key in the compose file (its engine name when it has none)."""
    return network.labels.get(NETWORK_LABEL, network.name)
