"""`ddiag shell`: an interactive probe on a network or in a container's netns, removed on exit.

`ddiag shell NETWORK` starts a container of the probe image attached to NETWORK (to look
at it as a peer does); `ddiag shell container:NAME` starts one in NAME's network namespace
(to see its listening sockets, resolv.conf and routes). Either runs `sh` with the terminal
attached, like `docker run --rm -it --network ... nicolaka/netshoot`.

The container is a probe in every way that matters: the same labels (`ddiag cleanup` and
the next run's reaper find it; `ddiag.shell` keeps the reaper away while its ddiag lives),
the same least privilege (all capabilities dropped, no-new-privileges, read-only root with
a small /tmp, memory/pids/CPU limits), except that NET_RAW is kept: ping, arping and
traceroute need it.

The terminal is the docker CLI's job: ddiag runs `docker run --rm -it ...` (`-i` alone when
stdin is not a terminal, so `echo 'cat /etc/resolv.conf' | ddiag shell net` works) and waits
for it; proxying a TTY through the Engine API is fragile (raw mode, resizes, signals).
`--rm` removes the container when the shell ends, and ddiag removes anything carrying its
run id afterwards whatever happened (the docker CLI killed, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import shlex
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import docker
import docker.errors

from diag.engine.errors import ENGINE_ERRORS
from diag.errors import DiagError
from diag.model.targets import _unknown
from diag.model.topology import Topology
from diag.probes.probe import PROBE_LIMITS, RUN_LABEL, SHELL_LABEL, probe_labels

CONTAINER_PREFIX = "container:"
SHELL = "sh"


@dataclass(frozen=True)
class ShellTarget:
    network_mode: str  # a network name, or container:<id>
    label: str  # for the prompt and messages: "shop_back", "container:shop-api-1"


def resolve_target(topology: Topology, spec: str) -> ShellTarget:
    """`NETWORK` or `container:NAME`, checked against the engine; close names suggested."""
    if spec.startswith(CONTAINER_PREFIX):
        name = spec[len(CONTAINER_PREFIX) :]
        container = topology.container_named(name)
        if container is None:
            raise DiagError(_unknown(name, "container", [c.name for c in topology.containers]))
        if not container.running:
            raise DiagError(
                f"Container {container.name} is {container.status}: its network namespace "
                "exists only while it runs. Start it (`docker start "
                f"{container.name}`), then run ddiag shell again."
            )
        return ShellTarget(f"{CONTAINER_PREFIX}{container.id}", f"container:{container.name}")
    network = topology.network_named(spec)
    if network is None:
        known = [n.name for n in topology.networks]
        message = _unknown(spec, "network", known)
        if topology.container_named(spec) is not None:
            message += f" For the network namespace of the container {spec}, use container:{spec}."
        raise DiagError(message)
    return ShellTarget(network.name, network.name)


def docker_run_command(
    image: str,
    target: ShellTarget,
    name: str,
    labels: Mapping[str, str],
    tty: bool,
    docker_cli: str = "docker",
    engine: Sequence[str] = (),
) -> list[str]:
    """The `docker run` that opens the shell: a probe's settings, NET_RAW kept, `sh` attached.
    `engine`: the docker CLI's global options that name the engine ddiag uses (-H, -c)."""
    memory = PROBE_LIMITS["mem_limit"]
    cpus = PROBE_LIMITS["nano_cpus"] / 1_000_000_000
    command = [docker_cli, *engine, "run", "--rm", "-i"]
    if tty:
        command.append("-t")
    command += ["--name", name]
    for key, value in labels.items():
        command += ["--label", f"{key}={value}"]
    command += [
        "--network",
        target.network_mode,
        "--read-only",
        "--tmpfs",
        "/tmp:size=8m,mode=1777",
        "--workdir",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "NET_RAW",
        "--security-opt",
        "no-new-privileges",
        "--memory",
        str(memory),
        "--pids-limit",
        str(PROBE_LIMITS["pids_limit"]),
        "--cpus",
        f"{cpus:g}",
        "--env",
        f"PS1=ddiag {target.label} # ",
        "--entrypoint",
        SHELL,
        image,
    ]
    return command


REMOVAL_WAIT_S = 10  # a removal in progress takes well under a second on a sound engine


def remove_run(client: docker.DockerClient, run_id: str) -> list[str]:
    """Remove whatever carries this run id (the shell's container, if `--rm` did not).

    When ddiag is stopped (SIGTERM, Ctrl-C) the docker CLI is killed with it, the shell's
    stdin closes, `sh` exits and the engine's own `--rm` starts removing the container: our
    removal then gets 409 ("removal ... already in progress"). Returning at once would let
    ddiag exit with the container still listed ("Removal In Progress"), so a removal in
    progress is waited for (bounded: a stuck one is left to the next run's reaper)."""
    removed: list[str] = []
    try:
        found = client.api.containers(all=True, filters={"label": f"{RUN_LABEL}={run_id}"})
    except ENGINE_ERRORS:  # the engine is gone: the next run's reaper removes it
        return removed
    for summary in found:
        try:
            client.api.remove_container(summary["Id"], v=True, force=True)
            removed.append(summary["Id"])
        except docker.errors.APIError as exc:  # gone already (--rm), being removed, or refused:
            if exc.status_code == 409:  # the next run's reaper (or `ddiag cleanup`) tries again
                _await_removal(client, summary["Id"])
    return removed


def _await_removal(client: docker.DockerClient, container_id: str) -> None:
    """Until the engine's removal of this container ends (`wait?condition=removed`), or
    REMOVAL_WAIT_S pass; gone already (404) or an engine that went away ends it too."""
    try:
        client.api.wait(container_id, timeout=REMOVAL_WAIT_S, condition="removed")
    except ENGINE_ERRORS:
        return


@dataclass(frozen=True)
class ShellRun:
    command: list[str]
    run_id: str


def plan_shell(
    image: str, target: ShellTarget, tty: bool, docker_cli: str, engine: Sequence[str] = ()
) -> ShellRun:
    run_id = uuid.uuid4().hex[:12]
    labels = {**probe_labels(run_id), SHELL_LABEL: "1"}
    command = docker_run_command(
        image, target, f"ddiag-shell-{run_id}", labels, tty, docker_cli=docker_cli, engine=engine
    )
    return ShellRun(command, run_id)


def run_shell(client: docker.DockerClient, run: ShellRun) -> int:
    """Run the shell in the foreground; always remove its container; the shell's exit code."""
    try:
        return subprocess.call(run.command)
    finally:
        remove_run(client, run.run_id)


def no_docker_cli(command: Sequence[str]) -> str:
    return (
        "ddiag shell hands the terminal to the docker CLI, which is not on PATH. Install it "
        "(the docker-ce-cli or docker.io package), or run the equivalent yourself:\n  "
        + shlex.join(command)
    )
