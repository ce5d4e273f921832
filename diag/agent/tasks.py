"""The agent's task kinds. Each takes the task dict and a timeout and returns a JSON dict.

Every failure is an observation, never an exception: a refused connect or an NXDOMAIN is
exactly what the checks want to know, and one task's error must not lose the others'.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable
from typing import Any

from .hostsfile import parse_hosts
from .procnet import listening_sockets
from .resolvconf import parse_resolv_conf

Result = dict[str, Any]

CONNECT_ERRNO_STATUS = {
    errno.ECONNREFUSED: "refused",
    errno.EHOSTUNREACH: "unreachable",
    errno.ENETUNREACH: "unreachable",
    errno.ETIMEDOUT: "timeout",
}


def _elapsed_ms(start: float) -> int:
    return round((time.monotonic() - start) * 1000)


def connect(task: Result, timeout: float) -> Result:
    start = time.monotonic()
    try:
        with socket.create_connection((task["target"], int(task["port"])), timeout=timeout):
            return {"status": "open", "elapsed_ms": _elapsed_ms(start)}
    except TimeoutError:
        return {"status": "timeout", "elapsed_ms": _elapsed_ms(start)}
    except OSError as exc:
        status = CONNECT_ERRNO_STATUS.get(exc.errno or 0, "error")
        return {
            "status": status,
            "detail": exc.strerror or str(exc),
            "elapsed_ms": _elapsed_ms(start),
        }


def read_file(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def resolv_conf(task: Result, timeout: float) -> Result:
    text = read_file("/etc/resolv.conf")
    return {"status": "ok", **parse_resolv_conf(text)}


def hosts(task: Result, timeout: float) -> Result:
    return {"status": "ok", "entries": parse_hosts(read_file("/etc/hosts"))}


def listening(task: Result, timeout: float) -> Result:
    sockets: list[dict[str, object]] = []
    for family, path in (("tcp", "/proc/net/tcp"), ("tcp6", "/proc/net/tcp6")):
        try:
            sockets.extend(listening_sockets(read_file(path), family))
        except OSError:
            continue  # a kernel without IPv6 has no tcp6 file
    return {"status": "ok", "sockets": sockets}


def _allowed(ip: str, networks: list[str]) -> bool:
    import ipaddress

    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return address.is_loopback or any(
        address in ipaddress.ip_network(net, strict=False) for net in networks
    )


def reach(task: Result, timeout: float) -> Result:
    """Reach NAME[:PORT] as the C library would from here: /etc/hosts first, then DNS, then
    connect to what came back. DNS is asked only when the task says the engine registers
    the name (so nothing is forwarded off the machine), and only addresses inside the
    task's `allow` networks (or loopback) are connected to."""
    name = task["target"].lower().rstrip(".")
    try:
        hosts_ips = [
            str(entry["ip"])
            for entry in parse_hosts(read_file("/etc/hosts"))
            if name in {str(n).lower() for n in entry["names"]}  # type: ignore[union-attr]
        ]
    except OSError:
        hosts_ips = []
    resolved = resolve({"target": name}, timeout) if task.get("dns") and not hosts_ips else None
    addresses = hosts_ips or list((resolved or {}).get("addresses") or [])
    port = int(task.get("port") or 0)
    targets = [ip for ip in addresses if _allowed(ip, list(task.get("allow") or []))][:4]
    connects: dict[str, Result] = {}
    if port:
        for ip in targets:
            connects[ip] = connect({"target": ip, "port": port}, timeout)
    return {"status": "ok", "hosts_ips": hosts_ips, "resolve": resolved, "connects": connects}


def resolve(task: Result, timeout: float) -> Result:
    """One query straight to one server, no search list, no retries: what the server says.

    The server is the task's, else the first nameserver of the probe's resolv.conf (the
    embedded DNS on user-defined networks, or the target's own when sharing its netns).
    """
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    server = (
        task.get("server")
        or (parse_resolv_conf(read_file("/etc/resolv.conf"))["nameservers"] or [""])[0]
    )
    if not server:
        return {"status": "error", "detail": "no nameserver in /etc/resolv.conf"}
    rdtype = dns.rdatatype.from_text(task.get("rdtype") or "A")
    query = dns.message.make_query(task["target"].rstrip(".") + ".", rdtype)
    start = time.monotonic()
    try:
        response = dns.query.udp(query, server, timeout=timeout)
    except dns.exception.Timeout:
        return {"status": "timeout", "server": server, "elapsed_ms": _elapsed_ms(start)}
    except OSError as exc:
        return {"status": "error", "server": server, "detail": str(exc)}
    rcode = dns.rcode.to_text(response.rcode())
    addresses = sorted(
        rdata.to_text() for rrset in response.answer if rrset.rdtype == rdtype for rdata in rrset
    )
    status = {"NOERROR": "ok", "NXDOMAIN": "nxdomain", "SERVFAIL": "servfail"}.get(rcode, "error")
    return {
        "status": status,
        "rcode": rcode,
        "server": server,
        "addresses": addresses,
        "elapsed_ms": _elapsed_ms(start),
    }


KINDS: dict[str, Callable[[Result, float], Result]] = {
    "connect": connect,
    "hosts": hosts,
    "listening": listening,
    "reach": reach,
    "resolv_conf": resolv_conf,
    "resolve": resolve,
}


def run_task(task: Result, timeout: float) -> Result:
    handler = KINDS.get(task.get("kind", ""))
    if handler is None:
        return {"status": "error", "detail": f"unknown task kind {task.get('kind')!r}"}
    try:
        return handler(task, timeout)
    except Exception as exc:  # an agent bug must cost one observation, not the whole probe
        return {"status": "error", "detail": f"{type(exc).__name__}: {exc}"}
