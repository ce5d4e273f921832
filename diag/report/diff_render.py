"""`ddiag diff` output: a Rich table, JSON, or Markdown of new, resolved and unchanged findings.

As in the report formats, text that comes from a run (summaries, names) is rendered as
text: never Rich markup, without escape sequences or control characters, and escaped in
Markdown.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable

from rich.table import Table
from rich.text import Text

from diag.report.diff import FindingDoc, FindingsDiff, severity_counts
from diag.report.options import RenderOptions
from diag.report.rich_format import text_console
from diag.report.text import clean

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
SECTIONS: tuple[tuple[str, str, str], ...] = (
    # (attribute, heading, style)
    ("new", "new", "bold red"),
    ("resolved", "resolved", "green"),
    ("unchanged", "unchanged", "dim"),
)


def _counts_text(findings: list[FindingDoc]) -> str:
    counts = severity_counts(findings)
    parts = [
        f"{n} {severity}" + ("s" if n != 1 and severity != "info" else "")
        for severity, n in counts.items()
        if n
    ]
    return f" ({', '.join(parts)})" if parts else ""


def headline(result: FindingsDiff) -> str:
    return (
        f"{len(result.new)} new{_counts_text(result.new)}, "
        f"{len(result.resolved)} resolved, {len(result.unchanged)} unchanged"
    )


# --- rich ----------------------------------------------------------------------------------


def render_rich(result: FindingsDiff, options: RenderOptions) -> str:
    buffer = io.StringIO()
    console = text_console(buffer, options)
    table = Table("", "severity", "check")
    table.add_column("subjects", overflow="fold")
    table.add_column("summary", overflow="fold")
    for index, (attribute, heading, style) in enumerate(SECTIONS):
        if index:
            table.add_section()
        findings: list[FindingDoc] = getattr(result, attribute)
        if not findings:
            table.add_row(Text(heading, style=style), Text("none", style="dim"))
        for finding in findings:
            table.add_row(
                Text(heading, style=style),
                Text(finding["severity"], style=SEVERITY_STYLE[finding["severity"]]),
                Text(clean(finding["check"]), style="bold"),
                Text(clean("\n".join(finding["subjects"]))),
                Text(clean(finding["summary"])),
            )
    console.print(Text.assemble(("before: ", "dim"), clean(result.before.describe())))
    console.print(Text.assemble(("after:  ", "dim"), clean(result.after.describe())))
    console.print(table)
    console.print(Text(headline(result), style="bold red" if result.new else "bold green"))
    return buffer.getvalue()


# --- json ----------------------------------------------------------------------------------


def render_json(result: FindingsDiff, options: RenderOptions) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"


# --- markdown ------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~])")


def _md(text: str) -> str:
    """Plain text, safe in a Markdown table cell: no formatting, links, HTML or cell breaks."""
    text = clean(text).replace("&", "&amp;")
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", "<br>")


def _md_code(text: str) -> str:
    return f"`{text}`" if re.fullmatch(r"[\w.:/@-]+", text) else _md(text)


def _md_section(heading: str, findings: list[FindingDoc]) -> list[str]:
    lines = [f"## {heading.capitalize()} ({len(findings)})", ""]
    if not findings:
        return [*lines, "None.", ""]
    lines += ["| severity | check | subjects | summary |", "|---|---|---|---|"]
    for finding in findings:
        subjects = ", ".join(_md_code(s) for s in finding["subjects"])
        lines.append(
            f"| {finding['severity']} | {_md_code(finding['check'])} | {subjects} "
            f"| {_md(finding['summary'])} |"
        )
    return [*lines, ""]


def render_markdown(result: FindingsDiff, options: RenderOptions) -> str:
    lines = [
        "# ddiag diff",
        "",
        f"- before: {_md(result.before.describe())}",
        f"- after: {_md(result.after.describe())}",
        "",
        f"**{headline(result)}**",
        "",
    ]
    for attribute, heading, _style in SECTIONS:
        lines += _md_section(heading, getattr(result, attribute))
    return "\n".join(lines).rstrip("\n") + "\n"


DiffRenderer = Callable[[FindingsDiff, RenderOptions], str]
DIFF_FORMATS: dict[str, DiffRenderer] = {
    "rich": render_rich,
    "json": render_json,
    "markdown": render_markdown,
}

__all__ = ["DIFF_FORMATS", "DiffRenderer", "headline"]
