"""`--format json`: the machine-readable report, schema_version 1 (see ARCHITECTURE.md)."""

from __future__ import annotations

import json

from diag.report.model import ReportDoc
from diag.report.options import RenderOptions


def render(doc: ReportDoc, options: RenderOptions) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
