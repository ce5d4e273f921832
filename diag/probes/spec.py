"""The engine's create request for each kind of probe, and the probes' memory limit.

Written once for both ways a probe is asked for: through docker-py by the probe session
(diag.probes.session), and over the engine's unix socket before docker-py is even imported
(diag.probes.launchpad, issue 19). So this module imports nothing of docker-py: the body is
the Engine API's own (`POST /containers/create`), which docker-py sends as given
(`create_container_from_config`).

What each setting is for: ARCHITECTURE.md, "What a probe is".
"""

from __future__ import annotations

import re
from typing import Any

from diag.errors import DiagError
from diag.probes.bundle import BOOTSTRAP
from diag.probes.probe import OPEN_FILES, PACKET_CAPS, PROBE_LIMITS

DEFAULT_MEMORY = str(PROBE_LIMITS["mem_limit"])
SHARED_CAPS = ["SYS_ADMIN", "SYS_PTRACE"]  # setns(2) into a netns; open /proc/PID/ns/net
ANCHOR_COMMAND = ["python3", "-c", "import signal; signal.pause()"]
SHARED_KEY = "shared"
ANCHOR_PREFIX = "anchor:"
UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def probe_memory(value: str | None) -> str:
    """DDIAG_PROBE_MEMORY (None: not set): the probes' memory limit, as docker takes it."""
    memory = (value or "").strip().lower() or DEFAULT_MEMORY
    if not re.fullmatch(r"[0-9]+[bkmg]?", memory):
        raise DiagError(f"DDIAG_PROBE_MEMORY takes a size such as 64m or 1g, not {memory!r}.")
    return memory


def memory_bytes(memory: str) -> int:
    """A size `probe_memory` accepted, in bytes (`64m`: 67108864), as docker counts it."""
    digits = memory.rstrip("bkmg")
    return int(digits) * UNITS[memory[len(digits) :]]


def has_agent(key: str) -> bool:
    """Every probe runs the agent but an anchor, which only sleeps on its networks."""
    return not key.startswith(ANCHOR_PREFIX)


def probe_name(run_id: str, key: str) -> str:
    return f"ddiag-probe-{run_id}-{key.replace(':', '-')[:40]}"


def create_body(
    key: str, image: str, network_mode: str, memory: str, labels: dict[str, str]
) -> dict[str, Any]:
    """The create request of probe `key` ("shared", "anchor:...", or an isolated probe's
    "KIND:REF"): the shared probe joins the host's pid namespace and no network; an
    anchor keeps no capability; every probe is read-only, capped, and without privileges
    to gain. An agent's stdin stays open: the agent comes that way (diag.probes.bundle)."""
    agent = has_agent(key)
    host_config: dict[str, Any] = {
        "ReadonlyRootfs": True,
        "Tmpfs": {"/tmp": "size=8m,mode=1777"},
        "CapDrop": ["ALL"],
        "SecurityOpt": ["no-new-privileges"],
        "Memory": memory_bytes(memory),
        "PidsLimit": PROBE_LIMITS["pids_limit"],
        "NanoCpus": PROBE_LIMITS["nano_cpus"],
        "Ulimits": [{"Name": "nofile", "Soft": OPEN_FILES, "Hard": OPEN_FILES}],
        "NetworkMode": network_mode,
    }
    if key == SHARED_KEY:
        host_config |= {"PidMode": "host", "CapAdd": SHARED_CAPS + PACKET_CAPS}
    elif agent:
        host_config["CapAdd"] = PACKET_CAPS
    return {
        "Image": image,
        "Cmd": ["python3", "-c", BOOTSTRAP] if agent else ANCHOR_COMMAND,
        "Env": ["PYTHONDONTWRITEBYTECODE=1"],
        "Labels": labels,
        "Tty": False,
        "OpenStdin": agent,
        "StdinOnce": agent,
        "AttachStdin": agent,
        "AttachStdout": True,
        "AttachStderr": True,
        "HostConfig": host_config,
    }
