"""`--format json`: the machine-readable report, schema_version 1 (see DESIGN.md)."""

from __future__ import annotations

import json

from diag.report.model import Report
from diag.report.options import RenderOptions


def render(report: Report, options: RenderOptions) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
