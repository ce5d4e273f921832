"""`ddiag shell`: the target it resolves and the `docker run` it hands the terminal to."""

from __future__ import annotations

import time

import pytest

from diag.errors import DiagError
from diag.probes.probe import (
    CREATED_LABEL,
    ORPHAN_AGE_S,
    OWNER_LABEL,
    PROBE_LABEL,
    RUN_LABEL,
    SHELL_LABEL,
    is_orphan,
    owner_id,
)
from diag.probes.shell import ShellTarget, docker_run_command, plan_shell, resolve_target

from .recorded import BACK


def _option(command: list[str], flag: str) -> list[str]:
    return [command[i + 1] for i, part in enumerate(command[:-1]) if part == flag]


def test_network_target(topology141) -> None:
    assert resolve_target(topology141, BACK) == ShellTarget(BACK, BACK)


def test_container_target_shares_its_netns(topology141) -> None:
    api = topology141.container_named("ddiag-unitrec-api-1")
    target = resolve_target(topology141, "container:ddiag-unitrec-api-1")
    assert target == ShellTarget(f"container:{api.id}", "container:ddiag-unitrec-api-1")


def test_unknown_names_suggest_close_ones(topology141) -> None:
    with pytest.raises(DiagError, match="Did you mean ddiag-unitrec_back"):
        resolve_target(topology141, "ddiag-unitrec_bak")
    with pytest.raises(DiagError, match="Did you mean ddiag-unitrec-api-1"):
        resolve_target(topology141, "container:ddiag-unitrec-apj-1")
    with pytest.raises(DiagError, match="use container:ddiag-unitrec-web-1"):
        resolve_target(topology141, "ddiag-unitrec-web-1")  # a container, not a network


def test_stopped_container_has_no_netns_to_share(topology141) -> None:
    with pytest.raises(DiagError, match="exists only while it runs"):
        resolve_target(topology141, "container:ddiag-unitrec-init-1")


@pytest.mark.parametrize("tty", [True, False])
def test_docker_command_is_a_least_privilege_probe_with_net_raw(tty) -> None:
    run = plan_shell("img:1", ShellTarget("net_a", "net_a"), tty=tty, docker_cli="/usr/bin/docker")
    command = run.command
    start = (
        ["/usr/bin/docker", "run", "--rm", "-i", "-t"]
        if tty
        else ["/usr/bin/docker", "run", "--rm", "-i"]
    )
    assert command[: len(start)] == start
    assert ("-t" in command) is tty
    labels = dict(item.split("=", 1) for item in _option(command, "--label"))
    assert labels[PROBE_LABEL] == "1" and labels[SHELL_LABEL] == "1"
    assert labels[RUN_LABEL] == run.run_id and labels[OWNER_LABEL] == owner_id()
    assert _option(command, "--name") == [f"ddiag-shell-{run.run_id}"]
    assert _option(command, "--network") == ["net_a"]
    assert "--read-only" in command and "--privileged" not in command
    assert _option(command, "--cap-drop") == ["ALL"]
    assert _option(command, "--cap-add") == ["NET_RAW"]
    assert _option(command, "--security-opt") == ["no-new-privileges"]
    assert _option(command, "--memory") == ["64m"]
    assert _option(command, "--pids-limit") == ["128"]
    assert _option(command, "--cpus") == ["1"]
    assert _option(command, "--tmpfs") == ["/tmp:size=8m,mode=1777"]
    assert command[-3:] == ["--entrypoint", "sh", "img:1"]


def test_docker_command_for_a_container_netns() -> None:
    target = ShellTarget("container:abc123", "container:web")
    command = docker_run_command("img", target, "n", {}, tty=False)
    assert _option(command, "--network") == ["container:abc123"]
    assert "PS1=ddiag container:web # " in _option(command, "--env")


def test_open_shell_is_not_reaped_while_its_ddiag_lives() -> None:
    old = str(int(time.time()) - ORPHAN_AGE_S - 10)
    host = owner_id().rpartition(":")[0]
    labels = {PROBE_LABEL: "1", OWNER_LABEL: owner_id(), CREATED_LABEL: old}
    assert is_orphan(labels, time.time(), host)  # an old probe is reaped
    assert not is_orphan({**labels, SHELL_LABEL: "1"}, time.time(), host)  # a shell is not
    dead = {**labels, SHELL_LABEL: "1", OWNER_LABEL: f"{host}:999999999"}
    assert is_orphan(dead, time.time(), host)


def test_the_docker_cli_is_pointed_at_the_engine_ddiag_uses() -> None:
    run = plan_shell("img", ShellTarget("n", "n"), False, "docker", ["--context", "lab"])
    assert run.command[:4] == ["docker", "--context", "lab", "run"]
