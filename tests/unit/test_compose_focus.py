"""`ddiag compose SERVICE...`, `--profile` and `--env-file`: what the compose command hands
to `docker compose config`, and a target limited to some services (diag.model.targets):
their edges, their dependencies observed, the findings about them kept."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from typing import Any

import pytest

from diag.checks._members import members
from diag.engine import compose_cli
from diag.errors import DiagError
from diag.model.compose import project_from_config
from diag.model.context import CheckContext, Target
from diag.model.findings import Finding, Severity
from diag.model.targets import compose_target
from diag.model.topology import Topology
from diag.run import runner, target_spec
from diag.run.target_spec import ComposeSpec

from .test_service_checks import NET, PROJECT, _container, _topology

# web -> api:8000 (environment), api -> db (depends_on); worker -> db; cache, used by nobody
SERVICES: dict[str, dict[str, Any]] = {
    "web": {"environment": {"API_URL": "http://api:8000/"}},
    "api": {"depends_on": {"db": {"condition": "service_started"}}},
    "db": {},
    "worker": {"environment": {"DB_HOST": "db", "DB_PORT": "5432"}},
    "cache": {},
}
IPS = {"web": "10.213.90.2", "api": "10.213.90.3", "db": "10.213.90.4", "worker": "10.213.90.5"}


def _stack(**extra: Any) -> tuple[Topology, Any]:
    topology = _topology(*(_container(name, ip) for name, ip in IPS.items()), _container("cache"))
    services = {name: {"image": "busybox", **raw} for name, raw in SERVICES.items()}
    model = {"name": PROJECT, "services": services, "networks": {"default": {"name": NET}}}
    return topology, project_from_config({**model, **extra})


def _edges(target: Target) -> list[tuple[str | None, str, int | None]]:
    return sorted((e.source.service, e.name, e.port) for e in target.edges)


def test_without_services_the_target_is_the_whole_project() -> None:
    target = compose_target(*_stack())
    assert target.focus is None
    assert _edges(target) == [("api", "db", None), ("web", "api", 8000), ("worker", "db", 5432)]
    assert target.concerns(("worker",)) and all(target.observes(c) for c in target.containers)


def test_named_services_keep_their_edges_and_observe_their_dependencies() -> None:
    topology, project = _stack()
    target = compose_target(topology, project, services=["web", "api"])
    assert _edges(target) == [("api", "db", None), ("web", "api", 8000)]
    assert sorted(c.service for c in target.containers) == ["api", "web"]
    assert [n.name for n in target.networks] == [NET]
    assert target.focus is not None and target.focus.services == ("web", "api")
    ctx = CheckContext(topology, target)
    assert sorted(m.container.service for m in members(ctx)) == ["api", "db", "web"]


def test_findings_are_kept_when_they_are_about_the_named_services() -> None:
    target = compose_target(*_stack(), services=["web"])
    assert target.concerns(("web",)) and target.concerns((f"{PROJECT}-web-1",))
    assert target.concerns(("api", "web"))  # api's port, web its client
    assert target.concerns((NET,))  # the network web is on
    assert not target.concerns(("api",)) and not target.concerns(("worker", "db"))


def test_an_unknown_service_exits_with_the_close_names() -> None:
    with pytest.raises(
        DiagError, match=r"No service named 'wbe' in compose project 's'\. Did you mean web"
    ):
        compose_target(*_stack(), services=["wbe"])
    topology, project = _stack()
    with pytest.raises(DiagError, match=r"Services in compose project 's': api, cache, db"):
        compose_target(topology, project, services=["zzzzzz"])


def test_a_named_service_without_a_container_says_to_start_it() -> None:
    topology, project = _stack()
    topology = _topology(*(c for c in topology.containers if c.service != "web"))
    with pytest.raises(DiagError, match=r"docker compose up -d web"):
        compose_target(topology, project, services=["web"])


def test_expect_rules_apply_to_the_named_sources_only() -> None:
    rules = {"expect": [{"from": "*", "to": "cache", "reachable": False}]}
    topology, project = _stack(**{"x-ddiag": rules})
    target = compose_target(topology, project, services=["worker"])
    assert _edges(target) == [("worker", "cache", None), ("worker", "db", 5432)]


class _Said:
    """A check that says what it is given to say (subjects), as a check's evaluate does."""

    def __init__(self, *subjects: tuple[str, ...]) -> None:
        self.id = "port.said"
        self.findings = [
            Finding(self.id, Severity.ERROR, "t", s, "summary", {}, "fix") for s in subjects
        ]

    def evaluate(self, ctx: CheckContext) -> list[Finding]:
        return self.findings


class _Closed:
    started, memory_peak, mode = 0, None, "shared"


def test_the_report_keeps_the_findings_about_the_named_services() -> None:
    topology, project = _stack()
    target = compose_target(topology, project, services=["web"])
    ctx = CheckContext(topology, target)
    check = _Said(("api", "web"), ("worker",), (NET,))
    options = runner.RunOptions("img", 2.0)
    started = (datetime.now(timezone.utc), 0.0)
    report = runner._report(None, ctx, [check], options, _Closed(), [], [], started)
    assert [f.subjects for f in report.findings] == [("api", "web"), (NET,)]
    assert report.to_dict()["target"]["services"] == ["web"]
    whole = CheckContext(topology, compose_target(topology, project))
    report = runner._report(None, whole, [check], options, _Closed(), [], [], started)
    assert len(report.findings) == 3 and "services" not in report.to_dict()["target"]


# --- what the compose command hands over ------------------------------------------------------


def test_profiles_and_env_files_go_to_docker_compose_config(monkeypatch) -> None:
    ran: list[list[str]] = []

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        ran.append(command)
        return subprocess.CompletedProcess(command, 0, '{"name": "p"}', "")

    monkeypatch.setattr(compose_cli, "compose_command", lambda: ["docker", "compose"])
    monkeypatch.setattr(compose_cli.subprocess, "run", run)
    model = compose_cli.load_config(
        ["a.yaml"], "p", None, profiles=["debug", "ops"], env_files=[".env", "prod.env"]
    )
    assert model == {"name": "p"}
    files = ["-f", "a.yaml", "-p", "p"]
    profiles = ["--profile", "debug", "--profile", "ops"]
    env_files = ["--env-file", ".env", "--env-file", "prod.env"]
    assert ran == [
        ["docker", "compose", *files, *profiles, *env_files, "config", "--format", "json"]
    ]


def test_the_compose_spec_hands_on_profiles_env_files_and_services(monkeypatch) -> None:
    asked: list[Any] = []
    topology, project = _stack()
    monkeypatch.setattr(
        target_spec, "load_config", lambda *args, **options: asked.append(options) or {}
    )
    monkeypatch.setattr(target_spec, "project_from_config", lambda model, files: project)
    spec = ComposeSpec(profiles=("debug",), env_files=("x.env",), services=("web",))
    target = spec.prepare()(topology)
    assert asked == [{"profiles": ("debug",), "env_files": ("x.env",)}]
    assert target.focus is not None and target.focus.services == ("web",)


def test_the_command_line_makes_the_compose_spec(monkeypatch) -> None:
    from typer.testing import CliRunner

    from diag.cli import app as cli_app

    specs: list[ComposeSpec] = []
    monkeypatch.setattr(cli_app, "diagnose_and_exit", lambda spec, common: specs.append(spec))
    args = ["compose", "web", "api", "--profile", "a", "--profile", "b", "--env-file", "e"]
    result = CliRunner().invoke(cli_app.app, [*args, "-p", "shop", "-q"])
    assert result.exit_code == 0, result.output
    assert specs == [
        ComposeSpec(project="shop", profiles=("a", "b"), env_files=("e",), services=("web", "api"))
    ]


def _compose_clis(monkeypatch, plugin: bool, standalone: bool, valid: bool) -> list[list[str]]:
    """subprocess.run and shutil.which as a machine with those compose CLIs would answer."""
    ran: list[list[str]] = []

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        ran.append(command)
        if command[:2] == ["docker", "compose"] and not plugin:
            return subprocess.CompletedProcess(command, 1, "", "'compose' is not a docker command")
        if command[-1] == "version" or valid:
            return subprocess.CompletedProcess(command, 0, '{"name": "p"}', "")
        return subprocess.CompletedProcess(command, 15, "", "services.web: bad")

    paths = {"docker": "/usr/bin/docker"} | ({"docker-compose": "/b/dc"} if standalone else {})
    monkeypatch.setattr(compose_cli.shutil, "which", paths.get)
    monkeypatch.setattr(compose_cli.subprocess, "run", run)
    return ran


CONFIG = ["-f", "a.yaml", "config", "--format", "json"]


def test_docker_compose_config_runs_at_once_without_asking_its_version(monkeypatch) -> None:
    ran = _compose_clis(monkeypatch, plugin=True, standalone=True, valid=True)
    assert compose_cli.load_config(["a.yaml"], None, None) == {"name": "p"}
    assert ran == [["docker", "compose", *CONFIG]]


def test_an_invalid_file_is_said_once_by_the_plugin(monkeypatch) -> None:
    ran = _compose_clis(monkeypatch, plugin=True, standalone=True, valid=False)
    with pytest.raises(DiagError, match=r"services\.web: bad"):
        compose_cli.load_config(["a.yaml"], None, None)
    assert ran == [["docker", "compose", *CONFIG], ["docker", "compose", "version"]]


def test_without_the_plugin_the_standalone_compose_reads_the_file(monkeypatch) -> None:
    ran = _compose_clis(monkeypatch, plugin=False, standalone=True, valid=True)
    assert compose_cli.load_config(["a.yaml"], None, None) == {"name": "p"}
    assert ran[-1] == ["docker-compose", *CONFIG]
    _compose_clis(monkeypatch, plugin=False, standalone=False, valid=True)
    with pytest.raises(DiagError, match="compose CLI was not found"):
        compose_cli.load_config(["a.yaml"], None, None)
