"""The github and gitlab formats and where they place findings (diag/report/places.py):
what GitHub's runner and GitLab's Code Quality read from them, hostile text kept inert,
and for every format, that no secret of the run reaches it (redaction happens before).

Their goldens are compared in test_formats.py, with the other formats'.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from diag.model.context import Target
from diag.model.findings import Finding, Severity
from diag.report import FORMATS, RenderOptions, github_format, gitlab_format, sarif_format
from diag.report.model import ReportDoc
from diag.report.places import Places
from diag.report.text import clean
from tests.unit.test_formats import CONTROL, _hostile
from tests.unit.test_report import SHOP_BACK, _container, _report

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_REPORT = ROOT / "tests" / "data" / "golden" / "shop-report.json"
COMPOSE_COPY = "tests/data/golden/shop-compose.yaml"
COMMANDS = {"error", "warning", "notice"}
GITLAB_SEVERITIES = {"info", "minor", "major", "critical", "blocker"}


@pytest.fixture
def doc(monkeypatch: pytest.MonkeyPatch) -> ReportDoc:
    monkeypatch.chdir(ROOT)  # the recorded report's compose file is relative to the root
    return json.loads(GOLDEN_REPORT.read_text(encoding="utf-8"))


def _network(doc: ReportDoc, *names: str) -> ReportDoc:
    doc["target"] = {"kind": "network", "names": list(names), "config_files": []}
    return doc


def test_formats_are_registered() -> None:
    assert FORMATS["github"] is github_format.render
    assert FORMATS["gitlab"] is gitlab_format.render


# --- where findings are ----------------------------------------------------------------------


def test_a_compose_finding_is_at_its_service(doc: ReportDoc) -> None:
    place = Places(doc).of(doc["findings"][1])  # port.app-loopback on api
    assert (place.path, place.kind, place.name, place.in_file) == (
        COMPOSE_COPY,
        "service",
        "api",
        True,
    )
    lines = (ROOT / COMPOSE_COPY).read_text(encoding="utf-8").splitlines()
    assert lines[place.line - 1] == "  api:" and place.column == 3


def test_placeholders_name_the_target_the_finding_mentions(doc: ReportDoc) -> None:
    _network(doc, "ddiag-golden_front", "ddiag-golden_back")
    finding = {**doc["findings"][0], "subjects": ["worker", "ddiag-golden_back"]}
    place = Places(doc).of(finding)
    assert (place.path, place.uri, place.line, place.in_file) == (
        "ddiag/network/ddiag-golden_back",
        "ddiag/network/ddiag-golden_back",
        1,
        False,
    )
    unnamed = Places(doc).of({**finding, "subjects": ["worker"]})
    assert unnamed.path == "ddiag/network/ddiag-golden_front"  # the first target name
    assert Places(_network(doc)).of(finding).path == "ddiag/network"  # no name at all


def test_a_compose_project_without_files_is_a_placeholder(doc: ReportDoc) -> None:
    doc["target"]["config_files"] = []  # rebuilt from its containers' labels
    place = Places(doc).of(doc["findings"][0])
    assert (place.path, place.kind, place.name) == (
        "ddiag/compose/ddiag-golden",
        "compose",
        "ddiag-golden",
    )


# --- github: workflow commands ---------------------------------------------------------------


def _unescape(text: str, *extra: str) -> str:
    """As GitHub's runner reads a workflow command back: %25 last."""
    for code in ("%0D", "%0A", *extra):
        text = text.replace(code, bytes.fromhex(code[1:]).decode())
    return text.replace("%25", "%")


def _parse(line: str) -> tuple[str, dict[str, str], str]:
    """`::name k=v,k=v::message` as the runner splits it: at the first `::` after the name."""
    assert line.startswith("::"), line
    end = line.index("::", 2)
    name, _, given = line[2:end].partition(" ")
    properties = {}
    for pair in filter(None, given.split(",")):
        key, _, value = pair.partition("=")
        properties[key] = _unescape(value, "%3A", "%2C")
    return name, properties, _unescape(line[end + 2 :])


def test_github_one_annotation_per_finding_on_its_line(doc: ReportDoc) -> None:
    lines = github_format.render(doc, RenderOptions()).splitlines()
    assert len(lines) == len(doc["findings"]) + len(doc["inconclusive"]) + 1
    for line, finding in zip(lines, doc["findings"], strict=False):
        name, properties, message = _parse(line)
        assert (
            name == {"error": "error", "warning": "warning", "info": "notice"}[finding["severity"]]
        )
        assert properties["title"] == f"{finding['check']}: {finding['title']}"
        assert properties["file"] == COMPOSE_COPY
        place = Places(doc).of(finding)
        assert (properties["line"], properties["col"]) == (str(place.line), str(place.column))
        assert message == f"{finding['summary']}\n\nFix: {finding['fix']}"
    name, properties, message = _parse(lines[-2])
    assert (name, properties) == ("warning", {"title": "ddiag: could not check"})
    assert message == "in the netns of ddiag-golden-web-1: resolve api A: timeout"
    assert lines[-1] == "ddiag compose ddiag-golden: error 2 · warning 1 · info 0"


def test_github_other_targets_annotate_the_run_not_a_file(doc: ReportDoc) -> None:
    lines = github_format.render(_network(doc, "ddiag-golden_back"), RenderOptions()).splitlines()
    for line in lines[: len(doc["findings"])]:
        _, properties, _ = _parse(line)
        assert set(properties) == {"title"}


def test_github_without_findings_says_so_in_one_plain_line(doc: ReportDoc) -> None:
    doc.update(findings=[], summary={"error": 0, "warning": 0, "info": 0}, inconclusive=[])
    out = github_format.render(doc, RenderOptions())
    assert out == "ddiag compose ddiag-golden: error 0 · warning 0 · info 0\n"


def test_github_hostile_text_cannot_add_commands_or_properties(doc: ReportDoc) -> None:
    hostile = _hostile(doc)
    finding = hostile["findings"][1]
    finding["summary"] += "\n::add-mask::x\r\n::stop-commands::t 100% done, a:b"
    finding["title"] += ",file=evil.py,line=9::injected"
    lines = github_format.render(hostile, RenderOptions()).splitlines()
    assert len(lines) == len(hostile["findings"]) + len(hostile["inconclusive"]) + 1
    assert not CONTROL.search("".join(lines))
    for line in lines[:-1]:
        name, properties, message = _parse(line)
        assert name in COMMANDS
        assert set(properties) <= {"file", "line", "col", "title"}
    _, properties, message = _parse(lines[1])
    assert properties["title"] == clean(f"{finding['check']}: {finding['title']}")
    assert properties.get("file") == COMPOSE_COPY
    assert message.startswith(clean(finding["summary"]))
    assert "%25" not in message and "100% done, a:b" in message
    assert not lines[-1].startswith("::")


def test_github_escapes_as_the_toolkit_does() -> None:
    assert github_format.escape_data("50%\r\nnext: a,b") == "50%25%0D%0Anext: a,b"
    assert github_format.escape_property("50%\r\nnext: a,b") == "50%25%0D%0Anext%3A a%2Cb"


# --- gitlab: Code Quality --------------------------------------------------------------------


def test_gitlab_issues_have_what_gitlab_reads(doc: ReportDoc) -> None:
    issues = json.loads(gitlab_format.render(doc, RenderOptions()))
    sarif = json.loads(sarif_format.render(doc, RenderOptions()))["runs"][0]["results"]
    assert len(issues) == len(doc["findings"]) == len(sarif)
    for issue, finding, result in zip(issues, doc["findings"], sarif, strict=True):
        assert list(issue) == ["description", "check_name", "fingerprint", "severity", "location"]
        assert issue["description"] == finding["summary"]
        assert issue["check_name"] == finding["check"]
        assert issue["fingerprint"] == result["partialFingerprints"]["ddiagFinding/v1"]
        assert issue["severity"] in GITLAB_SEVERITIES
        physical = result["locations"][0]["physicalLocation"]
        assert issue["location"] == {
            "path": physical["artifactLocation"]["uri"],
            "lines": {"begin": physical["region"]["startLine"]},
        }
    assert [i["severity"] for i in issues] == ["critical", "critical", "minor"]


def test_gitlab_fingerprints_follow_the_identity_not_the_text(doc: ReportDoc) -> None:
    first = json.loads(gitlab_format.render(doc, RenderOptions()))
    reworded = copy.deepcopy(doc)
    for finding in reworded["findings"]:
        finding.update(summary="other words", evidence={"address": "10.213.99.9"})
    again = json.loads(gitlab_format.render(reworded, RenderOptions()))
    assert [i["fingerprint"] for i in again] == [i["fingerprint"] for i in first]
    doc["findings"].append({**doc["findings"][2], "summary": "cache exposes 6378/tcp too"})
    twice = json.loads(gitlab_format.render(doc, RenderOptions()))
    assert twice[2]["fingerprint"] == first[2]["fingerprint"]
    assert len({i["fingerprint"] for i in twice}) == len(twice)  # the repeat is its own issue


def test_gitlab_other_targets_point_at_the_placeholder(doc: ReportDoc) -> None:
    issues = json.loads(gitlab_format.render(_network(doc, "ddiag-golden_back"), RenderOptions()))
    assert {i["location"]["path"] for i in issues} == {"ddiag/network/ddiag-golden_back"}
    assert {i["location"]["lines"]["begin"] for i in issues} == {1}


def test_gitlab_hostile_text_stays_data(doc: ReportDoc) -> None:
    out = gitlab_format.render(_hostile(doc), RenderOptions())
    assert not out.startswith("\ufeff")  # GitLab refuses a byte order mark
    assert "\\u001b" not in out and "\x1b" not in out and "\u202e" not in out
    issue = json.loads(out)[1]
    assert "\n" not in issue["description"] and "<script>" in issue["description"]


# --- every format: redacted before it renders ------------------------------------------------

SECRET = "hunter2-s3cr3t"


def _secret_doc() -> ReportDoc:
    leaky = Finding(
        check="port.refused",
        severity=Severity.ERROR,
        title="Connection refused",
        subjects=("web", "shop-web-1"),
        summary=f"web uses postgres://app:{SECRET}@db:5432/app and is refused",
        evidence={"env": f"DB_PASSWORD={SECRET}", "header": f"Authorization: Bearer {SECRET}"},
        fix=f"Check DATABASE_URL=postgres://app:{SECRET}@db:5432/app",
    )
    report = _report([leaky])
    web = _container("shop-web-1", "web", "10.213.9.2")
    report.target = Target("compose", ("shop",), (SHOP_BACK,), containers=(web,))
    return report.to_dict()


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_no_format_sees_a_secret(fmt: str) -> None:
    out = FORMATS[fmt](_secret_doc(), RenderOptions(width=200))
    assert SECRET not in out
    assert re.search(r"\*\*\*", out), "the redacted values are masked, not dropped"
