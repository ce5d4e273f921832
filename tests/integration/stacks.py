"""Bring compose fixtures up and down on the real engine, and run the real CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "compose-fixtures"
PROBE_IMAGE = os.environ.get("DDIAG_PROBE_IMAGE", "ddiag-test/python3:bookworm")
SETTLE_TIMEOUT_S = 30
COMPOSE_TIMEOUT_S = 600  # a bound against a hung compose; 200 containers take minutes
PROJECT_PREFIX = "ddiagt-"


@dataclass(frozen=True)
class Stack:
    name: str
    project: str
    directory: Path

    @property
    def expect(self) -> dict[str, Any]:
        """expect.json; empty for a fixture that only its own tests use (no expect.json,
        so test_fixtures.py does not pick it up)."""
        path = self.directory / "expect.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def command(self) -> list[str]:
        """The ddiag arguments; `{project}` and `{file}` (the fixture's compose.yaml) filled in."""
        file = str(self.directory / "compose.yaml")
        return [part.format(project=self.project, file=file) for part in self.expect["command"]]

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "docker",
                "compose",
                "-p",
                self.project,
                "-f",
                str(self.directory / "compose.yaml"),
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=COMPOSE_TIMEOUT_S,
        )

    def names(self) -> set[str]:
        """Services, containers and networks of this stack: what its findings may name."""
        client = docker.from_env()
        label = f"com.docker.compose.project={self.project}"
        names: set[str] = set()
        for container in client.containers.list(all=True, filters={"label": label}):
            names |= {container.name, container.labels.get("com.docker.compose.service", "")}
        for network in client.networks.list(filters={"label": label}):
            names.add(network.name)
        return names - {""}


def fixture_names() -> list[str]:
    return sorted(p.parent.name for p in FIXTURES.glob("*/expect.json"))


def _unsettled(attrs: dict[str, Any]) -> bool:
    """Still on its way: restarting, created and not failed yet, or health `starting`."""
    state = attrs.get("State") or {}
    status = state.get("Status")
    if status == "restarting" or (status == "created" and not state.get("Error")):
        return True
    return ((state.get("Health") or {}).get("Status")) == "starting"


def _settle(project: str) -> None:
    """Wait until no container of the project is still starting or restarting, and no
    healthcheck is still `starting` (a fixture's failing check must have turned unhealthy)."""
    client = docker.from_env()
    label = f"com.docker.compose.project={project}"
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        containers = client.containers.list(all=True, filters={"label": label})
        if containers and not any(_unsettled(c.attrs) for c in containers):
            break
        time.sleep(0.2)
    time.sleep(1.0)  # servers bind within milliseconds of start; leave them ample time


def _down(stack: Stack) -> None:
    """`compose down`, then whatever it leaves (one-off `compose run` containers of a
    service whose profile is not active are not its to remove)."""
    stack.compose("down", "-v", "-t", "0", "--remove-orphans")
    client = docker.from_env()
    label = f"com.docker.compose.project={stack.project}"
    leftovers = client.api.containers(all=True, filters={"label": label})
    for summary in leftovers:
        client.api.remove_container(summary["Id"], force=True, v=True)
    if leftovers:  # the networks they kept busy
        stack.compose("down", "-v", "-t", "0", "--remove-orphans")


@contextmanager
def running(name: str, *up_args: str) -> Iterator[Stack]:
    """The fixture `name` brought up (`compose up -d UP_ARGS...`, e.g. `--scale web=3`),
    settled, and brought down afterwards whatever happens."""
    stack = Stack(name, PROJECT_PREFIX + name, FIXTURES / name)
    _down(stack)
    up = stack.compose("up", "-d", *up_args)
    if up.returncode != 0 and not stack.expect.get("up_may_fail"):  # e.g. a port taken
        _down(stack)
        raise RuntimeError(f"compose up failed for {name}:\n{up.stderr}")
    try:
        for extra in stack.expect.get("after_up", []):  # e.g. a `compose run -d` one-off
            done = stack.compose(*extra)
            if done.returncode != 0:
                raise RuntimeError(f"compose {' '.join(extra)} failed for {name}:\n{done.stderr}")
        _settle(stack.project)
        yield stack
    finally:
        _down(stack)


def ddiag(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
):
    """Run the real CLI (`python -m diag`) as a user would; returns the CompletedProcess."""
    full_env = {
        **os.environ,
        "DDIAG_PROBE_IMAGE": PROBE_IMAGE,
        "DDIAG_PULL": "never",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "diag", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def probes(engine: docker.DockerClient) -> list:
    """Probe containers on the engine (the low-level list: no inspect that could race)."""
    return engine.api.containers(all=True, filters={"label": "ddiag.probe"})


def probes_of(engine: docker.DockerClient, pid: int) -> list:
    """Probe containers of the ddiag process `pid` (on this host): their `ddiag.owner`
    label is `HOST:PID`. Unlike `probes()`, blind to other ddiag runs on the same engine."""
    owner = f"{socket.gethostname()}:{pid}"
    return engine.api.containers(all=True, filters={"label": f"ddiag.owner={owner}"})


def slow_run(network: str, *options: str) -> subprocess.Popen:
    """Start ddiag against a port that times out (its connects wait 20 s)."""
    return subprocess.Popen(
        [sys.executable, "-m", "diag", "network", network, "--timeout", "20", *options],
        env={**os.environ, "DDIAG_PROBE_IMAGE": PROBE_IMAGE, "DDIAG_PULL": "never"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def slow_run_with_probes(
    engine: docker.DockerClient, network: str, *options: str
) -> subprocess.Popen:
    """Start ddiag against a port that times out, and return once its probes exist."""
    proc = slow_run(network, *options)
    deadline = time.monotonic() + 30
    while not probes(engine) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert probes(engine), "no probe appeared"
    time.sleep(0.5)
    return proc
