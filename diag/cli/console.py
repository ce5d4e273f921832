"""What the commands show besides their output: errors, warnings and progress on stderr,
and how a report is rendered and written (colour, width, file).

Errors and warnings go through `clean()`: the names in them come from the engine and the
compose file, and must not reach the terminal as escape sequences.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from diag.errors import DiagError
from diag.report.text import clean

if TYPE_CHECKING:
    from diag.run.runner import Progress

EXIT_FINDINGS = 1  # a finding at or above --fail-on
EXIT_ERROR = 2  # bad input, an engine that refuses, a run that could not check

stderr = Console(stderr=True, highlight=False)


def fail(message: str) -> NoReturn:
    """Say what is wrong on stderr and exit 2: never a traceback for bad input."""
    stderr.print(Text(clean(f"ddiag: {message}"), style="red"), soft_wrap=True)
    raise typer.Exit(EXIT_ERROR)


def warn(message: str) -> None:
    stderr.print(Text(clean(f"ddiag: {message}"), style="yellow"), soft_wrap=True)


def note(message: str) -> None:
    """Progress worth keeping in a log (what --wait still waits for): a line on stderr,
    terminal or not, printed above the spinner if one is shown."""
    stderr.print(Text(clean(f"ddiag: {message}"), style="dim"), soft_wrap=True)


def silent(message: str) -> None:
    """--quiet: nothing but the report and errors."""


def use_color(fmt: str, output: Path | None, no_color: bool) -> bool:
    return (
        fmt == "rich"
        and output is None
        and not no_color
        and not os.environ.get("NO_COLOR")
        and sys.stdout.isatty()
    )


def width(output: Path | None) -> int:
    """The terminal's width for a report shown on it; a fixed one for a file or a pipe."""
    if output is None and sys.stdout.isatty():
        return Console().width
    return 100


def write(text: str, output: Path | None) -> None:
    """The rendered report on stdout, or in `output`."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DiagError(f"cannot write the report to {output}: {exc.strerror}") from None


def progress_wanted(quiet: bool) -> bool:
    """Progress goes to stderr only when it is a terminal (not a CI log, even with FORCE_COLOR)."""
    return not quiet and sys.stderr.isatty() and stderr.is_terminal


@contextmanager
def progress(quiet: bool) -> Iterator[Progress]:
    """A spinner on stderr that appears with the first message and is gone when the block
    ends, however it ends (before any error is printed); messages are dropped when progress
    is not wanted (progress_wanted)."""
    wanted = progress_wanted(quiet)
    status = stderr.status("", spinner="dots")
    shown = False

    def update(message: str) -> None:
        nonlocal shown
        status.update(message)
        if wanted and not shown:
            status.start()
            shown = True

    try:
        yield update
    finally:
        if shown:
            status.stop()
