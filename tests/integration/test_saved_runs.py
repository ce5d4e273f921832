"""Saved runs on the real engine: a fixture's JSON report validates against the shipped
schema, re-renders in every format with `ddiag report`, and `ddiag diff` tells new from
resolved from unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from diag.report import FORMATS
from diag.report.schema import schema
from tests.integration.stacks import ddiag, running

LOOPBACK = "port.app-loopback"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two runs of compose-loopback (its api binds 127.0.0.1 only), saved as JSON."""
    directory = tmp_path_factory.mktemp("saved-runs")
    with running("compose-loopback") as stack:
        first = ddiag(*stack.command(), "--format", "json")
        assert first.returncode == 1, first.stderr
        second_path = directory / "again.json"
        second = ddiag(*stack.command(), "--format", "json", "--output", str(second_path))
        assert second.returncode == 1, second.stderr
    run_path = directory / "run.json"
    run_path.write_text(first.stdout, encoding="utf-8")
    return {"dir": directory, "stdout": first.stdout, "run": run_path, "again": second_path}


def _fixed(runs: dict[str, Any]) -> Path:
    """The same run with its loopback finding removed by hand: what a fixed stack reports."""
    doc = json.loads(runs["stdout"])
    doc["findings"] = [f for f in doc["findings"] if f["check"] != LOOPBACK]
    doc["summary"]["error"] -= 1
    path = runs["dir"] / "fixed.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_json_output_validates_against_the_shipped_schema(runs: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    for text in (runs["stdout"], runs["again"].read_text()):
        doc = json.loads(text)
        validator.validate(doc)
        assert [f["check"] for f in doc["findings"]] == [LOOPBACK]
        assert doc["target"]["kind"] == "compose"


def test_ddiag_schema_is_the_shipped_schema() -> None:
    result = ddiag("schema")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == schema()


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_report_rerenders_in_every_format(runs: dict[str, Any], fmt: str) -> None:
    result = ddiag("report", str(runs["run"]), "--format", fmt, "--no-color")
    assert result.returncode == 1, result.stderr  # its error finding, as the live run
    assert result.stdout.strip(), fmt
    assert "Traceback" not in result.stderr
    if fmt == "json":
        assert result.stdout == runs["stdout"]  # re-rendered exactly
    out = runs["dir"] / f"out.{fmt}"
    saved = ddiag("report", str(runs["run"]), "--format", fmt, "--output", str(out))
    assert saved.returncode == 1, saved.stderr
    assert saved.stdout == ""
    assert out.read_text() == result.stdout
    never = ddiag("report", str(runs["run"]), "--format", fmt, "--fail-on", "never")
    assert never.returncode == 0, never.stderr


def test_report_of_a_bad_file_exits_2(runs: dict[str, Any]) -> None:
    bad = runs["dir"] / "truncated.json"
    bad.write_text(runs["stdout"][:200])
    for path in (bad, runs["dir"] / "missing.json"):
        result = ddiag("report", str(path))
        assert result.returncode == 2
        assert result.stderr.startswith("ddiag: ") and str(path) in result.stderr
        assert "Traceback" not in result.stderr


def test_two_runs_of_the_same_stack_have_nothing_new(runs: dict[str, Any]) -> None:
    result = ddiag("diff", str(runs["run"]), str(runs["again"]), "--format", "json")
    assert result.returncode == 0, result.stderr
    changes = json.loads(result.stdout)
    assert changes["new"] == [] and changes["resolved"] == []
    assert [f["check"] for f in changes["unchanged"]] == [LOOPBACK]
    assert result.stderr == ""  # same target: no warning


def test_diff_broken_after_fixed_is_new_and_fails(runs: dict[str, Any]) -> None:
    fixed = _fixed(runs)
    result = ddiag("diff", str(fixed), str(runs["run"]), "--format", "json")
    assert result.returncode == 1, result.stderr
    changes = json.loads(result.stdout)
    assert [f["check"] for f in changes["new"]] == [LOOPBACK]
    assert changes["resolved"] == [] and changes["unchanged"] == []
    never = ddiag("diff", str(fixed), str(runs["run"]), "--fail-on", "never")
    assert never.returncode == 0


def test_diff_fixed_after_broken_is_resolved(runs: dict[str, Any]) -> None:
    fixed = _fixed(runs)
    result = ddiag("diff", str(runs["run"]), str(fixed), "--format", "json")
    assert result.returncode == 0, result.stderr
    changes = json.loads(result.stdout)
    assert [f["check"] for f in changes["resolved"]] == [LOOPBACK]
    assert changes["new"] == [] and changes["unchanged"] == []


@pytest.mark.parametrize("fmt", ["rich", "markdown"])
def test_diff_for_people(runs: dict[str, Any], fmt: str) -> None:
    result = ddiag("diff", str(_fixed(runs)), str(runs["run"]), "--format", fmt, "--no-color")
    assert result.returncode == 1, result.stderr
    assert LOOPBACK in result.stdout
    assert "1 new (1 error), 0 resolved, 0 unchanged" in result.stdout
