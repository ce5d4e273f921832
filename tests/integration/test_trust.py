"""Trust on the real engine: ddiag leaves the user's setup as it found it, its probes run with
least privilege (read back from the engine, not from our own code), and two runs at once on
the same network both finish correctly and leave nothing behind."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import docker
import docker.errors
import pytest

from diag.probes.spec import ANCHOR_COMMAND
from tests.integration.stacks import (
    PROBE_IMAGE,
    ddiag,
    probes,
    probes_of,
    running,
    slow_run_with_probes,
)

MIB = 1024 * 1024


def _project_state(engine: docker.DockerClient, project: str) -> dict[str, Any]:
    """Full inspect data of the project's containers and networks, plus every container and
    network id on the engine (a run must not leave a new one behind)."""
    api = engine.api
    label = f"com.docker.compose.project={project}"
    containers = {
        c["Id"]: api.inspect_container(c["Id"])
        for c in api.containers(all=True, filters={"label": label})
    }
    networks = {
        n["Id"]: api.inspect_network(n["Id"]) for n in api.networks(filters={"label": label})
    }
    return {
        "containers": containers,
        "networks": networks,
        "all_containers": {c["Id"] for c in api.containers(all=True)},
        "all_networks": {n["Id"] for n in api.networks()},
    }


def _comparable_container(attrs: dict[str, Any]) -> dict[str, Any]:
    """A container's inspect data minus what changes on its own, whatever ddiag does: the
    healthcheck's log (a new entry with fresh Start/End timestamps every interval) and its
    failing streak. Everything else (State.Pid, StartedAt, RestartCount, NetworkSettings,
    Config, HostConfig, Mounts...) must be identical: a probe in `container:X` mode joins
    X's network namespace without any trace in X's own inspect data."""
    attrs = copy.deepcopy(attrs)
    health = (attrs.get("State") or {}).get("Health")
    if health:
        health.pop("Log", None)
        health.pop("FailingStreak", None)
    return attrs


def _comparable_network(attrs: dict[str, Any]) -> dict[str, Any]:
    """A network's inspect data. `Containers` lists probe endpoints while probes are attached;
    it is compared too, since after the run it must be exactly the map from before."""
    return copy.deepcopy(attrs)


def test_a_run_changes_nothing_in_the_users_setup(engine) -> None:
    with running("compose-loopback") as stack:
        network = f"{stack.project}_default"
        before = _project_state(engine, stack.project)
        assert before["containers"] and network in {n["Name"] for n in before["networks"].values()}

        compose = ddiag(*stack.command())
        assert compose.returncode == stack.expect["exit_code"], compose.stderr
        net = ddiag("network", network)
        assert net.returncode in (0, 1), net.stderr
        assert "Traceback" not in compose.stderr + net.stderr

        after = _project_state(engine, stack.project)
        assert after["all_containers"] == before["all_containers"], "a container appeared/went"
        assert after["all_networks"] == before["all_networks"], "a network appeared/went"
        assert set(after["containers"]) == set(before["containers"])
        for cid, attrs in before["containers"].items():
            assert _comparable_container(after["containers"][cid]) == _comparable_container(
                attrs
            ), f"container {attrs['Name']} changed"
        assert set(after["networks"]) == set(before["networks"])
        for nid, attrs in before["networks"].items():
            now = after["networks"][nid]
            assert now["Containers"] == attrs["Containers"], "probe endpoints left attached"
            assert _comparable_network(now) == _comparable_network(attrs), (
                f"network {attrs['Name']} changed"
            )
        assert probes(engine) == []


def _inspect_probes(engine: docker.DockerClient, pid: int, count: int) -> list[dict[str, Any]]:
    """Inspect data of `count` live probes of the ddiag `pid` (vanished ones are skipped)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = []
        for summary in probes_of(engine, pid):
            try:
                found.append(engine.api.inspect_container(summary["Id"]))
            except docker.errors.NotFound:
                continue
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} probes could be inspected")


def _assert_least_privilege(attrs: dict[str, Any], caps: set[str]) -> None:
    host = attrs["HostConfig"]
    assert host["Privileged"] is False
    assert "ALL" in (host.get("CapDrop") or [])
    assert set(host.get("CapAdd") or []) == caps
    assert "no-new-privileges" in (host.get("SecurityOpt") or [])
    assert host["ReadonlyRootfs"] is True
    assert "/tmp" in (host.get("Tmpfs") or {})
    assert host["Memory"] == 64 * MIB
    assert host["PidsLimit"] == 128
    assert host["NanoCpus"] and host["NanoCpus"] > 0
    assert not host.get("Binds")
    assert not [m for m in host.get("Mounts") or [] if m.get("Type") == "bind"]
    assert not [m for m in attrs.get("Mounts") or [] if m.get("Type") == "bind"]
    labels = attrs["Config"]["Labels"]
    for label in ("ddiag.probe", "ddiag.run", "ddiag.owner", "ddiag.created"):
        assert labels.get(label), f"probe lacks label {label}"


@pytest.mark.parametrize("mode", ["shared", "isolated"])
def test_probes_run_with_least_privilege(engine, mode: str) -> None:
    """Shared: the one probe that enters other netns has exactly SYS_ADMIN, SYS_PTRACE and
    NET_RAW and no network of its own; the network's anchor has nothing. Isolated: NET_RAW
    only (raw sockets for ARP and DF pings)."""
    with running("filtered-port") as stack:
        proc = slow_run_with_probes(engine, f"{stack.project}_default", "--probe-mode", mode)
        try:
            inspected = _inspect_probes(engine, proc.pid, 2)
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        for attrs in inspected:
            shared = attrs["HostConfig"]["PidMode"] == "host"
            assert shared == (mode == "shared" and attrs["HostConfig"]["NetworkMode"] == "none")
            anchor = attrs["Config"]["Cmd"] == ANCHOR_COMMAND
            expected = {"SYS_ADMIN", "SYS_PTRACE", "NET_RAW"} if shared else {"NET_RAW"}
            _assert_least_privilege(attrs, set() if anchor else expected)
        if mode == "shared":
            assert any(a["HostConfig"]["PidMode"] == "host" for a in inspected)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert probes(engine) == []


def _findings(report: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((f["check"], tuple(sorted(f["subjects"]))) for f in report["findings"])


def test_two_runs_at_once_on_the_same_network(engine) -> None:
    with running("loopback-only") as stack:
        env = {
            **os.environ,
            "DDIAG_PROBE_IMAGE": PROBE_IMAGE,
            "DDIAG_PULL": "never",
        }
        argv = [sys.executable, "-m", "diag", *stack.command(), "--format", "json"]
        procs = [
            subprocess.Popen(
                argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outputs = [proc.communicate(timeout=120) for proc in procs]
        reports = []
        for proc, (out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == stack.expect["exit_code"], err
            assert "Traceback" not in err
            report = json.loads(out)
            assert report["inconclusive"] == [], report["inconclusive"]
            reports.append(report)
        first, second = (_findings(r) for r in reports)
        assert first == second
        for expected in stack.expect["findings"]:
            assert any(
                check == expected["check"] and set(expected["subjects"]) <= set(subjects)
                for check, subjects in first
            ), f"{expected} not found in {first}"
        assert probes(engine) == []
