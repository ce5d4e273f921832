"""The edge list in every format: ok, failed, and "not checked" with its reason, never ✓ for
an edge that could not be judged (issue 17, item 3). Edges of a report saved before edges
had a status read as that report listed them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from diag.report import FORMATS, RenderOptions
from diag.report.model import EdgeOutcome, ReportDoc, edge_status
from diag.report.schema import schema, validate
from tests.unit.test_report import _report

NO_PORT = "cache exposes 80, 443, and no port is configured: name its port in web's configuration"
EDGES = [
    EdgeOutcome("web", "api", 8000, ("environment API_URL",), True, None, "ok"),
    EdgeOutcome(
        "web",
        "db",
        3306,
        ("environment WORDPRESS_DB_HOST", "depends_on"),
        True,
        "port.not-listening",
        "failed",
        port_inferred="the only port db exposes",
    ),
    EdgeOutcome("web", "cache", None, ("depends_on",), True, None, "not checked", NO_PORT),
    EdgeOutcome("web", "queue", 5672, ("environment AMQP_URL",), True, None, "failed"),
    EdgeOutcome("worker", "db", None, ("depends_on",), False, None, "not checked", "worker is "
                "not running"),
    EdgeOutcome("worker", "host.docker.internal", 5432, ("environment DB_URL",), True, None,
                "ok", to_host=True),
]  # fmt: skip


def _doc() -> ReportDoc:
    return _report([], edges=EDGES).to_dict()


def test_json_edges_say_status_reason_and_the_inferred_port() -> None:
    edges = _doc()["edges"]
    assert [(e["status"], e["reason"]) for e in edges] == [
        ("ok", None),
        ("failed", None),
        ("not checked", NO_PORT),
        ("failed", None),
        ("not checked", "worker is not running"),
        ("ok", None),
    ]
    assert [e["to_host"] for e in edges] == [False] * 5 + [True]
    assert edges[1]["port_inferred"] == "the only port db exposes"
    assert edges[1]["check"] == "port.not-listening"  # `check` as before
    assert edges[0]["port_inferred"] is None


def test_json_edges_follow_the_schema() -> None:
    doc = _doc()
    assert validate(doc) == []
    jsonschema.Draft202012Validator(schema()).validate(doc)
    doc["edges"][0]["status"] = "fine"
    assert validate(doc) == ['$.edges[0].status: "fine" is not one of ok, failed, not checked']


def test_an_edge_to_the_host_says_so() -> None:
    options = RenderOptions(color=False, width=250)
    rich, markdown = (FORMATS[fmt](_doc(), options) for fmt in ("rich", "markdown"))
    assert "worker → host.docker.internal:5432 (the Docker host)" in rich
    assert "| `worker` | `host.docker.internal` (the Docker host) | 5432 |" in markdown


def test_an_outcome_without_a_status_follows_observed_and_check() -> None:
    old = [
        EdgeOutcome("web", "api", 8000, (), True, "port.refused"),
        EdgeOutcome("web", "db", None, (), False, None),
        EdgeOutcome("web", "x", None, (), True, None),
    ]
    items = _report([], edges=old).to_dict()["edges"]
    assert [(e["status"], e["reason"]) for e in items] == [
        ("failed", None),
        ("not checked", "source not running"),
        ("ok", None),
    ]


def test_a_saved_report_without_status_reads_as_it_was_listed() -> None:
    item = {"source": "web", "target": "db", "port": None, "origins": [], "check": None}
    assert edge_status({**item, "observed": True}) == ("ok", "")
    assert edge_status({**item, "observed": False}) == ("not checked", "source not running")
    assert edge_status({**item, "observed": True, "check": "dns.target-down"}) == ("failed", "")


def test_rich_marks_each_status() -> None:
    out = FORMATS["rich"](_doc(), RenderOptions(color=False, width=250))
    lines = {line.split("  ")[0].strip("├└─│ "): line for line in out.splitlines() if "→" in line}
    assert "✓" in lines["web → api:8000"]
    assert "✗ port.not-listening" in lines["web → db:3306"]
    assert "port 3306: the only port db exposes" in lines["web → db:3306"]
    assert f"? not checked: {NO_PORT}" in lines["web → cache"]
    assert "✓" not in lines["web → cache"]
    assert "✗ (no check names the cause)" in lines["web → queue:5672"]
    assert "? not checked: worker is not running" in lines["worker → db"]


def test_markdown_lists_the_reason_and_draws_not_checked_dashed() -> None:
    out = FORMATS["markdown"](_doc(), RenderOptions())
    assert f"| `web` | `cache` |  | depends_on | not checked: {NO_PORT} |" in out
    assert "| fails: `port.not-listening` |" in out
    assert "| fails |" in out
    assert (
        "| environment WORDPRESS_DB_HOST, depends_on; port 3306: the only port db exposes |" in out
    )
    assert '-.->|"not checked"|' in out


def test_junit_skips_edges_no_finding_speaks_for() -> None:
    root = ET.fromstring(FORMATS["junit"](_doc(), RenderOptions()).split("\n", 1)[1])
    edges = {
        case.get("name"): case.find("skipped").get("message")  # type: ignore[union-attr]
        for case in root.iter("testcase")
        if case.get("classname") == "ddiag.edge"
    }
    assert edges == {
        "web → cache": f"not checked: {NO_PORT}",
        "web → queue:5672": "fails, and no check names the cause",
        "worker → db": "not checked: worker is not running",
    }


def test_sarif_notes_edges_no_finding_speaks_for() -> None:
    sarif = json.loads(FORMATS["sarif"](_doc(), RenderOptions()))
    [invocation] = sarif["runs"][0]["invocations"]
    notes = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert notes == [
        f"dependency web → cache: not checked: {NO_PORT}",
        "dependency web → queue:5672: fails, and no check names the cause",
        "dependency worker → db: not checked: worker is not running",
    ]
    assert sarif["runs"][0]["results"] == []


@pytest.mark.parametrize("fmt", ["markdown", "junit", "sarif", "rich", "json"])
def test_every_format_shows_the_reason(fmt: str) -> None:
    assert NO_PORT in FORMATS[fmt](_doc(), RenderOptions(color=False, width=400))
