"""HTTP/1.1 to the engine's unix socket with the standard library's sockets alone.

docker-py costs about 2 ms of CPU per call (requests' per-call environment, proxy and hook
handling) and 0.1 s to import, and even `http.client` takes 15 ms to import (it brings the
email parser). Two places cannot afford that: the bulk read of every container's inspect
(diag.engine.bulk_read) and the probes asked for before docker-py is imported
(diag.probes.launchpad). The engine speaks plain HTTP/1.1 there: answers with a length,
chunked, or closed at their end, all three read here. Both speak to the local socket only;
an engine behind TCP, TLS or ssh is reached through docker-py.
"""

from __future__ import annotations

import json
import socket
from typing import IO, Any
from urllib.parse import quote

TIMEOUT_S = 60.0
DEFAULT_SOCKET = "/var/run/docker.sock"
MAX_LINE = 65536


class EngineCallError(Exception):
    """The engine refused a call (`status`: its HTTP status) or could not be reached (0)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class UnixConnection:
    """One connection to the engine's socket, kept open from one request to the next."""

    def __init__(self, socket_path: str, timeout: float = TIMEOUT_S) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._reader: IO[bytes] | None = None

    def request(self, method: str, where: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Send one request; (status, body) of the answer. Raises OSError or ValueError
        when the engine cannot be reached or answers something that is not HTTP."""
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.socket_path)
            except OSError:
                sock.close()
                raise
            self._sock, self._reader = sock, sock.makefile("rb")
        head = (
            f"{method} {where} HTTP/1.1\r\nHost: docker\r\nContent-Length: {len(body or b'')}\r\n"
        )
        if body is not None:
            head += "Content-Type: application/json\r\n"
        self._sock.sendall(head.encode("latin-1") + b"\r\n" + (body or b""))
        return self._answer()

    def _line(self) -> bytes:
        assert self._reader is not None
        line = self._reader.readline(MAX_LINE)
        if not line:
            raise ConnectionResetError("the engine closed the connection mid-answer")
        return line

    def _exactly(self, size: int) -> bytes:
        assert self._reader is not None
        data = self._reader.read(size)
        if len(data) < size:
            raise ConnectionResetError("the engine closed the connection mid-answer")
        return data

    def _answer(self) -> tuple[int, bytes]:
        version, status_text, *_ = [*self._line().split(None, 2), b"", b""]
        if not version.startswith(b"HTTP/"):
            raise ValueError(f"not an HTTP answer: {version[:20]!r}")
        status = int(status_text)
        headers: dict[str, str] = {}
        while (line := self._line()) not in (b"\r\n", b"\n"):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if status in (204, 304) or 100 <= status < 200:
            body = b""
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked()
        elif "content-length" in headers:
            body = self._exactly(int(headers["content-length"]))
        else:  # ended by closing the connection
            assert self._reader is not None
            body = self._reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def _chunked(self) -> bytes:
        parts = []
        while size := int(self._line().split(b";")[0].strip(), 16):
            parts.append(self._exactly(size))
            self._line()  # the chunk's own end of line
        while self._line() not in (b"\r\n", b"\n"):
            pass  # trailers
        return b"".join(parts)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._reader = None


def socket_path_of(host: str | None) -> str | None:
    """The socket of an engine address (None: the default local socket), or None when the
    address is not a unix socket."""
    if not host:
        return DEFAULT_SOCKET
    if host.startswith("unix://"):
        return host[len("unix://") :] or DEFAULT_SOCKET
    return None


def path(template: str, *names: str) -> str:
    """`template` with each `{}` filled by a name, quoted for a URL path."""
    return template.format(*(quote(name, safe="") for name in names))


def call(connection: UnixConnection, method: str, where: str, body: Any = None) -> Any:
    """One request; the decoded JSON answer (None when there is none, or for 404 on GET).
    Raises EngineCallError for any other error status, or when the engine cannot be reached."""
    try:
        status, data = connection.request(
            method, where, None if body is None else json.dumps(body).encode()
        )
    except (OSError, ValueError) as exc:
        connection.close()
        raise EngineCallError(f"{method} {where}: {exc}") from None
    if status == 404 and method == "GET":
        return None
    if status >= 300:
        try:
            message = json.loads(data).get("message", "")
        except (ValueError, AttributeError):
            message = data.decode("utf-8", "replace").strip()
        raise EngineCallError(f"{method} {where}: HTTP {status}: {message}", status)
    try:
        return json.loads(data) if data.strip() else None
    except ValueError:
        raise EngineCallError(f"{method} {where}: an answer that is not JSON") from None


def attach(socket_path: str, container_id: str) -> socket.socket:
    """The container's stdin, stdout and stderr as one raw socket (`POST .../attach`,
    upgraded as `docker attach` does), for docker-py's frame reader once it is imported."""
    where = path("/containers/{}/attach?stream=1&stdin=1&stdout=1&stderr=1", container_id)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(TIMEOUT_S)
        sock.connect(socket_path)
        sock.sendall(
            f"POST {where} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
            "Upgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode("ascii")
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: the stream follows at once
            byte = sock.recv(1)
            if not byte or len(head) > 8192:
                raise EngineCallError(f"POST {where}: the answer ended early")
            head += byte
        status = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b""
        if status not in (b"101", b"200"):
            raise EngineCallError(f"POST {where}: {head.splitlines()[0].decode(errors='replace')}")
        sock.settimeout(None)  # a quiet agent is not a dead one
        return sock
    except OSError as exc:
        sock.close()
        raise EngineCallError(f"POST {where}: {exc}") from None
    except EngineCallError:
        sock.close()
        raise
