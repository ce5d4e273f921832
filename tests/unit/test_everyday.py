"""The everyday command line: help with examples, shell completion, NO_COLOR, --quiet."""

from __future__ import annotations

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from diag.cli import completion
from diag.cli import console as cli
from diag.cli.app import app
from diag.engine.endpoint import EngineChoice

runner = CliRunner()
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent.sock"}


def _commands() -> list[str]:
    return sorted(get_command(app).commands)  # type: ignore[attr-defined]


def test_every_command_has_help_with_examples() -> None:
    assert {"network", "compose", "container", "shell", "checks", "explain", "cleanup"} <= set(
        _commands()
    )
    for name in _commands():
        result = runner.invoke(app, [name, "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0, (name, result.output)
        assert "Examples" in result.output, name


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell"])
def test_show_completion_prints_a_script(shell) -> None:
    result = runner.invoke(app, ["--show-completion", shell], prog_name="ddiag")
    assert result.exit_code == 0, result.output
    assert "ddiag" in result.output.lower()


def test_install_completion_writes_to_the_home_directory(tmp_path) -> None:
    env = {"HOME": str(tmp_path), "SHELL": "/bin/bash"}
    result = runner.invoke(app, ["--install-completion", "bash"], prog_name="ddiag", env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / ".bashrc").read_text().count("ddiag") >= 1


def _complete(words: str) -> list[str]:
    env = {
        "_DDIAG_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        **NO_ENGINE,
    }
    result = runner.invoke(app, [], prog_name="ddiag", env=env)
    assert result.exit_code == 0, result.output
    return result.output.split()


def test_completion_of_commands_and_options() -> None:
    assert _complete("ddiag sh") == ["shell"]
    assert "--severity" in _complete("ddiag network x --sev")
    assert "--quiet" in _complete("ddiag compose --qu")


def test_name_completion_without_an_engine_is_quietly_empty(monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    assert completion.networks("") == []
    assert completion.containers("") == []
    assert completion.projects("") == []
    assert completion.shell_targets("con") == ["container:"]
    assert _complete("ddiag network ") == []


def test_shell_targets_complete_networks_and_running_containers(monkeypatch) -> None:
    names = {"networks": ["shop_back", "shop_front", "bridge"], "containers": ["shop-api-1"]}

    def fake_ask(read, ctx=None):
        return names["networks"] if read is completion._networks else names["containers"]

    monkeypatch.setattr(completion, "_ask", fake_ask)
    assert completion.shell_targets("shop_") == ["shop_back", "shop_front"]
    assert completion.shell_targets("container:shop") == ["container:shop-api-1"]
    assert completion.shell_targets("") == [*names["networks"], "container:"]


@pytest.mark.parametrize(
    ("env", "no_color", "tty", "expected"),
    [
        ({}, False, True, True),
        ({"NO_COLOR": "1"}, False, True, False),
        ({"NO_COLOR": ""}, False, True, True),  # no-color.org: set *and* not empty
        ({}, True, True, False),
        ({}, False, False, False),
    ],
)
def test_colour_decision(monkeypatch, env, no_color, tty, expected) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(cli.sys.stdout, "isatty", lambda: tty, raising=False)
    assert cli.use_color("rich", None, no_color) is expected
    assert cli.use_color("json", None, no_color) is False


def test_progress_is_for_terminals_only(monkeypatch) -> None:
    monkeypatch.setattr(cli.sys.stderr, "isatty", lambda: False, raising=False)
    assert cli.progress_wanted(quiet=False) is False
    assert cli.progress_wanted(quiet=True) is False


def test_engine_names_complete_from_the_engine_the_command_line_names(monkeypatch) -> None:
    asked: list[object] = []

    def fake_resolve(env, choice):
        asked.append(choice)
        raise RuntimeError("not reached")  # then no names, quietly

    monkeypatch.setattr(completion, "resolve_endpoint", fake_resolve)
    typed = type("Ctx", (), {"params": {"host": None, "context": "lab"}})()
    assert completion.networks("", typed) == []
    assert completion.projects("") == []
    assert asked == [EngineChoice(context="lab"), EngineChoice()]
