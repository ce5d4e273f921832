"""The `ddiag` console script: decides what docker-py need not import, then runs the CLI.

docker-py imports its ssh transport, and with it paramiko, cryptography and invoke, when
it is itself imported, whatever the engine's address: a quarter of a second of every run
on a 2-core machine, for a transport that only `ssh://` engines use. When the engine the
docker CLI would use (diag.engine.endpoint, read from -H/-c on the command line, the
environment and CLI config files only) is not behind ssh, paramiko is marked absent before
anything imports docker-py, which then simply goes without its ssh transport, as it does
where paramiko is not installed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from diag import trace
from diag.engine.endpoint import EngineChoice, resolve_endpoint
from diag.errors import DiagError

EXIT_INTERRUPTED = 130  # as diag.cli.interrupts, which this module must not import yet
ENGINE_OPTIONS = {"-H": "host", "--host": "host", "-c": "context", "--context": "context"}


def engine_in_argv(argv: Sequence[str]) -> EngineChoice:
    """-H/--host and -c/--context as the arguments give them, read before typer parses them
    (`-H URL`, `-HURL`, `--host URL`, `--host=URL`; the last one wins, as it does for typer)."""
    found: dict[str, str | None] = {}
    args = iter(argv)
    for arg in args:
        if arg == "--":
            break
        option, equals, attached = arg.partition("=")
        if arg.startswith("--") and option in ENGINE_OPTIONS:
            found[ENGINE_OPTIONS[option]] = attached if equals else next(args, None)
        elif arg[:2] in ENGINE_OPTIONS:
            found[ENGINE_OPTIONS[arg[:2]]] = arg[2:] or next(args, None)
    return EngineChoice(**found)


def skip_unused_transports(argv: Sequence[str] | None = None) -> None:
    """Mark paramiko absent unless the engine is reached over ssh (`argv`: the arguments)."""
    choice = engine_in_argv(sys.argv[1:] if argv is None else argv)
    try:
        host = resolve_endpoint(os.environ, choice).host or ""
    except DiagError:
        return  # the CLI says what is wrong with the endpoint; import as usual until then
    if not host.startswith("ssh://"):
        sys.modules.setdefault("paramiko", None)  # type: ignore[arg-type]


def main() -> None:
    try:
        skip_unused_transports()
        # after the decision: they import docker-py
        from diag.run import prelaunch

        try:
            prelaunch.launch(sys.argv[1:], engine_in_argv(sys.argv[1:]))
            from diag.cli.app import main as cli_main

            trace.since_start("interpreter and imports")
            cli_main()
        finally:
            prelaunch.discard()
    except KeyboardInterrupt:  # Ctrl-C before the command's own handling (diag.cli.interrupts)
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit as exc:
        leave(exc.code)


def leave(code: object) -> None:
    """Exit now, as `sys.exit(code)` would, without the interpreter's teardown: by the time
    the command returns, its report is written and its probes are removed, and freeing every
    module and object of a diagnosis took 0.05 s of a healthy run (issue 19). Nothing of
    ddiag registers an atexit handler; stdout and stderr are flushed here."""
    if isinstance(code, int) or code is None:
        status = code or 0
    else:  # sys.exit("message"): printed, and the status is 1
        print(code, file=sys.stderr)
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
