"""ddiag's SARIF against the official SARIF 2.1.0 JSON schema (tests/data/sarif/, see its
README), for what `ddiag network`, `ddiag compose` and `ddiag container` write and what
`ddiag report run.json --format sarif` renders, and against what GitHub's code scanning
needs beyond the schema: a location with an artifact URI on every result (issue 18).

The schema is draft 4 and its URI formats are not checked by jsonschema without extra
packages, so `_github_ready()` checks the URIs itself.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from diag.cli import diagnosing
from diag.cli.app import app
from diag.model.compose import ComposeProject
from diag.model.context import Target
from diag.report import RenderOptions, sarif_format
from diag.report.model import Inconclusive, Report, ReportDoc
from diag.run.config import Settings
from diag.run.diagnosis import Outcome
from tests.unit.test_cli_diagnosing import GivenDiagnosis
from tests.unit.test_formats import _hostile
from tests.unit.test_report import API_FINDING, INFO_FINDING, MARKUP_FINDING, SHOP_BACK, _report

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "data" / "sarif" / "sarif-schema-2.1.0.json"
SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
GOLDEN_REPORT = ROOT / "tests" / "data" / "golden" / "shop-report.json"
# RFC 3986: a URI reference is unreserved, sub-delims, ":", "@", "/" and %XX only
URI_REFERENCE = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})+")

runner = CliRunner()


def sarif_validator() -> jsonschema.protocols.Validator:
    """A validator of the vendored official schema (also used by the integration tests)."""
    raw = SCHEMA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "not the vendored schema"
    schema = json.loads(raw)
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    return sarif_validator()


def _valid(validator: jsonschema.protocols.Validator, text: str) -> dict[str, Any]:
    sarif = json.loads(text)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(sarif)]
    assert not errors, errors
    return sarif


def _github_ready(sarif: dict[str, Any]) -> list[dict[str, Any]]:
    """The results, each checked for what code scanning needs: one location whose artifact
    URI is a relative reference in the repository (no scheme) or a file:// URI."""
    (run,) = sarif["runs"]
    for result in run["results"]:
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        uri = physical["artifactLocation"]["uri"]
        assert URI_REFERENCE.fullmatch(uri), uri
        assert uri.startswith("file:///") or ":" not in uri.split("/")[0], uri
        assert physical["region"]["startLine"] >= 1
        assert result["partialFingerprints"]["primaryLocationLineHash"]
    return list(run["results"])


def _doc(kind: str, names: tuple[str, ...], **project: Any) -> ReportDoc:
    report: Report = _report(
        [INFO_FINDING, API_FINDING, MARKUP_FINDING],
        inconclusive=[Inconclusive("on network shop_back", "resolve db A: timeout")],
    )
    compose = ComposeProject(names[0], {}, {}, **project) if project else None
    report.target = Target(kind, names, (SHOP_BACK,), project=compose)
    return report.to_dict()


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the golden report's compose file is relative to the root


def test_the_vendored_schema_is_the_official_one(validator) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["id"] == sarif_format.SCHEMA_URI
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")


@pytest.mark.parametrize(
    ("kind", "names", "project", "uri"),
    [
        ("network", ("shop_back",), {}, "ddiag/network/shop_back"),
        ("container", ("shop-api-1",), {}, "ddiag/container/shop-api-1"),
        ("compose", ("shop",), {"config_files": ()}, "ddiag/compose/shop"),  # from labels only
    ],
)
def test_every_target_kind_is_valid_and_located(
    validator, kind: str, names: tuple[str, ...], project: dict[str, Any], uri: str
) -> None:
    doc = _doc(kind, names, **project)
    results = _github_ready(_valid(validator, sarif_format.render(doc, RenderOptions())))
    assert len(results) == 3
    for result in results:
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == uri


def test_a_compose_target_is_valid_and_located_in_its_file(validator, at_root) -> None:
    doc = json.loads(GOLDEN_REPORT.read_text(encoding="utf-8"))
    results = _github_ready(_valid(validator, sarif_format.render(doc, RenderOptions())))
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {"tests/data/golden/shop-compose.yaml"}


def test_hostile_text_stays_valid(validator, at_root) -> None:
    doc = json.loads(GOLDEN_REPORT.read_text(encoding="utf-8"))
    _github_ready(_valid(validator, sarif_format.render(_hostile(doc), RenderOptions())))
    doc["target"] = {"kind": "network", "names": ["../../etc/passwd x"], "config_files": []}
    doc["findings"][0]["subjects"].append("../../etc/passwd x")
    results = _github_ready(_valid(validator, sarif_format.render(doc, RenderOptions())))
    uri = results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "ddiag/network/..%2F..%2Fetc%2Fpasswd%20x"  # one segment, never a way out


def test_a_saved_report_renders_valid_sarif(validator, at_root, tmp_path: Path) -> None:
    saved = tmp_path / "run.json"
    saved.write_text(GOLDEN_REPORT.read_text(encoding="utf-8"), encoding="utf-8")
    result = runner.invoke(app, ["report", str(saved), "--format", "sarif"])
    assert result.exit_code == 1, result.output  # the recorded run has errors
    assert len(_github_ready(_valid(validator, result.stdout))) == 3


@pytest.fixture
def given_doc(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`given_doc(kind, names)`: what the next diagnosing command's run returns."""
    monkeypatch.setattr(diagnosing, "Diagnosis", GivenDiagnosis)

    def give(kind: str, names: tuple[str, ...]) -> None:
        report = _report([API_FINDING])
        report.target = Target(kind, names, (SHOP_BACK,))
        report.started_at = datetime(2026, 11, 29, tzinfo=timezone.utc)
        monkeypatch.setattr(GivenDiagnosis, "outcome", Outcome(report, Settings()))
        monkeypatch.setattr(GivenDiagnosis, "error", None)

    yield give


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        (["network", "shop_back"], "network"),
        (["container", "shop-api-1"], "container"),
        (["compose", "-p", "shop"], "compose"),
    ],
)
def test_the_diagnosing_commands_write_valid_located_sarif(
    validator, given_doc, command: list[str], kind: str
) -> None:
    given_doc(kind, (command[-1],))
    result = runner.invoke(app, [*command, "--format", "sarif"])
    assert result.exit_code == 1, result.output
    (located,) = _github_ready(_valid(validator, result.stdout))
    uri = located["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == f"ddiag/{kind}/{command[-1]}"
