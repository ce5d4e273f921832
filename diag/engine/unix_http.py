"""HTTP/1.1 to the engine's unix socket with the standard library alone.

docker-py costs about 2 ms of CPU per call (requests' per-call environment, proxy and hook
handling) and 0.1 s to import. Two places cannot afford that: the bulk read of every
container's inspect (diag.engine.bulk_read) and the probes asked for before docker-py is
imported (diag.probes.launchpad). Both speak to the local socket only; an engine behind
TCP, TLS or ssh is reached through docker-py.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import quote

TIMEOUT_S = 60.0
DEFAULT_SOCKET = "/var/run/docker.sock"


class EngineCallError(Exception):
    """The engine refused a call (`status`: its HTTP status) or could not be reached (0)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float = TIMEOUT_S) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


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
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        connection.request(
            method, where, None if body is None else json.dumps(body), headers=headers
        )
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise EngineCallError(f"{method} {where}: {exc}") from None
    if response.status == 404 and method == "GET":
        return None
    if response.status >= 300:
        try:
            message = json.loads(data).get("message", "")
        except (ValueError, AttributeError):
            message = data.decode("utf-8", "replace").strip()
        raise EngineCallError(f"{method} {where}: {message}", response.status)
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
