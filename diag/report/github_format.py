"""`--format github`: GitHub Actions workflow commands, which the runner turns into
annotations on the run and, for a compose target, on the compose file's lines.

One line per finding, most severe first (the report's order):
`::error file=compose.yaml,line=12,col=3,title=port.app-loopback: Service listens on
loopback only::api listens on 127.0.0.1:8000 only ...%0A%0AFix: ...`, with `error`,
`warning` or `notice` for the finding's severity. `file`, `line` and `col` are given only
where the finding is in a file (diag/report/places.py: a compose target); other findings
are annotations of the run, without a file, since a placeholder path would only point at
nothing. Each observation that could not be made is a `::warning` titled "ddiag: could not
check", as JUnit skips it, so that silence is not read as health. A last plain line counts
the findings.

Escaping is what the runner undoes (actions/toolkit's `escapeData` and `escapeProperty`):
`%`, CR and LF in the message, and also `:` and `,` in property values. So no text from the
report, however hostile, can end a property early or put a line of its own in the log (a
`::add-mask::` or `::stop-commands::` of its choosing). Escape sequences and control
characters are dropped first (diag/report/text.py), as in every format.

GitHub shows at most 10 error and 10 warning annotations per step (and 50 per job); the
rest stay in the log. Use it as `ddiag report run.json --format github` in a step of its
own, and the JUnit or SARIF report for the complete list.
"""

from __future__ import annotations

from typing import Any

from diag.report.model import ReportDoc
from diag.report.options import RenderOptions
from diag.report.places import Place, Places
from diag.report.text import clean, one_line

COMMAND = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    """A message as the runner reads it back: `%`, CR and LF percent-encoded."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value as the runner reads it back: `escape_data`, and `:` and `,`."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(name: str, message: str, **properties: str) -> str:
    """`::name key=value,...::message`, every part cleaned and escaped."""
    given = ",".join(
        f"{key}={escape_property(clean(value))}" for key, value in properties.items() if value
    )
    return f"::{name}{' ' + given if given else ''}::{escape_data(clean(message))}"


def _where(place: Place) -> dict[str, str]:
    if not place.in_file:
        return {}
    return {"file": place.path, "line": str(place.line), "col": str(place.column)}


def _annotation(finding: dict[str, Any], place: Place) -> str:
    message = finding["summary"] + (f"\n\nFix: {finding['fix']}" if finding["fix"] else "")
    return _command(
        COMMAND.get(finding["severity"], "warning"),
        message,
        **_where(place),
        title=f"{finding['check']}: {finding['title']}",
    )


def render(doc: ReportDoc, options: RenderOptions) -> str:
    places = Places(doc)
    lines = [_annotation(finding, places.of(finding)) for finding in doc["findings"]]
    lines += [
        _command("warning", f"{item['where']}: {item['reason']}", title="ddiag: could not check")
        for item in doc.get("inconclusive") or []
    ]
    target, summary = doc["target"], doc["summary"]
    counts = " · ".join(
        f"{level} {summary.get(level, 0)}" for level in ("error", "warning", "info")
    )
    lines.append(one_line(f"ddiag {target['kind']} {', '.join(target['names'])}: {counts}"))
    return "\n".join(lines) + "\n"
