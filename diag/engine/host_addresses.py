"""The engine host's own addresses, read once with the topology.

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
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Set
from typing import Any
from urllib.parse import urlsplit

from diag.engine.hostfw import IN_IMAGE, engine_is_local

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
        with open(path, encoding="ascii") as handle:
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


def read(base_url: str, info: Mapping[str, Any], gateways: Set[str]) -> frozenset[str]:
    """Every address (or name) of the engine's host that ddiag can know (module docstring)."""
    found = of_url(base_url) | of_swarm(info)
    if engine_is_local(base_url) and not os.environ.get(IN_IMAGE):
        local = this_machine()
        if local & set(gateways):
            found |= local
    return frozenset(found)
