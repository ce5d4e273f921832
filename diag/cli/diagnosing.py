"""What `network`, `compose` and `container` do once their options are parsed: ask the
diagnosis (diag.run.diagnosis), show its report in the chosen format, exit on its result.

Exit codes: 0 when no finding reaches --fail-on, 1 when one does, 2 for bad input, an
engine that refuses, or a run that could not observe everything (unless findings already
make it 1: "could not check" must not pass a CI job as "checked and fine").
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

from diag import trace
from diag.cli import console
from diag.cli.console import EXIT_ERROR, EXIT_FINDINGS, fail, stderr
from diag.cli.interrupts import probes_removed_on_exit
from diag.cli.options import CommonOptions
from diag.errors import DiagError
from diag.report import FORMATS, RenderOptions
from diag.run.diagnosis import Diagnosis
from diag.run.target_spec import TargetSpec
from diag.run.waiting import until_ready


def diagnose_and_exit(target: TargetSpec, options: CommonOptions) -> NoReturn:
    """Diagnose `target`, write the report, exit with the run's code."""
    fmt, output = options.fmt.value, options.output
    if options.no_color:
        stderr.no_color = True
    try:  # the command line and ddiag.toml: their mistakes stop us before the engine is asked
        diagnosis = Diagnosis(options.request(target))
    except DiagError as exc:
        fail(str(exc))
    tell = console.silent if options.quiet else console.note
    with probes_removed_on_exit(announce=True), console.progress(options.quiet) as progress:
        outcome = until_ready(diagnosis, options.waiting(), progress, tell)
    with trace.span("report rendered"):
        rendered = FORMATS[fmt](
            outcome.doc,
            RenderOptions(
                color=console.use_color(fmt, output, options.no_color),
                width=console.width(output),
                fail_on=outcome.settings.fail_on,
            ),
        )
        try:
            console.write(rendered, output)
        except DiagError as exc:
            fail(str(exc))
    if options.trace is not None:
        write_trace(options.trace)
    code = EXIT_FINDINGS if outcome.failed() else 0
    incomplete = outcome.incompleteness()
    if incomplete:
        console.warn(incomplete)
        code = code or EXIT_ERROR
    raise typer.Exit(code)


def write_trace(path: Path) -> None:
    """--trace FILE: where the run's time went (diag.trace); a file that cannot be written
    is said on stderr, and costs the run nothing else (the report is already out)."""
    try:
        trace.write(path)
    except OSError as exc:
        console.warn(f"the trace could not be written to {path}: {exc.strerror or exc}")
