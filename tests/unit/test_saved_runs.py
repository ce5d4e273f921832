"""Saved runs without an engine: the schema, loading a saved report, `report`, `diff`, `schema`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from diag.checks.registry import all_checks
from diag.cli.app import app
from diag.cli.saved_runs import render_options
from diag.errors import DiagError
from diag.model.compose import ComposeProject
from diag.model.context import Target
from diag.model.findings import reaches
from diag.report import FORMATS
from diag.report.diff import diff, identity
from diag.report.diff_render import DIFF_FORMATS
from diag.report.model import EdgeOutcome, Inconclusive, ReportDoc
from diag.report.saved import load_report
from diag.report.schema import ANNOTATIONS, KEYWORDS, schema, schema_text, validate
from tests.unit.test_report import (
    API_FINDING,
    INFO_FINDING,
    MARKUP,
    MARKUP_FINDING,
    SHOP_BACK,
    _container,
    _report,
)

runner = CliRunner()


def _full_doc() -> ReportDoc:
    """A compose run with every optional part filled: findings, edges, listening, inconclusive."""
    report = _report(
        [INFO_FINDING, API_FINDING, MARKUP_FINDING],
        inconclusive=[Inconclusive("on network shop_back", "resolve db A: timeout")],
        listening={_container("shop-api-1", "api", "").id: ["127.0.0.1:8000"]},
        edges=[
            EdgeOutcome("web", "api", 8000, ("environment API_URL",), True, "port.app-loopback"),
            EdgeOutcome("web", "cache", None, ("depends_on",), False, None),
        ],
        probes_started=3,
    )
    project = ComposeProject("shop", {}, {}, config_files=("/srv/shop/compose.yaml",))
    report.target = Target("compose", ("shop",), (SHOP_BACK,), project=project)
    return report.to_dict()


def _validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())


def _save(tmp_path: Path, doc: Any, name: str = "run.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


# --- the schema ----------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema())


def _walk(rule: Any) -> list[dict[str, Any]]:
    """Every schema object in the schema (not the names under properties/$defs)."""
    if not isinstance(rule, dict):
        return []
    found = [rule]
    for key in ("properties", "$defs"):
        for sub in rule.get(key, {}).values():
            found += _walk(sub)
    for key in ("items", "additionalProperties"):
        found += _walk(rule.get(key))
    for sub in rule.get("anyOf", []):
        found += _walk(sub)
    return found


def test_schema_uses_only_what_the_built_in_validator_implements() -> None:
    for rule in _walk(schema()):
        assert set(rule) <= KEYWORDS, set(rule) - KEYWORDS
        assert isinstance(rule.get("additionalProperties", False), bool)
    assert "format" in ANNOTATIONS  # date-time is checked by the tests' format checker only


def test_ddiag_schema_prints_the_shipped_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert result.output == schema_text()
    assert json.loads(result.output) == schema()


@pytest.mark.parametrize("findings", [[], [API_FINDING, INFO_FINDING, MARKUP_FINDING]])
def test_hand_built_report_validates(findings: list) -> None:
    doc = _report(findings).to_dict()
    _validator().validate(doc)
    assert validate(doc) == []


def test_full_report_validates_and_covers_every_key() -> None:
    doc = _full_doc()
    _validator().validate(doc)
    assert validate(doc) == []
    assert doc["target"]["config_files"] == ["/srv/shop/compose.yaml"]
    assert doc["edges"][1]["port"] is None and doc["edges"][1]["check"] is None
    properties = schema()["properties"]
    assert set(doc) <= set(properties)
    assert set(schema()["required"]) == set(doc)  # every key a run emits is described


def test_optional_matrix_validates() -> None:
    doc = _full_doc()
    doc["matrix"] = [{"from": "web", "to": "api", "port": 8000, "reachable": False, "detail": "x"}]
    _validator().validate(doc)
    assert validate(doc) == []
    doc["matrix"][0]["reachable"] = "no"
    assert not _validator().is_valid(doc)
    assert validate(doc)


def test_every_check_id_fits_the_schema_pattern() -> None:
    pattern = schema()["$defs"]["check_id"]
    checker = jsonschema.Draft202012Validator(pattern)
    for check in all_checks():
        assert checker.is_valid(check.id), check.id


def _broken(change: str) -> ReportDoc:
    doc = copy.deepcopy(_full_doc())
    exec(change, {"doc": doc})
    return doc


BROKEN = [
    "doc['schema_version'] = 2",
    "doc['schema_version'] = True",
    "del doc['findings']",
    "doc['surprise'] = 1",
    "doc['tool']['name'] = 'other'",
    "doc['target']['kind'] = 'swarm'",
    "doc['target']['names'] = 'shop'",
    "doc['duration_s'] = '1.4'",
    "doc['duration_s'] = -1",
    "doc['checks_run'].append('Port app loopback')",
    "doc['findings'][0]['severity'] = 'fatal'",
    "doc['findings'][0]['check'] = 'portapploopback'",
    "doc['findings'][0]['evidence'] = ['x']",
    "del doc['findings'][1]['fix']",
    "doc['findings'][0]['subjects'] = [1]",
    "doc['summary']['error'] = 1.5",
    "doc['summary']['critical'] = 0",
    "doc['inconclusive'].append({'where': 'x'})",
    "doc['run']['probes_started'] = None",
    "doc['topology']['networks'][0]['internal'] = 'no'",
    "doc['topology']['networks'][0]['members'][0]['listening'] = '127.0.0.1:8000'",
    "doc['topology']['networks'][0]['members'][0]['ip'] = 3",
    "del doc['topology']['networks'][0]['members'][0]['service']",
    "doc['edges'][0]['port'] = 0",
    "doc['edges'][0]['port'] = '8000'",
    "doc['edges'][0]['check'] = 'no such id'",
    "doc['edges'][0]['observed'] = 1",
]


@pytest.mark.parametrize("change", BROKEN)
def test_broken_documents_are_invalid(change: str) -> None:
    doc = _broken(change)
    assert not _validator().is_valid(doc), change
    assert validate(doc), change  # the built-in validator agrees with jsonschema


def test_validator_errors_name_the_place() -> None:
    errors = validate(_broken("doc['findings'][0]['severity'] = 'fatal'; del doc['run']"))
    assert "$: missing 'run'" in errors
    assert any(e.startswith('$.findings[0].severity: "fatal" is not one of') for e in errors)


# --- loading a saved report ----------------------------------------------------------------


def test_load_report_roundtrip(tmp_path: Path) -> None:
    doc = _full_doc()
    assert load_report(_save(tmp_path, doc)) == doc


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no saved report at"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"{not json", "is not JSON (line 1, column 2"),
        (b"[1, 2]", "not a ddiag JSON report (no schema_version)"),
        (b'{"findings": []}', "not a ddiag JSON report (no schema_version)"),
        (b'{"schema_version": 2}', "has schema_version 2; this ddiag reads version 1"),
        (b'{"schema_version": "1"}', 'has schema_version "1"'),
        (b'{"schema_version": 1}', "is not a valid ddiag report"),
    ],
)
def test_load_report_rejects_bad_files(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "run.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DiagError) as caught:
        load_report(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_load_report_rejects_a_directory(tmp_path: Path) -> None:
    with pytest.raises(DiagError, match="is a directory"):
        load_report(tmp_path)


# --- ddiag report --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_report_renders_a_saved_run_in_every_format(tmp_path: Path, fmt: str) -> None:
    doc = _full_doc()
    path = _save(tmp_path, doc)
    result = runner.invoke(app, ["report", str(path), "--format", fmt, "--no-color"])
    assert result.exit_code == 1, result.output  # API_FINDING is an error
    expected = FORMATS[fmt](doc, render_options(False, 100, "error"))
    assert result.stdout == expected


def test_report_json_is_the_saved_document(tmp_path: Path) -> None:
    doc = _full_doc()
    result = runner.invoke(app, ["report", str(_save(tmp_path, doc)), "--format", "json"])
    assert json.loads(result.stdout) == doc


@pytest.mark.parametrize(
    ("fail_on", "code"), [("error", 1), ("warning", 1), ("info", 1), ("never", 0)]
)
def test_report_exit_code_follows_fail_on(tmp_path: Path, fail_on: str, code: int) -> None:
    path = _save(tmp_path, _full_doc())
    result = runner.invoke(app, ["report", str(path), "--fail-on", fail_on, "--format", "json"])
    assert result.exit_code == code


def test_report_exit_code_of_an_info_only_run(tmp_path: Path) -> None:
    path = _save(tmp_path, _report([INFO_FINDING]).to_dict())
    assert runner.invoke(app, ["report", str(path)]).exit_code == 0
    assert runner.invoke(app, ["report", str(path), "--fail-on", "info"]).exit_code == 1


def test_report_writes_output_file(tmp_path: Path) -> None:
    path = _save(tmp_path, _full_doc())
    out = tmp_path / "out.txt"
    result = runner.invoke(app, ["report", str(path), "--output", str(out), "--fail-on", "never"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "port.app-loopback" in out.read_text()


def test_report_reads_stdin(tmp_path: Path) -> None:
    doc = _full_doc()
    result = runner.invoke(app, ["report", "-", "--format", "json"], input=json.dumps(doc))
    assert result.exit_code == 1
    assert json.loads(result.stdout) == doc


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "{dir}/missing.json"], "no saved report at"),
        (["report", "{dir}/bad.json"], "is not JSON"),
        (["report", "{dir}/run.json", "--format", "xml"], "Invalid value for '--format'"),
        (["report", "{dir}/run.json", "--fail-on", "sometimes"], "Invalid value for '--fail-on'"),
        (["diff", "{dir}/run.json", "{dir}/bad.json"], "is not JSON"),
        (["diff", "{dir}/run.json", "{dir}/run.json", "--format", "junit"], "'--format'"),
        (["diff", "{dir}/run.json", "{dir}/run.json", "--fail-on", "x"], "'--fail-on'"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path: Path, args: list[str], message: str) -> None:
    _save(tmp_path, _full_doc())
    (tmp_path / "bad.json").write_text("{")
    env = {"DOCKER_HOST": "unix:///nonexistent.sock"}  # no engine is needed
    result = runner.invoke(app, [a.format(dir=tmp_path) for a in args], env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, DiagError)  # handled, not raised


# --- diff ----------------------------------------------------------------------------------


def _finding(check: str, subjects: list[str], severity: str = "error", **extra: Any) -> dict:
    return {
        "check": check,
        "severity": severity,
        "title": "t",
        "subjects": subjects,
        "summary": extra.get("summary", "s"),
        "evidence": extra.get("evidence", {}),
        "fix": "f",
    }


def _doc_with(findings: list[dict], started_at: str = "2026-11-29T03:30:00+00:00") -> ReportDoc:
    doc = _report([]).to_dict()
    doc["findings"] = findings
    doc["run"]["started_at"] = started_at
    return doc


LOOPBACK = _finding("port.app-loopback", ["api", "web"])
DOWN = _finding("container.not-running", ["init"], "info")
TYPO = _finding("dns.name-confusion", ["web", "dbb"], "warning")


def test_identity_is_check_and_subjects() -> None:
    assert identity(LOOPBACK) == ("port.app-loopback", ("api", "web"))


def test_diff_new_resolved_unchanged() -> None:
    result = diff(_doc_with([LOOPBACK, DOWN]), _doc_with([DOWN, TYPO]))
    assert result.new == [TYPO]
    assert result.resolved == [LOOPBACK]
    assert result.unchanged == [DOWN]
    assert result.to_dict() == {"new": [TYPO], "resolved": [LOOPBACK], "unchanged": [DOWN]}
    assert result.same_target


def test_diff_ignores_summary_evidence_and_order() -> None:
    before = _finding("port.refused", ["db"], summary="10.213.1.3 refused", evidence={"ms": 3})
    after = _finding("port.refused", ["db"], summary="10.213.1.7 refused", evidence={"ms": 9})
    result = diff(_doc_with([before, DOWN]), _doc_with([DOWN, after]))
    assert result.new == [] and result.resolved == []
    assert result.unchanged == [DOWN, after]  # as AFTER has them


def test_diff_subjects_and_check_both_count() -> None:
    other_subjects = _finding("port.app-loopback", ["api", "worker"])
    other_check = _finding("port.not-listening", ["api", "web"])
    result = diff(_doc_with([LOOPBACK]), _doc_with([other_subjects, other_check]))
    assert result.new == [other_subjects, other_check]
    assert result.resolved == [LOOPBACK]


def test_diff_pairs_repeated_identities() -> None:
    one = _finding("port.not-listening", ["api"], summary="8000")
    two = _finding("port.not-listening", ["api"], summary="9000")
    result = diff(_doc_with([one]), _doc_with([one, two]))
    assert result.unchanged == [one] and result.new == [two] and result.resolved == []
    result = diff(_doc_with([one, two]), _doc_with([two]))
    assert result.unchanged == [two] and result.resolved == [two] and result.new == []


def test_diff_of_different_targets_is_flagged() -> None:
    after = _doc_with([])
    after["target"]["names"] = ["other"]
    assert not diff(_doc_with([]), after).same_target


@pytest.mark.parametrize(
    ("fail_on", "expected"),
    [("error", False), ("warning", True), ("info", True), ("never", False)],
)
def test_reaches(fail_on: str, expected: bool) -> None:
    assert reaches([DOWN, TYPO], fail_on) is expected
    assert reaches([], fail_on) is False


def test_diff_renders_json() -> None:
    result = diff(_doc_with([LOOPBACK, DOWN]), _doc_with([DOWN, TYPO]))
    out = DIFF_FORMATS["json"](result, render_options(False, 100, "error"))
    assert json.loads(out) == {"new": [TYPO], "resolved": [LOOPBACK], "unchanged": [DOWN]}


def test_diff_renders_rich_table_with_literal_text() -> None:
    evil = _finding("dns.wrong-address", ["web"], summary=f"name {MARKUP} resolves oddly")
    result = diff(_doc_with([LOOPBACK]), _doc_with([evil]))
    out = DIFF_FORMATS["rich"](result, render_options(False, 160, "error"))
    assert "\x1b[" not in out
    lines = out.splitlines()
    assert lines[0] == "before: network shop_back at 2026-11-29T03:30:00+00:00"
    assert any("new" in line and "dns.wrong-address" in line for line in lines)
    assert any("resolved" in line and "port.app-loopback" in line for line in lines)
    assert any("unchanged" in line and "none" in line for line in lines)
    assert MARKUP in out
    assert lines[-1] == "1 new (1 error), 1 resolved, 0 unchanged"
    colored = DIFF_FORMATS["rich"](result, render_options(True, 160, "error"))
    assert "\x1b[" in colored


def test_diff_renders_markdown_escaped() -> None:
    evil = _finding("dns.wrong-address", ["web"], summary="a | b <img src=x> [x](http://e) *y*")
    result = diff(_doc_with([DOWN]), _doc_with([DOWN, evil]))
    out = DIFF_FORMATS["markdown"](result, render_options(False, 100, "error"))
    assert "## New (1)" in out and "## Resolved (0)" in out and "## Unchanged (1)" in out
    assert "**1 new (1 error), 0 resolved, 1 unchanged**" in out
    row = next(line for line in out.splitlines() if "dns.wrong-address" in line)
    assert row == (
        "| error | `dns.wrong-address` | `web` "
        r"| a \| b \<img src=x\> \[x\](http://e) \*y\* |"
    )
    assert "None." in out  # the empty section


def _diff_cli(tmp_path: Path, before: list, after: list, *extra: str):
    b = _save(tmp_path, _doc_with(before), "before.json")
    a = _save(tmp_path, _doc_with(after, "2026-11-29T04:00:00+00:00"), "after.json")
    return runner.invoke(app, ["diff", str(b), str(a), *extra])


def test_diff_cli_exit_codes(tmp_path: Path) -> None:
    # a new error: exit 1
    assert _diff_cli(tmp_path, [DOWN], [DOWN, LOOPBACK]).exit_code == 1
    assert _diff_cli(tmp_path, [DOWN], [DOWN, LOOPBACK], "--fail-on", "never").exit_code == 0
    # an error that was already there is not new: exit 0
    assert _diff_cli(tmp_path, [LOOPBACK], [LOOPBACK]).exit_code == 0
    # resolved: exit 0
    assert _diff_cli(tmp_path, [LOOPBACK, TYPO], [TYPO]).exit_code == 0
    # a new warning fails only from --fail-on warning down
    assert _diff_cli(tmp_path, [], [TYPO]).exit_code == 0
    assert _diff_cli(tmp_path, [], [TYPO], "--fail-on", "warning").exit_code == 1


@pytest.mark.parametrize("fmt", list(DIFF_FORMATS))
def test_diff_cli_formats(tmp_path: Path, fmt: str) -> None:
    result = _diff_cli(tmp_path, [LOOPBACK, DOWN], [DOWN, TYPO], "--format", fmt, "--no-color")
    assert result.exit_code == 0, result.output
    assert "dns.name-confusion" in result.stdout and "port.app-loopback" in result.stdout
    if fmt == "json":
        assert json.loads(result.stdout)["new"] == [TYPO]


def test_diff_cli_warns_about_different_targets(tmp_path: Path) -> None:
    other = _doc_with([])
    other["target"]["names"] = ["elsewhere"]
    b = _save(tmp_path, _doc_with([]), "before.json")
    a = _save(tmp_path, other, "after.json")
    result = runner.invoke(app, ["diff", str(b), str(a), "--format", "json"])
    assert result.exit_code == 0
    assert "different targets" in result.stderr
    assert json.loads(result.stdout) == {"new": [], "resolved": [], "unchanged": []}
