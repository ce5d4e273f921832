"""How a command that starts probes ends when it is stopped or refused.

The probes are removed by `finally` blocks (diag.run.diagnosis, diag.probes.shell), which
Ctrl-C reaches as KeyboardInterrupt but SIGTERM (`docker stop`, a CI job's timeout) would
not: SIGTERM is turned into an exception too. Exit codes follow the shell's convention
(128 + the signal); a DiagError is exit 2 with its message.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from diag.cli.console import fail, stderr
from diag.errors import DiagError

EXIT_TERMINATED = 143
EXIT_INTERRUPTED = 130


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that `finally` blocks remove the probes."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


@contextmanager
def probes_removed_on_exit(announce: bool) -> Iterator[None]:
    """Run the block with SIGTERM raising; `announce`: say on stderr that the probes are
    removed (an interactive shell's user sees the probe go, and needs no message)."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    except DiagError as exc:
        fail(str(exc))
    except Terminated:
        if announce:
            stderr.print("ddiag: terminated; probes removed")
        raise typer.Exit(EXIT_TERMINATED) from None
    except KeyboardInterrupt:
        if announce:
            stderr.print("ddiag: interrupted; probes removed")
        raise typer.Exit(EXIT_INTERRUPTED) from None
