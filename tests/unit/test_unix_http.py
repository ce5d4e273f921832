"""diag.engine.unix_http: the engine's answers as its Go HTTP server writes them (a length,
chunked, or closed at the end), read from recorded bytes; no socket is opened."""

from __future__ import annotations

import io

import pytest

from diag.engine.unix_http import EngineCallError, UnixConnection, call, path


class _Sent:
    def __init__(self) -> None:
        self.data = b""

    def sendall(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        pass


def _connection(answers: bytes) -> tuple[UnixConnection, _Sent]:
    connection = UnixConnection("/nonexistent.sock")
    sent = _Sent()
    connection._sock, connection._reader = sent, io.BytesIO(answers)  # type: ignore[assignment]
    return connection, sent


CREATED = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n"
    b'{"Id":"abc","Warnings":[]}'
)
STARTED = b"HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n"
LISTED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'5\r\n[{"Id\r\n7;ext=1\r\n":"n1"}\r\n1\r\n]\r\n0\r\n\r\n'
)
MISSING = b'HTTP/1.1 404 Not Found\r\nContent-Length: 32\r\n\r\n{"message":"No such image: x:1"}'


def test_answers_with_a_length_none_and_chunks_follow_one_another_on_one_connection() -> None:
    connection, sent = _connection(CREATED + STARTED + LISTED)
    assert call(connection, "POST", "/containers/create?name=p", {"Image": "img"}) == {
        "Id": "abc",
        "Warnings": [],
    }
    assert call(connection, "POST", "/containers/abc/start") is None
    assert call(connection, "GET", "/networks") == [{"Id": "n1"}]
    first = sent.data.split(b"\r\n\r\n")[0].decode()
    assert first.startswith("POST /containers/create?name=p HTTP/1.1\r\nHost: docker\r\n")
    assert "Content-Length: 16" in first and "Content-Type: application/json" in first


def test_an_answer_ended_by_closing_is_read_to_its_end() -> None:
    connection, _ = _connection(b"HTTP/1.0 200 OK\r\n\r\n[1, 2]")
    assert call(connection, "GET", "/x") == [1, 2]
    assert connection._sock is None  # closed: the next request connects again


@pytest.mark.parametrize(
    ("answers", "status", "message"),
    [
        (b'HTTP/1.1 409 Conflict\r\nContent-Length: 19\r\n\r\n{"message":"taken"}', 409, "taken"),
        (b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\nboom", 500, "boom"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{cut", 0, "mid-answer"),
        (b"SSH-2.0-OpenSSH\r\n", 0, "not an HTTP answer"),
        (b"", 0, "closed the connection"),
    ],
)
def test_refusals_and_broken_answers_are_engine_call_errors(
    answers: bytes, status: int, message: str
) -> None:
    connection, _ = _connection(answers)
    with pytest.raises(EngineCallError) as raised:
        call(connection, "POST", "/containers/x/start")
    assert raised.value.status == status and message in str(raised.value)


def test_a_missing_object_read_is_none_and_a_missing_object_changed_is_an_error() -> None:
    connection, _ = _connection(MISSING)
    assert call(connection, "GET", "/images/x:1/json") is None
    connection, _ = _connection(MISSING)
    with pytest.raises(EngineCallError, match="No such image"):
        call(connection, "DELETE", "/containers/x")


def test_names_are_quoted_into_the_path() -> None:
    assert path("/images/{}/json", "reg:5000/img:1") == "/images/reg%3A5000%2Fimg%3A1/json"
