"""Declared reachability on the real engine: --expect, malformed rules, --matrix."""

from __future__ import annotations

import json

import pytest

from tests.integration.stacks import ddiag, running


@pytest.fixture(scope="module")
def segmented():
    with running("segmented") as stack:
        yield stack


def _compose(stack, *args: str):
    return ddiag("compose", "-p", stack.project, "-f", str(stack.directory / "compose.yaml"), *args)


def test_expect_file_adds_rules(segmented, tmp_path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[expect]]\nfrom = "web"\nto = "db:5432"\nreachable = true\n')
    result = _compose(segmented, "--expect", str(rules), "--format", "json")
    assert result.returncode == 1, result.stderr
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["check"] == "policy.unexpected-unreachable"
    assert finding["evidence"]["cause"] == "dns.cross-network"
    assert finding["evidence"]["rule"] == f"{rules} expect[0]"


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ('[[expect]]\nfrom = "front"\nto = "db"\nreachable = true\n', "`from: front` is not"),
        ('[[expect]]\nfrom = "web"\nto = "db:65536"\nreachable = true\n', "not a TCP port"),
        ('[[expect]]\nfrom = "web"\nto = "db"\nreachable = true\nwhy = "x"\n', "unknown key"),
    ],
)
def test_malformed_rules_exit_2_and_say_where(segmented, tmp_path, rules, message) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(rules)
    result = _compose(segmented, "--expect", str(path))
    assert result.returncode == 2
    assert message in result.stderr and f"{path} expect[0]" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_x_ddiag_exits_2(segmented, tmp_path) -> None:
    override = tmp_path / "override.yaml"
    override.write_text("x-ddiag:\n  expect:\n    - {from: web, to: db, reachable: maybe}\n")
    result = ddiag(
        "compose", "-p", segmented.project,
        "-f", str(segmented.directory / "compose.yaml"), "-f", str(override),
    )  # fmt: skip
    assert result.returncode == 2
    assert "x-ddiag expect" in result.stderr and "true or false" in result.stderr


def test_matrix_in_json_and_rich(segmented) -> None:
    result = _compose(segmented, "--matrix", "--format", "json")
    assert result.returncode == 0, result.stderr
    cells = {(c["from"], c["to"], c["port"]): c for c in json.loads(result.stdout)["matrix"]}
    assert cells[("web", "api", 8000)]["reachable"] is True
    assert cells[("api", "db", 5432)]["reachable"] is True
    assert cells[("web", "db", 5432)] == {
        "from": "web", "to": "db", "port": 5432, "reachable": False, "detail": "no shared network",
    }  # fmt: skip
    rich = _compose(segmented, "--matrix", "--no-color")
    assert "Reachability (row → column)" in rich.stdout
    assert "5432 ✗ no shared network" in rich.stdout
    markdown = _compose(segmented, "--matrix", "--format", "markdown")
    assert "## Reachability matrix" in markdown.stdout
    assert "| `web` | 8000 ✓ | 5432 ✗ no shared network | — |" in markdown.stdout
