"""Bulk engine reads over a unix socket (diag.engine.bulk_read), against a small HTTP server."""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import docker
import pytest

from diag.engine.bulk_read import EngineReadError, get_many, unix_socket_path


class _Engine(http.server.BaseHTTPRequestHandler):
    """Answers /containers/ID/json with {"Id": ID}; ID "gone" is a 404, "broken" a 500."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the engine does
    connections: ClassVar[set[int]] = set()

    def do_GET(self) -> None:
        _Engine.connections.add(id(self.connection))
        ident = self.path.split("/")[-2]
        status = {"gone": 404, "broken": 500}.get(ident, 200)
        body = json.dumps({"Id": ident} if status == 200 else {"message": "no"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):  # type: ignore[no-untyped-def]
        request, _ = super().get_request()
        return request, ("local", 0)  # BaseHTTPRequestHandler wants a (host, port)


@pytest.fixture
def engine_socket(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "engine.sock")
    _Engine.connections = set()
    server = _Server(path, _Engine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield path
    server.shutdown()
    server.server_close()


def test_every_answer_comes_back_in_order_on_a_few_kept_alive_connections(engine_socket):
    paths = [f"/v1.41/containers/c{n}/json" for n in range(25)]
    answers = get_many(engine_socket, paths)
    assert [a["Id"] for a in answers] == [f"c{n}" for n in range(25)]
    assert len(_Engine.connections) <= 2


def test_a_container_gone_since_the_listing_reads_as_none(engine_socket):
    answers = get_many(engine_socket, ["/v1.41/containers/a/json", "/v1.41/containers/gone/json"])
    assert answers == [{"Id": "a"}, None]


def test_an_engine_error_or_no_engine_is_an_engine_read_error(engine_socket, tmp_path):
    with pytest.raises(EngineReadError, match="500"):
        get_many(engine_socket, ["/v1.41/containers/broken/json"])
    with pytest.raises(EngineReadError):
        get_many(str(tmp_path / "nothing.sock"), ["/v1.41/containers/a/json"])


def test_the_socket_read_in_bulk_is_the_one_docker_py_talks_to(tmp_path):
    path = tmp_path / "elsewhere.sock"
    assert unix_socket_path(docker.DockerClient(base_url=f"unix://{path}", version="1.41")) == str(
        path
    )
    assert (
        unix_socket_path(docker.DockerClient(base_url="tcp://127.0.0.1:2375", version="1.41"))
        is None
    )
