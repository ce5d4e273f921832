"""The README's check catalog is the one the code generates."""

from __future__ import annotations

from pathlib import Path

from diag.checks.catalog import readme_block
from diag.checks.registry import all_checks

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_catalog_is_generated_from_the_code() -> None:
    assert readme_block() in README.read_text(), "run `ddiag checks --markdown` into README.md"


def test_every_check_has_documentation_and_a_known_family() -> None:
    for check in all_checks():
        assert check.family in {"dns", "port", "net", "host", "container", "policy", "swarm"}, (
            check.id
        )
        assert "Detected" in check.doc and "Fix" in check.doc, check.id
