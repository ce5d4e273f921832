"""Probes on swarm nodes (diag.probes.swarm) without an engine: the agent's batch mode, the
service spec, reading the task's log, and what each task state becomes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from diag.agent.__main__ import BATCH_ENV, BATCH_MARK
from diag.model.tasks import Placement, Planned, Task, connect, resolve
from diag.probes import swarm as swarm_probe
from diag.probes.bundle import agent_zip
from diag.probes.probe import (
    CREATED_LABEL,
    OWNER_LABEL,
    PROBE_LABEL,
    SWARM_SERVICE_LABEL,
    owner_id,
    remove_probes,
)
from diag.probes.swarm import (
    AGENT_PATH,
    NodeProbe,
    ServiceSettings,
    SwarmProber,
    read_log,
    request,
    service_spec,
    split,
    task_image,
)

ROOT = Path(__file__).resolve().parents[2]
PLACE = Placement("node", "net123@node456", "ov on node2")
SETTINGS = ServiceSettings("sha256:abc", {PROBE_LABEL: "1"}, "cfg1", "ddiag-agent-r1", 64 << 20)
# Engine 20.10's swarm refuses a config of 500 KiB or more (newer ones: 1000 KiB).
CONFIG_LIMIT = 500 * 1024


def _marked(*lines: dict[str, Any]) -> bytes:
    return b"".join(f"{BATCH_MARK}{json.dumps(line)}\n".encode() for line in lines)


# --- the agent's batch mode -------------------------------------------------------------


def test_batch_agent_answers_marked_lines_then_sleeps_until_sigterm() -> None:
    body = request([connect("127.0.0.1", 1), Task("hosts")], 1.0)
    agent = subprocess.Popen(
        [sys.executable, "-m", "diag.agent"],
        env={**os.environ, BATCH_ENV: json.dumps(body)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert agent.stdout is not None
        lines = []
        while not lines or "done" not in lines[-1]:
            line = agent.stdout.readline()
            assert line.startswith(BATCH_MARK), line
            lines.append(json.loads(line[len(BATCH_MARK) :]))
        time.sleep(0.3)
        assert agent.poll() is None  # asleep, not exited: the swarm would restart a task
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=5) == 0
    finally:
        agent.kill()
        agent.wait()
    assert "ready" in lines[0]
    by_key = {line["k"]: line["r"] for line in lines if "k" in line}
    assert by_key[0]["status"] == "refused" and by_key[1]["status"] == "ok"
    assert lines[-1]["done"] == 1


# --- the service ------------------------------------------------------------------------


def test_service_spec_pins_one_task_to_the_node_on_the_overlay() -> None:
    body = request([resolve("tasks.web"), connect("10.0.0.5", 8080)], 2.0)
    spec = service_spec("ddiag-probe-r1-n1", PLACE, body, SETTINGS)
    template = spec["task_template"]
    container = template["ContainerSpec"]
    assert spec["mode"] == {"Replicated": {"Replicas": 1}}
    assert template["Placement"] == {"Constraints": ["node.id==node456"]}
    assert template["Networks"] == [{"Target": "net123"}]
    assert template["RestartPolicy"] == {"Condition": "none"}
    assert spec["endpoint_spec"] == {"Mode": "dnsrr"}  # no VIP, no published port
    assert spec["labels"] == container["Labels"] == {PROBE_LABEL: "1"}
    assert f"{BATCH_ENV}={json.dumps(body)}" in container["Env"]
    assert container["Configs"][0]["ConfigID"] == "cfg1"
    assert container["Configs"][0]["File"]["Name"] == AGENT_PATH
    assert AGENT_PATH in container["Command"][-1]
    assert container["CapabilityDrop"] == ["ALL"] and container["CapabilityAdd"] == ["NET_RAW"]
    assert container["ReadOnly"] is True
    assert template["Resources"]["Limits"]["MemoryBytes"] == 64 << 20
    assert body["tasks"] == [
        {"k": 0, "kind": "resolve", "target": "tasks.web", "rdtype": "A"},
        {"k": 1, "kind": "connect", "target": "10.0.0.5", "port": 8080},
    ]


def test_the_agent_travels_in_a_config_not_in_every_spec() -> None:
    """Every task copies its service's spec into the raft log and onto its node: the spec
    stays small, the agent (a config, stored once) under the swarm's config limit."""
    body = request([connect(f"10.0.{i // 250}.{i % 250}", 8080) for i in range(100)], 2.0)
    spec = service_spec("ddiag-probe-r1-n1", PLACE, body, SETTINGS)
    batch = json.dumps(f"{BATCH_ENV}={json.dumps(body)}")  # as the spec's JSON holds it
    assert len(json.dumps(spec)) - len(batch) < 2_000
    assert len(agent_zip()) < CONFIG_LIMIT


def test_a_huge_batch_is_split_into_requests_that_fit_an_environment_string() -> None:
    tasks = [connect(f"10.1.{i // 250}.{i % 250}", 8080) for i in range(3000)]
    groups = split(tasks, limit=20_000)
    assert len(groups) > 1
    assert [task for group in groups for task in group] == tasks
    for group in groups:
        assert len(json.dumps(request(group, 2.0))) <= 20_000
    assert split(tasks[:10]) == [tasks[:10]]


class Images:
    def __init__(self, found: dict[str, Any]) -> None:
        self.found = found

    def inspect_image(self, image: str) -> dict[str, Any]:
        return self.found


def test_task_image_is_the_repo_digest_else_the_image_id() -> None:
    pulled = {"Id": "sha256:1", "RepoDigests": ["mirror/python@sha256:m", "python@sha256:p"]}
    assert task_image(Images(pulled), "python:3.12") == "python@sha256:p"
    assert task_image(Images(pulled), "other:1") == "mirror/python@sha256:m"
    built = {"Id": "sha256:local", "RepoDigests": []}
    assert task_image(Images(built), "ddiag-test/python3:bookworm") == "sha256:local"


# --- reading the task's log --------------------------------------------------------------


def test_read_log_keeps_the_agents_lines_and_the_rest_apart() -> None:
    long = {"k": 2, "r": {"status": "ok", "text": "x" * 40_000}}  # came as partial messages
    raw = (
        _marked({"ready": "3.11"}, {"k": 0, "r": {"status": "open"}}, long)
        + b"Traceback (most recent call last):\n\n"
        + f"{BATCH_MARK}{{not json\n".encode()
        + _marked({"done": 1, "memory_peak_bytes": 7})
    )
    log = read_log(raw)
    done = {"done": 1, "memory_peak_bytes": 7}
    assert log.answers == [{"ready": "3.11"}, {"k": 0, "r": {"status": "open"}}, long, done]
    assert log.other == ["Traceback (most recent call last):", f"{BATCH_MARK}{{not json"]


# --- task states and answers -------------------------------------------------------------


class Events:
    def __init__(self) -> None:
        self.answered: list[tuple[Planned, dict[str, Any]]] = []
        self.failed: list[tuple[Planned, str]] = []

    def probe(self, tasks: list[Task]) -> NodeProbe:
        return NodeProbe(
            PLACE,
            tasks,
            lambda pair, result: self.answered.append((pair, result)),
            lambda pair, reason: self.failed.append((pair, reason)),
            "ddiag-probe-r1-n1",
            service_id="svc1",
            created_at=time.monotonic(),
        )


class Swarm:
    """The few calls the prober makes, answered from canned data."""

    def __init__(self, log: bytes = b"") -> None:
        self.log = log
        self.removed: list[str] = []

    def service_logs(self, service: str, **_: Any) -> list[bytes]:
        return [self.log]


def _prober(api: Any) -> tuple[SwarmProber, list[int], list[int]]:
    started: list[int] = []
    peaks: list[int] = []
    prober = SwarmProber(api, "img", "r1", "64m", lambda: started.append(1), peaks.append)
    return prober, started, peaks


def _task(state: str, err: str = "", message: str = "") -> dict[str, Any]:
    return {"ServiceID": "svc1", "Status": {"State": state, "Err": err, "Message": message}}


def test_a_running_task_s_answers_each_end_one_task() -> None:
    tasks = [resolve("tasks.web"), connect("10.0.0.5", 8080), connect("10.0.0.6", 8080)]
    log = _marked(
        {"ready": "3.11"},
        {"k": 1, "r": {"status": "open"}},
        {"k": 1, "r": {"status": "refused"}},  # a repeated line counts once
        {"k": 0, "fail": "no view"},
        {"k": 9, "r": {}},  # not ours
    )
    prober, started, peaks = _prober(Swarm(log))
    events = Events()
    probe = events.probe(tasks)
    prober._poll(probe, _task("running"))
    assert events.answered == [((PLACE, tasks[1]), {"status": "open"})]
    assert events.failed == [((PLACE, tasks[0]), "no view")]
    assert not probe.finished and started == [1]
    prober._poll(probe, _task("running"))
    assert started == [1]  # counted once
    rest = _marked({"k": 2, "r": {"status": "open"}}, {"done": 1, "memory_peak_bytes": 5})
    prober.api = Swarm(log + rest)
    prober._poll(probe, _task("running"))
    assert probe.finished and peaks == [5]
    assert len(events.answered) + len(events.failed) == len(tasks)


@pytest.mark.parametrize(
    ("task", "stderr", "reason"),
    [
        (
            _task("rejected", "No such image: sha256:abc"),
            b"",
            "the probe task did not start: No such image: sha256:abc",
        ),
        (
            _task("pending", "no suitable node (1 node not available for new tasks)"),
            b"",
            "the probe task cannot be placed on its node: no suitable node (1 node not "
            "available for new tasks)",
        ),
        (
            _task("failed", "task: non-zero exit (3)"),
            b"ddiag agent needs python3 >= 3.10, found 3.9.2\n",
            "the probe task did not start: ddiag agent needs python3 >= 3.10, found 3.9.2",
        ),
    ],
)
def test_a_task_that_cannot_run_fails_every_task_with_the_swarm_s_reason(
    task: dict[str, Any], stderr: bytes, reason: str
) -> None:
    prober, _, _ = _prober(Swarm(stderr))
    events = Events()
    tasks = [resolve("web"), resolve("tasks.web")]
    probe = events.probe(tasks)
    prober._poll(probe, task)
    assert events.failed == [((PLACE, t), reason) for t in tasks] and not events.answered


def test_a_task_still_pending_fails_after_the_start_timeout(monkeypatch) -> None:
    prober, _, _ = _prober(Swarm())
    events = Events()
    probe = events.probe([resolve("web")])
    prober._poll(probe, _task("preparing", message="preparing"))
    assert not events.failed
    monkeypatch.setattr(swarm_probe, "START_TIMEOUT_S", 0.0)
    prober._poll(probe, _task("preparing", message="preparing"))
    assert events.failed == [
        (
            (PLACE, resolve("web")),
            "the probe task did not start within 0 s: it is preparing (preparing)",
        )
    ]


# --- the reaper ---------------------------------------------------------------------------


class Leftovers:
    """A swarm manager with probe services and configs of a live run and of a dead one."""

    def __init__(self) -> None:
        live = {PROBE_LABEL: "1", OWNER_LABEL: owner_id(), CREATED_LABEL: str(int(time.time()))}
        dead = live | {CREATED_LABEL: "0"}
        self.objects = {
            "services": [("s-live", live), ("s-dead", dead)],
            "configs": [("c-live", live), ("c-dead", dead)],
        }
        self.removed: list[str] = []

    def _listing(self, kind: str) -> list[dict[str, Any]]:
        found = self.objects[kind]
        return [{"ID": name, "Spec": {"Name": name, "Labels": labels}} for name, labels in found]

    def services(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        return self._listing("services")

    def configs(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        return self._listing("configs")

    def remove_service(self, service_id: str) -> None:
        self.removed.append(service_id)

    def remove_config(self, config_id: str) -> None:
        self.removed.append(config_id)

    def containers(self, **_: Any) -> list[dict[str, Any]]:
        labels = {PROBE_LABEL: "1", CREATED_LABEL: "0", SWARM_SERVICE_LABEL: "s-dead"}
        return [{"Id": "task-container", "Labels": labels, "Names": ["/t"]}]

    def remove_container(self, container_id: str, **_: Any) -> None:
        self.removed.append(container_id)


class Client:
    def __init__(self, api: Any) -> None:
        self.api = api


def test_the_reaper_removes_orphaned_probe_services_then_their_config() -> None:
    api = Leftovers()
    assert remove_probes(Client(api)) == ["s-dead", "c-dead"]  # type: ignore[arg-type]
    assert api.removed == ["s-dead", "c-dead"]  # the task's container is the swarm's


def test_the_reaper_on_an_engine_that_is_no_swarm_manager() -> None:
    class NoSwarm(Leftovers):
        def services(self, filters: dict[str, str]) -> list[dict[str, Any]]:
            raise docker.errors.APIError("503 This node is not a swarm manager")

    assert remove_probes(Client(NoSwarm())) == []  # type: ignore[arg-type]
