"""The markdown, junit and sarif formats: golden files rendered from a recorded JSON report
(of the github and gitlab formats too, tested in test_ci_formats.py), the structure CI
tools rely on, and hostile text escaped in every one of them.

Refresh the goldens after a deliberate change: DDIAG_UPDATE_GOLDEN=1 (tests/data/golden/).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from diag.checks.registry import find
from diag.report import FORMATS, RenderOptions, junit_format, markdown_format, sarif_format
from diag.report.model import ReportDoc
from diag.report.places import artifact_uri, locate_keys

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "golden"
COMPOSE_COPY = "tests/data/golden/shop-compose.yaml"
GOLDEN_FILES = {
    "markdown": "shop.md",
    "junit": "shop.junit.xml",
    "sarif": "shop.sarif.json",
    "github": "shop.github.txt",
    "gitlab": "shop.gitlab.json",
}
SARIF_LEVELS = {"error", "warning", "note", "none"}


@pytest.fixture
def doc(monkeypatch: pytest.MonkeyPatch) -> ReportDoc:
    """The recorded report, rendered from the repository root (as SARIF URIs assume)."""
    monkeypatch.chdir(ROOT)
    return json.loads((GOLDEN / "shop-report.json").read_text(encoding="utf-8"))


def _markdown_html(text: str) -> str:
    """As GitHub would render it, raw HTML allowed (so that any that slips through shows)."""
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(text)


def _fenced_blocks(text: str, info: str) -> list[str]:
    blocks = re.findall(rf"^(`{{3,}}){info}\n(.*?)\n\1$", text, re.MULTILINE | re.DOTALL)
    return [body for _, body in blocks]


# --- golden files --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(GOLDEN_FILES))
def test_golden(fmt: str, doc: ReportDoc) -> None:
    rendered = FORMATS[fmt](doc, RenderOptions(fail_on="error"))
    golden = GOLDEN / GOLDEN_FILES[fmt]
    if os.environ.get("DDIAG_UPDATE_GOLDEN"):
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8"), (
        f"{golden.name} differs; after a deliberate change refresh it with "
        "DDIAG_UPDATE_GOLDEN=1 (see tests/data/golden/README.md)"
    )


def test_formats_are_registered() -> None:
    assert FORMATS["markdown"] is markdown_format.render
    assert FORMATS["junit"] is junit_format.render
    assert FORMATS["sarif"] is sarif_format.render
    assert RenderOptions().fail_on == "error"


# --- markdown ------------------------------------------------------------------------------


def test_markdown_runbook_sections(doc: ReportDoc) -> None:
    out = markdown_format.render(doc, RenderOptions())
    first = out.splitlines()[0]
    assert first == "# ddiag runbook: compose `ddiag-golden`"
    assert "20.10.24+dfsg1 (API 1.41)" in out
    assert "2026-11-29 04:31:37 UTC" in out and "3.5 s" in out
    for heading in ("## Summary", "## Findings", "## Inconclusive (1)", "## Topology"):
        assert f"\n{heading}\n" in out
    assert "| error | 2 |" in out and "| warning | 1 |" in out
    assert out.count("\n### ") == len(doc["findings"])
    assert "docker logs --tail 50 ddiag-golden-worker-1" in out
    assert (
        "docker run --rm --network container:ddiag-golden-web-1 nicolaka/netshoot "
        "nc -vz -w 2 api 8000" in out
    )
    assert "nicolaka/netshoot ss -ltnp" in out
    assert "resolve api A: timeout" in out
    html = _markdown_html(out)
    assert html.count("<table>") == 3  # severity counts, findings, dependencies
    assert '<code class="language-mermaid">' in html


def test_markdown_mermaid_topology(doc: ReportDoc) -> None:
    (chart,) = _fenced_blocks(markdown_format.render(doc, RenderOptions()), "mermaid")
    lines = chart.splitlines()
    assert lines[0] == "flowchart LR"
    subgraphs = [line for line in lines if line.lstrip().startswith("subgraph ")]
    assert len(subgraphs) == len(doc["topology"]["networks"])
    assert '["ddiag-golden-api-1 (api)<br/>10.213.11.3"]' in chart
    assert "exited" in chart  # the crashed worker
    edges = [line for line in lines if "->|" in line]
    assert len(edges) == len(doc["edges"])
    failing = next(line for line in edges if "port.app-loopback" in line)
    assert "-.->" in failing  # dashed, and red through linkStyle
    assert f"linkStyle {edges.index(failing)} stroke:#d73a49" in chart
    for ident in re.findall(r"^\s*(?:subgraph )?([^\s\[]+)\[", chart, re.MULTILINE):
        assert re.fullmatch(r"[A-Za-z0-9_]+", ident), ident
    for line in edges:
        assert re.fullmatch(r'\s*[A-Za-z0-9_]+ -\.?->\|"[^"]*"\| [A-Za-z0-9_]+', line), line


def test_markdown_without_findings(doc: ReportDoc) -> None:
    doc.update(findings=[], summary={"error": 0, "warning": 0, "info": 0}, inconclusive=[])
    out = markdown_format.render(doc, RenderOptions())
    assert "No findings" in out and "## Findings" not in out
    assert "## Inconclusive (0)" in out


# --- junit ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fail_on", "failures"), [("error", 2), ("warning", 3), ("info", 3), ("never", 0)]
)
def test_junit_structure(doc: ReportDoc, fail_on: str, failures: int) -> None:
    root = ET.fromstring(junit_format.render(doc, RenderOptions(fail_on=fail_on)))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "ddiag"
    cases = suite.findall("testcase")
    with_findings = {f["check"] for f in doc["findings"]}
    expected = (
        len(set(doc["checks_run"]) - with_findings)
        + len(doc["findings"])
        + len(doc["inconclusive"])
    )
    assert len(cases) == expected == int(suite.get("tests", "")) == int(root.get("tests", ""))
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == failures == int(suite.get("failures", ""))
    assert int(suite.get("skipped", "")) == len(doc["inconclusive"]) == 1
    assert suite.get("errors") == "0"
    assert suite.get("timestamp") == "2026-11-29T04:31:37"
    by_check = {c.get("classname"): c for c in cases}
    assert set(doc["checks_run"]) <= set(by_check)
    assert by_check["dns.cross-network"].get("name") == "ddiag-golden"  # passed: the target
    assert list(by_check["dns.cross-network"]) == []
    loopback = by_check["port.app-loopback"]
    assert loopback.get("name") == "api"
    if failures:
        failure = loopback.find("failure")
        assert failure is not None
        assert failure.get("message", "").startswith("api listens on 127.0.0.1:8000 only")
        assert "listening: 127.0.0.1:8000" in (failure.text or "")
        assert "Bind the server to 0.0.0.0" in (failure.text or "")
    cache = by_check["port.not-listening"]  # a warning
    if fail_on == "error" or fail_on == "never":
        assert cache.find("failure") is None
        assert "cache exposes 6379/tcp" in (cache.findtext("system-out") or "")
    else:
        assert cache.find("failure") is not None


def test_junit_one_case_per_finding_with_unique_names(doc: ReportDoc) -> None:
    twin = copy.deepcopy(doc["findings"][2])
    twin["summary"] = "cache exposes 6378/tcp but nothing listens on it"
    doc["findings"].append(twin)
    suite = ET.fromstring(junit_format.render(doc, RenderOptions())).find("testsuite")
    assert suite is not None
    names = [c.get("name") for c in suite if c.get("classname") == "port.not-listening"]
    assert names == ["cache", "cache (2)"]


# --- sarif ---------------------------------------------------------------------------------


def _line(path: str, number: int) -> str:
    return Path(path).read_text(encoding="utf-8").splitlines()[number - 1]


def test_sarif_structure(doc: ReportDoc) -> None:
    sarif = json.loads(sarif_format.render(doc, RenderOptions()))
    assert sarif["version"] == "2.1.0"
    assert sarif["$schema"].startswith("https://") and "sarif" in sarif["$schema"]
    (run,) = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "ddiag" and driver["version"] == doc["tool"]["version"]
    rules = driver["rules"]
    assert [r["id"] for r in rules] == doc["checks_run"]
    for rule in rules:
        check = find(rule["id"])
        assert check is not None
        assert rule["shortDescription"]["text"] == check.title
        assert rule["help"]["text"] == check.doc
        assert rule["defaultConfiguration"]["level"] in SARIF_LEVELS
    assert len(run["results"]) == len(doc["findings"])
    for result, finding in zip(run["results"], doc["findings"], strict=True):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == finding["check"]
        assert (
            result["level"]
            == {"error": "error", "warning": "warning", "info": "note"}[finding["severity"]]
        )
        assert result["message"]["text"].startswith(finding["summary"])
        assert finding["fix"] in result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == COMPOSE_COPY
        line = _line(COMPOSE_COPY, physical["region"]["startLine"])
        assert line == f"  {finding['subjects'][0]}:"  # the service named first
    assert run["invocations"][0]["startTimeUtc"] == "2026-11-29T04:31:37Z"
    assert "resolve api A: timeout" in json.dumps(run["invocations"][0])


def test_sarif_network_subject_and_fallback(doc: ReportDoc) -> None:
    finding = doc["findings"][0]
    finding["subjects"] = ["ddiag-golden_back"]  # a network: its key is `back`
    doc["findings"] = [finding, {**finding, "subjects": ["somewhere-else"]}]
    results = json.loads(sarif_format.render(doc, RenderOptions()))["runs"][0]["results"]
    on_network, fallback = (r["locations"][0]["physicalLocation"] for r in results)
    assert _line(COMPOSE_COPY, on_network["region"]["startLine"]) == "  back:"
    assert fallback["artifactLocation"]["uri"] == COMPOSE_COPY
    assert fallback["region"]["startLine"] == 1


@pytest.mark.parametrize("kind", ["network", "container"])
def test_sarif_other_targets_are_located_at_a_placeholder(doc: ReportDoc, kind: str) -> None:
    # GitHub's code scanning refuses results without a location (issue 18)
    doc["target"] = {"kind": kind, "names": ["ddiag-golden_back"], "config_files": []}
    results = json.loads(sarif_format.render(doc, RenderOptions()))["runs"][0]["results"]
    assert len(results) == len(doc["findings"])
    for result in results:
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == f"ddiag/{kind}/ddiag-golden_back"
        assert "no file" in physical["artifactLocation"]["description"]["text"]
        assert physical["region"] == {"startLine": 1, "startColumn": 1}
        assert location["logicalLocations"] == [
            {
                "name": "ddiag-golden_back",
                "kind": kind,
                "fullyQualifiedName": f"{kind}/ddiag-golden_back",
            }
        ]


def test_sarif_unreadable_compose_file_still_located(doc: ReportDoc) -> None:
    doc["target"]["config_files"] = ["gone/compose.yaml"]
    results = json.loads(sarif_format.render(doc, RenderOptions()))["runs"][0]["results"]
    physical = results[0]["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "gone/compose.yaml"}
    assert physical["region"] == {"startLine": 1, "startColumn": 1}


def test_artifact_uri_relative_under_cwd_else_file_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my app").mkdir()
    monkeypatch.chdir(tmp_path)
    assert artifact_uri(str(tmp_path / "my app" / "compose.yaml")) == "my%20app/compose.yaml"
    assert artifact_uri("compose.yaml") == "compose.yaml"
    monkeypatch.chdir(tmp_path / "my app")
    assert artifact_uri(str(tmp_path / "other.yaml")) == (tmp_path / "other.yaml").as_uri()


def test_locate_keys_under_top_level_sections() -> None:
    text = (
        "# a comment\n"
        "x-common: &c\n"
        "  web: not-a-service\n"
        "services:\n"
        "\n"
        "    # indented comment\n"
        "    web:\n"
        "      networks:\n"
        "        back: {}\n"
        '    "db":   # quoted\n'
        "      image: x\n"
        "networks:\n"
        "  back:\n"
        "volumes:\n"
        "  data:\n"
    )
    keys = locate_keys(text)
    assert keys["services"] == {"web": (7, 5), "db": (10, 5)}
    assert keys["networks"] == {"back": (13, 3)}


# --- hostile text --------------------------------------------------------------------------

HOSTILE = (
    "<script>alert(\"x\")</script> & 'q' [bold]b[/bold] \x1b[31mred\x1b[0m | # h *e* _u_ "
    "`tick` ~~s~~ [l](http://evil) <!-- c --> <img src=x onerror=alert(1)> \u202eevil\x07"
)
SAFE_HOSTILE = HOSTILE.replace("\x1b[31m", "").replace("\x1b[0m", "")
SAFE_HOSTILE = SAFE_HOSTILE.replace("\u202e", "").replace("\x07", "")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202e]")


def _hostile(doc: ReportDoc) -> ReportDoc:
    doc = copy.deepcopy(doc)
    finding = doc["findings"][1]  # port.app-loopback, with an edge
    finding.update(
        title=f"title {HOSTILE}",
        summary=f"# {HOSTILE}",
        subjects=[f"svc{HOSTILE}", *finding["subjects"]],
        evidence={f"key{HOSTILE}": HOSTILE, "list": [HOSTILE, "1. two"]},
        fix=f"```\nclosed? {HOSTILE}\n````\n- still the fix",
    )
    doc["inconclusive"] = [{"where": f"where {HOSTILE}", "reason": f"reason {HOSTILE}"}]
    doc["target"]["names"] = [f"proj {HOSTILE}"]
    doc["checks_run"].append(f"evil.{HOSTILE}")
    network = doc["topology"]["networks"][0]
    network["name"] = f'net"]{HOSTILE}'
    network["members"][0]["container"] = f"c; rm -rf / {HOSTILE}"
    doc["edges"].append(
        {
            "source": "web",
            "target": f'x"]{HOSTILE}',
            "port": 1,
            "origins": [f"environment {HOSTILE}"],
            "observed": True,
            "check": "port.refused",
        }
    )
    return doc


def test_markdown_escapes_hostile_text(doc: ReportDoc) -> None:
    out = markdown_format.render(_hostile(doc), RenderOptions())
    assert not CONTROL.search(out)
    html = _markdown_html(out)
    for raw in ("<script", "<img", "<!--", 'href="http://evil"', "<del>", "<s>", "<em>"):
        assert raw not in html, raw
    assert "&lt;script&gt;" in html and "[l](http://evil)" in html
    # the summary table keeps its five columns
    tables = re.findall(r"<table>.*?</table>", html, re.DOTALL)
    findings_table = next(t for t in tables if "<th>summary</th>" in t)
    for row in re.findall(r"<tr>.*?</tr>", findings_table, re.DOTALL)[1:]:
        assert row.count("<td") == 5, row
    assert "<h1>" in html and html.count("<h1>") == 1  # `# ...` in the summary is no heading
    # the fix stays one code block, all of it
    (fix,) = _fenced_blocks(out, "text")[1:2]
    assert fix == f"```\nclosed? {SAFE_HOSTILE}\n````\n- still the fix"
    # commands stay commands: every argument quoted for the shell
    for block in _fenced_blocks(out, "sh"):
        for command in block.splitlines():
            args = shlex.split(command)
            assert args[0] == "docker", command
    assert shlex.quote(f"svc{SAFE_HOSTILE}") not in out  # subjects are no containers
    # Mermaid: ids are [A-Za-z0-9_], labels hold no quote, bracket or angle bracket
    (chart,) = _fenced_blocks(out, "mermaid")
    for label in re.findall(r'"(.*?)"', chart):
        assert not re.search(r'["\[\]<>`|]', label.replace("<br/>", "")), label
    for ident in re.findall(r"^\s*(?:subgraph )?([^\s\[]+)\[", chart, re.MULTILINE):
        assert re.fullmatch(r"[A-Za-z0-9_]+", ident), ident


def test_junit_escapes_hostile_text(doc: ReportDoc) -> None:
    out = junit_format.render(_hostile(doc), RenderOptions(fail_on="warning"))
    assert not CONTROL.search(out.replace("\n", ""))
    assert "<script>" not in out
    suite = ET.fromstring(out).find("testsuite")
    assert suite is not None
    case = next(c for c in suite if c.get("name") == f"svc{SAFE_HOSTILE}")
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == f"# {SAFE_HOSTILE}"
    assert f"closed? {SAFE_HOSTILE}" in (failure.text or "")
    assert any(c.get("classname") == f"evil.{SAFE_HOSTILE}" for c in suite)
    skipped = [c.find("skipped") for c in suite if c.find("skipped") is not None]
    assert [s.get("message") for s in skipped if s is not None] == [f"reason {SAFE_HOSTILE}"]


def test_sarif_escapes_hostile_text(doc: ReportDoc) -> None:
    out = sarif_format.render(_hostile(doc), RenderOptions())
    assert "\\u001b" not in out and "\x1b" not in out and "\u202e" not in out
    run: dict[str, Any] = json.loads(out)["runs"][0]
    result = run["results"][1]
    assert result["message"]["text"].startswith(f"# {SAFE_HOSTILE}")
    evil = next(r for r in run["tool"]["driver"]["rules"] if r["id"].startswith("evil."))
    assert "markdown" not in evil["help"]  # a report's text never becomes rule markdown
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == COMPOSE_COPY
