"""`--format markdown|junit|sarif|github|gitlab` from the real CLI against a real stack,
outputs parsed (and the SARIF validated against the official schema).

compose-loopback: web uses api:8000 and api listens on 127.0.0.1:8000 only, so there is one
error finding (port.app-loopback) naming api and web, and one failing edge.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.integration.stacks import ROOT, ddiag, running
from tests.unit.test_sarif_schema import sarif_validator


def test_markdown_junit_sarif_against_a_real_stack(tmp_path: Path) -> None:
    with running("compose-loopback") as stack:
        compose = ["compose", "-p", stack.project, "-f", str(stack.directory / "compose.yaml")]

        markdown = ddiag(*compose, "--format", "markdown", cwd=ROOT)
        assert markdown.returncode == 1, markdown.stderr
        out = markdown.stdout
        assert out.startswith(f"# ddiag runbook: compose `{stack.project}`")
        assert "| error | 1 |" in out
        assert "### 1. ERROR: `port.app-loopback`" in out
        assert f"--network container:{stack.project}-web-1 nicolaka/netshoot" in out
        chart = re.search(r"^```mermaid\n(.*?)\n```$", out, re.MULTILINE | re.DOTALL)
        assert chart is not None
        assert chart[1].startswith("flowchart LR\n")
        assert re.search(r'-\.->\|":8000 ✗ port\.app-loopback"\|', chart[1]), chart[1]

        report = tmp_path / "junit.xml"
        junit = ddiag(*compose, "--format", "junit", "--output", str(report), cwd=ROOT)
        assert junit.returncode == 1, junit.stderr
        suite = ET.parse(report).getroot().find("testsuite")
        assert suite is not None and suite.get("name") == "ddiag"
        cases = suite.findall("testcase")
        assert len(cases) == int(suite.get("tests", "-1")) > 1
        failed = [c for c in cases if c.find("failure") is not None]
        assert [(c.get("classname"), c.get("name")) for c in failed] == [
            ("port.app-loopback", "api")
        ]
        assert suite.get("failures") == "1"

        never = ddiag(*compose, "--format", "junit", "--fail-on", "never", cwd=ROOT)
        assert never.returncode == 0, never.stderr
        never_suite = ET.fromstring(never.stdout).find("testsuite")
        assert never_suite is not None and never_suite.get("failures") == "0"

        sarif_run = ddiag(*compose, "--format", "sarif", cwd=ROOT)
        assert sarif_run.returncode == 1, sarif_run.stderr
        sarif = json.loads(sarif_run.stdout)
        sarif_validator().validate(sarif)
        assert sarif["version"] == "2.1.0"
        (run,) = sarif["runs"]
        assert run["tool"]["driver"]["name"] == "ddiag"
        rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
        (result,) = run["results"]
        assert result["ruleId"] == "port.app-loopback" in rule_ids
        assert result["level"] == "error"
        physical = result["locations"][0]["physicalLocation"]
        uri = physical["artifactLocation"]["uri"]
        assert uri == "compose-fixtures/compose-loopback/compose.yaml"
        line = (ROOT / uri).read_text().splitlines()[physical["region"]["startLine"] - 1]
        assert line == "  api:"

        # a container target: located at the placeholder GitHub accepts (issue 18)
        web = f"{stack.project}-web-1"
        container = ddiag("container", web, "--format", "sarif", cwd=ROOT)
        assert container.returncode == 1, container.stderr
        sarif = json.loads(container.stdout)
        sarif_validator().validate(sarif)
        (result,) = sarif["runs"][0]["results"]
        assert result["ruleId"] == "port.app-loopback"
        placed = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert placed == f"ddiag/container/{web}"

        # one run saved, rendered for GitHub and GitLab
        saved = tmp_path / "run.json"
        assert ddiag(*compose, "--format", "json", "-o", str(saved), cwd=ROOT).returncode == 1
        github = ddiag("report", str(saved), "--format", "github", cwd=ROOT)
        assert github.returncode == 1, github.stderr
        (annotation,) = [line for line in github.stdout.splitlines() if line.startswith("::")]
        assert annotation.startswith(f"::error file={uri},line={physical['region']['startLine']},")
        assert "title=port.app-loopback%3A " in annotation
        gitlab = ddiag("report", str(saved), "--format", "gitlab", cwd=ROOT)
        (issue,) = json.loads(gitlab.stdout)
        assert issue["check_name"] == "port.app-loopback" and issue["severity"] == "critical"
        assert issue["location"] == {
            "path": uri,
            "lines": {"begin": physical["region"]["startLine"]},
        }
