"""Probes on the nodes of a swarm: one-task services that the swarm itself places.

ddiag talks to one engine, a manager's, and can attach only to that engine's containers; an
overlay, though, is judged across nodes: from each node, do `service` and `tasks.service`
resolve, and do the tasks on the other nodes answer? For a placement "overlay N on node X"
(CheckContext.node_placement) ddiag has the swarm run the probe there: a replicated service
of one task, constrained to node X, attached to N, running the agent in batch mode
(diag.agent: the request comes in the environment, the answers go to the task's log, which
the manager gathers from every node). The services of a wave are created at once and
watched together; the run's `close()` removes them, and they carry the probe labels, so that
`ddiag cleanup` and the next run's reaper find whatever a killed ddiag left.

The agent travels as a swarm *config*, one per run, mounted into every probe task, and not
in the environment as into local probes (diag.probes.bundle): the swarm copies a service's spec
into each of its tasks, writes the task to the raft log at every state change, lists it
whole in `docker service ps`, and sends it to its node in messages capped at 4 MiB
(moby/swarmkit#2733: past that a node's session with the managers fails). With the agent
in the environment a probe's spec was 486 KB, and a 3-node run made the manager write
27 MB and answer in 5 s; as a config (363 KB, stored once, sent to each node once) the
spec is 1.5 KB, the manager writes 3 MB, and the answers come in 2.4 s.

What a probe task cannot have through the swarm API of Engine 20.10 (API 1.41):
no-new-privileges (API 1.46). It still has every capability dropped but NET_RAW, a read-only
root filesystem, and the memory, CPU and pids limits of local probes.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
from docker.utils import parse_bytes

from diag.agent import AGENT_PACKAGE, BATCH_ENV, BATCH_MARK
from diag.engine.errors import ENGINE_ERRORS
from diag.model.tasks import Placement, Planned, Task
from diag.probes.bundle import agent_zip
from diag.probes.probe import OPEN_FILES, PACKET_CAPS, PROBE_LIMITS, RUN_LABEL, probe_labels

AGENT_PATH = "/ddiag-agent.zip"  # where the config is mounted; zipimport reads it as is
BOOTSTRAP = (
    f"import runpy, sys; sys.path.insert(0, {AGENT_PATH!r}); "
    f"runpy.run_module({AGENT_PACKAGE!r}, run_name='__main__', alter_sys=True)"
)
MAX_PARALLEL_CREATES = 8
POLL_S = 0.25
START_TIMEOUT_S = 90.0  # from create to running: a node may have to pull the probe image
STOP_WAIT_S = 15.0  # close() waits this long for the probe tasks to be gone from the nodes
STOP_GRACE_NS = 1_000_000_000  # the agent stops at SIGTERM; this only bounds a stuck one
# Characters of one DDIAG_BATCH: Linux caps one environment string at 128 KiB.
BATCH_LIMIT = 100_000
REQUEST_OVERHEAD = len(json.dumps({"timeout": 1e9, "tasks": []}))
# Task states after which nothing more comes (docker's api/types/swarm TaskState).
ENDED = frozenset({"complete", "failed", "shutdown", "rejected", "orphaned", "remove"})

OnAnswer = Callable[[Planned, object], None]  # the answer as decoded: parsed by the session
OnFailure = Callable[[Planned, str], None]


def _wire(key: int, task: Task) -> dict[str, Any]:
    return {"k": key} | task.to_wire()


def split(tasks: list[Task], limit: int = BATCH_LIMIT) -> list[list[Task]]:
    """`tasks` in groups whose request fits one environment variable (one service each)."""
    groups: list[list[Task]] = [[]]
    size = REQUEST_OVERHEAD
    for task in tasks:
        item = len(json.dumps(_wire(len(groups[-1]), task))) + 2
        if groups[-1] and size + item > limit:
            groups.append([])
            size = REQUEST_OVERHEAD
            item = len(json.dumps(_wire(0, task))) + 2
        groups[-1].append(task)
        size += item
    return groups


def request(tasks: list[Task], timeout: float) -> dict[str, Any]:
    """The agent's request for `tasks`: each task's key is its index."""
    return {"timeout": timeout, "tasks": [_wire(key, task) for key, task in enumerate(tasks)]}


@dataclass(frozen=True)
class TaskLog:
    """A probe task's log, read: the agent's answers in order, and every other line (what a
    task that failed to start, or an old python3, wrote on stderr)."""

    answers: list[dict[str, Any]]
    other: list[str]


def read_log(raw: bytes) -> TaskLog:
    answers: list[dict[str, Any]] = []
    other: list[str] = []
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        try:
            answer = json.loads(line[len(BATCH_MARK) :]) if line.startswith(BATCH_MARK) else None
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            answers.append(answer)
        else:
            other.append(line)
    return TaskLog(answers, other)


def task_image(api: docker.APIClient, image: str) -> str:
    """How the probe tasks name the probe image: by the manager's repo digest when it came
    from a registry (a node pulls it only if it lacks it, and gets the very same image), else
    by image ID, which nodes never try to pull: a local build is in no registry, and there
    its tag might even name another image."""
    try:
        found = api.inspect_image(image)
    except ENGINE_ERRORS:
        return image  # then the service create says what is wrong with it
    digests: list[str] = found.get("RepoDigests") or []
    repository = image.rpartition(":")[0] if ":" in image.rpartition("/")[2] else image
    named = [ref for ref in digests if ref.partition("@")[0] == repository]
    return (named or digests or [str(found["Id"])])[0]


@dataclass(frozen=True)
class ServiceSettings:
    """What every probe service of a run shares."""

    image: str  # as task_image() names it
    labels: dict[str, str]  # probe_labels() of the run
    config_id: str  # the agent's config
    config_name: str
    memory_bytes: int


def service_spec(
    name: str, placement: Placement, body: dict[str, Any], settings: ServiceSettings
) -> dict[str, Any]:
    """create_service() arguments of the probe of `placement` (NETWORK_ID@NODE_ID) that
    answers the request `body`."""
    network_id, _, node_id = placement.ref.partition("@")
    container = {
        "Image": settings.image,
        "Command": ["python3", "-c", BOOTSTRAP],
        "Env": ["PYTHONDONTWRITEBYTECODE=1", f"{BATCH_ENV}={json.dumps(body)}"],
        "Labels": settings.labels,  # discovery skips probe containers by these
        "ReadOnly": True,
        "CapabilityDrop": ["ALL"],
        "CapabilityAdd": PACKET_CAPS,
        "Ulimits": [{"Name": "nofile", "Soft": OPEN_FILES, "Hard": OPEN_FILES}],
        "StopGracePeriod": STOP_GRACE_NS,
        "Configs": [
            {
                "File": {"Name": AGENT_PATH, "UID": "0", "GID": "0", "Mode": 0o444},
                "ConfigID": settings.config_id,
                "ConfigName": settings.config_name,
            }
        ],
    }
    limits = {
        "MemoryBytes": settings.memory_bytes,
        "NanoCPUs": PROBE_LIMITS["nano_cpus"],
        "Pids": PROBE_LIMITS["pids_limit"],
    }
    return {
        "name": name,
        "labels": settings.labels,
        "task_template": {
            "ContainerSpec": container,
            "Resources": {"Limits": limits},
            "RestartPolicy": {"Condition": "none"},
            "Placement": {"Constraints": [f"node.id=={node_id}"]},
            "Networks": [{"Target": network_id}],
            # readable through the manager whatever the node's default log driver
            "LogDriver": {"Name": "json-file"},
        },
        "mode": {"Replicated": {"Replicas": 1}},
        # no virtual IP taken from the overlay, no IPVS rules on every node for a probe
        "endpoint_spec": {"Mode": "dnsrr"},
    }


@dataclass
class NodeProbe:
    """One probe service: `tasks` to observe from `placement`, each ending in one call of
    `answered` or `failed`."""

    placement: Placement
    tasks: list[Task]
    answered: OnAnswer
    failed: OnFailure
    name: str
    service_id: str = ""
    created_at: float = 0.0
    running: bool = False
    stderr: list[str] = field(default_factory=list)
    settled: set[int] = field(default_factory=set)

    @property
    def finished(self) -> bool:
        return len(self.settled) == len(self.tasks)

    def take(self, answer: dict[str, Any]) -> None:
        """One line of the agent's: an observation, or that a task cannot be observed."""
        key = answer.get("k")
        if not isinstance(key, int) or not 0 <= key < len(self.tasks) or key in self.settled:
            return
        self.settled.add(key)
        pair = (self.placement, self.tasks[key])
        if "fail" in answer:
            self.failed(pair, str(answer["fail"]))
        else:
            self.answered(pair, answer.get("r"))

    def fail_rest(self, reason: str) -> None:
        for key, task in enumerate(self.tasks):
            if key not in self.settled:
                self.settled.add(key)
                self.failed((self.placement, task), reason)


def _state(task: dict[str, Any] | None) -> tuple[str, str, str]:
    """A task's state, its error if it has one, and the swarm's message about it."""
    status = (task or {}).get("Status") or {}
    state = str(status.get("State") or "new")
    return state, str(status.get("Err") or ""), str(status.get("Message") or "")


class SwarmProber:
    """The probe services of one run, created per wave of node placements; `close()`
    removes them all (and the agent's config)."""

    def __init__(
        self,
        api: docker.APIClient,
        image: str,
        run_id: str,
        memory: str,
        on_started: Callable[[], None],
        on_peak: Callable[[int], None],
    ) -> None:
        self.api = api
        self.image = image
        self.run_id = run_id
        self.memory = memory
        self.on_started = on_started
        self.on_peak = on_peak
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._settings: ServiceSettings | None = None
        self._services: list[str] = []
        self._count = 0
        self._used = False

    def dispatch(
        self, planned: list[Planned], timeout: float, answered: OnAnswer, failed: OnFailure
    ) -> None:
        """Observe `planned` (node placements only) in the background: one service per
        placement (more for a huge batch), all created at once."""
        by_placement: dict[Placement, list[Task]] = {}
        for placement, task in planned:
            by_placement.setdefault(placement, []).append(task)
        probes = []
        with self._lock:
            self._used = True
            for placement, tasks in by_placement.items():
                for group in split(tasks):
                    self._count += 1
                    name = f"ddiag-probe-{self.run_id}-n{self._count}"
                    probes.append(NodeProbe(placement, group, answered, failed, name))
        threading.Thread(target=self._run, args=(probes, timeout), daemon=True).start()

    def _run(self, probes: list[NodeProbe], timeout: float) -> None:
        try:
            with ThreadPoolExecutor(max_workers=MAX_PARALLEL_CREATES) as pool:
                list(pool.map(lambda probe: self._create(probe, timeout), probes))
            self._watch(probes)
        except Exception as exc:  # the engine went away, or a bug: a gap, not a hang
            if not self._closed.is_set():  # (else its services are going: said below)
                for probe in probes:
                    probe.fail_rest(str(exc))
        for probe in probes:  # closed before they answered
            probe.fail_rest("the run ended before the probe task answered")

    def _service_settings(self) -> ServiceSettings:
        """Created with the run's first probe service: the agent's config, the image."""
        with self._lock:
            if self._settings is None:
                labels = probe_labels(self.run_id)
                name = f"ddiag-agent-{self.run_id}"
                config = self.api.create_config(name, agent_zip(), labels=labels)
                self._settings = ServiceSettings(
                    task_image(self.api, self.image),
                    labels,
                    config["ID"],
                    name,
                    parse_bytes(self.memory),
                )
            return self._settings

    def _create(self, probe: NodeProbe, timeout: float) -> None:
        if self._closed.is_set():
            return
        try:
            body = request(probe.tasks, timeout)
            created = self.api.create_service(
                **service_spec(probe.name, probe.placement, body, self._service_settings())
            )
        except docker.errors.APIError as exc:
            probe.fail_rest(f"the probe service was not created: {exc.explanation or exc}")
            return
        except ENGINE_ERRORS as exc:
            probe.fail_rest(f"the probe service was not created: the engine: {exc}")
            return
        with self._lock:
            self._services.append(created["ID"])
        probe.service_id = created["ID"]
        probe.created_at = time.monotonic()

    def _tasks(self) -> dict[str, dict[str, Any]]:
        """The newest task of each probe service of this run (by the run's label)."""
        newest: dict[str, dict[str, Any]] = {}
        for task in self.api.tasks(filters={"label": f"{RUN_LABEL}={self.run_id}"}):
            index = (task.get("Version") or {}).get("Index", 0)
            known = newest.get(task.get("ServiceID", ""))
            if known is None or (known.get("Version") or {}).get("Index", 0) < index:
                newest[task.get("ServiceID", "")] = task
        return newest

    def _watch(self, probes: list[NodeProbe]) -> None:
        while not self._closed.is_set():
            live = [probe for probe in probes if not probe.finished]
            if not live:
                return
            tasks = self._tasks()
            for probe in live:
                self._poll(probe, tasks.get(probe.service_id))
            self._closed.wait(POLL_S)

    def _poll(self, probe: NodeProbe, task: dict[str, Any] | None) -> None:
        state, err, message = _state(task)
        if state == "running" and not probe.running:
            probe.running = True
            self.on_started()
        if probe.running or state in ENDED:
            self._read(probe)
        if probe.finished:
            return
        if state in ENDED:
            why = (probe.stderr[-1:] or [err or message or state])[0]
            stage = f"ended ({state})" if probe.running else "did not start"
            probe.fail_rest(f"the probe task {stage}: {why}")
        elif state == "pending" and err:  # the scheduler found no node for it: say so now
            probe.fail_rest(f"the probe task cannot be placed on its node: {err}")
        elif not probe.running and time.monotonic() - probe.created_at > START_TIMEOUT_S:
            probe.fail_rest(
                f"the probe task did not start within {START_TIMEOUT_S:g} s: it is {state}"
                + (f" ({message})" if message else "")
            )

    def _read(self, probe: NodeProbe) -> None:
        """Take every answer in the task's log so far (the log is short: read it whole)."""
        try:
            logs = self.api.service_logs(probe.service_id, stdout=True, stderr=True, is_tty=False)
        except docker.errors.NotFound:  # its service removed under us: the others go on
            probe.fail_rest("the probe service was removed before it answered (ddiag cleanup?)")
            return
        log = read_log(b"".join(logs))
        probe.stderr = log.other
        for answer in log.answers:
            if "done" in answer:
                if isinstance(answer.get("memory_peak_bytes"), int):
                    self.on_peak(answer["memory_peak_bytes"])
                probe.fail_rest("the probe's agent ended without answering")
            else:
                probe.take(answer)

    def close(self) -> None:
        """Remove this run's probe services (those not recorded too, by label), wait a
        little for their tasks to leave the nodes (an overlay with a probe still on it
        cannot be removed), then the agent's config."""
        self._closed.set()
        with self._lock:
            if not self._used:
                return
            known = set(self._services)
        label = {"label": f"{RUN_LABEL}={self.run_id}"}
        try:
            known |= {service["ID"] for service in self.api.services(filters=label)}
            for service_id in known:
                self._remove(self.api.remove_service, service_id)
            deadline = time.monotonic() + STOP_WAIT_S
            while self.api.tasks(filters=label) and time.monotonic() < deadline:
                time.sleep(POLL_S)
            for config in self.api.configs(filters=label):
                self._remove(self.api.remove_config, config["ID"])
        except ENGINE_ERRORS:
            pass  # the engine is gone: the next run's reaper removes what is left

    @staticmethod
    def _remove(remove: Callable[[str], Any], object_id: str) -> None:
        # gone already; or refused, and then the next run's reaper tries again
        with contextlib.suppress(docker.errors.APIError):
            remove(object_id)
