"""CLI commands that need no engine: the catalog, explain, and option validation."""

from __future__ import annotations

from typer.testing import CliRunner

from diag.checks.registry import all_checks
from diag.cli.app import app

runner = CliRunner()


def test_checks_lists_every_check_id() -> None:
    result = runner.invoke(app, ["checks"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for check in all_checks():
        assert check.id in result.output


def test_explain_prints_the_module_docstring() -> None:
    result = runner.invoke(app, ["explain", "port.app-loopback"])
    assert result.exit_code == 0
    assert "Detected by reading the container's listening sockets" in result.output


def test_explain_unknown_id_suggests_the_close_one() -> None:
    result = runner.invoke(app, ["explain", "port.app-lopback"])
    assert result.exit_code == 2
    assert "Did you mean port.app-loopback" in result.output


def test_bad_options_exit_2_before_touching_the_engine() -> None:
    env = {"DOCKER_HOST": "unix:///nonexistent.sock"}
    for args in (["--format", "xml"], ["--fail-on", "sometimes"], ["--select", "nope"]):
        result = runner.invoke(app, ["network", "n", *args], env=env)
        assert result.exit_code == 2, (args, result.output)
        assert "Cannot reach" not in result.output
