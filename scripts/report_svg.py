"""Render a saved JSON report (`ddiag ... --format json`) as the Rich report, in SVG.

    python scripts/report_svg.py run.json docs/report.svg "ddiag compose -p shop"

The picture is exactly what `--format rich` prints on a colour terminal: the same renderer,
its ANSI output read back by rich and exported with `Console(record=True).save_svg`.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.text import Text

from diag.report import rich_format
from diag.report.options import RenderOptions

WIDTH = 120


def render_svg(doc: dict, command: str) -> str:
    ansi = rich_format.render(doc, RenderOptions(color=True, width=WIDTH))
    console = Console(
        record=True,
        width=WIDTH,
        file=io.StringIO(),
        force_terminal=True,
        color_system="standard",
        highlight=False,
    )
    console.print(Text(f"$ {command}", style="bold"), soft_wrap=True)
    console.print(Text.from_ansi(ansi), soft_wrap=True, end="")
    return console.export_svg(title=command)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    source, target, command = argv[1:]
    doc = json.loads(Path(source).read_text(encoding="utf-8"))
    Path(target).write_text(render_svg(doc, command), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
