"""Dependency edges A → B[:port]: who needs to reach whom, as the configuration says.

Sources: `depends_on`, `links`, `network_mode: service:B`, and references inside
environment values: URLs (`postgres://user:pw@db:5432/x`), `host:port` items
(`kafka1:9092,kafka2:9092`), and HOST/PORT variable pairs (`DB_HOST=db` + `DB_PORT=5432`).
Extraction is pure text work, so it is tested (and fuzzed) without an engine.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from diag.model.topology import Container

LOCALHOST_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}
DEFAULT_PORTS = {
    "amqp": 5672, "ftp": 21, "http": 80, "https": 443, "kafka": 9092, "ldap": 389,
    "mariadb": 3306, "memcached": 11211, "mongodb": 27017, "mqtt": 1883, "mysql": 3306,
    "nats": 4222, "postgres": 5432, "postgresql": 5432, "redis": 6379, "smtp": 25,
    "ws": 80, "wss": 443,
}  # fmt: skip
URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:[^@/\s?#]*@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(?P<port>\d{1,5}))?"
)
HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9][A-Za-z0-9_.-]*):(?P<port>\d{1,5})$")
HOST_SUFFIXES = ("_HOSTNAME", "_HOST", "_ADDR", "_ADDRESS", "_SERVER")
PORT_SUFFIXES = ("_PORT",)
ITEM_SPLIT = re.compile(r"[,;\s]+")
# Variables that name the container's own identity or bind address, not a dependency.
NOT_REFERENCES = {"HOSTNAME", "HOST", "BIND", "BIND_HOST", "LISTEN_HOST", "SERVER_HOST"}


@dataclass(frozen=True)
class Reference:
    host: str
    port: int | None
    origin: str


def is_localhost(host: str) -> bool:
    return host.lower() in LOCALHOST_NAMES


def _port(text: str | None) -> int | None:
    if not text or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value < 65536 else None


def plausible_host(host: str) -> bool:
    """A hostname or IP address, not a number, a path or a word with odd characters."""
    if not host or host.isdigit() or host.startswith(("-", ".")):
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    return bool(re.fullmatch(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?", host)) and any(
        ch.isalpha() for ch in host
    )


def references_in_value(name: str, value: str) -> list[Reference]:
    origin = f"environment {name}"
    found = []
    for url in URL.finditer(value):
        host = url["host"].strip("[]")
        port = _port(url["port"]) or DEFAULT_PORTS.get(url["scheme"].lower())
        if plausible_host(host):
            found.append(Reference(host, port, origin))
    if found:
        return found
    for item in ITEM_SPLIT.split(value.strip()):
        match = HOST_PORT.match(item)
        if match and plausible_host(match["host"]) and _port(match["port"]):
            found.append(Reference(match["host"], _port(match["port"]), origin))
    return found


def references_in_env(env: Mapping[str, str]) -> list[Reference]:
    """Every reference to another host in an environment, in variable order."""
    found: list[Reference] = []
    for name, value in env.items():
        if name in NOT_REFERENCES or not value:
            continue
        refs = references_in_value(name, value)
        if refs:
            found.extend(refs)
            continue
        suffix = next((s for s in HOST_SUFFIXES if name.upper().endswith(s)), None)
        if suffix and plausible_host(value.strip()):
            prefix = name[: -len(suffix)]
            port_name = next((prefix + s for s in PORT_SUFFIXES if prefix + s in env), None)
            port = _port(env.get(port_name, "").strip()) if port_name else None
            origin = f"environment {name}" + (f" + {port_name}" if port else "")
            found.append(Reference(value.strip(), port, origin))
    return found


@dataclass(frozen=True)
class Edge:
    """`source` needs to reach `name` (at `port`, when the configuration says which)."""

    source: Container
    name: str
    port: int | None
    origins: tuple[str, ...]
    expected: bool | None = None  # a declared rule's `reachable`; None: implied (reachable)
    rule: str = ""  # where that rule is written, e.g. "x-ddiag expect[2]"

    @property
    def source_label(self) -> str:
        return self.source.service or self.source.name

    @property
    def is_localhost(self) -> bool:
        return is_localhost(self.name)

    def describe(self) -> str:
        return f"{self.source_label} → {self.name}" + (f":{self.port}" if self.port else "")


def merge_edges(edges: Iterable[Edge]) -> tuple[Edge, ...]:
    """One edge per (source, name, port); a port-less edge folds into a ported one."""
    first: dict[tuple[str, str, int | None], Edge] = {}
    origins: dict[tuple[str, str, int | None], list[str]] = {}
    for edge in edges:
        key = (edge.source.id, edge.name.lower(), edge.port)
        first.setdefault(key, edge)
        origins.setdefault(key, []).extend(edge.origins)
    for key in [k for k in first if k[2] is None]:
        ported = next((k for k in first if k[:2] == key[:2] and k[2] is not None), None)
        if ported:
            origins[ported].extend(origins.pop(key))
            del first[key]
    return tuple(
        sorted(
            (replace(e, origins=tuple(dict.fromkeys(origins[key]))) for key, e in first.items()),
            key=lambda e: (e.source_label, e.name, e.port or 0),
        )
    )
