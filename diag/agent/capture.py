"""The `capture` task: packets of one connection, seen from one or two network namespaces.

`ddiag capture` sends one task to the probe: capture in the source's namespace (the task's
view) and in the target's (`also`: pid and container id, entered like any view), make
`count` attempts to reach `target:port` from the source (unless `passive`), then keep
listening `linger_s` for late packets (retransmissions, resets, ICMP). One task, not one per
namespace, so every capture socket exists before the first SYN leaves and the capture ends
as soon as the attempts do.

Capture is an AF_PACKET socket per namespace (all its interfaces), first given a filter that
keeps nothing and emptied of what it got before (a packet socket receives from its
creation), then given the kernel filter of diag.agent.bpf: no frame the filter would reject
slips in. Bounds: `max_packets` frames, `max_bytes` bytes
kept (each frame cut at `snaplen`), `seconds` in all; the probe's 64 MiB are never at risk.
Frames come back base64-encoded in the answer, with their time, namespace, interface,
direction and real length: scapy decodes them on the host, never here (diag.agent.packets
says why scapy stays out of the probe).
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import errno
import os
import socket
import struct
import time
from typing import Any

from . import bpf, tasks
from .view import View, ViewError, open_view

Result = dict[str, Any]
SOL_PACKET, PACKET_AUXDATA, PACKET_STATISTICS = 263, 8, 6
SO_ATTACH_FILTER, SO_TIMESTAMPNS = 26, 35
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
AUXDATA = struct.Struct("IIIHHHH")  # struct tpacket_auxdata
# Caps on what ddiag may ask. Kept bytes cost about three times their size at the end (the
# frames, their base64, the answer's JSON line): measured in a 64 MiB probe, 8 MiB kept
# peaked at 45 MiB, 3 x 3 MB echoed over lo with 1600-byte snaps at 16 MiB. 4 MiB leaves
# the shared probe room for its other work.
MAX_PACKETS, MAX_BYTES, MAX_SECONDS = 5000, 4 << 20, 60.0
KEEP_RECEIVED = 512  # application bytes kept per attempt (the first ones: a status line)
RECV_BUFFER = 65536


class Capture:
    """One namespace's capture socket and the frames it has kept."""

    def __init__(self, side: str, view: View, task: Result, frames: list[list[Any]]) -> None:
        self.side = side
        self.frames = frames  # shared by every side: one time-ordered list
        self.snaplen = int(task.get("snaplen") or 1024)
        self.sock = view.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.setblocking(False)
        _attach(self.sock, bpf.packed_reject())
        while True:  # what came in before any filter was attached
            try:
                self.sock.recv(1)
            except (BlockingIOError, InterruptedError):
                break
        hosts = [str(h) for h in task.get("hosts") or []]
        _attach(
            self.sock, bpf.packed(hosts, [int(p) for p in task.get("ports") or []], self.snaplen)
        )
        self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

    def drain(self, bounds: Bounds) -> None:
        """Read every frame waiting (the event loop calls this when the socket is readable).
        Once the bounds are reached the socket is no longer watched (the loop would call
        this again and again for frames no longer read)."""
        if bounds.full():
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            return
        while not bounds.full():
            try:
                data, ancillary, _flags, address = self.sock.recvmsg(
                    RECV_BUFFER, socket.CMSG_SPACE(AUXDATA.size) + socket.CMSG_SPACE(16)
                )
            except (BlockingIOError, InterruptedError):
                return
            interface, _proto, pkttype, hatype = address[0], address[1], address[2], address[3]
            if pkttype == PACKET_OUTGOING and interface == "lo":
                continue  # lo delivers each packet twice: as sent and as received
            stamp, length = time.time(), len(data)
            for level, kind, value in ancillary:
                if level == SOL_PACKET and kind == PACKET_AUXDATA and len(value) >= AUXDATA.size:
                    length = AUXDATA.unpack(value[: AUXDATA.size])[1]
                elif level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    seconds, nanos = struct.unpack("qq", value[:16])
                    stamp = seconds + nanos / 1e9
            bounds.add(len(data))
            self.frames.append(
                [round(stamp, 6), self.side, interface, pkttype, hatype, length, _b64(data)]
            )

    def dropped(self) -> int:
        """Frames the kernel dropped for want of buffer (the capture then says so)."""
        try:
            stats = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
            return int(struct.unpack("II", stats)[1])
        except OSError:
            return 0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _attach(sock: socket.socket, code: bytes) -> None:
    """Attach (or replace) the socket's classic BPF program (struct sock_fprog: its length
    in instructions and a pointer to them; the kernel copies them)."""
    buffer = ctypes.create_string_buffer(code, len(code))
    program = struct.pack("HL", len(code) // 8, ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program)


class Bounds:
    """How much is kept: at most `packets` frames and `size` bytes."""

    def __init__(self, task: Result) -> None:
        self.packets = min(int(task.get("max_packets") or 1000), MAX_PACKETS)
        self.size = min(int(task.get("max_bytes") or (2 << 20)), MAX_BYTES)
        self.kept_packets = 0
        self.kept_bytes = 0

    def add(self, size: int) -> None:
        self.kept_packets += 1
        self.kept_bytes += size

    def full(self) -> bool:
        return self.kept_packets >= self.packets or self.kept_bytes >= self.size

    def why_full(self) -> str:
        if self.kept_packets >= self.packets:
            return f"stopped at {self.packets} packets"
        return f"stopped at {self.size} bytes" if self.full() else ""


async def _connect(view: View, address: str, port: int, timeout: float) -> tuple[Result, Any]:
    """A non-blocking connect whose local port is known before the first SYN leaves (the
    host finds the attempt's packets by it; a failed connect releases the port)."""
    loop = asyncio.get_running_loop()
    sock = view.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.bind(("::" if ":" in address else "0.0.0.0", 0))
    seen: Result = {"address": address, "local_port": sock.getsockname()[1]}
    start = time.monotonic()
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (address, port)), timeout)
    except asyncio.TimeoutError:
        sock.close()
        return seen | {"connect": "timeout", "connect_ms": tasks._elapsed_ms(start)}, None
    except OSError as exc:
        sock.close()
        status = tasks.CONNECT_ERRNO_STATUS.get(exc.errno or 0, "error")
        detail = os.strerror(exc.errno) if exc.errno else str(exc)
        return seen | {
            "connect": status,
            "detail": detail,
            "connect_ms": tasks._elapsed_ms(start),
        }, None
    return seen | {"connect": "open", "connect_ms": tasks._elapsed_ms(start)}, sock


async def _exchange(sock: socket.socket, payload: bytes, timeout: float, until: float) -> Result:
    """Send `payload` (maybe nothing), then read until the peer closes, resets or is quiet
    for `timeout`, and never past `until` (a server that streams on would keep it going).
    Keeps the first KEEP_RECEIVED bytes and counts the rest."""
    loop = asyncio.get_running_loop()
    sent, received, total, end = 0, b"", 0, "quiet"
    try:
        if payload:
            await asyncio.wait_for(loop.sock_sendall(sock, payload), timeout)
            sent = len(payload)
        while True:
            left = min(timeout, until - loop.time())
            if left <= 0:
                end = "still sending at the end of the capture"
                break
            chunk = await asyncio.wait_for(loop.sock_recv(sock, RECV_BUFFER), left)
            if not chunk:
                end = "closed"
                break
            total += len(chunk)
            received += chunk[: max(KEEP_RECEIVED - len(received), 0)]
    except asyncio.TimeoutError:
        end = "quiet" if sent == len(payload) else "send stalled"
    except OSError as exc:
        end = "reset" if exc.errno in (errno.ECONNRESET, errno.EPIPE) else (exc.strerror or "error")
    finally:
        sock.close()
    return {"sent": sent, "received": _b64(received), "received_bytes": total, "end": end}


async def _attempt(
    task: Result, timeout: float, view: View, payload: bytes, until: float
) -> Result:
    """One attempt as the C library would make it (hosts file, DNS when allowed, the first
    address inside `allow`), then the exchange."""
    port = int(task["port"])
    started = time.time()
    found = await tasks.reach(
        {"target": task["target"], "dns": task.get("dns"), "allow": task.get("allow")},
        timeout,
        view,
    )
    outcome: Result = {"started": round(started, 6), "lookup": found}
    literal = tasks._literal(str(task["target"]))
    addresses = (
        literal or found["hosts_ips"] or list((found["resolve"] or {}).get("addresses") or [])
    )
    allowed = [ip for ip in addresses if tasks._allowed(ip, list(task.get("allow") or []))]
    if not allowed:
        return outcome | {"connect": "not tried", "addresses": addresses}
    seen, sock = await _connect(view, allowed[0], port, timeout)
    outcome |= seen
    if sock is not None:
        outcome |= await _exchange(sock, payload, timeout, until)
    return outcome


async def capture(task: Result, timeout: float, view: View) -> Result:
    """Capture in the view's namespace (side "source") and in each of `also` (side
    "target"), make the attempts, and return the frames."""
    frames: list[list[Any]] = []
    bounds = Bounds(task)
    seconds = min(float(task.get("seconds") or 10.0), MAX_SECONDS)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    captures, missing, opened = [], [], []
    try:
        captures.append(Capture("source", view, task, frames))
        for other in task.get("also") or []:
            try:
                other_view = open_view(int(other["pid"]), str(other["container"]))
            except ViewError as exc:
                missing.append({"side": "target", "why": str(exc)})
                continue
            opened.append(other_view)
            captures.append(Capture("target", other_view, task, frames))
        for each in captures:
            loop.add_reader(each.sock.fileno(), each.drain, bounds)
        attempts = await _attempts(task, timeout, view, deadline)
        linger = float(task.get("linger_s") or 0.5)
        end = deadline if task.get("passive") else min(deadline, loop.time() + linger)
        while loop.time() < end and not bounds.full():
            await asyncio.sleep(min(0.05, max(end - loop.time(), 0)))
        for each in captures:  # what arrived since the loop last looked
            each.drain(bounds)
    finally:
        for each in captures:
            loop.remove_reader(each.sock.fileno())
        dropped = sum(each.dropped() for each in captures)
        for each in captures:
            each.sock.close()
        for other_view in opened:
            if other_view.netns is not None:
                os.close(other_view.netns)
    frames.sort(key=lambda frame: frame[0])
    return {
        "status": "ok",
        "frames": frames,
        "attempts": attempts,
        "not_captured": missing,
        "stopped": bounds.why_full(),
        "kernel_dropped": dropped,
        "snaplen": captures[0].snaplen if captures else 0,
    }


async def _attempts(task: Result, timeout: float, view: View, deadline: float) -> list[Result]:
    """`count` attempts one after the other, `interval_s` apart, while time is left."""
    if task.get("passive"):
        return []
    loop = asyncio.get_running_loop()
    payload = str(task.get("send") or "").encode("utf-8") + b"x" * int(task.get("bulk") or 0)
    done: list[Result] = []
    for number in range(int(task.get("count") or 1)):
        if number and loop.time() + float(task.get("interval_s") or 0.2) >= deadline:
            break
        if number:
            await asyncio.sleep(float(task.get("interval_s") or 0.2))
        left = max(deadline - loop.time(), 0.1)
        done.append(await _attempt(task, min(timeout, left), view, payload, deadline))
    return done
