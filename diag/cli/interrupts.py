"""How a command that talks to the engine ends when it is stopped or refused.

The probes are removed by `finally` blocks (diag.run.diagnosis, diag.probes.shell), which
Ctrl-C reaches as KeyboardInterrupt but SIGTERM (`docker stop`, a CI job's timeout) would
not: SIGTERM is turned into an exception too. Exit codes follow the shell's convention
(128 + the signal); a DiagError is exit 2 with its message, and so is an engine error that
no step expected (a call refused mid-run, a connection lost): exit 1 means findings to CI,
and a traceback means a bug, which an engine saying no is not.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from diag.cli.console import fail, stderr
from diag.engine.errors import ENGINE_ERRORS, describe
from diag.errors import DiagError
from diag.report.redact import Redactor

EXIT_TERMINATED = 143
EXIT_INTERRUPTED = 130


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that `finally` blocks remove the probes."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def unexpected_engine_error(exc: BaseException) -> str:
    """What to tell the user when an engine call failed where nothing expected it to
    (masked like a report: the transport's text may carry an address with credentials)."""
    return Redactor().text(
        f"{describe(exc)}. ddiag stopped there, with no result. Another ddiag or `ddiag "
        "cleanup` using the same engine at the same time can cause this: try again; if it "
        "persists, check the engine (`docker info`, the engine's log)."
    )


@contextmanager
def refusals_exit_2() -> Iterator[None]:
    """Run the block; a DiagError, or any engine error that escapes it, ends the command
    with exit 2 and a message instead of a traceback and exit 1."""
    try:
        yield
    except DiagError as exc:
        fail(str(exc))
    except ENGINE_ERRORS as exc:
        fail(unexpected_engine_error(exc))


@contextmanager
def probes_removed_on_exit(announce: bool) -> Iterator[None]:
    """Run the block with SIGTERM raising, and its refusals as exit 2 (`refusals_exit_2`);
    `announce`: say on stderr that the probes are removed (an interactive shell's user sees
    the probe go, and needs no message)."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with refusals_exit_2():
            yield
    except Terminated:
        if announce:
            stderr.print("ddiag: terminated; probes removed")
        raise typer.Exit(EXIT_TERMINATED) from None
    except KeyboardInterrupt:
        if announce:
            stderr.print("ddiag: interrupted; probes removed")
        raise typer.Exit(EXIT_INTERRUPTED) from None
