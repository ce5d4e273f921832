"""A healthcheck asks `localhost`, which resolves to ::1 first; the service listens on IPv4.

`curl -f http://localhost:8080/health` or `wget -q localhost:80` runs inside the
container, so `localhost` is looked up there: in its /etc/hosts. When that lookup gives
`::1` first and the server listens on `0.0.0.0` or `127.0.0.1` only, the connect to
`[::1]:8080` is refused (or fails outright when the container has no IPv6 on `lo`). Tools
that take the first address only (BusyBox `wget`, many one-line scripts) then fail every
time: the container turns unhealthy, or flaps, while the service itself is fine. The C
library sorts the addresses of a name (RFC 6724): `::1` comes before `127.0.0.1` whenever
the namespace's `lo` has IPv6, whatever the order of the file's lines; without IPv6 on
`lo`, `::1` is first only when it is the name's only entry (a mounted or rewritten hosts
file, `extra_hosts: ["localhost:::1"]` on a network without IPv4 localhost).

Detected for each running container whose healthcheck names `localhost` with a port (or
`http://` / `https://`, ports 80 / 443) and that has failed at least once: its /etc/hosts
(read from its network namespace), `net.ipv6.conf.lo.disable_ipv6` there, and its listening
sockets: `localhost` resolves to `::1` first, and the port has an IPv4 listener but none
on `::` or `::1`. The evidence is the healthcheck's command, the hosts lines for
`localhost` and the port's listeners.

Fix: use `127.0.0.1` in the healthcheck (`curl -f http://127.0.0.1:8080/health`), or make
the server listen on `::` as well (a socket on `::` accepts IPv4 too), where the container
has IPv6.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from diag.checks._services import target_containers
from diag.checks.container.unhealthy import _command
from diag.checks.port._sockets import listening, socket_text
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.observations import HostsEntry, Socket
from diag.model.tasks import HOSTS, LISTENING, Planned, sysctl
from diag.model.topology import Container

ID = "container.healthcheck-localhost"
SEVERITY = "error"
TITLE = "Healthcheck's localhost resolves to ::1, the service listens on IPv4 only"

LO_IPV6_OFF = sysctl("net/ipv6/conf/lo/disable_ipv6")
# `localhost`, `localhost:8080`, `http://localhost/x`, `https://localhost:8443`
LOCALHOST = re.compile(r"(?<![\w.-])(?:(https?)://)?localhost(?::(\d{1,5}))?(?![\w.-])", re.I)
DEFAULT_PORTS = {"http": 80, "https": 443}
IPV6_SERVING = {"::", "::1"}


@dataclass(frozen=True)
class _Probe:
    """What a container's healthcheck asks of `localhost`: the port and the command."""

    port: int
    command: str
    test: tuple[str, ...]


def healthcheck_port(test: tuple[str, ...]) -> int | None:
    """The port a healthcheck's command reaches `localhost` on, when it says which."""
    if not test or test[0] not in ("CMD", "CMD-SHELL"):
        return None
    for match in LOCALHOST.finditer(" ".join(test[1:])):
        scheme, port = match.group(1), match.group(2)
        if port:
            return int(port)
        if scheme:
            return DEFAULT_PORTS[scheme.lower()]
    return None


def _loopback(match: re.Match[str]) -> str:
    return match.group(0).lower().replace("localhost", "127.0.0.1")


def _probed(ctx: CheckContext) -> list[tuple[Container, _Probe]]:
    found = []
    for container in target_containers(ctx):
        port = healthcheck_port(container.healthcheck_test)
        if container.running and port and 0 < port < 65536:
            test = container.healthcheck_test
            found.append((container, _Probe(port, _command(test), test)))
    return found


def plan(ctx: CheckContext) -> list[Planned]:
    planned: list[Planned] = []
    for container, _ in _probed(ctx):
        placement = ctx.netns_placement(container)
        planned += [(placement, HOSTS), (placement, LISTENING), (placement, LO_IPV6_OFF)]
    return planned


def _failing(container: Container) -> bool:
    health = container.health
    return health is not None and (health.status == "unhealthy" or health.failing_streak > 0)


def _localhost_lines(entries: tuple[HostsEntry, ...]) -> list[HostsEntry]:
    return [e for e in entries if "localhost" in {name.lower() for name in e.names}]


def _ipv6_first(lines: list[HostsEntry], lo_ipv6: bool) -> bool:
    """Whether the C library answers `localhost` with ::1 first (RFC 6724 sorting puts ::1
    before IPv4 when `lo` has IPv6; without it, IPv6 first only when it is all there is)."""
    ips = [entry.ip for entry in lines]
    if "::1" not in ips:
        return False
    return lo_ipv6 or all(":" in ip for ip in ips)


def _ipv4_only(sockets: list[Socket], port: int) -> list[Socket] | None:
    """The port's listeners when they are IPv4 only (none on `::` or `::1`), else None."""
    on_port = [s for s in sockets if s.port == port]
    if not on_port or any(s.family == "tcp6" and s.address in IPV6_SERVING for s in on_port):
        return None
    if not any(s.family == "tcp" and s.address in ("0.0.0.0", "127.0.0.1") for s in on_port):
        return None
    return on_port


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for container, probe in _probed(ctx):
        if not _failing(container):
            continue
        placement = ctx.netns_placement(container)
        hosts = ctx.observations.get(placement, HOSTS)
        switch = ctx.observations.get(placement, LO_IPV6_OFF)
        sockets = listening(ctx, container)
        if not hosts or hosts.status != "ok" or sockets is None or switch is None:
            continue
        lo_ipv6 = switch.status == "ok" and switch.value.strip() == "0"
        lines = _localhost_lines(hosts.entries)
        listeners = _ipv4_only(sockets, probe.port)
        if not _ipv6_first(lines, lo_ipv6) or listeners is None:
            continue
        yield _finding(container, probe, lines, listeners, lo_ipv6)


def _finding(
    container: Container,
    probe: _Probe,
    lines: list[HostsEntry],
    listeners: list[Socket],
    lo_ipv6: bool,
) -> Result:
    label = container.service or container.name
    port = probe.port
    heard = ", ".join(socket_text(s) for s in listeners)
    fixed = [LOCALHOST.sub(_loopback, part) for part in probe.test]
    ipv6_fix = (
        f" Or make the server listen on `::` as well (`[::]:{port}`: a socket on `::` takes "
        "IPv4 too)."
        if lo_ipv6
        else " (The container has no IPv6 on lo, so listening on `::` is no way out here.)"
    )
    evidence: dict[str, object] = {
        "healthcheck": probe.command,
        "hosts_file": [f"{e.ip} {' '.join(e.names)}" for e in lines],
        "lo_ipv6": "enabled (::1 is sorted first)" if lo_ipv6 else "disabled",
        "listening": sorted({socket_text(s) for s in listeners}),
    }
    if container.health is not None:
        evidence["health"] = container.health.status
        evidence["failing_streak"] = container.health.failing_streak
    fix_lines = [f"Ask 127.0.0.1 in the healthcheck, not localhost:{ipv6_fix}"]
    if container.service:
        fix_lines += [
            "services:",
            f"  {container.service}:",
            "    healthcheck:",
            f"      test: {json.dumps(fixed)}",
        ]
    else:
        shell = fixed[1] if fixed[0] == "CMD-SHELL" else shlex.join(fixed[1:])
        fix_lines.append(f"  --health-cmd {shlex.quote(shell)}")
    return Result(
        subjects=subjects(container.service, container.name),
        summary=(
            f"{label}'s healthcheck asks localhost:{port}, which resolves to ::1 first, "
            f"but {label} listens on IPv4 only there ({heard})"
        ),
        evidence=evidence,
        fix="\n".join(fix_lines),
    )
