"""`ddiag compose` and `ddiag container` on the real engine: model sources and error paths."""

from __future__ import annotations

import json
import os

import pytest

from tests.integration.stacks import ddiag, running


@pytest.fixture(scope="module")
def loopback():
    with running("compose-loopback") as stack:
        yield stack


def _checks(result) -> list[tuple[str, list[str]]]:
    return [(f["check"], f["subjects"]) for f in json.loads(result.stdout)["findings"]]


def test_project_name_alone_works_from_labels(loopback, tmp_path) -> None:
    result = ddiag("compose", "-p", loopback.project, "--format", "json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    (finding,) = _checks(result)
    assert finding[0] == "port.app-loopback"
    assert {"api", "web"} <= set(finding[1])


def test_compose_file_and_env_variables_mean_what_compose_says(loopback) -> None:
    env = {"COMPOSE_FILE": str(loopback.directory / "compose.yaml")}
    env["COMPOSE_PROJECT_NAME"] = loopback.project
    result = ddiag("compose", "--format", "json", env=env)
    assert result.returncode == 1, result.stderr
    target = json.loads(result.stdout)["target"]
    assert (target["kind"], target["names"]) == ("compose", [loopback.project])


def test_without_p_the_probes_are_asked_for_the_project_compose_names(loopback, tmp_path) -> None:
    """No `-p`: the project's name comes from the files, as compose finds it (here from
    `--env-file`); the probes are asked for before the imports all the same, their starts
    before the CLI's engine connection (from the run's trace)."""
    env_file = tmp_path / "stack.env"
    env_file.write_text(f"COMPOSE_PROJECT_NAME={loopback.project}\n")
    trace = tmp_path / "trace.json"
    file = str(loopback.directory / "compose.yaml")
    result = ddiag(
        "compose", "-f", file, "--env-file", str(env_file), "--format", "json",
        "--trace", str(trace), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["target"]["names"] == [loopback.project]
    spans = json.loads(trace.read_text())["spans"]
    connected = min(s["start_s"] for s in spans if s["name"] == "engine connect")
    starts = [s for s in spans if s["name"] == "probe start"]
    assert {s["probe"] for s in starts} == {"shared", "anchor"}, starts
    assert all(s["start_s"] < connected for s in starts), spans


def test_container_command_uses_the_same_edges(loopback) -> None:
    result = ddiag("container", f"{loopback.project}-web-1", "--format", "json")
    assert result.returncode == 1, result.stderr
    checks = _checks(result)
    assert [c for c, _ in checks] == ["port.app-loopback"]
    assert "web" in checks[0][1]


def test_invalid_compose_file_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  web:\n    image: [not, a, string]\n    ports: 8080\n")
    result = ddiag("compose", "-f", str(bad))
    assert result.returncode == 2
    assert "compose file is not valid" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_project_suggests_close_names(loopback, tmp_path) -> None:
    result = ddiag("compose", "-p", loopback.project + "x", cwd=tmp_path)
    assert result.returncode == 2
    assert f"Did you mean {loopback.project}" in result.stderr


def test_missing_compose_cli_is_a_clear_error(loopback, tmp_path) -> None:
    result = ddiag(
        "compose", "-f", str(loopback.directory / "compose.yaml"), env={"PATH": str(tmp_path)}
    )
    assert result.returncode == 2
    assert "compose CLI was not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_container_suggests_close_names(loopback) -> None:
    result = ddiag("container", f"{loopback.project}-web-2")
    assert result.returncode == 2
    assert f"{loopback.project}-web-1" in result.stderr
    assert os.linesep in result.stderr


def test_named_services_limit_the_edges_and_findings(loopback) -> None:
    compose = ("compose", "-p", loopback.project, "-f", str(loopback.directory / "compose.yaml"))
    web = ddiag(*compose, "web", "--format", "json")
    assert web.returncode == 1, web.stderr
    assert [c for c, _ in _checks(web)] == ["port.app-loopback"]  # web's edge to api
    assert json.loads(web.stdout)["target"]["services"] == ["web"]
    api = ddiag(*compose, "api", "--format", "json")  # api depends on nothing
    assert api.returncode == 0, api.stderr
    report = json.loads(api.stdout)
    assert report["edges"] == []  # web's edge is not api's
    # api's own loopback listener, unexposed: a warning about api, with no client named
    assert [(f["check"], f["severity"], f["subjects"][0]) for f in report["findings"]] == [
        ("port.app-loopback", "warning", "api")
    ]
    assert "web" not in report["findings"][0]["subjects"]
    typo = ddiag(*compose, "wbe")
    assert typo.returncode == 2
    assert "No service named 'wbe'" in typo.stderr and "Did you mean web" in typo.stderr
