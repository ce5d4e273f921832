"""The composite GitHub Action (action.yml, scripts/github-action.sh) run as GitHub's runner
would run its diagnosing step, with a stand-in `ddiag` on the PATH: the diagnosis is the
recorded report (no engine), every rendering is the real `ddiag report`.

What is checked: one diagnosis, its arguments as given; the reports rendered from that
file; the step's outputs; the exit code of the diagnosis; that action.yml hands the script
every input it declares; and that README.md shows the example CI files (docs/examples/,
linted by scripts/test.sh) as they are.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "github-action.sh"
ACTION = ROOT / "action.yml"
GOLDEN_REPORT = ROOT / "tests" / "data" / "golden" / "shop-report.json"
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.yml"))

# Stands for ddiag: `report` is the real one; a diagnosing command logs its arguments, saves
# the recorded run where -o says (unless DDIAG_FAKE_EXIT is 2) and exits DDIAG_FAKE_EXIT.
FAKE_DDIAG = f"""#!{sys.executable}
import json, os, shutil, sys
args = sys.argv[1:]
if args[0] == "report":
    os.execv({sys.executable!r}, [{sys.executable!r}, "-m", "diag", *args])
with open(os.environ["DDIAG_FAKE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
code = int(os.environ["DDIAG_FAKE_EXIT"])
if code != 2:
    shutil.copy({str(GOLDEN_REPORT)!r}, args[args.index("-o") + 1])
sys.exit(code)
"""


def _run(tmp_path: Path, exit_code: int, **inputs: str) -> tuple[Any, dict[str, str], Path]:
    """The `run` step with `inputs` (DDIAG_* variables); its process, outputs and log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ddiag"
    fake.write_text(FAKE_DDIAG, encoding="utf-8")
    fake.chmod(0o755)
    log, outputs, summary = tmp_path / "calls.log", tmp_path / "output", tmp_path / "summary"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        "DDIAG_PYTHON": sys.executable,
        "DDIAG_FAKE_LOG": str(log),
        "DDIAG_FAKE_EXIT": str(exit_code),
        "DDIAG_JSON": str(tmp_path / "ddiag.json"),
        "DDIAG_SARIF": str(tmp_path / "ddiag.sarif"),
        "DDIAG_JUNIT": str(tmp_path / "ddiag.xml"),
        **inputs,
    }
    # from the repository root, as a job runs from its checkout: the compose file is relative
    done = subprocess.run(
        ["bash", str(SCRIPT), "run"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    written = dict(line.split("=", 1) for line in outputs.read_text(encoding="utf-8").splitlines())
    return done, written, log


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_one_diagnosis_then_every_report_from_it(tmp_path: Path) -> None:
    done, outputs, log = _run(
        tmp_path, 1, DDIAG_COMMAND="compose", DDIAG_ARGS="-p ddiag-golden  -f shop.yaml *"
    )
    assert done.returncode == 1, done.stderr  # the diagnosis' verdict: errors were found
    json_file = str(tmp_path / "ddiag.json")
    assert _calls(log) == [  # one diagnosis; arguments split at spaces, nothing globbed
        [
            "compose",
            "-p",
            "ddiag-golden",
            "-f",
            "shop.yaml",
            "*",
            "--format",
            "json",
            "-o",
            json_file,
        ]
    ]
    assert outputs == {
        "exit-code": "1",
        "json": json_file,
        "junit": str(tmp_path / "ddiag.xml"),
        "sarif": str(tmp_path / "ddiag.sarif"),
        "errors": "2",
        "warnings": "1",
        "infos": "0",
    }
    assert set(outputs) == _declared("outputs")
    sarif = json.loads((tmp_path / "ddiag.sarif").read_text(encoding="utf-8"))
    assert all(r["locations"] for r in sarif["runs"][0]["results"])
    suite = ET.parse(tmp_path / "ddiag.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "2"
    summary = (tmp_path / "summary").read_text(encoding="utf-8")
    assert summary.startswith("# ddiag runbook: compose `ddiag-golden`")
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::")]
    assert annotations[0].startswith("::error file=tests/data/golden/shop-compose.yaml,line=")


def test_fail_on_and_switches_are_passed_on(tmp_path: Path) -> None:
    done, outputs, log = _run(
        tmp_path,
        0,
        DDIAG_COMMAND="network",
        DDIAG_ARGS="shop_back",
        DDIAG_FAIL_ON="never",
        DDIAG_SARIF="",
        DDIAG_SUMMARY="false",
        DDIAG_ANNOTATIONS="false",
    )
    assert done.returncode == 0, done.stderr
    (call,) = _calls(log)
    assert call[0] == "network" and call[-2:] == ["--fail-on", "never"]
    assert "sarif" not in outputs and not (tmp_path / "ddiag.sarif").exists()
    assert not (tmp_path / "summary").exists()
    assert "::" not in done.stdout
    suite = ET.parse(tmp_path / "ddiag.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"  # rendered with --fail-on never


def test_no_report_is_an_error_with_the_diagnosis_code(tmp_path: Path) -> None:
    done, outputs, _ = _run(tmp_path, 2, DDIAG_COMMAND="compose")
    assert done.returncode == 2
    assert outputs == {"exit-code": "2"}
    assert done.stdout.startswith("::error title=ddiag::the diagnosis wrote no report")


def _declared(section: str) -> set[str]:
    """The keys of a top-level section of action.yml (two-space indented)."""
    text = ACTION.read_text(encoding="utf-8")
    body = re.search(rf"^{section}:\n(.*?)(?=^\S)", text, re.MULTILINE | re.DOTALL)
    assert body is not None, section
    return set(re.findall(r"^  ([a-z-]+):$", body[1], re.MULTILINE))


def test_action_yml_hands_every_input_to_the_script() -> None:
    text, script = ACTION.read_text(encoding="utf-8"), SCRIPT.read_text(encoding="utf-8")
    assert set(re.findall(r"\$\{\{ inputs\.([a-z-]+) \}\}", text)) == _declared("inputs")
    for variable in re.findall(r"^        (DDIAG_[A-Z_]+): ", text, re.MULTILINE):
        assert variable in script, variable
    used = set(re.findall(r"steps\.diagnose\.outputs\.([a-z-]+)", text))
    assert used == _declared("outputs")  # and the flow above writes each of them


def test_readme_shows_the_example_ci_files_as_they_are() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [p.name for p in EXAMPLES] == [
        "github-action-workflow.yml",
        "github-workflow.yml",
        "gitlab-ci.yml",
    ]
    for example in EXAMPLES:
        text = example.read_text(encoding="utf-8")
        assert f"```yaml\n{text}```\n" in readme, f"README.md differs from {example.name}"
