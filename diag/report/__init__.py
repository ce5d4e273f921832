"""Output formats: one module each, all with the same `render(doc, options) -> str`, where
`doc` is the JSON document of a run (live, or loaded from a saved report).

Chosen by name from the CLI; no format knows another.
"""

from __future__ import annotations

from collections.abc import Callable

from diag.report import (
    github_format,
    gitlab_format,
    json_format,
    junit_format,
    markdown_format,
    rich_format,
    sarif_format,
)
from diag.report.model import Report, ReportDoc
from diag.report.options import RenderOptions

Renderer = Callable[[ReportDoc, RenderOptions], str]

FORMATS: dict[str, Renderer] = {
    "rich": rich_format.render,
    "json": json_format.render,
    "markdown": markdown_format.render,
    "junit": junit_format.render,
    "sarif": sarif_format.render,
    "github": github_format.render,
    "gitlab": gitlab_format.render,
}

__all__ = ["FORMATS", "RenderOptions", "Renderer", "Report", "ReportDoc"]
