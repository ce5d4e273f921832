"""Fingerprints of findings, for CI systems that follow a finding from run to run (SARIF's
`partialFingerprints` in GitHub's code scanning, GitLab Code Quality's `fingerprint`).

A fingerprint is made of the finding's identity, its check and subjects (`identity()` in
diag/report/diff.py, ARCHITECTURE.md "JSON report stability"), and nothing else: the summary
and evidence carry addresses and timings that change between runs of the same problem, and
the line in the compose file moves when the file is edited. A run that holds one identity
more than once (one check, one service, two ports) numbers the repeats, as `ddiag diff`
pairs them, so that neither hides the other: GitLab shows the findings of one fingerprint
as one entry. The first of them has the fingerprint the identity alone gives.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

from diag.report.diff import Identity, identity


def fingerprints(findings: Iterable[dict[str, Any]]) -> list[str]:
    """One fingerprint per finding, in order: 32 hex digits of a SHA-256."""
    seen: Counter[Identity] = Counter()
    result = []
    for finding in findings:
        check, subjects = key = identity(finding)
        seen[key] += 1
        repeat = [f"#{seen[key]}"] if seen[key] > 1 else []
        text = "\0".join([check, *subjects, *repeat])
        result.append(hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32])
    return result
