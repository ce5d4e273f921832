"""What the probe agent answered, as typed records: parsed once, where answers enter ddiag.

The agent (diag.agent) answers each task with a JSON object whose shape depends on the
task's kind. Read key by key, every check had its own defaults and its own spelling of the
statuses; here each kind's answer becomes one frozen record whose statuses are `Literal`
types, so a misspelt status or a missing field is a type error, not a check that silently
never fires. An answer without the shape its kind promises (an agent bug, a garbled line)
becomes an error record saying why, as a task that failed inside the agent does: one bad
answer costs one observation, never the run.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, get_args

if TYPE_CHECKING:
    from diag.model.tasks import Task

ConnectStatus = Literal["open", "refused", "unreachable", "timeout", "error"]
ResolveStatus = Literal["ok", "nxdomain", "servfail", "timeout", "error"]
ReadStatus = Literal["ok", "error"]  # every other kind: done, or not
ConnectionState = Literal["established", "syn_sent"]


@dataclass(frozen=True)
class ConnectAnswer:
    """A TCP connect to an address. `elapsed_ms` is None when the agent failed before it
    timed anything."""

    status: ConnectStatus
    elapsed_ms: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class ResolveAnswer:
    """One query to one DNS server. `rcode` is None when no response came back at all
    (a timeout, or an error before or while asking)."""

    status: ResolveStatus
    server: str = ""
    rcode: str | None = None
    addresses: tuple[str, ...] = ()
    elapsed_ms: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class Socket:
    """A listening TCP socket: `family` is tcp or tcp6, `address` as the kernel has it."""

    family: str
    address: str
    port: int


@dataclass(frozen=True)
class ListeningAnswer:
    status: ReadStatus
    sockets: tuple[Socket, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class Connection:
    """A TCP socket of the namespace that is connected (`established`) or connecting
    (`syn_sent`): its own address and port, and its peer's."""

    family: str
    state: ConnectionState
    address: str
    port: int
    peer: str
    peer_port: int


@dataclass(frozen=True)
class ConnectionsAnswer:
    status: ReadStatus
    connections: tuple[Connection, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class ResolvConfAnswer:
    status: ReadStatus
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class HostsEntry:
    ip: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class HostsAnswer:
    status: ReadStatus
    entries: tuple[HostsEntry, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class ReachAnswer:
    """A name reached as the C library would: the /etc/hosts addresses, the DNS answer (None
    when DNS was not asked) and a connect per address tried."""

    status: ReadStatus
    hosts_ips: tuple[str, ...] = ()
    resolve: ResolveAnswer | None = None
    connects: Mapping[str, ConnectAnswer] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True)
class Interface:
    name: str
    up: bool
    mtu: int
    addresses: tuple[str, ...]  # "a.b.c.d/prefix", IPv6 ones after IPv4 ones

    def to_dict(self) -> dict[str, object]:
        """As the agent wrote it: the report shows interfaces in the agent's shape."""
        return {"name": self.name, "up": self.up, "mtu": self.mtu, "addresses": [*self.addresses]}


@dataclass(frozen=True)
class Route:
    dst: str  # "default" or "a.b.c.d/prefix"
    dev: str
    via: str | None = None
    metric: int | None = None

    def to_dict(self) -> dict[str, object]:
        """As the agent wrote it: `via` and `metric` only when the route has them."""
        found: dict[str, object] = {"dst": self.dst, "dev": self.dev}
        if self.via is not None:
            found["via"] = self.via
        if self.metric is not None:
            found["metric"] = self.metric
        return found


@dataclass(frozen=True)
class InterfacesAnswer:
    """Interfaces and IPv4 routes of a namespace; `netns` identifies the namespace itself
    (two answers with one inode saw one network stack)."""

    status: ReadStatus
    interfaces: tuple[Interface, ...] = ()
    routes: tuple[Route, ...] = ()
    netns: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class SysctlAnswer:
    status: ReadStatus
    value: str = ""
    detail: str = ""


@dataclass(frozen=True)
class NeighbourTable:
    """One of the kernel's neighbour tables (`arp_cache`: IPv4, `ndisc_cache`: IPv6):
    `entries` now, in every namespace of the machine, and `table_fulls`, the allocations it
    refused since boot because the table was full (summed over CPUs)."""

    name: str
    entries: int
    table_fulls: int


@dataclass(frozen=True)
class NeighbourTablesAnswer:
    status: ReadStatus
    tables: tuple[NeighbourTable, ...] = ()
    detail: str = ""

    def table(self, name: str) -> NeighbourTable | None:
        return next((table for table in self.tables if table.name == name), None)


@dataclass(frozen=True)
class ArpSweepAnswer:
    """Who answered ARP for which address: `answers` maps an IP to every MAC that did."""

    status: ReadStatus
    interface: str = ""
    source: str = ""
    source_mac: str = ""
    swept: int = 0
    addresses: int = 0
    answers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True)
class PmtuTarget:
    """What each IP packet size to one address got back: "ok", "timeout", "fragmentation
    needed (...)" or "not sent: ..."; `largest_ok` is 0 when none came back."""

    sizes: Mapping[int, str]
    largest_ok: int


@dataclass(frozen=True)
class PmtuAnswer:
    status: ReadStatus
    targets: Mapping[str, PmtuTarget] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True)
class Frame:
    """One captured frame: when (Unix time), on which side ("source" or "target") and
    interface, its packet type (linux/if_packet.h: 0 to us, 4 sent by us), its link type
    (ARPHRD_*), its real length and the bytes kept (cut at the capture's snap length)."""

    time: float
    side: str
    interface: str
    pkttype: int
    hatype: int
    length: int
    data: bytes


@dataclass(frozen=True)
class CaptureAnswer:
    """What `ddiag capture`'s task saw: the frames, in time order, and the attempts made
    (each as the agent reported it: the lookup, the address, the local port, the connect's
    outcome, the bytes sent and the first bytes received, how it ended)."""

    status: ReadStatus
    frames: tuple[Frame, ...] = ()
    attempts: tuple[Mapping[str, object], ...] = ()
    not_captured: tuple[str, ...] = ()
    stopped: str = ""
    kernel_dropped: int = 0
    snaplen: int = 0
    detail: str = ""


Answer = (
    ConnectAnswer
    | ResolveAnswer
    | ListeningAnswer
    | ConnectionsAnswer
    | ResolvConfAnswer
    | HostsAnswer
    | ReachAnswer
    | InterfacesAnswer
    | SysctlAnswer
    | NeighbourTablesAnswer
    | ArpSweepAnswer
    | PmtuAnswer
    | CaptureAnswer
)
A = TypeVar("A", bound=Answer)
S = TypeVar("S", bound=str)

CONNECT_STATUSES: tuple[ConnectStatus, ...] = get_args(ConnectStatus)
RESOLVE_STATUSES: tuple[ResolveStatus, ...] = get_args(ResolveStatus)
READ_STATUSES: tuple[ReadStatus, ...] = get_args(ReadStatus)
CONNECTION_STATES: tuple[ConnectionState, ...] = get_args(ConnectionState)


class Malformed(ValueError):
    """An answer (or a part of one) without the shape its task kind promises."""


class _Fields:
    """One JSON object of an answer, read field by field with the type each must have.
    A field that is absent (or null) takes its default, as the agent leaves out what does
    not apply; one of the wrong type makes the whole answer malformed."""

    def __init__(self, raw: object, where: str = "the answer") -> None:
        if not isinstance(raw, dict):
            raise Malformed(f"{where} is not an object")
        self.raw = cast("dict[str, object]", raw)  # JSON: an object's keys are strings
        self.where = where

    def _get(self, key: str, kind: type, what: str) -> object:
        value = self.raw.get(key)
        # bool is an int to isinstance: true where a number belongs is as wrong as a string
        if value is None or (isinstance(value, kind) and (kind is bool) == (type(value) is bool)):
            return value
        raise Malformed(f"{key!r} of {self.where} is not {what}")

    def status(self, allowed: tuple[S, ...], key: str = "status") -> S:
        value = self.raw.get(key)
        for status in allowed:
            if value == status:
                return status
        raise Malformed(f"{self.where} has no known {key} ({value!r})")

    def text(self, key: str) -> str:
        return cast(str, self._get(key, str, "a string") or "")

    def optional_text(self, key: str) -> str | None:
        return cast("str | None", self._get(key, str, "a string"))

    def integer(self, key: str) -> int:
        return cast(int, self._get(key, int, "an integer") or 0)

    def optional_integer(self, key: str) -> int | None:
        return cast("int | None", self._get(key, int, "an integer"))

    def flag(self, key: str) -> bool:
        return bool(self._get(key, bool, "true or false"))

    def texts(self, key: str) -> tuple[str, ...]:
        values = cast("list[object]", self._get(key, list, "a list") or [])
        if not all(isinstance(value, str) for value in values):
            raise Malformed(f"{key!r} of {self.where} is not a list of strings")
        return tuple(cast("list[str]", values))

    def objects(self, key: str) -> list[_Fields]:
        values = cast("list[object]", self._get(key, list, "a list") or [])
        return [_Fields(value, f"{key}[{n}] of {self.where}") for n, value in enumerate(values)]

    def mapping(self, key: str) -> dict[str, object]:
        return cast("dict[str, object]", self._get(key, dict, "an object") or {})


def _connect(fields: _Fields) -> ConnectAnswer:
    return ConnectAnswer(
        fields.status(CONNECT_STATUSES),
        fields.optional_integer("elapsed_ms"),
        fields.text("detail"),
    )


def _resolve(fields: _Fields) -> ResolveAnswer:
    return ResolveAnswer(
        fields.status(RESOLVE_STATUSES),
        fields.text("server"),
        fields.optional_text("rcode"),
        fields.texts("addresses"),
        fields.optional_integer("elapsed_ms"),
        fields.text("detail"),
    )


def _socket(fields: _Fields) -> Socket:
    return Socket(fields.text("family"), fields.text("address"), fields.integer("port"))


def _listening(fields: _Fields) -> ListeningAnswer:
    return ListeningAnswer(
        fields.status(READ_STATUSES),
        tuple(_socket(item) for item in fields.objects("sockets")),
        fields.text("detail"),
    )


def _connection(fields: _Fields) -> Connection:
    return Connection(
        fields.text("family"),
        fields.status(CONNECTION_STATES, "state"),
        fields.text("address"),
        fields.integer("port"),
        fields.text("peer"),
        fields.integer("peer_port"),
    )


def _connections(fields: _Fields) -> ConnectionsAnswer:
    return ConnectionsAnswer(
        fields.status(READ_STATUSES),
        tuple(_connection(item) for item in fields.objects("sockets")),
        fields.text("detail"),
    )


def _resolv_conf(fields: _Fields) -> ResolvConfAnswer:
    return ResolvConfAnswer(
        fields.status(READ_STATUSES),
        fields.texts("nameservers"),
        fields.texts("search"),
        fields.texts("options"),
        fields.text("detail"),
    )


def _hosts(fields: _Fields) -> HostsAnswer:
    return HostsAnswer(
        fields.status(READ_STATUSES),
        tuple(HostsEntry(e.text("ip"), e.texts("names")) for e in fields.objects("entries")),
        fields.text("detail"),
    )


def _reach(fields: _Fields) -> ReachAnswer:
    resolved = fields.raw.get("resolve")
    connects = fields.mapping("connects")
    return ReachAnswer(
        fields.status(READ_STATUSES),
        fields.texts("hosts_ips"),
        None if resolved is None else _resolve(_Fields(resolved, "its resolve")),
        {ip: _connect(_Fields(raw, f"its connect to {ip}")) for ip, raw in connects.items()},
        fields.text("detail"),
    )


def _interface(fields: _Fields) -> Interface:
    return Interface(
        fields.text("name"), fields.flag("up"), fields.integer("mtu"), fields.texts("addresses")
    )


def _route(fields: _Fields) -> Route:
    return Route(
        fields.text("dst"),
        fields.text("dev"),
        fields.optional_text("via"),
        fields.optional_integer("metric"),
    )


def _interfaces(fields: _Fields) -> InterfacesAnswer:
    return InterfacesAnswer(
        fields.status(READ_STATUSES),
        tuple(_interface(item) for item in fields.objects("interfaces")),
        tuple(_route(item) for item in fields.objects("routes")),
        fields.optional_integer("netns"),
        fields.text("detail"),
    )


def _sysctl(fields: _Fields) -> SysctlAnswer:
    return SysctlAnswer(fields.status(READ_STATUSES), fields.text("value"), fields.text("detail"))


def _neighbour_tables(fields: _Fields) -> NeighbourTablesAnswer:
    return NeighbourTablesAnswer(
        fields.status(READ_STATUSES),
        tuple(
            NeighbourTable(item.text("name"), item.integer("entries"), item.integer("table_fulls"))
            for item in fields.objects("tables")
        ),
        fields.text("detail"),
    )


def _arp_sweep(fields: _Fields) -> ArpSweepAnswer:
    answers = _Fields(fields.mapping("answers"), "its answers")
    return ArpSweepAnswer(
        fields.status(READ_STATUSES),
        fields.text("interface"),
        fields.text("source"),
        fields.text("source_mac"),
        fields.integer("swept"),
        fields.integer("addresses"),
        {ip: answers.texts(ip) for ip in answers.raw},
        fields.text("detail"),
    )


def _pmtu_target(fields: _Fields) -> PmtuTarget:
    sizes = _Fields(fields.mapping("sizes"), f"the sizes of {fields.where}")
    try:
        outcomes = {int(str(size)): sizes.text(str(size)) for size in sizes.raw}
    except ValueError:
        raise Malformed(f"a size of {fields.where} is not a number") from None
    return PmtuTarget(outcomes, fields.integer("largest_ok"))


def _pmtu(fields: _Fields) -> PmtuAnswer:
    targets = fields.mapping("targets")
    return PmtuAnswer(
        fields.status(READ_STATUSES),
        {ip: _pmtu_target(_Fields(raw, f"target {ip}")) for ip, raw in targets.items()},
        fields.text("detail"),
    )


def _frame(raw: object) -> Frame:
    if not isinstance(raw, list) or len(raw) != 7:
        raise Malformed("a frame is not a list of 7 fields")
    stamp, side, interface, pkttype, hatype, length, data = raw
    try:
        return Frame(
            float(stamp),
            str(side),
            str(interface),
            int(pkttype),
            int(hatype),
            int(length),
            base64.b64decode(str(data), validate=True),
        )
    except (TypeError, ValueError, binascii.Error):
        raise Malformed("a frame has a field of the wrong type") from None


def _capture(fields: _Fields) -> CaptureAnswer:
    frames, attempts, missing = (
        cast(list[Any], fields._get(key, list, "a list") or [])
        for key in ("frames", "attempts", "not_captured")
    )
    if not all(isinstance(a, dict) for a in attempts + missing):
        raise Malformed("an attempt is not an object")
    return CaptureAnswer(
        fields.status(READ_STATUSES),
        tuple(_frame(raw) for raw in frames),
        tuple(attempts),
        tuple(f"{m.get('side', '')}: {m.get('why', '')}" for m in missing),
        fields.text("stopped"),
        fields.integer("kernel_dropped"),
        fields.integer("snaplen"),
        fields.text("detail"),
    )


# Each task kind: its record type (for an answer that does not parse) and its reader.
KINDS: dict[str, tuple[Callable[..., Answer], Callable[[_Fields], Answer]]] = {
    "connect": (ConnectAnswer, _connect),
    "resolve": (ResolveAnswer, _resolve),
    "listening": (ListeningAnswer, _listening),
    "connections": (ConnectionsAnswer, _connections),
    "resolv_conf": (ResolvConfAnswer, _resolv_conf),
    "hosts": (HostsAnswer, _hosts),
    "reach": (ReachAnswer, _reach),
    "interfaces": (InterfacesAnswer, _interfaces),
    "sysctl": (SysctlAnswer, _sysctl),
    "neighbour_tables": (NeighbourTablesAnswer, _neighbour_tables),
    "arp_sweep": (ArpSweepAnswer, _arp_sweep),
    "pmtu": (PmtuAnswer, _pmtu),
    "capture": (CaptureAnswer, _capture),
}


def parse(task: Task[A], raw: object) -> A:
    """The agent's answer `raw` (decoded JSON) to `task`, as the record of the task's kind;
    an error record with the reason when it does not have that kind's shape."""
    record, read = KINDS[task.kind]
    try:
        found = read(_Fields(raw))
    except Malformed as exc:
        found = record(status="error", detail=f"malformed answer from the agent: {exc}")
    return cast(A, found)
