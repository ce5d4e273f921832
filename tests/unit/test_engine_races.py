"""Engine conflicts and races while probes are removed: never a crash.

Several ddiag runs, `ddiag cleanup` and `docker rm` may remove the same probe at once; the
one that comes second gets 404 or 409 ("removal of container … is already in progress").
A fake engine API raises docker-py's own `APIError(message, response)` with such a status,
as docker-py does for the engine's answer; nothing here opens a socket.
"""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest
import requests
from typer.testing import CliRunner

from diag.cli import app as cli_app
from diag.engine.errors import describe, lost_race
from diag.model.tasks import Placement, resolve
from diag.probes import probe as probe_module
from diag.probes.probe import CREATED_LABEL, PROBE_LABEL, RUN_LABEL, remove_probes
from diag.probes.session import ProbeSession
from diag.probes.shell import remove_run
from diag.probes.swarm import NodeProbe, SwarmProber

IN_PROGRESS = "removal of container {} is already in progress"
ORPHAN = {PROBE_LABEL: "1", CREATED_LABEL: "0"}  # created in 1970: older than any run


def engine_error(status: int, explanation: str) -> docker.errors.APIError:
    """What docker-py raises for an engine's error answer with this status."""
    response = requests.Response()
    response.status_code = status
    error_class = docker.errors.NotFound if status == 404 else docker.errors.APIError
    return error_class(f"{status} Client Error", response=response, explanation=explanation)


class Engine:
    """Probe containers by id; removing one raises what `refusals` holds for it."""

    def __init__(self, refusals: dict[str, docker.errors.APIError], *ids: str) -> None:
        self.refusals = refusals
        self.ids = list(ids)
        self.removed: list[str] = []

    def containers(self, **_: Any) -> list[dict[str, Any]]:
        labels = ORPHAN | {RUN_LABEL: "r1"}
        return [{"Id": cid, "Names": [f"/ddiag-probe-{cid}"], "Labels": labels} for cid in self.ids]

    def remove_container(self, container_id: str, **_: Any) -> None:
        if container_id in self.refusals:
            raise self.refusals[container_id]
        self.removed.append(container_id)

    def services(self, **_: Any) -> list[dict[str, Any]]:
        raise engine_error(503, "This node is not a swarm manager.")

    configs = services

    def remove_service(self, service_id: str) -> None:
        raise AssertionError("no swarm here: nothing to remove")

    remove_config = remove_service


class Client:
    def __init__(self, api: Any) -> None:
        self.api = api


RACES = {
    "busy": engine_error(409, IN_PROGRESS.format("busy")),
    "gone": engine_error(404, "No such container: gone"),
}


def test_lost_races_are_404_and_409_only() -> None:
    assert all(lost_race(error) for error in RACES.values())
    assert not lost_race(engine_error(500, "driver failed to remove root filesystem"))
    assert describe(RACES["busy"]) == (
        "the Docker engine answered HTTP 409: removal of container busy is already in progress"
    )


def test_the_reaper_skips_probes_that_someone_else_is_removing() -> None:
    api = Engine(RACES, "busy", "gone", "left")
    told: list[tuple[str, str]] = []
    removed = remove_probes(Client(api), refused=lambda *said: told.append(said))  # type: ignore[arg-type]
    assert removed == ["ddiag-probe-left"] and api.removed == ["left"]
    assert told == []  # a lost race is no news


def test_the_reaper_leaves_a_refused_probe_for_later_and_says_so() -> None:
    stuck = engine_error(500, "driver failed to remove root filesystem: device busy")
    api = Engine({"stuck": stuck}, "stuck", "left")
    told: list[tuple[str, str]] = []
    removed = remove_probes(Client(api), refused=lambda *said: told.append(said))  # type: ignore[arg-type]
    assert removed == ["ddiag-probe-left"]
    assert told == [
        (
            "ddiag-probe-stuck",
            "the Docker engine answered HTTP 500: driver failed to remove root filesystem: "
            "device busy",
        )
    ]
    assert remove_probes(Client(Engine({"stuck": stuck}, "stuck"))) == []  # type: ignore[arg-type]


def test_a_run_closes_its_probes_whatever_else_removes_them() -> None:
    api = Engine(RACES, "busy", "gone", "left")
    session = ProbeSession(Client(api), "ddiag-test/python3:bookworm", 1.0)  # type: ignore[arg-type]
    session.close()
    assert api.removed == ["left"]


def test_a_shell_probe_removed_by_docker_run_rm_meanwhile() -> None:
    class Awaited(Engine):
        """Records the removals ddiag waits for (the CI once saw ddiag exit while the
        engine's `--rm` was still removing the shell's container)."""

        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.awaited: list[tuple[str, Any]] = []

        def wait(self, container_id: str, **options: Any) -> None:
            self.awaited.append((container_id, options))
            raise RACES["gone"]  # removed before the wait began: 404, no crash

    api = Awaited(RACES, "busy", "gone", "left")
    assert remove_run(Client(api), "r1") == ["left"]  # type: ignore[arg-type]
    assert api.awaited == [("busy", {"timeout": 10, "condition": "removed"})]

    class Gone(Engine):
        def containers(self, **_: Any) -> list[dict[str, Any]]:
            raise requests.exceptions.ConnectionError("Connection aborted.")

    assert remove_run(Client(Gone({})), "r1") == []  # type: ignore[arg-type]


def test_a_swarm_probe_service_removed_under_a_run_fails_only_its_tasks() -> None:
    class Logs:
        def service_logs(self, service_id: str, **_: Any) -> list[bytes]:
            raise engine_error(404, f"service {service_id} not found")

    failed: list[str] = []
    prober = SwarmProber(Logs(), "img", "r1", "64m", lambda: None, lambda peak: None)  # type: ignore[arg-type]
    probe = NodeProbe(
        Placement("node", "net@node", "ov on node2"),
        [resolve("web")],
        lambda pair, raw: None,
        lambda pair, why: failed.append(why),
        "ddiag-probe-r1-n1",
        service_id="s1",
    )
    prober._read(probe)
    assert failed == ["the probe service was removed before it answered (ddiag cleanup?)"]


# --- ddiag cleanup -------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def engine(monkeypatch) -> Engine:
    api = Engine({})
    monkeypatch.setattr(cli_app, "connect", lambda *engine: Client(api))
    monkeypatch.setattr(probe_module, "is_orphan", lambda labels, now, hostname: True)
    return api


def test_cleanup_meeting_a_concurrent_cleanup_exits_0(engine: Engine) -> None:
    engine.ids, engine.refusals = ["busy", "gone", "left"], RACES
    result = runner.invoke(cli_app.app, ["cleanup"])
    assert result.exit_code == 0, result.output
    assert "removed 1 probe(s): ddiag-probe-left" in result.output


def test_cleanup_that_leaves_a_probe_says_which_and_exits_2(engine: Engine) -> None:
    engine.ids = ["stuck"]
    engine.refusals = {"stuck": engine_error(500, "device or resource busy")}
    result = runner.invoke(cli_app.app, ["cleanup", "--all"])
    assert result.exit_code == 2
    assert "ddiag-probe-stuck was not removed: the Docker engine answered HTTP 500" in result.output
    assert "1 probe(s) remain" in result.output and "Traceback" not in result.output


def test_cleanup_on_an_engine_that_stops_answering_exits_2(engine: Engine, monkeypatch) -> None:
    def timed_out(**_: Any) -> list[dict[str, Any]]:
        raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=60)")

    monkeypatch.setattr(engine, "containers", timed_out)
    result = runner.invoke(cli_app.app, ["cleanup"])
    assert result.exit_code == 2
    assert "the Docker engine could not be asked (ReadTimeout: Read timed out." in result.output
    assert "Traceback" not in result.output
