"""Agent entry point: a small server on the probe's stdin and stdout.

ddiag attaches to the probe and writes one JSON request per line; the agent answers each
task on its own line as soon as it is known, so ddiag can plan the next observations while
slow ones (timeouts) are still running. One process serves the whole run: no start-up per
round, one Python's worth of memory.

Request:  {"timeout": 2.0, "tasks": [{"k": 7, "pid": 123, "container": "ID", "kind": ...}]}
          (pid 0: observe from the probe's own namespace; -1: from the engine host's)
Answers:  {"k": 7, "r": {...}}          the task's observation
          {"k": 7, "fail": "why"}       the place it was to be observed from is unobservable
          {"done": N, "memory_peak_bytes": M}   after every task of request N
The first line is {"ready": "PYTHON VERSION"}.

Batch mode, for a probe ddiag cannot attach to (a swarm task on another node, see
diag.probes.swarm): the environment variable DDIAG_BATCH holds one request; the agent serves
it from its own namespace, writes the same lines each prefixed with "DDIAG " (so that they
stand out in the task's log, which is how ddiag reads them), then sleeps until it is
stopped: the task lives as long as its service, which ddiag removes (one that ended on its
own would be failed, or restarted, as the service's restart policy has it).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import BATCH_ENV, BATCH_MARK, EXIT_OLD_PYTHON
from .tasks import Result, run_task
from .view import HOST_PID, OWN, View, ViewError, open_home_view, open_host_view, open_view

MIN_PYTHON = (3, 10)
# Tasks (sockets) at once: ddiag starts its probes with 4096 open files. A first round at
# N = 50 is ~600 tasks; with a smaller cap the tail waited for earlier tasks' timeouts,
# and a run cost two timeouts instead of one.
MAX_IN_FLIGHT = 2048
PACKET_THREADS = 64  # of the probe's 128 pids (diag.probes.probe)
STEP_GROUP = 8  # tasks started between two turns of the event loop (see Agent.serve)
MEMORY_PEAK_FILES = (
    "/sys/fs/cgroup/memory.peak",  # cgroup v2, Linux >= 5.19
    "/sys/fs/cgroup/memory/memory.max_usage_in_bytes",  # cgroup v1
)


def memory_peak_bytes() -> int | None:
    """The probe's peak memory as its cgroup counts it (all its processes), if readable."""
    for path in MEMORY_PEAK_FILES:
        try:
            with open(path, encoding="ascii") as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            continue
    return None


class _Output:
    """stdout, flushed once the event loop has run what is ready to run.

    A flush per line cost a write per answer through the probe's pipe, its containerd
    shim and the engine's attach stream: hundreds at once, while the same CPUs start the
    run's other probes. Lines that are ready together now leave together, no later."""

    def __init__(self) -> None:
        self.flush_due = False

    def write(self, text: str) -> None:
        sys.stdout.write(text)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside the event loop: at once
            sys.stdout.flush()
            return
        if not self.flush_due:
            self.flush_due = True
            loop.call_soon(self.flush)

    def flush(self) -> None:
        self.flush_due = False
        sys.stdout.flush()


OUTPUT = _Output()


def emit(line: dict[str, Any], mark: str = "") -> None:
    OUTPUT.write(mark + json.dumps(line) + "\n")


class Agent:
    """Serves requests; views of other containers are opened once and kept for the run."""

    def __init__(self, mark: str = "") -> None:
        self.mark = mark  # before every line: BATCH_MARK in batch mode
        self.views: dict[tuple[int, str], View | ViewError] = {}
        self.home = open_home_view()  # before any task enters another namespace
        self.limit = asyncio.Semaphore(MAX_IN_FLIGHT)

    def view(self, pid: int, container: str) -> View:
        if not pid:
            return OWN
        if pid == os.getpid():  # the shared probe on the networks it anchors
            return self.home
        key = (pid, container)
        if key not in self.views:
            try:
                self.views[key] = open_host_view() if pid == HOST_PID else open_view(pid, container)
            except ViewError as exc:
                self.views[key] = exc
        found = self.views[key]
        if isinstance(found, ViewError):
            raise found
        return found

    async def answer(self, task: Result, timeout: float) -> None:
        try:
            view = self.view(int(task.get("pid") or 0), str(task.get("container") or ""))
        except ViewError as exc:
            emit({"k": task.get("k"), "fail": str(exc)}, self.mark)
            return
        async with self.limit:
            emit({"k": task.get("k"), "r": await run_task(task, timeout, view)}, self.mark)

    async def serve(self, number: int, request: dict[str, Any]) -> None:
        """Start the request's tasks in order, letting the loop run every STEP_GROUP of them:
        the answers of the first (listening sockets, from which ddiag plans its next
        connects) then leave while later ones are still being started, not after the
        first step of every task of the batch (a quarter of a second at N = 50)."""
        timeout = float(request.get("timeout", 2.0))
        started = []
        for index, task in enumerate(request["tasks"], start=1):
            started.append(asyncio.ensure_future(self.answer(task, timeout)))
            if index % STEP_GROUP == 0:
                await asyncio.sleep(0)
        await asyncio.gather(*started)
        emit({"done": number, "memory_peak_bytes": memory_peak_bytes()}, self.mark)


def _read_stdin(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    for line in sys.stdin:
        loop.call_soon_threadsafe(lines.put_nowait, line)
    loop.call_soon_threadsafe(lines.put_nowait, None)


def _packet_threads() -> None:
    """Threads enough for every DF ping task at once (each runs its rounds on one thread):
    asyncio's default pool has 5 on a one-CPU probe, and what queued behind five pings'
    rounds started only when they ended (seen with an ARP sweep's bind, issue 19; a sixth
    network's pings would wait out the first five's). Threads are made when needed, and
    PACKET_THREADS stays well under the probe's pids limit."""
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=PACKET_THREADS, thread_name_prefix="packets")
    )


async def main_loop() -> None:
    # dnspython is imported by the first DNS task, not here: ddiag's first batch is already
    # waiting on stdin, and its listening reads and connects need no DNS (0.1 s earlier).
    _packet_threads()
    agent = Agent()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    threading.Thread(target=_read_stdin, args=(loop, lines), daemon=True).start()
    emit({"ready": platform.python_version()})
    running: set[asyncio.Task[None]] = set()
    number = 0
    while (line := await lines.get()) is not None:
        if not line.strip():
            continue
        number += 1
        job = asyncio.create_task(agent.serve(number, json.loads(line)))
        running.add(job)
        job.add_done_callback(running.discard)
    if running:
        await asyncio.gather(*running)


async def serve_batch(request: dict[str, Any]) -> None:
    """Answer `request`, then wait for SIGTERM (as PID 1 the default would ignore it, and
    every removal of the probe's service would wait out its stop grace period)."""
    _packet_threads()
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    emit({"ready": platform.python_version()}, BATCH_MARK)
    serving = asyncio.create_task(Agent(BATCH_MARK).serve(1, request))
    await stopped.wait()
    serving.cancel()


def main() -> int:
    if sys.version_info < MIN_PYTHON:
        print(
            f"ddiag agent needs python3 >= 3.10, found {platform.python_version()}", file=sys.stderr
        )
        return EXIT_OLD_PYTHON
    batch = os.environ.get(BATCH_ENV)
    asyncio.run(serve_batch(json.loads(batch)) if batch else main_loop())
    return 0


if __name__ == "__main__":
    sys.exit(main())
