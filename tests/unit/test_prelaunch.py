"""diag.run.prelaunch: which probe the command line most likely wants, before it is parsed,
and that a probe asked for that way is always adopted or removed (issue 19)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from diag.engine.endpoint import EngineChoice
from diag.probes.probe import DEFAULT_PROBE_IMAGE
from diag.run import prelaunch

IMAGE = "ddiag-test/python3:bookworm"


def test_option_reads_both_spellings_and_the_last_wins() -> None:
    argv = ["compose", "--probe-image", "a", "--probe-image=b", "--", "--probe-image", "c"]
    assert prelaunch.option(argv, "--probe-image") == "b"
    assert prelaunch.option(["network", "--probe-image"], "--probe-image") is None
    assert prelaunch.option(["network", "n"], "--probe-image") is None


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current directory with no ddiag.toml."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_guess_takes_the_image_from_the_arguments_the_environment_or_the_default(
    elsewhere: Path,
) -> None:
    env = {"DDIAG_PROBE_IMAGE": IMAGE, "DDIAG_PROBE_MEMORY": "128M"}
    assert prelaunch._guess(["network", "n"], env) == (IMAGE, "128m")
    assert prelaunch._guess(["compose", "--probe-image", "x:1"], env) == ("x:1", "128m")
    assert prelaunch._guess(["container", "c"], {}) == (DEFAULT_PROBE_IMAGE, "64m")


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        ([], {}),
        (["checks"], {}),  # not a diagnosing command
        (["cleanup"], {}),
        (["network", "n", "--help"], {}),
        (["network", "n", "--probe-mode", "isolated"], {}),
        (["network", "n"], {"DDIAG_PROBE_MODE": "isolated"}),
        (["network", "n", "--config", "other.toml"], {}),  # may name another image
        (["network", "n"], {"DDIAG_PROBE_MEMORY": "lots"}),  # the diagnosis says why not
    ],
)
def test_no_guess_where_it_is_likely_wrong(
    elsewhere: Path, argv: list[str], env: dict[str, str]
) -> None:
    assert prelaunch._guess(argv, env) is None


def test_no_guess_under_a_settings_file(elsewhere: Path) -> None:
    (elsewhere / "ddiag.toml").write_text('probe-image = "other"\n')
    assert prelaunch._guess(["network", "n"], {}) is None


class FakeSession:
    def __init__(self) -> None:
        self.closed = 0

    def suits(self, image: str, mode: str, memory: str) -> bool:
        return (image, mode, memory) == (IMAGE, "shared", "64m")

    def close(self) -> None:
        self.closed += 1


def _launched(monkeypatch: pytest.MonkeyPatch, engine: EngineChoice) -> Any:
    session = FakeSession()
    launched = prelaunch.Launched(engine, object(), session)  # type: ignore[arg-type]
    monkeypatch.setattr(prelaunch, "_launched", launched)
    return session


def test_a_suiting_session_is_adopted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    session = _launched(monkeypatch, EngineChoice())
    assert prelaunch.client_for(EngineChoice(host="tcp://elsewhere:2375")) is None
    assert prelaunch.adopt(EngineChoice(), IMAGE, "64m") is session
    assert prelaunch.adopt(EngineChoice(), IMAGE, "64m") is None
    prelaunch.discard()  # adopted: the diagnosis removes it, not the console script
    assert session.closed == 0


@pytest.mark.parametrize(
    ("engine", "image", "memory"),
    [
        (EngineChoice(context="other"), IMAGE, "64m"),  # another engine
        (EngineChoice(), "python:3.12-alpine", "64m"),  # x-ddiag or ddiag.toml said so
        (EngineChoice(), IMAGE, "1g"),
    ],
)
def test_a_session_that_does_not_suit_is_removed(
    monkeypatch: pytest.MonkeyPatch, engine: EngineChoice, image: str, memory: str
) -> None:
    session = _launched(monkeypatch, EngineChoice())
    assert prelaunch.adopt(engine, image, memory) is None
    assert session.closed == 1


def test_a_session_nobody_adopted_is_removed_at_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    session = _launched(monkeypatch, EngineChoice())
    prelaunch.discard()
    prelaunch.discard()
    assert session.closed == 1


def test_nothing_is_launched_without_a_guess(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_engine(*args: object) -> None:
        raise AssertionError("the engine must not be asked")

    monkeypatch.setattr(prelaunch, "connect", no_engine)
    prelaunch.launch(["checks"], EngineChoice(), {})
    prelaunch.launch(["network", "n", "--probe-mode", "isolated"], EngineChoice(), {})
    # an engine that is not on the local socket: one that does not answer would be waited
    # for twice (here, then by the diagnosis)
    prelaunch.launch(["network", "n"], EngineChoice(host="tcp://10.213.255.1:2375"), {})
    prelaunch.launch(["network", "n"], EngineChoice(), {"DOCKER_HOST": "ssh://u@h"})
    assert prelaunch._launched is None
