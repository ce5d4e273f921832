"""Dependency edges A → B[:port]: who needs to reach whom, as the configuration says.

Sources: `depends_on`, `links`, `network_mode: service:B`, and references inside
environment values: URLs (`postgres://user:pw@db:5432/x`), `host:port` items
(`kafka1:9092,kafka2:9092`), and HOST/PORT variable pairs (`DB_HOST=db` + `DB_PORT=5432`).
Extraction is pure text work, so it is tested (and fuzzed) without an engine.

**The port a client would use.** When a reference writes no port, it is taken the way a
client library takes it: from the protocol named by the URL's scheme (`postgres://db/app`,
`mysql+pymysql://db/app`) or by a word of the host variable's name (`MYSQL_HOST=localhost`,
`PG_HOST`, `SPRING_REDIS_HOST`; the word nearest the suffix wins, so `KAFKA_ZOOKEEPER_HOST`
is ZooKeeper), both from the one table `DEFAULT_PORTS`. The reference then says how its port
was found (`port_from`). A reference that names no protocol (`WORDPRESS_DB_HOST=db`,
`depends_on`) keeps no port here: what its target serves decides, once observed
(checks/_edges.py).

**Bind addresses are not references.** Server settings say where the container itself
accepts connections, not a host it calls: a value whose host is an unspecified address
(`0.0.0.0`, `::`) is never a reference, whatever the variable (`ADDRESS=0.0.0.0:8000`:
nobody connects to "every address"); and a loopback value of a variable whose name has the
word BIND or LISTEN (`LISTEN_ADDR=127.0.0.1:9000`, `GUNICORN_BIND`, `KAFKA_LISTENERS`) is
the server's own listen address. A BIND/LISTEN variable that names another host is kept: a
server cannot bind another container's address, so it is worth seeing.

**Addresses for browsers and the container's own name are not references either.**
Front-end build tools compile variables with a public prefix into the code a browser runs
(`REACT_APP_`, `NEXT_PUBLIC_`, `VITE_`, `VUE_APP_`, ...): `NEXT_PUBLIC_API_URL=
http://localhost:3000` is where the user's browser goes, not where the container connects.
Proxies and web apps name their own public address (`VIRTUAL_HOST`, `LETSENCRYPT_HOST`,
`SERVER_NAME`, `ROOT_URL`, `SITE_URL`, `GF_SERVER_ROOT_URL`, ...). Such variables give no
edge. A variable with the word PUBLIC or EXTERNAL elsewhere in its name gives none when it
points at localhost (the browser's machine), and is kept when it names another host.

**The host.** `host.docker.internal` and `gateway.docker.internal`, an address that is a
network's gateway (the host's own address on that bridge) or any other address of the
engine's host (its uplink's, where ddiag can know it: diag/engine/engine_host.py), and a
name the source's `extra_hosts` maps to `host-gateway` or to such an address all mean the
machine the engine runs on: an edge to the host (`Edge.to_host`), observed from the
source's /etc/hosts and never asked of DNS (the embedded DNS would forward the name off
the machine). Docker Desktop defines the first two names in every container; a Linux
engine only through `extra_hosts: ["host.docker.internal:host-gateway"]`, which Engine 20.10
keeps as written in `HostConfig.ExtraHosts` and resolves (to the default bridge's
gateway) in /etc/hosts. An `extra_hosts` entry is a definition, not a use: it gives no
edge by itself.

**libpq-style names.** `PGHOST=db` (with `PGPORT`) is a host variable as `PG_HOST` is: a
name that is a protocol word of `DEFAULT_PORTS` followed directly by HOST.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, replace
from typing import Literal

from diag.model.topology import Container

LOCALHOST_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}
# The names Docker Desktop gives the host in every container (see "The host" above).
HOST_ALIASES = frozenset({"host.docker.internal", "gateway.docker.internal"})
HOST_GATEWAY = "host-gateway"  # extra_hosts' special address: the default bridge's gateway
# The port a client uses when the configuration names none, by protocol: a URL's scheme, or
# a word of a host variable's name (README.md, "Service to service" lists it).
DEFAULT_PORTS = {
    "amqp": 5672, "rabbit": 5672, "rabbitmq": 5672,
    "cassandra": 9042,
    "elastic": 9200, "elasticsearch": 9200, "opensearch": 9200,
    "ftp": 21, "http": 80, "https": 443, "ws": 80, "wss": 443,
    "kafka": 9092, "zookeeper": 2181,
    "ldap": 389,
    "mariadb": 3306, "mysql": 3306,
    "memcache": 11211, "memcached": 11211,
    "mongo": 27017, "mongodb": 27017,
    "mqtt": 1883, "nats": 4222,
    "mssql": 1433, "sqlserver": 1433,
    "pg": 5432, "postgres": 5432, "postgresql": 5432,
    "redis": 6379,
    "smtp": 25,
}  # fmt: skip
URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:[^@/\s?#]*@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(?P<port>\d{1,5}))?"
)
HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9][A-Za-z0-9_.-]*):(?P<port>\d{1,5})$")
HOST_SUFFIXES = ("_HOSTNAME", "_HOST", "_ADDR", "_ADDRESS", "_SERVER")
PORT_SUFFIXES = ("_PORT", "PORT")  # DB_HOST + DB_PORT; PGHOST + PGPORT
ITEM_SPLIT = re.compile(r"[,;\s]+")
WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+")
# Variables that name the container's own identity or bind address, not a dependency.
NOT_REFERENCES = {"HOSTNAME", "HOST", "BIND", "BIND_HOST", "LISTEN_HOST", "SERVER_HOST"}
# Words of a variable's name that make it a server's own listen setting (see above).
BIND_WORDS = {"BIND", "LISTEN", "LISTENER", "LISTENERS"}
# Variables for browsers, or the container's own public name (see above).
BROWSER_PREFIXES = (
    "REACT_APP_",
    "NEXT_PUBLIC_",
    "VITE_",
    "VUE_APP_",
    "NUXT_PUBLIC_",
    "GATSBY_",
    "EXPO_PUBLIC_",
    "PUBLIC_",
    "VIRTUAL_",
    "LETSENCRYPT_",
)
OWN_NAMES = {"SERVER_NAME", "DOMAIN", "DOMAINS", "ROOT_URL", "SITE_URL"}
OWN_SUFFIXES = ("_ROOT_URL", "_SITE_URL", "_SERVER_NAME")
BROWSER_WORDS = {"PUBLIC", "EXTERNAL"}

# How the report lists an edge: it works, it fails, or it could not be judged (and why).
EdgeStatus = Literal["ok", "failed", "not checked"]


@dataclass(frozen=True)
class Reference:
    host: str
    port: int | None
    origin: str
    port_from: str = ""  # how the port was inferred; '' when the value wrote it (or none)


def is_localhost(host: str) -> bool:
    return host.lower() in LOCALHOST_NAMES


def extra_host(entry: str) -> tuple[str, str]:
    """(name, address) of an `extra_hosts` entry as the engine keeps it: `name:address`
    (the address may hold colons: IPv6) or compose's `name=address`."""
    name, _, address = entry.replace("=", ":", 1).partition(":")
    return name.strip(), address.strip()


def means_host(host: str, extra_hosts: Iterable[str], host_addresses: Set[str]) -> bool:
    """Whether `host`, referenced by a container with `extra_hosts`, is the engine's host:
    a host alias, one of the host's addresses (`host_addresses`: every network's gateway,
    and its other addresses where known), or a name extra_hosts maps to the host."""
    lowered = host.lower()
    if lowered in HOST_ALIASES or host in host_addresses or lowered in host_addresses:
        return True
    return any(
        name.lower() == lowered and (address == HOST_GATEWAY or address in host_addresses)
        for name, address in map(extra_host, extra_hosts)
    )


def _port(text: str | None) -> int | None:
    if not text or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value < 65536 else None


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def plausible_host(host: str) -> bool:
    """A hostname or IP address, not a number, a path or a word with odd characters."""
    if not host or host.isdigit() or host.startswith(("-", ".")):
        return False
    if _address(host) is not None:
        return True
    return bool(re.fullmatch(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?", host)) and any(
        ch.isalpha() for ch in host
    )


def is_for_browsers(variable: str) -> bool:
    """A front end's public variable, or the container's own public name (the module's rule)."""
    upper = variable.upper()
    return upper.startswith(BROWSER_PREFIXES) or upper in OWN_NAMES or upper.endswith(OWN_SUFFIXES)


def is_browser_localhost(variable: str, host: str) -> bool:
    """`CLIENT_PUBLIC_URL=http://localhost:8080`: the browser's machine, not the container."""
    return is_localhost(host) and bool(BROWSER_WORDS & set(WORD_SPLIT.split(variable.upper())))


def is_bind_address(variable: str, host: str) -> bool:
    """A server's own listen address rather than a host to reach (the module's rule)."""
    address = _address(host)
    if address is not None and address.is_unspecified:
        return True
    loopback = is_localhost(host) or (address is not None and address.is_loopback)
    return loopback and bool(BIND_WORDS & set(WORD_SPLIT.split(variable.upper())))


def protocol_port(text: str) -> tuple[int, str] | None:
    """(port, how) for the protocol a scheme or a variable's name prefix names, by the last
    of its words in `DEFAULT_PORTS`: `postgresql+psycopg2` → 5432, `KAFKA_ZOOKEEPER` → 2181."""
    words = [w for w in WORD_SPLIT.split(text.lower()) if w in DEFAULT_PORTS]
    if not words:
        return None
    return DEFAULT_PORTS[words[-1]], f"the default {words[-1]} port"


def references_in_value(name: str, value: str) -> list[Reference]:
    origin = f"environment {name}"
    found = []
    for url in URL.finditer(value):
        host = url["host"].strip("[]")
        port, port_from = _port(url["port"]), ""
        if port is None and (default := protocol_port(url["scheme"])) is not None:
            port, port_from = default
        if plausible_host(host):
            found.append(Reference(host, port, origin, port_from))
    if found:
        return found
    for item in ITEM_SPLIT.split(value.strip()):
        match = HOST_PORT.match(item)
        if match and plausible_host(match["host"]) and _port(match["port"]):
            found.append(Reference(match["host"], _port(match["port"]), origin))
    return found


def _host_variable(name: str, value: str, env: Mapping[str, str]) -> list[Reference]:
    """`DB_HOST=db`: with the port of its `DB_PORT` sibling, else of the protocol its name
    says (`MYSQL_HOST` → 3306), else none."""
    suffix = next((s for s in HOST_SUFFIXES if name.upper().endswith(s)), None)
    if suffix is None and name.upper().endswith("HOST") and name[:-4].lower() in DEFAULT_PORTS:
        suffix = "HOST"  # PGHOST, libpq's (with PGPORT)
    host = value.strip()
    if suffix is None or not plausible_host(host):
        return []
    prefix = name[: -len(suffix)]
    port_name = next((prefix + s for s in PORT_SUFFIXES if prefix + s in env), None)
    port = _port(env.get(port_name, "").strip()) if port_name else None
    if port is not None:
        return [Reference(host, port, f"environment {name} + {port_name}")]
    default = protocol_port(prefix)
    if default is None:
        return [Reference(host, None, f"environment {name}")]
    return [Reference(host, default[0], f"environment {name}", default[1])]


def references_in_env(env: Mapping[str, str]) -> list[Reference]:
    """Every reference to another host in an environment, in variable order."""
    found: list[Reference] = []
    for name, value in env.items():
        if name in NOT_REFERENCES or not value or is_for_browsers(name):
            continue
        refs = references_in_value(name, value) or _host_variable(name, value, env)
        found += [
            ref
            for ref in refs
            if not is_bind_address(name, ref.host) and not is_browser_localhost(name, ref.host)
        ]
    return found


@dataclass(frozen=True)
class Edge:
    """`source` needs to reach `name` (at `port`, when the configuration says which, or a
    client would infer it: `port_from` then says how)."""

    source: Container
    name: str
    port: int | None
    origins: tuple[str, ...]
    expected: bool | None = None  # a declared rule's `reachable`; None: implied (reachable)
    rule: str = ""  # where that rule is written, e.g. "x-ddiag expect[2]"
    port_from: str = ""  # how the port was inferred ("the default mysql port"); '' if written
    to_host: bool = False  # the name is the engine's host (the module's "The host")

    @property
    def source_label(self) -> str:
        return self.source.service or self.source.name

    @property
    def is_localhost(self) -> bool:
        return is_localhost(self.name)

    def describe(self) -> str:
        return f"{self.source_label} → {self.name}" + (f":{self.port}" if self.port else "")


def merge_edges(edges: Iterable[Edge]) -> tuple[Edge, ...]:
    """One edge per (source, name, port); a port-less edge folds into a ported one. A port
    that one origin writes is written, even where another only infers it."""
    first: dict[tuple[str, str, int | None], Edge] = {}
    origins: dict[tuple[str, str, int | None], list[str]] = {}
    for edge in edges:
        key = (edge.source.id, edge.name.lower(), edge.port)
        if key in first and not edge.port_from:
            first[key] = replace(first[key], port_from="")
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
