"""What the engine's host is known as, read once with the topology: its own addresses,
and the names its /etc/hosts defines.

A reference to any address of the machine the engine runs on (`DB_HOST=192.0.2.10`, its
uplink address) means "the host" exactly as `host.docker.internal` does: the container's
packets go to its gateway, and the host's kernel delivers them locally, through INPUT, to
whatever listens there. Without the address set such a reference would be an "outside
host" and be left alone, and a service the host keeps on 127.0.0.1 would go unexplained.

Which addresses are known depends on where the engine is:
- **a unix socket** (the engine is on this machine): this machine's addresses, IPv4 from
  `/proc/net/fib_trie`'s local entries (every address, secondary ones included, without
  netlink) and IPv6 from `/proc/net/if_inet6`; kept only when the machine holds a bridge
  network's gateway address, which tells the engine's own host from a VM behind the socket
  (Docker Desktop) and from ddiag's own image (`DDIAG_IN_IMAGE`), where the interfaces read
  would be its container's;
- **a tcp:// engine**: the address or name the client connects to;
- **a swarm node**: its `NodeAddr` as well.
An ssh:// engine's name is not in docker-py's base URL: only its swarm address is known.
Loopback, link-local and unspecified addresses are never "the host" for a container: inside
one they mean the container itself, or nothing.

The host's /etc/hosts is read on the same condition (this machine is the engine's host):
a name with dots that only it defines (`legacy.corp.lan`) is otherwise an outside host,
left alone; with it, a reference to the name is an edge that dns.host-only-name explains.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Set
from typing import Any
from urllib.parse import urlsplit

from diag.engine.hostfw import IN_IMAGE, engine_is_local

HOSTS_FILE = "/etc/hosts"
FIB_TRIE = "/proc/net/fib_trie"
IF_INET6 = "/proc/net/if_inet6"


def _usable(text: str) -> str | None:
    """`text` as an address a container could reach the host at, or None."""
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if address.is_loopback or address.is_link_local or address.is_unspecified:
        return None
    return str(address)


def local_ipv4(fib_trie: str) -> set[str]:
    """The addresses of `/proc/net/fib_trie`'s `/32 host LOCAL` leaves: a leaf's address is
    on its `|-- ADDRESS` line, its kind on the lines below it."""
    found: set[str] = set()
    leaf = ""
    for line in fib_trie.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            leaf = stripped[3:].strip()
        elif stripped == "/32 host LOCAL" and (usable := _usable(leaf)):
            found.add(usable)
    return found


def local_ipv6(if_inet6: str) -> set[str]:
    """The addresses of `/proc/net/if_inet6`: 32 hex digits first on each line."""
    found: set[str] = set()
    for line in if_inet6.splitlines():
        digits = line.split()[0] if line.split() else ""
        if len(digits) != 32:
            continue
        grouped = ":".join(digits[i : i + 4] for i in range(0, 32, 4))
        if usable := _usable(grouped):
            found.add(usable)
    return found


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return ""


def this_machine() -> set[str]:
    return local_ipv4(_read(FIB_TRIE)) | local_ipv6(_read(IF_INET6))


def of_url(base_url: str) -> set[str]:
    """The host a tcp:// engine's client connects to (docker-py turns it into http(s)://)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return set()
    host = parts.hostname
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return {host.lower()} if host.lower() != "localhost" else set()
    usable = _usable(host)
    return {usable} if usable else set()


def of_swarm(info: Mapping[str, Any]) -> set[str]:
    usable = _usable(str((info.get("Swarm") or {}).get("NodeAddr") or ""))
    return {usable} if usable else set()


def dotted_names(hosts_file: str) -> set[str]:
    """The names with dots that a hosts file defines, lowercased (dotless ones are edges
    anyway: see diag/model/targets.py)."""
    found: set[str] = set()
    for line in hosts_file.splitlines():
        address, *names = line.split("#", 1)[0].split() or [""]
        if address and names:
            found.update(name.lower().rstrip(".") for name in names if "." in name.strip("."))
    return found


def _is_this_machine(base_url: str, gateways: Set[str], local: Set[str]) -> bool:
    """The engine runs on this machine: a local socket, not ddiag's own image, and this
    machine holds a bridge's gateway (a VM behind the socket would hold them)."""
    return engine_is_local(base_url) and not os.environ.get(IN_IMAGE) and bool(local & gateways)


def read(
    base_url: str, info: Mapping[str, Any], gateways: Set[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """(every address or name of the engine's host that ddiag can know, the dotted names
    its /etc/hosts defines), as the module docstring says."""
    addresses = of_url(base_url) | of_swarm(info)
    names: set[str] = set()
    local = this_machine() if engine_is_local(base_url) else set()
    if _is_this_machine(base_url, gateways, local):
        addresses |= local
        names = dotted_names(_read(HOSTS_FILE))
    return frozenset(addresses), frozenset(names)
