"""The diagnosis without a terminal or an engine: bad input is refused before anything is
asked of the engine, settings merge as documented, the early probe session is handed to the
runner (or closed), and the outcome tells the exit code's facts.

The engine, the probe session and the runner are replaced by fakes that record what the
diagnosis asks of them; the topology is a recorded one (tests/data)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest

from diag.errors import DiagError
from diag.model.compose import project_from_labels
from diag.model.context import Target
from diag.model.findings import Severity
from diag.model.targets import compose_target, network_target
from diag.model.topology import Topology
from diag.probes.spec import DEFAULT_MEMORY
from diag.report.model import Report
from diag.run import diagnosis, target_spec
from diag.run.diagnosis import Diagnosis, Outcome, Request, probe_memory
from diag.run.target_spec import ComposeSpec, ContainerSpec, MakeTarget, NetworkSpec

from .recorded import BACK, PROJECT, load_inspect

IMAGE = "python:3.12-alpine"  # the default probe image: "already pulled" on the fake engine

# --- bad input and settings: no engine at all -----------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"select": ("nope",)}, "The select 'nope' matches no check"),
        ({"severity": ("port",)}, "--severity takes CHECK=LEVEL"),
        ({"fail_on": "sometimes"}, "--fail-on takes one of"),
        ({"probe_mode": "both"}, "--probe-mode takes one of"),
        ({"egress": ("proxy",)}, "--egress"),
        ({"egress_dns": ("1.2.3.4",)}, "--egress-dns"),
        ({"probe_memory": "lots"}, "DDIAG_PROBE_MEMORY takes a size"),
        ({"config": Path("/nonexistent/ddiag.toml")}, "does not exist"),
    ],
)
def test_bad_input_is_refused_when_the_diagnosis_is_made(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(DiagError, match=message):
        Diagnosis(Request(NetworkSpec(("n",)), **changes))


def test_the_command_line_wins_over_ddiag_toml(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "ddiag.toml").write_text('timeout = 5\nfail-on = "warning"\ndeadline = 30\n')
    monkeypatch.chdir(tmp_path)
    made = Diagnosis(Request(NetworkSpec(("n",)), timeout=3.0, select=("dns",)))
    assert (made.settings.timeout, made.settings.fail_on, made.settings.deadline) == (
        3.0,
        "warning",
        30.0,
    )
    assert made.checks and all(check.id.startswith("dns.") for check in made.checks)


def test_probe_memory_takes_docker_sizes() -> None:
    assert probe_memory(None) == probe_memory(" ") == DEFAULT_MEMORY
    assert probe_memory(" 1G ") == "1g"
    with pytest.raises(DiagError, match="DDIAG_PROBE_MEMORY"):
        probe_memory("64 MB")


# --- the outcome: what the exit code and the incompleteness message come from ------------


def test_the_outcome_fails_at_fail_on(topology141: Topology, make_report) -> None:
    settings = Diagnosis(Request(NetworkSpec(("n",)))).settings
    warned = make_report(topology141, Severity.WARNING)
    assert not Outcome(warned, settings).failed()  # fail-on is error by default
    assert Outcome(warned, dataclasses.replace(settings, fail_on="warning")).failed()
    assert not Outcome(warned, dataclasses.replace(settings, fail_on="never")).failed()


def test_the_outcome_says_why_it_is_incomplete(topology141: Topology, make_report) -> None:
    settings = dataclasses.replace(Diagnosis(Request(NetworkSpec(("n",)))).settings, deadline=7)
    assert Outcome(make_report(topology141), settings).incompleteness() == ""
    late = Outcome(make_report(topology141, deadline_reached=True), settings).incompleteness()
    assert late.startswith("the run's deadline (7 s) came before every observation")
    unobserved = Outcome(make_report(topology141, unobserved_places=2), settings).incompleteness()
    assert unobserved.startswith("2 place(s) could not be observed")


# --- run(): against a fake engine ---------------------------------------------------------


class FakeApi:
    def __init__(self, images: set[str], networks: list[dict[str, Any]]) -> None:
        self.images = images
        self.inspected: list[str] = []  # images
        self.inspected_networks = {n["Name"]: n for n in networks}

    def inspect_image(self, image: str) -> dict[str, Any]:
        self.inspected.append(image)
        if image not in self.images:
            raise docker.errors.ImageNotFound(f"no such image: {image}")
        return {}

    def inspect_network(self, name: str) -> dict[str, Any]:
        if name not in self.inspected_networks:
            raise docker.errors.NotFound(f"no such network: {name}")
        return self.inspected_networks[name]

    def networks(self, **filters: Any) -> list[dict[str, Any]]:
        raise AssertionError("no guess should list the networks here")


class FakeSession:
    """Records what the diagnosis does with its early session."""

    def __init__(self, client: Any, image: str, timeout: float, memory: str) -> None:
        self.image, self.timeout, self.memory = image, timeout, memory
        self.prestarted = False
        self.anchors: list[str] = []
        self.closed = 0

    def prestart(self) -> None:
        self.prestarted = True

    def prestart_anchors(self, networks: list[Any]) -> None:
        self.anchors += [network.name for network in networks]

    def suits(self, image: str, mode: str, memory: str) -> bool:
        return (self.image, "shared", self.memory) == (image, mode, memory)

    def close(self) -> None:
        self.closed += 1


@dataclass
class FakeEngine:
    topology: Topology
    api: FakeApi
    sessions: list[FakeSession] = field(default_factory=list)
    images_ensured: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)  # diagnose()'s arguments
    calls: list[str] = field(default_factory=list)  # connect, reap, read, in order


@pytest.fixture
def engine(monkeypatch, topology141: Topology, tmp_path: Path, make_report) -> FakeEngine:
    monkeypatch.chdir(tmp_path)  # no ddiag.toml
    _, networks, _ = load_inspect("inspect-api141")
    fake = FakeEngine(topology141, FakeApi({IMAGE}, networks))
    client = type("Client", (), {"api": fake.api})()

    def session(*args: Any, **kwargs: Any) -> FakeSession:
        fake.sessions.append(FakeSession(*args, **kwargs))
        return fake.sessions[-1]

    def ensure_image(client: Any, image: str, progress: Callable, pull: bool) -> None:
        fake.images_ensured.append(image)

    def diagnose(*args: Any, session: Any = None) -> Report:
        _, topology, target, _, options, _ = args
        fake.runs.append({"target": target, "options": options, "session": session})
        return make_report(topology)

    def called(name: str, result: Any) -> Callable[..., Any]:
        return lambda *args: fake.calls.append(name) or result

    monkeypatch.setattr(diagnosis, "connect", called("connect", client))
    monkeypatch.setattr(diagnosis, "remove_probes", called("reap", []))
    monkeypatch.setattr(diagnosis, "read_topology", called("read", fake.topology))
    monkeypatch.setattr(diagnosis, "ProbeSession", session)
    monkeypatch.setattr(diagnosis, "ensure_image", ensure_image)
    monkeypatch.setattr(diagnosis, "diagnose", diagnose)
    return fake


def test_the_early_session_starts_with_the_guess_and_goes_to_the_runner(
    engine: FakeEngine,
) -> None:
    said: list[str] = []
    outcome = Diagnosis(Request(NetworkSpec((BACK,)), timeout=3.0)).run(said.append)
    [session] = engine.sessions
    assert session.prestarted and session.anchors == [BACK]
    assert (session.image, session.timeout, session.memory) == (IMAGE, 3.0, DEFAULT_MEMORY)
    [run] = engine.runs
    assert run["session"] is session and session.closed == 0  # the runner closes it
    assert run["target"].names == (BACK,)
    assert said[0] == "Starting probes"
    assert outcome.settings.timeout == 3.0 and outcome.report.target.names == (BACK,)


@pytest.mark.parametrize(
    ("request_changes", "images"),
    [({"probe_mode": "isolated"}, {IMAGE}), ({}, set())],  # isolated; an image to pull
)
def test_no_early_session_where_it_could_not_be_used(
    engine: FakeEngine, request_changes: dict[str, Any], images: set[str]
) -> None:
    engine.api.images = images
    Diagnosis(Request(NetworkSpec((BACK,)), **request_changes)).run()
    assert engine.sessions == []
    assert engine.runs[0]["session"] is None
    assert engine.images_ensured == [IMAGE]


def test_an_unknown_target_closes_the_early_session(engine: FakeEngine) -> None:
    with pytest.raises(DiagError, match="nope"):
        Diagnosis(Request(NetworkSpec(("nope",)))).run()
    [session] = engine.sessions
    assert session.closed == 1
    assert engine.runs == []


@dataclass(frozen=True)
class GivenTarget:
    """A target spec that makes a given target, with no guess."""

    make: MakeTarget

    def guess(self) -> Callable[[Any], list[Any]]:
        return lambda api: []

    def prepare(self) -> MakeTarget:
        return self.make


def _with_x_ddiag(settings: dict[str, Any]) -> MakeTarget:
    def make(topology: Topology) -> Target:
        project = project_from_labels(topology, PROJECT)
        return compose_target(topology, dataclasses.replace(project, extensions=settings))

    return make


def test_x_ddiag_settings_apply_under_the_command_line(engine: FakeEngine) -> None:
    x_ddiag = {"x-ddiag": {"probe-image": "other:1", "fail-on": "warning", "timeout": 4}}
    request = Request(GivenTarget(_with_x_ddiag(x_ddiag)), timeout=3.0)
    outcome = Diagnosis(request).run()
    assert (outcome.settings.probe_image, outcome.settings.fail_on) == ("other:1", "warning")
    assert outcome.settings.timeout == 3.0  # the command line's
    [session] = engine.sessions  # started with the command line's image, then not suited
    assert session.image == IMAGE and session.closed == 1
    [run] = engine.runs
    assert run["session"] is None and run["options"].probe_image == "other:1"
    assert engine.images_ensured == ["other:1"]


def test_x_ddiag_that_selects_nothing_is_an_error(engine: FakeEngine) -> None:
    x_ddiag = {"x-ddiag": {"select": ["port"], "ignore": ["port"]}}
    with pytest.raises(DiagError, match="leave no check to run"):
        Diagnosis(Request(GivenTarget(_with_x_ddiag(x_ddiag)))).run()
    assert engine.sessions[0].closed == 1 and engine.runs == []


# --- target specs ---------------------------------------------------------------------------


def test_network_and_container_specs_make_their_targets(topology141: Topology) -> None:
    assert NetworkSpec((BACK, BACK)).prepare()(topology141).names == (BACK,)
    target = ContainerSpec("ddiag-unitrec-web-1").prepare()(topology141)
    assert (target.kind, target.names) == ("container", ("ddiag-unitrec-web-1",))
    with pytest.raises(DiagError):
        ContainerSpec("nope").prepare()(topology141)


def test_compose_with_only_a_project_name_is_rebuilt_from_labels(
    topology141: Topology, monkeypatch
) -> None:
    asked: list[tuple[Any, ...]] = []

    def no_compose_file(*args: Any, **compose_options: Any) -> None:  # -p without a file
        asked.append(args)

    monkeypatch.setattr(target_spec, "load_config", no_compose_file)
    target = ComposeSpec(project=PROJECT, project_directory="d").prepare()(topology141)
    assert asked == [((), PROJECT, "d")]
    assert target.kind == "compose" and target.project is not None
    assert (target.project.name, target.project.source) == (PROJECT, "labels")


def test_compose_without_a_project_name_guesses_nothing(monkeypatch) -> None:
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    assert ComposeSpec().guess()(FakeApi(set(), [])) == []  # the api is not even asked


def test_a_second_run_reads_the_engine_again_and_reuses_what_cannot_change(
    engine: FakeEngine,
) -> None:
    prepared: list[int] = []

    def make(topology: Topology) -> Target:
        return network_target(topology, [BACK])

    class Counted(GivenTarget):
        def prepare(self) -> MakeTarget:
            prepared.append(1)
            return self.make

    run = Diagnosis(Request(Counted(make)))
    first, second = run.run(), run.run()
    assert engine.calls == ["connect", "reap", "read", "read"]  # one connection, one reap
    assert prepared == [1]  # the compose file is read once
    assert engine.api.inspected == [IMAGE]  # the probe image is checked once
    assert len(engine.sessions) == 2 and len(engine.runs) == 2  # probes: each run its own
    assert engine.runs[0]["session"] is engine.sessions[0]
    assert engine.runs[1]["session"] is engine.sessions[1]
    assert first is not second
