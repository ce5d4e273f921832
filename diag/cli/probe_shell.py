"""What `ddiag shell` does once its options are parsed: a probe on a network or in a
container's netns, with the user's terminal attached through the docker CLI
(diag.probes.shell), removed when the shell exits."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from rich.text import Text

from diag.cli import console
from diag.engine.client import connect, read_topology
from diag.engine.endpoint import EngineChoice
from diag.errors import DiagError
from diag.probes.probe import ensure_image, remove_probes
from diag.probes.shell import no_docker_cli, plan_shell, resolve_target, run_shell
from diag.run.config import Sources, command_line_layer


def open_shell(
    where: str,
    probe_image: str | None,
    pull: bool,
    config: Path | None,
    quiet: bool,
    engine: EngineChoice,
) -> int:
    """Run the shell; its exit code. Raises DiagError for a target or image that cannot be.
    `engine`: -H/-c, handed to the docker CLI too, so that the shell opens where ddiag looked."""
    image = Sources(command_line_layer(probe_image=probe_image), config).resolve().probe_image
    client = connect(engine)
    remove_probes(client)  # probes orphaned by a killed ddiag
    target = resolve_target(read_topology(client, engine), where)
    docker_cli = shutil.which("docker")
    run = plan_shell(
        image, target, sys.stdin.isatty(), docker_cli or "docker", engine.docker_args()
    )
    if docker_cli is None:  # checked after planning: the message shows the command to run
        raise DiagError(no_docker_cli(run.command))
    with console.progress(quiet) as progress:
        progress("Preparing the probe image")
        ensure_image(client, image, progress, pull=pull)
    if console.progress_wanted(quiet):
        console.stderr.print(
            Text(f"ddiag: shell on {target.label} ({image}); exit to remove it", style="dim")
        )
    return run_shell(client, run)
