"""Faults on the real engine (issue 7, item 5): each ends in a finding, an `inconclusive`
entry with the reason, or exit 2 with a message; never a traceback, never a hang, and no
probe is left behind.

fault-slow gives a run whose observations take as long as --timeout allows (a filtered port,
a dns: server that never answers), so a fault can strike while the run is under way: the
target stopped or removed, every probe killed. The other faults: a probe out of memory
(DDIAG_PROBE_MEMORY), a network with no free address for a probe (fault-full), hangs bounded
by --timeout and the whole run bounded by --deadline, and the engine itself killed and
restarted mid-run (a second, private engine: tests/integration/engine2.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import pytest

from tests.integration.engine2 import EngineUnavailable, SecondEngine
from tests.integration.stacks import PROBE_IMAGE, Stack, ddiag, probes, probes_of, running

SLOW = "fault-slow"
TIMEOUT_S = 3.0  # --timeout of the slow runs: each DNS query / connect may hang this long
RUN_LIMIT_S = 150  # no run may take longer than this: past it, ddiag hangs
PROBE_WAIT_S = 60
NO_ADDRESS = re.compile(r"no (free|available) (ipv4 )?address|network is full", re.IGNORECASE)
PROBE_GONE = re.compile(r"probe|killed|exited|died|stopped|gone", re.IGNORECASE)
OUT_OF_MEMORY = re.compile(r"out of memory|\boom\b|memory limit", re.IGNORECASE)
# The server of fault-slow's `slow` (a port whose connects time out), for the second engine.
FILTERED_SERVER = """\
import socket, time
server = socket.socket()
server.bind(("0.0.0.0", 9000))
server.listen(0)
held = [socket.create_connection(("127.0.0.1", 9000)) for _ in range(2)]
time.sleep(10**6)
"""


@dataclass
class Outcome:
    """How a ddiag run ended: exit code, output, wall time and, for 0 and 1, the report."""

    pid: int
    returncode: int
    stdout: str
    stderr: str
    elapsed_s: float
    report: dict[str, Any] | None

    def describe(self) -> str:
        return (
            f"exit {self.returncode} after {self.elapsed_s:.1f} s\n"
            f"stderr: {self.stderr}\nstdout: {self.stdout[:4000]}"
        )


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "DDIAG_PROBE_IMAGE": PROBE_IMAGE,
        "DDIAG_PULL": "never",
        **(extra or {}),
    }


def _start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], float]:
    """Start the real CLI in the background with a JSON report on stdout."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "diag", *args, "--format", "json"],
        env=_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, time.monotonic()


def _finish(proc: subprocess.Popen[str], started: float) -> Outcome:
    """Wait for the run (failing the test if it hangs) and check it ended gracefully: no
    traceback, exit 0/1 with a JSON report or exit 2 with a message."""
    try:
        out, err = proc.communicate(timeout=max(1.0, RUN_LIMIT_S - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"ddiag hung for {RUN_LIMIT_S} s\nstderr: {err}")
    outcome = Outcome(proc.pid, proc.returncode, out, err, time.monotonic() - started, None)
    assert "Traceback" not in err, outcome.describe()
    assert proc.returncode in (0, 1, 2), outcome.describe()
    if proc.returncode == 2:  # a message (ours, or a usage error's), perhaps with a report
        assert "ddiag:" in err or "Error" in err, f"exit 2 without a message: {outcome.describe()}"
    if proc.returncode != 2 or out.strip():
        try:
            outcome.report = json.loads(out)
        except ValueError:
            pytest.fail(f"exit {proc.returncode} without a JSON report: {outcome.describe()}")
    return outcome


def _run(*args: str, env: dict[str, str] | None = None) -> Outcome:
    proc, started = _start(*args, env=env)
    return _finish(proc, started)


def _await_probe(engine: docker.DockerClient, proc: subprocess.Popen[str]) -> None:
    """Return once the run has a probe (and a second more), failing if it ends first."""
    deadline = time.monotonic() + PROBE_WAIT_S
    while not probes_of(engine, proc.pid) and time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ddiag ended before any probe appeared: {proc.communicate()}")
        time.sleep(0.05)
    assert probes_of(engine, proc.pid), "no probe appeared"
    time.sleep(1.0)
    assert proc.poll() is None, "the run ended before the fault: make fault-slow slower"


def _mentions(outcome: Outcome, names: set[str], pattern: re.Pattern[str] | None = None) -> bool:
    """Whether the run's end speaks of `names`: a finding naming one, an inconclusive entry
    naming one (or matching `pattern`), or exit 2 whose message names one (or matches)."""

    def said(text: str) -> bool:
        return any(name in text for name in names) or bool(pattern and pattern.search(text))

    if said(outcome.stderr) and outcome.returncode == 2:
        return True
    if outcome.report is None:
        return False
    if any(set(f["subjects"]) & names for f in outcome.report["findings"]):
        return True
    return any(said(f"{i['where']}: {i['reason']}") for i in outcome.report["inconclusive"])


def _compose(stack: Stack) -> list[str]:
    return ["compose", "-p", stack.project, "-f", str(stack.directory / "compose.yaml")]


def _checks(outcome: Outcome) -> set[str]:
    return {f["check"] for f in (outcome.report or {}).get("findings", [])}


@pytest.fixture
def slow() -> Iterator[Stack]:
    with running(SLOW) as stack:
        yield stack


# --- a: the target stopped or removed mid-run ---------------------------------------------


@pytest.mark.parametrize("how", ["stop", "remove"])
def test_target_stopped_or_removed_mid_run(engine, slow: Stack, how: str) -> None:
    victim = f"{slow.project}-slow-1"
    proc, started = _start(*_compose(slow), "--timeout", f"{TIMEOUT_S:g}")
    try:
        _await_probe(engine, proc)
        if how == "stop":
            engine.api.stop(victim, timeout=0)
        else:
            engine.api.remove_container(victim, force=True)
    finally:
        outcome = _finish(proc, started)
    assert _mentions(outcome, {"slow", victim}), (
        f"nothing said about the {how}ped target: {outcome.describe()}"
    )
    assert probes_of(engine, proc.pid) == []


# --- b: every probe killed mid-run --------------------------------------------------------


def test_probe_killed_mid_run(engine, slow: Stack) -> None:
    proc, started = _start(*_compose(slow), "--timeout", f"{TIMEOUT_S:g}")
    try:
        _await_probe(engine, proc)
        killed = 0
        for summary in probes_of(engine, proc.pid):
            try:
                engine.api.kill(summary["Id"])
                killed += 1
            except docker.errors.APIError:  # gone, or not running any more
                continue
        assert killed, "no probe was running to be killed"
    finally:
        outcome = _finish(proc, started)
    recovered = (
        outcome.report is not None
        and {"port.filtered", "dns.custom-resolver-unreachable"} <= _checks(outcome)
        and not outcome.report["inconclusive"]
    )
    assert recovered or _mentions(outcome, set(), PROBE_GONE), (
        f"a killed probe neither recovered nor was reported: {outcome.describe()}"
    )
    assert probes_of(engine, proc.pid) == []


# --- c: a probe out of memory -------------------------------------------------------------


@pytest.mark.parametrize(
    ("memory", "agent_starts"),
    [("10m", True), ("6m", False)],
    ids=["agent-oom", "init-oom"],
)
def test_probe_out_of_memory(engine, slow: Stack, memory: str, agent_starts: bool) -> None:
    """10 MiB lets the container start but not python3 import asyncio: the agent is
    OOM-killed as it starts, every time (the engine's `oom` events prove it). 6 MiB, docker's
    minimum, is too little for the container's init itself: the engine refuses to start it."""
    since = int(time.time()) - 1
    proc, started = _start(*_compose(slow), "--timeout", "1", env={"DDIAG_PROBE_MEMORY": memory})
    outcome = _finish(proc, started)
    if agent_starts:
        ooms = list(
            engine.api.events(
                since=since,
                until=int(time.time()) + 1,
                filters={"event": "oom", "label": "ddiag.probe"},
                decode=True,
            )
        )
        assert ooms, f"no probe ran out of memory (memory limit not applied?): {outcome.describe()}"
    assert _mentions(outcome, set(), OUT_OF_MEMORY), (
        f"a probe out of memory is not reported as such: {outcome.describe()}"
    )
    assert probes_of(engine, proc.pid) == []


# --- d: a network too full for a probe to join --------------------------------------------


def test_network_too_full_for_a_probe(engine) -> None:
    with running("fault-full") as stack:
        network = f"{stack.project}_default"
        members = engine.api.inspect_network(network)["Containers"]
        assert len(members) == 5, "fault-full should fill its /29 with 5 containers"
        proc, started = _start("network", network, "--timeout", "1")
        outcome = _finish(proc, started)
        assert _mentions(outcome, set(), NO_ADDRESS), (
            f"a full network is not reported as having no free address: {outcome.describe()}"
        )
        if outcome.report is not None:
            reasons = [i for i in outcome.report["inconclusive"] if NO_ADDRESS.search(i["reason"])]
            assert reasons and all(network in i["where"] + i["reason"] for i in reasons), reasons
        assert probes_of(engine, proc.pid) == []


# --- e: hangs bounded by --timeout, the run bounded by --deadline --------------------------


def test_hanging_dns_and_connect_end_within_timeout_bounds(engine, slow: Stack) -> None:
    """A dns: server that never answers and a connect whose SYNs are dropped each hang for
    --timeout, then become findings; the run is a few timeouts long, not more."""
    bound = 5 * TIMEOUT_S + 20
    outcome = _run(*_compose(slow), "--timeout", f"{TIMEOUT_S:g}")
    assert outcome.returncode == 1, outcome.describe()
    assert probes_of(engine, outcome.pid) == []
    assert outcome.elapsed_s < bound, f"{outcome.elapsed_s:.1f} s > {bound} s"
    assert {"port.filtered", "dns.custom-resolver-unreachable"} <= _checks(outcome)
    assert outcome.report is not None and outcome.report["inconclusive"] == []
    print(f"\nfault-slow with --timeout {TIMEOUT_S:g}: {outcome.elapsed_s:.1f} s")


def test_deadline_bounds_the_whole_run(engine, slow: Stack) -> None:
    """--timeout 10 makes each hang 10 s; --deadline 2 ends the run first: the report is
    still written, what was not observed is inconclusive because of the deadline, exit 2
    (no error finding could be made in 2 s) or 1, and one line on stderr says why."""
    deadline = 2.0
    outcome = _run(*_compose(slow), "--timeout", "10", "--deadline", f"{deadline:g}")
    assert outcome.elapsed_s < deadline + 10, outcome.describe()
    assert outcome.report is not None or "--deadline" not in outcome.stderr, (
        f"--deadline is not an option yet: {outcome.describe()}"
    )
    report = json.loads(outcome.stdout)  # the report is rendered whatever the exit code
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert outcome.returncode == (1 if errors else 2), outcome.describe()
    late = [i for i in report["inconclusive"] if "deadline" in i["reason"].lower()]
    assert late, f"nothing inconclusive because of the deadline: {report['inconclusive']}"
    said = outcome.stderr.strip().splitlines()
    assert len(said) == 1 and "deadline" in said[0], f"not one line on stderr: {outcome.stderr!r}"
    assert probes_of(engine, outcome.pid) == []


# --- f: the engine killed and restarted mid-run (a second engine of this test's own) --------


@pytest.fixture(scope="module")
def second_engine() -> Iterator[SecondEngine]:
    """A private dockerd with the test images loaded; skipped where one cannot start."""
    engine2 = SecondEngine()
    engine2.teardown()  # what a previous, interrupted session may have left
    try:
        engine2.start()
        engine2.load_images(PROBE_IMAGE, "ddiag-test/busybox:latest")
    except EngineUnavailable as exc:
        engine2.teardown()
        pytest.skip(f"cannot run a second Docker engine here: {exc}")
    try:
        yield engine2
    finally:
        engine2.teardown()


E2_NETWORK = "ddiagt-e2-net"
E2_SUBNET = "10.213.123.0/24"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["crash", "stop"])
def test_engine_restarted_mid_run(second_engine: SecondEngine, sig: signal.Signals) -> None:
    """The engine dies (SIGKILL: a crash; SIGTERM: `systemctl restart docker`) while ddiag
    waits on a connect that hangs; ddiag says the engine went away (exit 2) or reports what
    it could not observe, and after the restart `ddiag cleanup` leaves no probe."""
    if not second_engine.answers():  # a previous case failed before its restart
        second_engine.start()
    client = second_engine.client()
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=E2_SUBNET)])
    for stale in client.api.containers(all=True):
        client.api.remove_container(stale["Id"], force=True)
    for stale in client.api.networks(names=[E2_NETWORK]):
        client.api.remove_network(stale["Id"])
    client.api.create_network(E2_NETWORK, driver="bridge", ipam=ipam)
    client.containers.run(
        PROBE_IMAGE,
        ["python3", "-c", FILTERED_SERVER],
        name="ddiagt-e2-slow",
        network=E2_NETWORK,
        detach=True,
    )
    env = {"DOCKER_HOST": second_engine.host}
    proc, started = _start("network", E2_NETWORK, "--timeout", "10", env=env)
    try:
        _await_probe(client, proc)
        second_engine.kill(sig)
    finally:
        outcome = _finish(proc, started)
    assert outcome.elapsed_s < 60, f"ddiag took {outcome.elapsed_s:.1f} s to notice"
    if outcome.returncode == 2:
        assert re.search(r"engine|docker", outcome.stderr, re.IGNORECASE), outcome.describe()
    else:
        assert outcome.report is not None and outcome.report["inconclusive"], outcome.describe()

    second_engine.start()
    cleanup = ddiag("cleanup", env=env)
    assert cleanup.returncode == 0 and "Traceback" not in cleanup.stderr, cleanup.stderr
    assert probes(second_engine.client()) == [], "a probe survived the restart and cleanup"
