"""`--format sarif`: SARIF 2.1.0, for code-scanning tools that annotate the compose file.

One run whose `tool.driver` is ddiag with one rule per check that ran (short description =
the check's title, help = its documentation, default level = its severity), and one result
per finding: `ruleId`, `level` (error, warning, note), the summary and fix as message, and
always one location, since GitHub's code scanning needs one to accept a result
(diag/report/places.py): the line of the compose file that defines the service or network
the finding names first, or for a `network` or `container` target a placeholder path
`ddiag/KIND/NAME` that is no file, with the target as the location's logical location and
its artifact described as "no file". What could not be observed, and dependency edges that
were not checked or fail with no check to name why, are the invocation's notifications
(warning and note), never results.

`partialFingerprints` carries the finding's identity (diag/report/fingerprint.py) twice:
as `ddiagFinding/v1`, and as `primaryLocationLineHash`, the one fingerprint GitHub's code
scanning reads. Without it GitHub's upload action would hash the located line of the file,
which it cannot do for a placeholder, and which for a compose file is the service's key
line, the same for every finding on that service.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from diag.checks.registry import all_checks
from diag.report.fingerprint import fingerprints
from diag.report.model import ReportDoc, edge_name, unjudged_edges
from diag.report.options import RenderOptions
from diag.report.places import Place, Places
from diag.report.text import clean_all

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _location(place: Place) -> dict[str, Any]:
    artifact: dict[str, Any] = {"uri": place.uri}
    if not place.in_file:
        artifact["description"] = {"text": f"no file: the {place.what} ddiag diagnosed"}
    return {
        "physicalLocation": {
            "artifactLocation": artifact,
            "region": {"startLine": place.line, "startColumn": place.column},
        },
        "logicalLocations": [
            {
                "name": place.name,
                "kind": place.kind,
                "fullyQualifiedName": f"{place.kind}/{place.name}",
            }
        ],
        "message": {"text": place.what},
    }


def _rules(doc: ReportDoc) -> list[dict[str, Any]]:
    catalog = {check.id: check for check in all_checks()}
    seen = {f["check"]: f for f in doc["findings"]}
    rules = []
    for check_id in dict.fromkeys([*doc["checks_run"], *seen]):
        check = catalog.get(check_id)
        if check is not None:
            title, severity, help_text = check.title, check.severity.value, check.doc or check.title
        else:  # a saved report of a check this ddiag does not know
            finding = seen.get(check_id, {})
            title = finding.get("title", check_id)
            severity, help_text = finding.get("severity", "warning"), title
        paragraphs = [" ".join(p.split()) for p in help_text.split("\n\n") if p.strip()]
        if len(paragraphs) > 1 and paragraphs[0].rstrip(".") == title:
            paragraphs.pop(0)  # the docstring opens with the title: describe with what follows
        rules.append(
            {
                "id": check_id,
                "name": "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", check_id)),
                "shortDescription": {"text": title},
                "fullDescription": {"text": (paragraphs or [title])[0]},
                # markdown only from our own docstrings, never from a report's text
                "help": {"text": help_text, **({"markdown": help_text} if check else {})},
                "defaultConfiguration": {"level": LEVEL.get(severity, "warning")},
                "properties": {"tags": ["docker", "networking", check_id.split(".", 1)[0]]},
            }
        )
    return rules


def _result(
    finding: dict[str, Any], index: dict[str, int], place: Place, fingerprint: str
) -> dict[str, Any]:
    message = finding["summary"] + (f"\n\nFix: {finding['fix']}" if finding["fix"] else "")
    return {
        "ruleId": finding["check"],
        "ruleIndex": index[finding["check"]],
        "kind": "fail",
        "level": LEVEL.get(finding["severity"], "warning"),
        "message": {"text": message},
        "locations": [_location(place)],
        "partialFingerprints": {
            "ddiagFinding/v1": fingerprint,
            "primaryLocationLineHash": f"{fingerprint}:1",
        },
        "properties": {
            "severity": finding["severity"],
            "title": finding["title"],
            "subjects": finding["subjects"],
            "evidence": finding["evidence"],
            "fix": finding["fix"],
        },
    }


def _utc(started_at: str) -> str | None:
    try:
        when = datetime.fromisoformat(started_at)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(doc: ReportDoc, options: RenderOptions) -> str:
    rules = _rules(doc)
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    places = Places(doc)
    invocation: dict[str, Any] = {"executionSuccessful": True}
    started = _utc((doc.get("run") or {}).get("started_at", ""))
    if started:
        invocation["startTimeUtc"] = started
    notifications = [
        {"level": "warning", "message": {"text": f"inconclusive: {i['where']}: {i['reason']}"}}
        for i in doc.get("inconclusive") or []
    ] + [
        {"level": "note", "message": {"text": f"dependency {edge_name(edge)}: {why}"}}
        for edge, why in unjudged_edges(doc)
    ]
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "ddiag",
                "version": doc["tool"].get("version", ""),
                "rules": rules,
            }
        },
        "invocations": [invocation],
        "results": [
            _result(finding, index, places.of(finding), fingerprint)
            for finding, fingerprint in zip(
                doc["findings"], fingerprints(doc["findings"]), strict=True
            )
        ],
        "properties": {
            "target": doc["target"],
            "engine": doc["engine"],
            "summary": doc["summary"],
        },
    }
    sarif = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(clean_all(sarif), indent=2, ensure_ascii=False) + "\n"
