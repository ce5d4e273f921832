"""`--format sarif`: SARIF 2.1.0, for code-scanning tools that annotate the compose file.

One run whose `tool.driver` is ddiag with one rule per check that ran (short description =
the check's title, help = its documentation, default level = its severity), and one result
per finding: `ruleId`, `level` (error, warning, note), the summary and fix as message, and
for a compose target a location in the compose file the finding came from, at the line of
the service (`  web:` under `services:`) or network named first in the finding's subjects.
Those lines are found by scanning the files of `target.config_files` for the key under its
top-level section; this locates a key, it does not parse the model (which comes from
`docker compose config`). When no subject is found in a file, the result points at line 1
of the first file; results of network and container targets have no location. What could
not be observed, and dependency edges that were not checked or fail with no check to name
why, are the invocation's notifications (warning and note), never results.

Artifact URIs are relative to the current directory when the file is under it (as code
scanning expects: the repository root), otherwise absolute `file://` URIs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from checks.registry import all_checks
from diag.report.model import ReportDoc, edge_name, unjudged_edges
from diag.report.options import RenderOptions
from diag.report.text import clean

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
LEVEL = {"error": "error", "warning": "warning", "info": "note"}
SECTIONS = ("services", "networks")
_SECTION = re.compile(r"^(?P<name>services|networks)\s*:\s*(?:#.*)?$")
_KEY = re.compile(r"^(?P<q>[\"']?)(?P<key>[A-Za-z0-9._-]+)(?P=q)\s*:(?:\s|$)")


@dataclass
class ComposeFile:
    """A compose file as far as locating keys goes: its URI and where each service and
    network key is (line, column)."""

    path: str
    uri: str
    keys: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)


def locate_keys(text: str) -> dict[str, dict[str, tuple[int, int]]]:
    """{"services": {name: (line, column)}, "networks": {...}} for the keys one level under
    the top-level `services:` and `networks:` of a compose file's text."""
    found: dict[str, dict[str, tuple[int, int]]] = {section: {} for section in SECTIONS}
    section: str | None = None
    indent: int | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace():  # a top-level key (or a document marker) ends a section
            match = _SECTION.match(line)
            section, indent = (match["name"] if match else None), None
            continue
        if section is None:
            continue
        lead = len(line) - len(line.lstrip())
        if indent is None:
            indent = lead
        match = _KEY.match(stripped)
        if lead == indent and match:
            found[section].setdefault(match["key"], (number, lead + 1))
    return found


def artifact_uri(path: str) -> str:
    """`path` relative to the current directory when it is under it, else a file:// URI."""
    absolute = Path(os.path.abspath(path))
    relative = os.path.relpath(absolute, Path.cwd())
    if relative != ".." and not relative.startswith(".." + os.sep):
        return quote(relative.replace(os.sep, "/"))
    return absolute.as_uri()


def _compose_files(doc: ReportDoc) -> list[ComposeFile]:
    if doc["target"]["kind"] != "compose":
        return []
    files = []
    for path in doc["target"].get("config_files") or []:
        try:
            keys = locate_keys(Path(path).read_text(encoding="utf-8", errors="replace"))
        except OSError:  # a saved report rendered where its compose file is not
            keys = {section: {} for section in SECTIONS}
        files.append(ComposeFile(path, artifact_uri(path), keys))
    return files


def _candidates(subject: str, doc: ReportDoc) -> list[tuple[str, str]]:
    """(section, key) pairs a subject may be written as in the compose file: a service or
    network key as is, a container by its service, a network without its project prefix."""
    found = [("services", subject), ("networks", subject)]
    for network in doc["topology"]["networks"]:
        for member in network["members"]:
            if member["container"] == subject and member.get("service"):
                found.append(("services", member["service"]))
    for project in doc["target"]["names"]:
        if subject.startswith(project + "_"):
            found.append(("networks", subject.removeprefix(project + "_")))
    return list(dict.fromkeys(found))


def _location(finding: dict[str, Any], doc: ReportDoc, files: list[ComposeFile]) -> list[Any]:
    if not files:
        return []
    hit = next(
        (
            (file, file.keys[section][key], f"{section[:-1]} {key}")
            for subject in finding["subjects"]
            for file in files
            for section, key in _candidates(subject, doc)
            if key in file.keys.get(section, {})
        ),
        None,
    )
    file, (line, column), what = hit or (files[0], (1, 1), "")
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": file.uri},
            "region": {"startLine": line, "startColumn": column},
        }
    }
    if what:
        location["message"] = {"text": what}
    return [location]


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


def _fingerprint(finding: dict[str, Any]) -> str:
    """Stable across runs (addresses and ports in the summary are not part of it)."""
    key = "\0".join([finding["check"], *finding["subjects"]])
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]


def _result(
    finding: dict[str, Any], index: dict[str, int], doc: ReportDoc, files: list[ComposeFile]
) -> dict[str, Any]:
    message = finding["summary"] + (f"\n\nFix: {finding['fix']}" if finding["fix"] else "")
    result: dict[str, Any] = {
        "ruleId": finding["check"],
        "ruleIndex": index[finding["check"]],
        "kind": "fail",
        "level": LEVEL.get(finding["severity"], "warning"),
        "message": {"text": message},
    }
    locations = _location(finding, doc, files)
    if locations:
        result["locations"] = locations
    result["partialFingerprints"] = {"ddiagFinding/v1": _fingerprint(finding)}
    result["properties"] = {
        "severity": finding["severity"],
        "title": finding["title"],
        "subjects": finding["subjects"],
        "evidence": finding["evidence"],
        "fix": finding["fix"],
    }
    return result


def _utc(started_at: str) -> str | None:
    try:
        when = datetime.fromisoformat(started_at)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _scrub(value: Any) -> Any:
    """Every string without escape sequences or control characters."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def render(doc: ReportDoc, options: RenderOptions) -> str:
    rules = _rules(doc)
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    files = _compose_files(doc)
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
        "results": [_result(f, index, doc, files) for f in doc["findings"]],
        "properties": {
            "target": doc["target"],
            "engine": doc["engine"],
            "summary": doc["summary"],
        },
    }
    sarif = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(_scrub(sarif), indent=2, ensure_ascii=False) + "\n"
