"""`network`, `compose` and `container` without an engine: their shared options (declared
once in diag.cli.options, handed to a command as one CommonOptions, turned into a Request),
and how a finished diagnosis is shown and exited on (diag.cli.diagnosing), with the
diagnosis itself replaced by one that returns a given outcome."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any, ClassVar

import docker.errors
import pytest
import requests
import typer
from typer.main import get_command
from typer.testing import CliRunner

from diag.cli import diagnosing
from diag.cli.app import app
from diag.cli.choices import Format, Pull
from diag.cli.interrupts import Terminated
from diag.cli.options import CommonOptions, common_options
from diag.engine.endpoint import EngineChoice
from diag.errors import DiagError
from diag.model.findings import Severity
from diag.model.topology import Topology
from diag.report.model import Report
from diag.run import diagnosis
from diag.run.config import Settings
from diag.run.diagnosis import Outcome, Request
from diag.run.target_spec import NetworkSpec

runner = CliRunner()
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent.sock"}


def test_the_diagnosing_commands_end_with_the_same_options() -> None:
    commands = get_command(app).commands  # type: ignore[attr-defined]
    shared = [field.name for field in fields(CommonOptions)]
    for name in ("network", "compose", "container"):
        params = [param.name for param in commands[name].params]
        assert params[-len(shared) :] == shared, name


# What the common options read from the environment (scripts/test.sh sets two of them).
OPTION_VARIABLES = ("DDIAG_PROBE_IMAGE", "DDIAG_PULL", "DDIAG_DEADLINE", "DDIAG_PROBE_MODE")


def test_a_command_gets_its_own_parameters_and_one_common_options() -> None:
    seen: list[tuple[str, bool, CommonOptions]] = []
    probe = typer.Typer()

    @probe.command()
    @common_options
    def diagnose(name: str, loud: bool = False, *, common: CommonOptions) -> None:
        seen.append((name, loud, common))

    args = ["x", "--loud", "--format", "json", "--select", "dns", "--select", "port", "-q"]
    result = runner.invoke(probe, args, env=dict.fromkeys(OPTION_VARIABLES))  # as unset
    assert result.exit_code == 0, result.output
    expected = CommonOptions(fmt=Format("json"), select_ids=["dns", "port"], quiet=True)
    assert seen == [("x", True, expected)]


def test_the_request_takes_what_the_diagnosis_needs(monkeypatch) -> None:
    monkeypatch.setenv("DDIAG_PROBE_MEMORY", "1g")
    options = CommonOptions(
        fmt=Format("json"),
        output=Path("out.json"),
        select_ids=["dns"],
        egress=["proxy:3128"],
        pull=Pull("never"),
        config=Path("ddiag.toml"),
    )
    request = options.request(NetworkSpec(("n",)))
    assert request.target == NetworkSpec(("n",))
    assert (request.select, request.ignore, request.egress) == (("dns",), (), ("proxy:3128",))
    assert (request.pull, request.probe_memory, request.config) == (
        False,
        "1g",
        Path("ddiag.toml"),
    )


@pytest.mark.parametrize("command", [["network", "n"], ["container", "c"], ["compose"]])
def test_bad_pull_or_probe_memory_exit_2_before_the_engine(command: list[str]) -> None:
    for args, env, message in (
        (["--pull", "sometimes"], {}, "Invalid value for '--pull'"),
        ([], {"DDIAG_PULL": "sometimes"}, "DDIAG_PULL"),
        ([], {"DDIAG_PROBE_MEMORY": "lots"}, "DDIAG_PROBE_MEMORY takes a size"),
    ):
        result = runner.invoke(app, [*command, *args], env={**NO_ENGINE, **env})
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "Traceback" not in result.output and "Cannot reach" not in result.output


# --- a finished diagnosis: the report where it was asked for, the exit code -----------------


class GivenDiagnosis:
    """Stands for diag.run.diagnosis.Diagnosis: `run()` returns `outcome`, or raises `error`."""

    outcome: ClassVar[Outcome | None] = None
    error: ClassVar[BaseException | None] = None
    requests: ClassVar[list[Request]] = []

    def __init__(self, request: Request) -> None:
        self.requests.append(request)

    def run(self, progress: Callable[[str], None]) -> Outcome:
        progress("Starting probes")
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


@pytest.fixture
def given(monkeypatch, topology141: Topology, make_report) -> Iterator[Callable[..., Any]]:
    """`given(*severities, fail_on=..., error=..., **report)`: what the next run returns."""
    sigterm = signal.getsignal(signal.SIGTERM)  # the command installs its own handler
    monkeypatch.setattr(diagnosing, "Diagnosis", GivenDiagnosis)
    monkeypatch.setattr(GivenDiagnosis, "requests", [])

    def give(
        *severities: Severity,
        fail_on: str = "error",
        error: BaseException | None = None,
        **report: Any,
    ) -> None:
        made: Report = make_report(topology141, *severities, **report)
        monkeypatch.setattr(GivenDiagnosis, "outcome", Outcome(made, Settings(fail_on=fail_on)))
        monkeypatch.setattr(GivenDiagnosis, "error", error)

    yield give
    signal.signal(signal.SIGTERM, sigterm)


def test_the_report_goes_to_stdout_and_findings_decide_the_exit(given) -> None:
    given(Severity.WARNING)
    result = runner.invoke(app, ["network", "n", "--format", "json", "--select", "dns"])
    assert result.exit_code == 0, result.output
    assert [f["severity"] for f in json.loads(result.stdout)["findings"]] == ["warning"]
    assert GivenDiagnosis.requests[0].select == ("dns",)
    given(Severity.WARNING, fail_on="warning")  # fail-on as the layers merged it
    assert runner.invoke(app, ["container", "c", "--format", "json"]).exit_code == 1


def test_the_report_goes_to_the_output_file(given, tmp_path: Path) -> None:
    given()
    out = tmp_path / "run.md"
    result = runner.invoke(app, ["compose", "--format", "markdown", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and out.read_text(encoding="utf-8").strip()
    result = runner.invoke(app, ["compose", "-o", str(tmp_path / "no" / "run.md")])
    assert result.exit_code == 2
    assert "cannot write the report to" in result.output


def test_the_trace_goes_to_its_file_after_the_report(given, tmp_path: Path) -> None:
    given()
    path = tmp_path / "trace.json"
    result = runner.invoke(app, ["network", "n", "--format", "json", "--trace", str(path)])
    assert result.exit_code == 0, result.output
    names = {span["name"] for span in json.loads(path.read_text())["spans"]}
    assert "report rendered" in names
    result = runner.invoke(
        app, ["network", "n", "--format", "json"], env={"DDIAG_TRACE": str(path)}
    )
    assert result.exit_code == 0 and path.exists()
    unwritable = tmp_path / "no" / "trace.json"
    result = runner.invoke(app, ["network", "n", "--format", "json", "--trace", str(unwritable)])
    assert result.exit_code == 0  # the report is out: a trace that cannot be written is said
    assert "the trace could not be written" in result.output


def test_an_incomplete_run_exits_2_unless_findings_make_it_1(given) -> None:
    given(deadline_reached=True)
    result = runner.invoke(app, ["network", "n", "--format", "json"])
    assert result.exit_code == 2
    assert "ddiag: the run's deadline (120 s) came before every observation" in result.output
    given(Severity.ERROR, unobserved_places=1)
    result = runner.invoke(app, ["network", "n", "--format", "json"])
    assert result.exit_code == 1
    assert "ddiag: 1 place(s) could not be observed" in result.output


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (DiagError("Cannot reach the Docker engine"), 2, "ddiag: Cannot reach the Docker engine"),
        (Terminated(), 143, "ddiag: terminated; probes removed"),
        (KeyboardInterrupt(), 130, "ddiag: interrupted; probes removed"),
    ],
)
def test_a_run_that_ends_early_exits_with_a_message(
    given, error: BaseException, code: int, message: str
) -> None:
    given(error=error)
    result = runner.invoke(app, ["network", "n"])
    assert result.exit_code == code
    assert message in result.output and "Traceback" not in result.output


# --- an engine error nothing expected: exit 2 and a message, never a traceback --------------


class RefusingApi:
    """An engine that answers the connect, then fails one call: `fails` names it."""

    def __init__(self, fails: str, error: Exception) -> None:
        self.fails, self.error = fails, error

    def __getattr__(self, call: str) -> Callable[..., Any]:
        def answer(*args: Any, **kwargs: Any) -> Any:
            if call == self.fails:
                raise self.error
            if call == "inspect_image":  # no early probe: nothing is started
                raise docker.errors.ImageNotFound("no such image")
            return []

        return answer


def _api_error(status: int, explanation: str) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return docker.errors.APIError(
        f"{status} Server Error", response=response, explanation=explanation
    )


@pytest.mark.parametrize(
    ("fails", "error", "said"),
    [
        (  # the reaper's listing, refused
            "containers",
            _api_error(500, "layer store unavailable"),
            "the Docker engine answered HTTP 500: layer store unavailable",
        ),
        (  # the topology read, cut off
            "version",
            requests.exceptions.ReadTimeout("Read timed out. (read timeout=60)"),
            "the Docker engine could not be asked (ReadTimeout: Read timed out.",
        ),
    ],
)
def test_an_engine_error_in_a_diagnosis_exits_2_without_a_traceback(
    monkeypatch, tmp_path: Path, fails: str, error: Exception, said: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no ddiag.toml
    sigterm = signal.getsignal(signal.SIGTERM)  # the command installs its own handler
    client = type("Client", (), {"api": RefusingApi(fails, error)})()
    monkeypatch.setattr(diagnosis, "connect", lambda *engine: client)
    result = runner.invoke(app, ["network", "n", "--format", "json"])
    signal.signal(signal.SIGTERM, sigterm)
    assert result.exit_code == 2, result.output
    assert f"ddiag: {said}" in result.output
    assert "ddiag stopped there, with no result" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # typer's exit, nothing that escaped it


# --- which engine: -H/--host and -c/--context --------------------------------------------------


def test_host_and_context_reach_the_request(given) -> None:
    given()
    assert runner.invoke(app, ["network", "n", "-H", "tcp://10.9.9.9:2375"]).exit_code == 0
    assert runner.invoke(app, ["compose", "--context", "lab", "-q"]).exit_code == 0
    assert [r.engine for r in GivenDiagnosis.requests] == [
        EngineChoice(host="tcp://10.9.9.9:2375"),
        EngineChoice(context="lab"),
    ]


@pytest.mark.parametrize("command", [["network", "n"], ["compose"], ["cleanup"], ["shell", "n"]])
def test_host_and_context_together_exit_2_before_the_engine(command: list[str]) -> None:
    args = [*command, "-H", "unix:///nonexistent.sock", "-c", "default"]
    result = runner.invoke(app, args, env=NO_ENGINE)
    assert result.exit_code == 2, result.output
    assert "-H/--host and -c/--context both name the engine" in result.output
    assert "Cannot reach" not in result.output and "Traceback" not in result.output
