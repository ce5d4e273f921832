"""Saved runs: read a JSON report written by `--format json`, for `ddiag report` and `ddiag diff`.

Whatever is wrong with the file (missing, unreadable, not JSON, another schema_version,
not a ddiag report) ends as a `DiagError` that says what to do: exit 2, no traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from diag.errors import DiagError
from diag.report.model import SCHEMA_VERSION, ReportDoc
from diag.report.schema import validate

STDIN = "-"
HOW_TO_SAVE = "save one with e.g. `ddiag compose --format json -o run.json`"


def _read(path: Path) -> str:
    if str(path) == STDIN:
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DiagError(f"no saved report at {path}; {HOW_TO_SAVE}") from None
    except IsADirectoryError:
        raise DiagError(f"{path} is a directory, not a saved JSON report") from None
    except UnicodeDecodeError:
        raise DiagError(
            f"{path} is not a ddiag JSON report (not UTF-8 text); {HOW_TO_SAVE}"
        ) from None
    except OSError as exc:
        raise DiagError(f"cannot read {path}: {exc.strerror}") from None


def load_report(path: Path) -> ReportDoc:
    """The report document saved at `path` (`-`: standard input), checked against the schema."""
    name = "standard input" if str(path) == STDIN else str(path)
    text = _read(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DiagError(
            f"{name} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"ddiag reads reports written with --format json"
        ) from None
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise DiagError(f"{name} is not a ddiag JSON report (no schema_version); {HOW_TO_SAVE}")
    version = doc["schema_version"]
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise DiagError(
            f"{name} has schema_version {json.dumps(version)}; this ddiag reads version "
            f"{SCHEMA_VERSION}. Use the ddiag version that wrote it, or run the diagnosis again."
        )
    errors = validate(doc)
    if errors:
        raise DiagError(
            f"{name} is not a valid ddiag report (schema_version {SCHEMA_VERSION}; "
            f"`ddiag schema` prints the schema): " + "; ".join(errors)
        )
    return doc
