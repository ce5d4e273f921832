"""`--format gitlab`: a GitLab Code Quality report, for `artifacts: reports: codequality:`.

A JSON array with one issue per finding, made of the properties GitLab reads (it ignores
the rest of the Code Climate format): `description` (the summary, on one line),
`check_name` (the check id), `fingerprint` (the finding's identity, diag/report/fingerprint.py:
GitLab matches issues of two pipelines by it, so a finding stays "unchanged" while its
addresses and timings change), `severity` and `location` (`path`, `lines.begin`) as
diag/report/places.py places it: the compose file's line, or the placeholder path
`ddiag/KIND/NAME` for a `network` or `container` target, which GitLab lists by its path.

Severities: error is `critical` (a service cannot use another), warning is `minor`, info
is `info`; `major` and `blocker` are not used. Observations that could not be made are not
issues and are left out: the JUnit report (skipped test cases) and the exit code say so.
"""

from __future__ import annotations

import json

from diag.report.fingerprint import fingerprints
from diag.report.model import ReportDoc
from diag.report.options import RenderOptions
from diag.report.places import Places
from diag.report.text import clean_all, one_line

SEVERITY = {"error": "critical", "warning": "minor", "info": "info"}


def render(doc: ReportDoc, options: RenderOptions) -> str:
    places = Places(doc)
    issues = []
    for finding, fingerprint in zip(doc["findings"], fingerprints(doc["findings"]), strict=True):
        place = places.of(finding)
        issues.append(
            {
                "description": one_line(finding["summary"]),
                "check_name": finding["check"],
                "fingerprint": fingerprint,
                "severity": SEVERITY.get(finding["severity"], "minor"),
                "location": {"path": place.path, "lines": {"begin": place.line}},
            }
        )
    return json.dumps(clean_all(issues), indent=2, ensure_ascii=False) + "\n"
