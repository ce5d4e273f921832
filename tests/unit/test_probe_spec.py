"""diag.probes.spec: the create request of each kind of probe, written once for the session
(through docker-py) and the launch before the imports (raw). It must say what docker-py
said for the same probe before (docker-py builds it here from its keyword arguments)."""

from __future__ import annotations

from typing import Any

import docker
import pytest
from docker.types import ContainerConfig

from diag.probes.bundle import BOOTSTRAP
from diag.probes.spec import (
    ANCHOR_COMMAND,
    create_body,
    memory_bytes,
    probe_memory,
)

LABELS = {"ddiag.probe": "1", "ddiag.run": "0123456789ab"}
COMMON = {
    "read_only": True,
    "tmpfs": {"/tmp": "size=8m,mode=1777"},
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "mem_limit": "64m",
    "pids_limit": 128,
    "nano_cpus": 1_000_000_000,
    "ulimits": [docker.types.Ulimit(name="nofile", soft=4096, hard=4096)],
}


def _docker_py(agent: bool, **host_config: Any) -> dict[str, Any]:
    api = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")
    config = ContainerConfig(
        "1.41",
        "img",
        ["python3", "-c", BOOTSTRAP] if agent else ANCHOR_COMMAND,
        environment={"PYTHONDONTWRITEBYTECODE": "1"},
        labels=LABELS,
        stdin_open=agent,
        host_config=api.create_host_config(**COMMON, **host_config),
    )
    return {key: value for key, value in config.items() if value not in (None, False)}


def _ours(key: str, network_mode: str) -> dict[str, Any]:
    body = create_body(key, "img", network_mode, "64m", LABELS)
    return {key: value for key, value in body.items() if value not in (None, False)}


@pytest.mark.parametrize(
    ("key", "network_mode", "agent", "host_config"),
    [
        (
            "shared",
            "none",
            True,
            {
                "network_mode": "none",
                "pid_mode": "host",
                "cap_add": ["SYS_ADMIN", "SYS_PTRACE", "NET_RAW"],
            },
        ),
        ("anchor:bridges", "net1", False, {"network_mode": "net1"}),
        ("anchor:net2", "net2", False, {"network_mode": "net2"}),
        (
            "netns:c1",
            "container:c1",
            True,
            {"network_mode": "container:c1", "cap_add": ["NET_RAW"]},
        ),
        ("host:", "host", True, {"network_mode": "host", "cap_add": ["NET_RAW"]}),
    ],
)
def test_each_probe_is_asked_for_as_docker_py_asked_for_it(
    key: str, network_mode: str, agent: bool, host_config: dict[str, Any]
) -> None:
    assert _ours(key, network_mode) == _docker_py(agent, **host_config)


def test_memory_is_counted_as_docker_counts_it() -> None:
    assert memory_bytes(probe_memory(None)) == 64 * 1024**2
    assert memory_bytes(probe_memory(" 1G ")) == 1024**3
    assert memory_bytes("512k") == 512 * 1024
    assert memory_bytes("1000") == memory_bytes("1000b") == 1000
