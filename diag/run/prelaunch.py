"""The shared probe and the guessed anchors, asked for before the rest of ddiag is imported
(issue 19).

A container start is the largest fixed cost of a healthy run (0.3-0.5 s of the engine's
work), and importing the CLI, parsing its options and resolving the settings took as
long again before `Diagnosis._start_early()` could ask for the probes. So `ddiag network`,
`compose` and `container` ask for them first, from what the command line and the
environment say, and the engine starts them while the rest of ddiag is imported: the
shared probe, and the anchors of the networks the arguments name (`_networks`, the guess of
diag.engine.early). They are asked for over the engine's unix socket without docker-py
(diag.probes.launchpad), which alone took 0.1 s to import.

The settings are not known yet, so this is a guess, treated like the early start's:
the diagnosis adopts the probes only if the settings it resolves ask for the same image,
mode and memory, and removes them otherwise. Nothing is launched where the guess is
likely wrong or would show nothing: another probe mode, a settings file (ddiag.toml or
--config, which may name another image), an image that is not local (pulling shows
progress, later), --help; nor on an engine reached other than by its local socket.

The probes are removed however the command ends: adopted, the diagnosis removes them with
its others; not adopted (a bad option, Ctrl-C while importing), `discard()` removes them,
from the `finally` of the console script (diag.cli.entry). SIGTERM is made an exit from the
moment a probe is asked for, so that the `finally` runs then too.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from diag import trace
from diag.engine import compose_cli, project_name
from diag.engine.early import Guess, container_networks, named_networks, project_networks
from diag.engine.endpoint import EngineChoice, resolve_endpoint
from diag.engine.unix_http import EngineCallError, socket_path_of
from diag.errors import DiagError
from diag.probes.launchpad import Launchpad, UnixReads
from diag.probes.probe import DEFAULT_PROBE_IMAGE
from diag.probes.spec import probe_memory

if TYPE_CHECKING:
    import docker

    from diag.probes.session import ProbeSession

DIAGNOSING = ("network", "compose", "container")
SETTINGS_FILE = "ddiag.toml"  # diag.run.config reads it from the current directory
EXIT_TERMINATED = 143


@dataclass(frozen=True)
class Launched:
    """The engine the probes were asked of, and the probes."""

    engine: EngineChoice
    pad: Launchpad


_launched: Launched | None = None


def option(argv: Sequence[str], name: str) -> str | None:
    """The value of long option `name` as the arguments give it (`--name V`, `--name=V`; the
    last one wins, as it does for the parser), None when not given."""
    found = None
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == name and index + 1 < len(argv):
            found = argv[index + 1]
        elif arg.startswith(name + "="):
            found = arg[len(name) + 1 :]
    return found


def values(argv: Sequence[str], *names: str) -> list[str]:
    """Every value of the option spelled any of `names`, in order: `--name V`, `--name=V`,
    and for a one-letter name `-n V` and `-nV`."""
    found: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            break
        for name in names:
            if arg == name:
                found += [value] if (value := next(args, None)) is not None else []
            elif arg.startswith(name + "=") and name.startswith("--"):
                found.append(arg[len(name) + 1 :])
            elif len(name) == 2 and arg.startswith(name) and not arg.startswith("--"):
                found.append(arg[2:])
            else:
                continue
            break
    return found


@dataclass(frozen=True)
class ComposeOptions:
    """`ddiag compose`'s options that `docker compose` reads, as the arguments give them
    (the last -p and --project-directory win, as they do for the parser): the early
    `docker compose config` and the project-name guess read the same ones."""

    files: list[str]
    project: str | None
    directory: str | None
    profiles: list[str]
    env_files: list[str]

    @classmethod
    def of(cls, argv: Sequence[str]) -> ComposeOptions:
        projects = values(argv[1:], "-p", "--project-name")
        directories = values(argv[1:], "--project-directory")
        return cls(
            values(argv[1:], "-f", "--file"),
            projects[-1] if projects else None,
            directories[-1] if directories else None,
            values(argv[1:], "--profile"),
            values(argv[1:], "--env-file"),
        )


def _compose_config_early(argv: Sequence[str]) -> None:
    """`ddiag compose`: start `docker compose config` with the arguments as they stand (a
    guess like the probes': diag.engine.compose_cli uses it only if its own command line is
    the same)."""
    if argv[:1] != ["compose"] or "--help" in argv:
        return
    given = ComposeOptions.of(argv)
    compose_cli.start_early(
        [
            *compose_cli.PLUGIN,
            *compose_cli.config_arguments(
                given.files, given.project, given.directory, given.profiles, given.env_files
            ),
        ]
    )


def _guess(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(image, memory) of the probe the command will most likely want; None: do not guess."""
    if not argv or argv[0] not in DIAGNOSING or "--help" in argv[1:]:
        return None
    if option(argv, "--config") is not None or Path(SETTINGS_FILE).exists():
        return None
    mode = option(argv, "--probe-mode") or environ.get("DDIAG_PROBE_MODE") or "shared"
    if mode != "shared":
        return None
    image = option(argv, "--probe-image") or environ.get("DDIAG_PROBE_IMAGE") or DEFAULT_PROBE_IMAGE
    try:
        return image, probe_memory(environ.get("DDIAG_PROBE_MEMORY"))
    except DiagError:  # the diagnosis says what is wrong with it
        return None


def _networks(argv: Sequence[str], environ: Mapping[str, str]) -> Guess:
    """The networks whose anchors the command will want (diag.engine.early), from its
    arguments as they stand: every word not starting with `-` is taken for a name, an
    option's value too, which at worst costs an engine call that finds nothing."""
    words = [arg for arg in argv[1:] if not arg.startswith("-")]
    if argv[0] == "network":
        return named_networks(words)
    if argv[0] == "container":
        return container_networks(words[0]) if words else lambda api: []
    given = ComposeOptions.of(argv)
    if given.project is not None:
        return project_networks(given.project)
    try:
        guessed = project_name.guess(
            given.files,
            given.directory,
            given.env_files,
            environ.get("COMPOSE_PROJECT_NAME"),
            Path.cwd(),
        )
    except OSError:  # no working directory (removed under us)
        guessed = None
    return project_networks(guessed)


def _terminated(signum: int, frame: object) -> None:
    sys.exit(EXIT_TERMINATED)


def launch(
    argv: Sequence[str], engine: EngineChoice, environ: Mapping[str, str] = os.environ
) -> None:
    """Ask the engine for the shared probe the command in `argv` will most likely use."""
    global _launched
    guess = _guess(argv, environ)
    if guess is None:
        return
    image, memory = guess
    with trace.span("probe asked for before the imports"):
        try:
            socket_path = socket_path_of(resolve_endpoint(environ, engine).host)
            if socket_path is None:
                return  # a remote engine: docker-py's, and one that hangs would be waited twice
            pad = Launchpad(socket_path, image, memory)
            if not pad.image_is_local():
                return
        except (DiagError, EngineCallError):  # said, if it matters, by the diagnosis
            return
        signal.signal(signal.SIGTERM, _terminated)
        _launched = Launched(engine, pad)
        pad.launch(_networks(argv, environ)(UnixReads(socket_path)))
        _compose_config_early(argv)


def adopt(
    client: docker.DockerClient, engine: EngineChoice, image: str, memory: str
) -> ProbeSession | None:
    """A session of the probes launched before the imports, if they suit a shared-mode
    run's settings; ones that do not are removed. Either way they are no longer this
    module's to remove."""
    global _launched
    launched, _launched = _launched, None
    if launched is None:
        return None
    pad = launched.pad
    if (launched.engine, pad.image, pad.memory) != (engine, image, memory):
        pad.remove()
        return None
    try:  # no longer this module's to discard: Ctrl-C until the session holds them
        from diag.probes.session import ProbeSession

        session = ProbeSession(client, image, timeout=0.0, memory=memory, run_id=pad.run_id)
        session.take_over(pad)
    except BaseException:
        pad.remove()
        raise
    return session


def discard() -> None:
    """Remove the probes launched before the imports if nobody adopted them."""
    global _launched
    launched, _launched = _launched, None
    if launched is not None:
        launched.pad.remove()
    compose_cli.stop_early()
