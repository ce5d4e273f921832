"""Interfaces and IPv4 routes of a network namespace: what `ip -br addr` and `ip route` show.

Read without any tool in the image: interface names from PROC/net/dev, MTU and state by
ioctl on a socket made inside the namespace (an ioctl answers for the namespace its socket
lives in), IPv4 addresses from a netlink address dump on a socket made there too (every
address, secondary ones included: an address added by hand next to the engine's is what
net.duplicate-ip is about; ioctl would show only the first), IPv6 addresses from
PROC/net/if_inet6, routes from PROC/net/route.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from collections.abc import Callable, Iterable

from . import netlink

SIOCGIFFLAGS = 0x8913
SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B
SIOCGIFMTU = 0x8921
IFF_UP = 0x1
IFF_LOWER_UP = 0x10000
ROUTE_GATEWAY = 0x2
NETLINK_ROUTE = 0
RTM_NEWADDR, RTM_GETADDR = 20, 22
IFA_LOCAL, IFA_LABEL = 2, 3
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, interface index


def interface_names(proc_net_dev: str) -> list[str]:
    return [line.split(":", 1)[0].strip() for line in proc_net_dev.splitlines()[2:] if ":" in line]


def _ioctl(sock: socket.socket, request: int, name: str) -> bytes:
    return fcntl.ioctl(sock.fileno(), request, struct.pack("256s", name.encode()[:15]))


def ipv4_of(sock: socket.socket, name: str) -> dict[str, object]:
    """State, MTU and (first) IPv4 address/prefix of one interface, asked by ioctl."""
    flags = struct.unpack("H", _ioctl(sock, SIOCGIFFLAGS, name)[16:18])[0]
    mtu = struct.unpack("i", _ioctl(sock, SIOCGIFMTU, name)[16:20])[0]
    found: dict[str, object] = {"name": name, "up": bool(flags & IFF_UP), "mtu": mtu}
    try:
        address = socket.inet_ntoa(_ioctl(sock, SIOCGIFADDR, name)[20:24])
        mask = socket.inet_ntoa(_ioctl(sock, SIOCGIFNETMASK, name)[20:24])
    except OSError:  # EADDRNOTAVAIL: no IPv4 address on it
        found["addresses"] = []
        return found
    prefix = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
    found["addresses"] = [f"{address}/{prefix}"]
    return found


def ipv4_addresses_in(messages: Iterable[tuple[int, bytes]]) -> dict[str, list[str]]:
    """RTM_NEWADDR messages of a netlink dump → {interface: ["a.b.c.d/prefix", ...]}."""
    found: dict[str, list[str]] = {}
    for kind, body in messages:
        if kind != RTM_NEWADDR or len(body) < IFADDRMSG.size:
            continue
        family, prefix = IFADDRMSG.unpack_from(body)[:2]
        attributes = netlink.attributes(body, IFADDRMSG.size)
        if family == socket.AF_INET and IFA_LOCAL in attributes:
            label = attributes.get(IFA_LABEL, b"").rstrip(b"\0").decode(errors="replace")
            name = label.split(":", 1)[0]  # an old-style alias eth0:1 is eth0's
            address = socket.inet_ntoa(attributes[IFA_LOCAL][:4])
            found.setdefault(name, []).append(f"{address}/{prefix}")
    return found


def ipv4_addresses(make_socket: Callable[..., socket.socket]) -> dict[str, list[str]]:
    """Every IPv4 address of the namespace, by interface, from a netlink dump."""
    request = IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0)
    return ipv4_addresses_in(netlink.dump(make_socket, NETLINK_ROUTE, RTM_GETADDR, request))


def ipv6_addresses(if_inet6: str) -> dict[str, list[str]]:
    """PROC/net/if_inet6: `address index prefix scope flags name`, the address as 32 hex."""
    found: dict[str, list[str]] = {}
    for line in if_inet6.splitlines():
        fields = line.split()
        if len(fields) != 6 or len(fields[0]) != 32:
            continue
        try:
            address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
            prefix = int(fields[2], 16)
        except ValueError:
            continue
        found.setdefault(fields[5], []).append(f"{address}/{prefix}")
    return found


def _hex_ipv4(value: str) -> str:
    return socket.inet_ntoa(struct.pack("<I", int(value, 16)))


def ipv4_routes(proc_net_route: str) -> list[dict[str, object]]:
    """PROC/net/route: little-endian hex destination, gateway and mask per line."""
    routes: list[dict[str, object]] = []
    for line in proc_net_route.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            destination, gateway = _hex_ipv4(fields[1]), _hex_ipv4(fields[2])
            flags, metric = int(fields[3], 16), int(fields[6])
            prefix = ipaddress.IPv4Network(f"0.0.0.0/{_hex_ipv4(fields[7])}").prefixlen
        except (ValueError, struct.error):
            continue
        route: dict[str, object] = {
            "dst": "default" if prefix == 0 else f"{destination}/{prefix}",
            "dev": fields[0],
        }
        if flags & ROUTE_GATEWAY:
            route["via"] = gateway
        if metric:
            route["metric"] = metric
        routes.append(route)
    return routes


def interfaces(
    read_proc: Callable[[str], str], make_socket: Callable[..., socket.socket]
) -> dict[str, object]:
    names = interface_names(read_proc("net/dev"))
    try:
        v6 = ipv6_addresses(read_proc("net/if_inet6"))
    except OSError:
        v6 = {}  # IPv6 disabled in the kernel
    try:
        v4: dict[str, list[str]] | None = ipv4_addresses(make_socket)
    except OSError:
        v4 = None  # no netlink here: the first address of each, by ioctl
    found = []
    with make_socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for name in sorted(names):
            try:
                entry = ipv4_of(sock, name)
            except OSError:
                continue  # gone between the two reads
            first = entry["addresses"] if v4 is None else v4.get(name, [])
            entry["addresses"] = [*first, *v6.get(name, [])]  # type: ignore[misc]
            found.append(entry)
    return {"status": "ok", "interfaces": found, "routes": ipv4_routes(read_proc("net/route"))}
