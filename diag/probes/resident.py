"""One long-lived probe container, and the agent attached to it over stdin/stdout.

A resident serves a whole run: ddiag writes requests to the agent's stdin and a reader
thread turns each answer line into an event the moment it arrives. Compared with one
container per placement and round, a run costs a few container starts instead of dozens,
and later rounds cost a line of JSON instead of a container start.

An *anchor* is a resident without an agent: a sleeping container whose only job is to be a
member of a network, so that the shared probe can enter its netns and see the network as a
fresh peer does.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import docker
import docker.errors
from docker.utils.socket import STDERR, STDOUT, frames_iter

from diag import trace
from diag.agent import EXIT_OLD_PYTHON
from diag.engine.errors import ENGINE_ERRORS

STDERR_TAIL = 5
OUT_OF_MEMORY = "the probe ran out of memory"

Answer = Callable[[dict[str, Any]], None]
Ended = Callable[[str, bool], None]  # (reason, unusable image)


def _lines(frames: Iterator[tuple[int, bytes]], stderr: list[str]) -> Iterator[str]:
    """stdout split into lines; stderr's last lines kept to say why a probe died."""
    pending = b""
    for stream, data in frames:
        if stream == STDERR:
            stderr.extend(data.decode("utf-8", "replace").splitlines())
            del stderr[:-STDERR_TAIL]
        elif stream == STDOUT:
            pending += data
            *complete, pending = pending.split(b"\n")
            yield from (line.decode("utf-8", "replace") for line in complete)


class Resident:
    """A started probe container; with `attach`, its agent's answers feed `on_answer`."""

    def __init__(self, api: docker.APIClient, container_id: str, where: str) -> None:
        self.api = api
        self.id = container_id
        self.where = where
        self.pid = 0
        self.started_at = 0.0  # trace.now() when the engine was asked to start it
        self._socket: Any = None
        self._write_lock = threading.Lock()
        self.stderr: list[str] = []

    def attach(self) -> None:
        """Attach before start, so that not a byte of the agent's output is missed."""
        self._socket = self.api.attach_socket(
            self.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        )
        raw = getattr(self._socket, "_sock", self._socket)
        if hasattr(raw, "settimeout"):
            raw.settimeout(None)  # the client's read timeout would cut a quiet agent off

    def attached(self, raw: Any) -> None:
        """Use a socket attached already (diag.probes.launchpad) instead of `attach()`."""
        self._socket = raw

    def start(self, payload: Callable[[], bytes] | None = None) -> None:
        """Start the container; what `payload()` gives is written to its stdin first thing
        (the agent, for the bootstrap of diag/probes/bundle.py to read). It is called once
        the engine has started the container, so making it overlaps the start."""
        self.started_at = trace.now()
        self.api.start(self.id)
        self.running(payload)

    def running(self, payload: Callable[[], bytes] | None = None) -> None:
        """The container runs (started here, or by diag.probes.launchpad): send `payload()`
        and learn its pid."""
        if payload is not None:  # if it died before reading, serve() says why (state, stderr)
            with contextlib.suppress(OSError):
                self._write(payload())
        self.pid = int((self.api.inspect_container(self.id).get("State") or {}).get("Pid") or 0)

    def _write(self, data: bytes) -> None:
        raw = getattr(self._socket, "_sock", self._socket)
        with self._write_lock:
            raw.sendall(data)

    def send(self, request: dict[str, Any]) -> None:
        self._write((json.dumps(request) + "\n").encode())

    def serve(self, on_answer: Answer, on_end: Ended) -> None:
        """Read answers until the agent's output ends, then say why it ended (run in a thread)."""
        try:
            for line in _lines(frames_iter(self._socket, tty=False), self.stderr):
                try:
                    answer = json.loads(line)
                except ValueError:
                    continue  # not a protocol line
                if isinstance(answer, dict):
                    if "ready" in answer:  # the agent's first line
                        trace.add("agent start", self.started_at, trace.now(), probe=self.where)
                    on_answer(answer)
        except OSError:
            pass  # the container was removed under us: said below
        reason, unusable = self.exit_reason()
        on_end(reason, unusable)

    def exit_reason(self) -> tuple[str, bool]:
        """Why the agent stopped answering, and whether the image itself is to blame."""
        try:
            state = self.api.inspect_container(self.id).get("State") or {}
        except ENGINE_ERRORS:
            return "the probe was removed, or the engine stopped answering", False
        if state.get("OOMKilled"):
            return f"{OUT_OF_MEMORY} and was killed", False
        code = state.get("ExitCode")
        if code == EXIT_OLD_PYTHON:
            return (self.stderr[-1:] or ["python3 is older than 3.10"])[0], True
        if state.get("Running"):
            return "the probe stopped answering", False
        if code == 137:
            return "the probe was killed", False
        last = self.stderr[-1:] or [f"exit code {code}"]
        return f"the probe stopped: {last[0]}", False
