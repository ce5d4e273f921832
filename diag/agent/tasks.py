"""The agent's task kinds. Each takes the task dict, a timeout and a view; returns a dict.

Every failure is an observation, never an exception: a refused connect or an NXDOMAIN is
exactly what the checks want to know, and one task's error must not lose the others'.
Tasks are coroutines on one event loop, so a thousand connects that time out cost one
timeout, not a thousand, and no thread per task (the probe's pids limit stays small).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import capture, neighbours, netif, packets, sockdiag
from .hostsfile import parse_hosts
from .procnet import connected_sockets, listening_sockets
from .resolvconf import parse_resolv_conf
from .view import OWN, View

Result = dict[str, Any]

CONNECT_ERRNO_STATUS = {
    errno.ECONNREFUSED: "refused",
    errno.EHOSTUNREACH: "unreachable",
    errno.ENETUNREACH: "unreachable",
    errno.ETIMEDOUT: "timeout",
}
MAX_REACH_ADDRESSES = 4


def _elapsed_ms(start: float) -> int:
    return round((time.monotonic() - start) * 1000)


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


async def connect(task: Result, timeout: float, view: View = OWN) -> Result:
    """A TCP connect to an address (never a name: names are resolved by `reach`)."""
    start = time.monotonic()
    host, port = str(task["target"]), int(task["port"])
    ipaddress.ip_address(host)  # a name would be resolved by the probe's own resolver
    loop = asyncio.get_running_loop()
    with view.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
        except asyncio.TimeoutError:
            return {"status": "timeout", "elapsed_ms": _elapsed_ms(start)}
        except OSError as exc:
            return {
                "status": CONNECT_ERRNO_STATUS.get(exc.errno or 0, "error"),
                "detail": os.strerror(exc.errno) if exc.errno else str(exc),
                "elapsed_ms": _elapsed_ms(start),
            }
    return {"status": "open", "elapsed_ms": _elapsed_ms(start)}


def resolv_conf(task: Result, timeout: float, view: View = OWN) -> Result:
    return {"status": "ok", **parse_resolv_conf(view.read("/etc/resolv.conf"))}


def hosts(task: Result, timeout: float, view: View = OWN) -> Result:
    return {"status": "ok", "entries": parse_hosts(view.read("/etc/hosts"))}


def listening(task: Result, timeout: float, view: View = OWN) -> Result:
    try:
        return {"status": "ok", "sockets": sockdiag.listening_sockets(view.socket)}
    except OSError:
        pass  # a kernel without sock_diag: the /proc files, slower on a busy host
    sockets: list[dict[str, object]] = []
    for family, name in (("tcp", "net/tcp"), ("tcp6", "net/tcp6")):
        try:
            sockets.extend(listening_sockets(view.read_proc(name), family))
        except OSError:
            continue  # a kernel without IPv6 has no tcp6 file
    return {"status": "ok", "sockets": sockets}


def connections(task: Result, timeout: float, view: View = OWN) -> Result:
    """The namespace's TCP sockets that are connected or connecting, with their peers."""
    try:
        return {"status": "ok", "sockets": sockdiag.connected_sockets(view.socket)}
    except OSError:
        pass  # a kernel without sock_diag: the /proc files
    sockets: list[dict[str, object]] = []
    for family, name in (("tcp", "net/tcp"), ("tcp6", "net/tcp6")):
        try:
            sockets.extend(connected_sockets(view.read_proc(name), family))
        except OSError:
            continue
    return {"status": "ok", "sockets": sockets}


def interfaces(task: Result, timeout: float, view: View = OWN) -> Result:
    return {**netif.interfaces(view.read_proc, view.socket), "netns": view.netns_inode()}


def sysctl(task: Result, timeout: float, view: View = OWN) -> Result:
    try:
        return {"status": "ok", "value": view.sysctl(str(task["target"]))}
    except OSError as exc:
        return {"status": "error", "detail": exc.strerror or str(exc)}


def neighbour_tables(task: Result, timeout: float, view: View = OWN) -> Result:
    """The machine's neighbour-table counters, as the viewed namespace shows them: only the
    kernel's initial namespace has the files (an engine whose host is a namespace of its
    own has none: an error, and the check says nothing)."""
    tables = []
    for name in neighbours.TABLES:
        try:
            stats = neighbours.table_stats(view.read_proc(f"net/stat/{name}"))
        except FileNotFoundError:
            continue  # no IPv6 in this kernel
        except (OSError, ValueError) as exc:
            return {"status": "error", "detail": f"{name}: {exc}"}
        tables.append({"name": name, **stats})
    if not tables:
        return {"status": "error", "detail": "no /proc/net/stat/arp_cache here"}
    return {"status": "ok", "tables": tables}


@functools.lru_cache(maxsize=256)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Parsed once: every reach of a run carries the same few allowed subnets."""
    return ipaddress.ip_network(cidr, strict=False)


def _allowed(ip: str, networks: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return address.is_loopback or any(address in _network(net) for net in networks)


def _literal(name: str) -> list[str]:
    """[the address] when `name` is an IP address (`10.0.0.1`, `[::1]`), else []."""
    try:
        return [str(ipaddress.ip_address(name.strip("[]")))]
    except ValueError:
        return []


async def reach(task: Result, timeout: float, view: View = OWN) -> Result:
    """Reach NAME[:PORT] as the C library would from here: /etc/hosts first, then DNS, then
    connect to what came back. DNS is asked only when the task says the engine registers
    the name (so nothing is forwarded off the machine), and only addresses inside the
    task's `allow` networks (or loopback) are connected to."""
    name = task["target"].lower().rstrip(".")
    try:
        hosts_ips = [
            entry["ip"]
            for entry in parse_hosts(view.read("/etc/hosts"))
            if name in {n.lower() for n in entry["names"]}
        ]
    except OSError:
        hosts_ips = []
    literal = _literal(name)  # an address is its own answer: the C library looks nothing up
    resolved = None
    if task.get("dns") and not hosts_ips and not literal:
        resolved = await resolve({"target": name}, timeout, view)
    addresses = literal or hosts_ips or list((resolved or {}).get("addresses") or [])
    port = int(task.get("port") or 0)
    allow = list(task.get("allow") or [])
    targets = [ip for ip in addresses if _allowed(ip, allow)][:MAX_REACH_ADDRESSES]
    connects: dict[str, Result] = {}
    if port and targets:
        answers = await asyncio.gather(
            *(connect({"target": ip, "port": port}, timeout, view) for ip in targets)
        )
        connects = dict(zip(targets, answers, strict=True))
    return {"status": "ok", "hosts_ips": hosts_ips, "resolve": resolved, "connects": connects}


async def _exchange(sock: socket.socket, query: Any, timeout: float) -> Any:
    """Send one query on a connected UDP socket; the first matching response wins."""
    import dns.exception
    import dns.message

    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, query.to_wire())
    deadline = loop.time() + timeout
    while True:
        data = await asyncio.wait_for(loop.sock_recv(sock, 65535), deadline - loop.time())
        try:
            response = dns.message.from_wire(data)
        except dns.exception.DNSException:
            continue  # garbage on the port is not the server's answer
        if query.is_response(response):
            return response


async def _exchange_tcp(view: View, server: str, query: Any, timeout: float) -> Any:
    """The same query over TCP: what a resolver does when the UDP answer was truncated (the
    embedded DNS truncates at 512 bytes, about 22 addresses of a scaled service)."""
    import dns.message

    loop = asyncio.get_running_loop()
    wire = query.to_wire()
    with view.socket(_family(server), socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        await asyncio.wait_for(loop.sock_connect(sock, (server, 53)), timeout)
        await loop.sock_sendall(sock, struct.pack("!H", len(wire)) + wire)
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 65535), timeout)
            if not chunk:
                raise ConnectionResetError(errno.ECONNRESET, "closed before the answer")
            data += chunk
    return dns.message.from_wire(data[2:])


@functools.lru_cache(maxsize=64)
def _addresses(view: View) -> frozenset[str]:
    """The viewed namespace's addresses (a probe's or an anchor's: they do not change)."""
    found = netif.interfaces(view.read_proc, view.socket)["interfaces"]
    return frozenset(
        str(ipaddress.ip_interface(address).ip)
        for entry in found  # type: ignore[attr-defined]
        for address in entry["addresses"]
    )


def _member(view: View, subnets: list[str]) -> bool:
    """Whether the viewed namespace has an address in one of `subnets`. A lookup asked as
    NAME.NETWORK (the bridges anchor's, diag.probes.bridges) from a place that is not on
    NETWORK is a name the embedded DNS does not know, and it forwards it to the host's
    resolvers, off the machine: an error in ddiag's routing must cost the answer, not
    that query (it happened once while the shared probe became the bridges anchor)."""
    return any(
        ipaddress.ip_address(address) in _network(subnet)
        for address in _addresses(view)
        for subnet in subnets
    )


async def resolve(task: Result, timeout: float, view: View = OWN) -> Result:
    """One query straight to one server, no search list, no retries: what the server says.

    The server is the task's, else the first nameserver of the viewed resolv.conf (the
    embedded DNS on user-defined networks, or the container's own when viewing its netns).
    """
    import dns.message
    import dns.rcode
    import dns.rdatatype

    if task.get("member_of") and not _member(view, [str(s) for s in task["member_of"]]):
        return {
            "status": "error",
            "detail": "not asked: this place has no address in the network the name names",
        }
    server = (
        task.get("server")
        or (parse_resolv_conf(view.read("/etc/resolv.conf"))["nameservers"] or [""])[0]
    )
    if not server:
        return {"status": "error", "detail": "no nameserver in /etc/resolv.conf"}
    rdtype = dns.rdatatype.from_text(task.get("rdtype") or "A")
    query = dns.message.make_query(task["target"].rstrip(".") + ".", rdtype)
    start = time.monotonic()
    try:
        with view.socket(_family(server), socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.connect((server, 53))  # UDP: no packet yet; lets ICMP errors reach us
            response = await _exchange(sock, query, timeout)
        if response.flags & dns.flags.TC:
            response = await _exchange_tcp(view, server, query, timeout)
    except asyncio.TimeoutError:
        return {"status": "timeout", "server": server, "elapsed_ms": _elapsed_ms(start)}
    except OSError as exc:
        return {"status": "error", "server": server, "detail": exc.strerror or str(exc)}
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


Handler = Callable[[Result, float, View], "Result | Awaitable[Result]"]
KINDS: dict[str, Handler] = {
    "arp_sweep": packets.arp_sweep,
    "capture": capture.capture,
    "connect": connect,
    "connections": connections,
    "hosts": hosts,
    "interfaces": interfaces,
    "listening": listening,
    "neighbour_tables": neighbour_tables,
    "pmtu": packets.pmtu,
    "reach": reach,
    "resolv_conf": resolv_conf,
    "resolve": resolve,
    "sysctl": sysctl,
}


async def run_task(task: Result, timeout: float, view: View = OWN) -> Result:
    handler = KINDS.get(task.get("kind", ""))
    if handler is None:
        return {"status": "error", "detail": f"unknown task kind {task.get('kind')!r}"}
    try:
        result = handler(task, timeout, view)
        return await result if asyncio.iscoroutine(result) else result  # type: ignore[return-value]
    except Exception as exc:  # an agent bug must cost one observation, not the whole probe
        return {"status": "error", "detail": f"{type(exc).__name__}: {exc}"}
