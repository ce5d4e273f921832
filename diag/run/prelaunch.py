"""The shared probe and the guessed anchors, asked for before the rest of ddiag is imported
(issue 19).

A container start is the largest fixed cost of a healthy run (0.3-0.5 s of the engine's
work), and importing the CLI, parsing its options and resolving the settings took as
long again before `Diagnosis._start_early()` could ask for the probes. So `ddiag network`,
`compose` and `container` ask for them first, with only the engine client and the probe
session imported, from what the command line and the environment say, and the engine
starts them while the rest of ddiag is imported: the shared probe, and the anchors of the
networks the arguments name (`_networks`, the guess of diag.engine.early).

The settings are not known yet, so this is a guess, treated like the early start's:
the diagnosis adopts the session only if it still `suits()` the settings it resolves
(image, mode, memory), and closes it otherwise. Nothing is launched where the guess is
likely wrong or would show nothing: another probe mode, a settings file (ddiag.toml or
--config, which may name another image), an image that is not local (pulling shows
progress, later), --help; nor on an engine reached other than by its local socket (one
that does not answer would be waited for twice: here, and by the diagnosis).

The probe is removed however the command ends: adopted, the diagnosis removes it with
its others; not adopted (a bad option, Ctrl-C while importing), `discard()` closes it,
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

import docker

from diag import trace
from diag.engine.client import connect
from diag.engine.early import Guess, container_networks, named_networks, project_networks
from diag.engine.endpoint import EngineChoice, resolve_endpoint
from diag.engine.errors import ENGINE_ERRORS
from diag.errors import DiagError
from diag.probes.probe import DEFAULT_PROBE_IMAGE
from diag.probes.session import ProbeSession, probe_memory

DIAGNOSING = ("network", "compose", "container")
SETTINGS_FILE = "ddiag.toml"  # diag.run.config reads it from the current directory
EXIT_TERMINATED = 143


@dataclass(frozen=True)
class Launched:
    """The engine connection and the session asked for before the command line was parsed."""

    engine: EngineChoice
    client: docker.DockerClient
    session: ProbeSession


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
    project = option(argv, "--project-name") or option(argv, "-p")
    return project_networks(project or environ.get("COMPOSE_PROJECT_NAME"))


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
            host = resolve_endpoint(environ, engine).host  # None: the local socket
            if host and not host.startswith("unix://"):
                return  # a remote engine that does not answer would be waited for twice
            client = connect(engine)
            client.api.inspect_image(image)
        except (DiagError, *ENGINE_ERRORS):  # said, if it matters, by the diagnosis
            return
        signal.signal(signal.SIGTERM, _terminated)
        session = ProbeSession(client, image, timeout=0.0, memory=memory)
        _launched = Launched(engine, client, session)
        session.prestart()
        session.prestart_anchors(_networks(argv, environ)(client.api))


def client_for(engine: EngineChoice) -> docker.DockerClient | None:
    """The connection made before the imports, when it is to the engine the command chose."""
    return _launched.client if _launched is not None and _launched.engine == engine else None


def adopt(engine: EngineChoice, image: str, memory: str) -> ProbeSession | None:
    """The session launched before the imports, if it suits a shared-mode run's settings;
    one that does not is closed. Either way it is no longer this module's to remove."""
    global _launched
    launched, _launched = _launched, None
    if launched is None:
        return None
    if launched.engine == engine and launched.session.suits(image, "shared", memory):
        return launched.session
    launched.session.close()
    return None


def discard() -> None:
    """Remove the probe launched before the imports if nobody adopted it."""
    global _launched
    launched, _launched = _launched, None
    if launched is not None:
        launched.session.close()
