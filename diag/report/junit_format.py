"""`--format junit`: JUnit XML for the test tab of a CI system (GitLab, Jenkins, GitHub test
reporters, Azure DevOps).

One `<testsuite name="ddiag">` with one `<testcase classname=CHECK name=SUBJECT>` per check
and subject: a check that found nothing is one passing test case named after the target; each
finding is a test case named after its first subject, failed (`<failure>`, message = the
summary, body = evidence and fix) when its severity is at or above `--fail-on`, otherwise
passing with the finding in `<system-out>`. Observations that could not be made are skipped
test cases (classname `ddiag.inconclusive`), and so are dependency edges that were not
checked or that fail with no check to name why (classname `ddiag.edge`, named after the
edge, the reason as message): "could not check" never passes silently, and a failure that
is no finding does not fail the suite either (`--fail-on` judges findings only).

The tree is built with ElementTree, which escapes markup; characters XML 1.0 cannot carry
(control characters, escape sequences) are removed first.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any

from diag.report.model import ReportDoc, edge_name, unjudged_edges
from diag.report.options import RenderOptions
from diag.report.text import clean

RANK = {"error": 3, "warning": 2, "info": 1}
INCONCLUSIVE_CLASS = "ddiag.inconclusive"
EDGE_CLASS = "ddiag.edge"


def _threshold(fail_on: str) -> float:
    return float("inf") if fail_on == "never" else RANK.get(fail_on, RANK["error"])


def _value(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(map(str, value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _details(finding: dict[str, Any]) -> str:
    lines = [
        f"{finding['severity']}: {finding['check']} · {finding['title']}",
        finding["summary"],
        "subjects: " + ", ".join(finding["subjects"]),
        "evidence:",
    ]
    for key, value in finding["evidence"].items():
        if isinstance(value, list) and len(value) > 1:
            lines.append(f"  {key}:")
            lines += [f"    - {_value(item)}" for item in value]
        else:
            lines.append(f"  {key}: {_value(value)}")
    lines += ["fix:", finding["fix"] or "(none recorded)"]
    return clean("\n".join(lines)) + "\n"


def _timestamp(started_at: str) -> str | None:
    """JUnit's timestamp: ISO 8601 without a zone (UTC here)."""
    try:
        when = datetime.fromisoformat(started_at)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when.isoformat(timespec="seconds")


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=clean(classname), name=clean(name), time="0")


def render(doc: ReportDoc, options: RenderOptions) -> str:
    threshold = _threshold(options.fail_on)
    target = doc["target"]
    target_name = ", ".join(target["names"]) or target["kind"]
    findings: dict[str, list[dict[str, Any]]] = {}
    for finding in doc["findings"]:
        findings.setdefault(finding["check"], []).append(finding)
    checks = list(dict.fromkeys([*doc["checks_run"], *findings]))

    root = ET.Element("testsuites", name="ddiag")
    suite = ET.SubElement(root, "testsuite", name="ddiag")
    properties = ET.SubElement(suite, "properties")
    engine = doc["engine"]
    for name, value in (
        ("target", f"{target['kind']} {target_name}"),
        ("engine", f"{engine.get('version')} (API {engine.get('api_version')})"),
        ("ddiag", doc["tool"].get("version", "")),
        ("fail_on", options.fail_on),
    ):
        ET.SubElement(properties, "property", name=name, value=clean(value))

    tests = failures = skipped = 0
    for check in checks:
        if not findings.get(check):
            _case(suite, check, target_name)
            tests += 1
            continue
        used: dict[str, int] = {}
        for finding in findings[check]:
            subject = (finding["subjects"] or [target_name])[0]
            used[subject] = used.get(subject, 0) + 1
            name = subject if used[subject] == 1 else f"{subject} ({used[subject]})"
            case = _case(suite, check, name)
            tests += 1
            if RANK.get(finding["severity"], 0) >= threshold:
                failure = ET.SubElement(
                    case,
                    "failure",
                    message=clean(finding["summary"]),
                    type=clean(finding["severity"]),
                )
                failure.text = _details(finding)
                failures += 1
            else:
                ET.SubElement(case, "system-out").text = _details(finding)
    unjudged = [
        (INCONCLUSIVE_CLASS, i["where"], i["reason"]) for i in doc.get("inconclusive") or []
    ]
    unjudged += [(EDGE_CLASS, edge_name(edge), why) for edge, why in unjudged_edges(doc)]
    for classname, name, reason in unjudged:
        case = _case(suite, classname, name)
        ET.SubElement(case, "skipped", message=clean(reason))
        tests += 1
        skipped += 1

    counts = {
        "tests": str(tests),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{float(doc.get('duration_s') or 0):.2f}",
    }
    root.attrib.update(counts)
    suite.attrib.update(counts)
    timestamp = _timestamp((doc.get("run") or {}).get("started_at", ""))
    if timestamp:
        suite.set("timestamp", timestamp)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
