"""`ddiag report`, `ddiag diff` and `ddiag schema`: work on saved JSON reports, no engine.

The command functions in `diag/cli/app.py` only parse options (typer checks the choices of
--format and --fail-on, diag.cli.choices) and turn a `DiagError` into exit 2; what the
commands do is here.
"""

from __future__ import annotations

from pathlib import Path

from diag.cli.console import EXIT_FINDINGS
from diag.model.findings import DEFAULT_FAIL_ON, reaches
from diag.report import FORMATS, RenderOptions
from diag.report.diff import diff
from diag.report.diff_render import DIFF_FORMATS
from diag.report.saved import load_report
from diag.report.schema import schema_text


def render_options(color: bool, width: int, fail_on: str) -> RenderOptions:
    return RenderOptions(color=color, width=width, fail_on=fail_on)


def render_saved(
    path: Path, fmt: str, fail_on: str | None, *, color: bool, width: int
) -> tuple[str, int]:
    """A saved report in format `fmt`, and the exit code its findings give under `fail_on`."""
    fail_on = fail_on or DEFAULT_FAIL_ON
    doc = load_report(path)
    rendered = FORMATS[fmt](doc, render_options(color, width, fail_on))
    return rendered, EXIT_FINDINGS if reaches(doc["findings"], fail_on) else 0


def diff_saved(
    before: Path, after: Path, fmt: str, fail_on: str | None, *, color: bool, width: int
) -> tuple[str, int, list[str]]:
    """The diff of two saved reports in `fmt`, its exit code (1 when a *new* finding reaches
    `fail_on`), and warnings for stderr."""
    fail_on = fail_on or DEFAULT_FAIL_ON
    result = diff(load_report(before), load_report(after))
    warnings = []
    if not result.same_target:
        warnings.append(
            f"the runs diagnosed different targets (before: {result.before.describe()}; "
            f"after: {result.after.describe()}): findings of one may be missing from the other"
        )
    rendered = DIFF_FORMATS[fmt](result, render_options(color, width, fail_on))
    return rendered, EXIT_FINDINGS if reaches(result.new, fail_on) else 0, warnings


def schema() -> str:
    return schema_text()
