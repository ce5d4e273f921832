"""The layout's import rules (ARCHITECTURE.md, "Import rules"), read from the source with `ast`.

Each part of ddiag may import only what sits below it: checks see the pure model and their
own shared core; the model sees nothing else of ddiag; the run and the report reach checks
only through the registry; the agent, which runs inside probes, imports nothing of ddiag
but itself. Imports inside functions count too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# part (a module path prefix) → the ddiag modules it may import (prefixes).
ALWAYS = ("diag.errors", "diag.trace")
ALLOWED: dict[str, tuple[str, ...]] = {
    "diag.agent": ("diag.agent",),
    "diag.model": ("diag.model",),
    "diag.engine": ("diag.engine", "diag.model"),
    "diag.probes": ("diag.probes", "diag.model", "diag.engine", "diag.agent"),
    "diag.report": ("diag.report", "diag.model", "diag.__init__", "diag.checks.registry"),
    "diag.run": (
        "diag.run",
        "diag.model",
        "diag.engine",
        "diag.probes",
        "diag.report",
        "diag.checks.registry",
    ),
    "diag.capture": (
        "diag.capture",
        "diag.model",
        "diag.engine",
        "diag.probes",
        "diag.report.redact",
        "diag.report.text",
    ),
    "diag.cli": (
        "diag.cli",
        "diag.capture",
        "diag.run",
        "diag.engine",
        "diag.model",
        "diag.probes",
        "diag.report",
        "diag.__init__",
        "diag.checks.registry",
        "diag.checks.catalog",
    ),
    "diag.checks": ("diag.checks", "diag.model"),
}
TOP = {"diag.__init__", "diag.__main__", "diag.errors", "diag.trace"}


def _module_name(path: Path) -> str:
    """The import name: `checks/` (the repository's folder) is the package `diag.checks`."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "checks":
        parts.insert(0, "diag")
    return ".".join(parts)


def _part(module: str) -> str | None:
    matches = [p for p in ALLOWED if module == p or module.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import of ddiag's own packages in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found += [(node.lineno, name) for name in names]
    return [(line, name) for line, name in found if name.split(".")[0] in ("diag", "checks")]


def _sources() -> list[Path]:
    """diag/ without the `diag/checks` link, and checks/ itself: every file once."""
    in_diag = [p for p in ROOT.glob("diag/**/*.py") if "checks" not in p.relative_to(ROOT).parts]
    return sorted([*in_diag, *ROOT.glob("checks/**/*.py")])


def _allowed(imported: str, prefixes: tuple[str, ...]) -> bool:
    if imported in ("diag.__version__", "diag.checks"):  # `from diag import __version__`
        imported = "diag.__init__" if imported == "diag.__version__" else "diag.checks.__init__"
    return any(
        imported == prefix or imported.startswith(prefix + ".") for prefix in prefixes + ALWAYS
    )


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layout(path: Path) -> None:
    module = _module_name(path)
    if module in TOP:
        return
    part = _part(module)
    assert part is not None, f"{module} belongs to no part of the layout"
    wrong = [
        f"line {line}: {imported}"
        for line, imported in _imports(path)
        if not _allowed(imported, ALLOWED[part])
    ]
    assert not wrong, f"{module} ({part}) may not import: {wrong}"


def test_the_rules_can_fail() -> None:
    """A check importing the probes, or the run importing a check's core, is caught."""
    assert not _allowed("diag.probes.session.ProbeSession", ALLOWED["diag.checks"])
    assert not _allowed("diag.checks._edges.verdicts", ALLOWED["diag.run"])
    assert _allowed("diag.checks.registry.Check", ALLOWED["diag.run"])
