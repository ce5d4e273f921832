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


class FakePad:
    """A diag.probes.launchpad.Launchpad that asked for nothing."""

    def __init__(self) -> None:
        self.image, self.memory, self.run_id = IMAGE, "64m", "0123456789ab"
        self.removed = 0

    def remove(self) -> None:
        self.removed += 1


class FakeSession:
    def __init__(self, client: object, image: str, **options: Any) -> None:
        self.client, self.image, self.options = client, image, options
        self.taken: list[object] = []

    def take_over(self, pad: object) -> None:
        self.taken.append(pad)


def _launched(monkeypatch: pytest.MonkeyPatch, engine: EngineChoice) -> FakePad:
    pad = FakePad()
    monkeypatch.setattr(prelaunch, "_launched", prelaunch.Launched(engine, pad))  # type: ignore[arg-type]
    monkeypatch.setattr("diag.probes.session.ProbeSession", FakeSession)
    return pad


def test_suiting_probes_are_adopted_once_by_a_session_of_their_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pad = _launched(monkeypatch, EngineChoice())
    client = object()
    session: Any = prelaunch.adopt(client, EngineChoice(), IMAGE, "64m")  # type: ignore[arg-type]
    assert isinstance(session, FakeSession)
    assert (session.client, session.image, session.taken) == (client, IMAGE, [pad])
    assert session.options["run_id"] == pad.run_id  # so that close() finds them by label
    assert prelaunch.adopt(client, EngineChoice(), IMAGE, "64m") is None  # type: ignore[arg-type]
    prelaunch.discard()  # adopted: the diagnosis removes them, not the console script
    assert pad.removed == 0


@pytest.mark.parametrize(
    ("engine", "image", "memory"),
    [
        (EngineChoice(context="other"), IMAGE, "64m"),  # another engine
        (EngineChoice(), "python:3.12-alpine", "64m"),  # x-ddiag or ddiag.toml said so
        (EngineChoice(), IMAGE, "1g"),
    ],
)
def test_probes_that_do_not_suit_are_removed(
    monkeypatch: pytest.MonkeyPatch, engine: EngineChoice, image: str, memory: str
) -> None:
    pad = _launched(monkeypatch, EngineChoice())
    assert prelaunch.adopt(object(), engine, image, memory) is None  # type: ignore[arg-type]
    assert pad.removed == 1


def test_probes_nobody_adopted_are_removed_at_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    pad = _launched(monkeypatch, EngineChoice())
    prelaunch.discard()
    prelaunch.discard()
    assert pad.removed == 1


def test_nothing_is_launched_without_a_guess(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_engine(*args: object) -> None:
        raise AssertionError("the engine must not be asked")

    monkeypatch.setattr(prelaunch, "Launchpad", no_engine)
    prelaunch.launch(["checks"], EngineChoice(), {})
    prelaunch.launch(["network", "n", "--probe-mode", "isolated"], EngineChoice(), {})
    # an engine that is not on the local socket: one that does not answer would be waited
    # for twice (here, then by the diagnosis)
    prelaunch.launch(["network", "n"], EngineChoice(host="tcp://10.213.255.1:2375"), {})
    prelaunch.launch(["network", "n"], EngineChoice(), {"DOCKER_HOST": "ssh://u@h"})
    assert prelaunch._launched is None


def test_values_reads_every_spelling_in_order_and_stops_at_the_separator() -> None:
    argv = ["-f", "a.yml", "--file=b.yml", "-fc.yml", "--profile", "x", "--", "-f", "d.yml"]
    assert prelaunch.values(argv, "-f", "--file") == ["a.yml", "b.yml", "c.yml"]
    assert prelaunch.values(argv, "--profile") == ["x"]
    assert prelaunch.values(["--profile", "x"], "-p", "--project-name") == []  # not -p
    assert prelaunch.values(["-p"], "-p") == []  # no value


def test_compose_config_is_started_early_with_the_command_line_the_diagnosis_will_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[list[str]] = []
    monkeypatch.setattr(prelaunch.compose_cli, "start_early", started.append)
    argv = ["compose", "-p", "shop", "-f", "a.yml", "--env-file=.env.ci", "--profile", "x", "web"]
    prelaunch._compose_config_early(argv)
    prelaunch._compose_config_early(["network", "n"])
    prelaunch._compose_config_early(["compose", "--help"])
    expected = prelaunch.compose_cli.config_arguments(["a.yml"], "shop", None, ["x"], [".env.ci"])
    assert started == [[*prelaunch.compose_cli.PLUGIN, *expected]]


class Filters:
    """The network listings a guess asks for (no engine)."""

    def __init__(self) -> None:
        self.asked: list[Any] = []

    def networks(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.asked.append(filters)
        return []


@pytest.mark.parametrize(
    ("argv", "environ", "project"),
    [
        (["compose"], {}, "myshop"),  # typed in the project's directory: compose's own name
        (["compose", "web"], {"COMPOSE_PROJECT_NAME": "Staging"}, "staging"),
        (["compose", "-p", "given", "web"], {}, "given"),
        (["compose", "--project-name=given"], {}, "given"),
    ],
)
def test_the_compose_project_is_guessed_as_compose_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], environ: dict, project: str
) -> None:
    """Without `-p` the probes asked for before the imports could not join the project's
    bridges: 0.3 s more on a healthy 50-service stack."""
    where = tmp_path / "My Shop"
    where.mkdir()
    (where / "compose.yaml").write_text("services:\n  web:\n    image: x\n")
    monkeypatch.chdir(where)
    reads = Filters()
    prelaunch._networks(argv, environ)(reads)  # type: ignore[arg-type]
    assert reads.asked == [{"label": f"com.docker.compose.project={project}"}]


def test_no_compose_file_no_project_guess(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    reads = Filters()
    assert prelaunch._networks(["compose"], {})(reads) == []  # type: ignore[arg-type]
    assert reads.asked == []
