"""Probe containers: create, feed, run, read, and always remove.

A probe is a short-lived container of the probe image that runs the agent at one placement
(attached to a network, or inside a container's network namespace). It is labelled so that
it can always be found again: by this run's `close()` on success, error, Ctrl-C or SIGTERM,
and by the next run's reaper (or `ddiag cleanup`) when a ddiag was killed outright.

Least privilege: all capabilities dropped, no-new-privileges, read-only root filesystem with
a small /tmp, memory/pids/CPU limits, no host mounts. The agent arrives in environment
variables and is unpacked into the probe's tmpfs (see diag.bundle).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import docker
import docker.errors

from diag.agent.__main__ import EXIT_OLD_PYTHON, encode_request
from diag.bundle import BOOTSTRAP, agent_environment
from diag.discover import PROBE_LABEL
from diag.errors import DiagError
from diag.tasks import Placement, Task

DEFAULT_PROBE_IMAGE = "python:3.12-alpine"
RUN_LABEL = "ddiag.run"
OWNER_LABEL = "ddiag.owner"
CREATED_LABEL = "ddiag.created"
SHELL_LABEL = "ddiag.shell"  # an interactive `ddiag shell`: lives as long as its ddiag does
ORPHAN_AGE_S = 3600
PROBE_GRACE_S = 30
PROBE_LIMITS: dict[str, Any] = {
    "mem_limit": "64m",
    "pids_limit": 128,
    "nano_cpus": 1_000_000_000,
}


class ProbeFailed(Exception):
    """One probe could not observe; its tasks are inconclusive, the rest of the run goes on."""


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_orphan(labels: dict[str, str], now: float, hostname: str) -> bool:
    """A probe whose ddiag is gone (same host, dead pid) or that outlived any sane run."""
    try:
        created = float(labels.get(CREATED_LABEL, "0"))
    except ValueError:
        created = 0.0
    host, _, pid = labels.get(OWNER_LABEL, "").rpartition(":")
    if labels.get(SHELL_LABEL) and host == hostname and pid.isdigit() and _pid_alive(int(pid)):
        return False  # a shell may be open for hours; its ddiag removes it on exit
    if now - created > ORPHAN_AGE_S:
        return True
    return host == hostname and pid.isdigit() and not _pid_alive(int(pid))


def probe_labels(run_id: str) -> dict[str, str]:
    """The labels that let this run, the next run's reaper and `ddiag cleanup` find a probe."""
    return {
        PROBE_LABEL: "1",
        RUN_LABEL: run_id,
        OWNER_LABEL: owner_id(),
        CREATED_LABEL: str(int(time.time())),
    }


def remove_probes(client: docker.DockerClient, everything: bool = False) -> list[str]:
    """Remove orphaned probes (or all of them); returns the names removed."""
    api = client.api
    removed = []
    now = time.time()
    hostname = socket.gethostname()
    for summary in api.containers(all=True, filters={"label": PROBE_LABEL}):
        labels = summary.get("Labels") or {}
        if everything or is_orphan(labels, now, hostname):
            try:
                api.remove_container(summary["Id"], v=True, force=True)
            except docker.errors.NotFound:
                continue
            removed.append((summary.get("Names") or [summary["Id"][:12]])[0].lstrip("/"))
    return removed


def ensure_image(
    client: docker.DockerClient, image: str, progress: Callable[[str], None], pull: bool = True
) -> None:
    """Use the image if it is local; otherwise pull it (if allowed), reporting progress."""
    api = client.api
    try:
        api.inspect_image(image)
        return
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise DiagError(f"Cannot inspect probe image {image}: {exc.explanation}") from None
    if not pull:
        raise DiagError(
            f"The probe image {image} is not on this engine and --pull is never. Pull or "
            "build it, or pass --probe-image (or DDIAG_PROBE_IMAGE) naming a local image with "
            "python3 >= 3.10."
        )
    repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    progress(f"Pulling probe image {image} (first run only)")
    try:
        for event in api.pull(repository, tag=tag or "latest", stream=True, decode=True):
            if "error" in event:
                raise docker.errors.APIError(event["error"])
            status = event.get("status", "")
            detail = event.get("progress", "")
            progress(f"Pulling {image}: {status} {detail}".rstrip())
    except docker.errors.APIError as exc:
        raise DiagError(
            f"The probe image {image} is not on this engine and could not be pulled "
            f"({getattr(exc, 'explanation', None) or exc}). Pass --probe-image (or set "
            "DDIAG_PROBE_IMAGE) to a local image with python3 >= 3.10, e.g. python:3.12-slim."
        ) from None


class ProbeSession:
    """The probes of one run. `close()` removes every probe this run created, whatever happened."""

    def __init__(self, client: docker.DockerClient, image: str, timeout: float) -> None:
        self.client = client
        self.image = image
        self.timeout = timeout
        self.run_id = uuid.uuid4().hex[:12]
        self._created: set[str] = set()
        self._lock = threading.Lock()
        self._counter = 0
        self.started = 0

    def _labels(self) -> dict[str, str]:
        return probe_labels(self.run_id)

    def _next_name(self) -> str:
        with self._lock:
            self._counter += 1
            return f"ddiag-probe-{self.run_id}-{self._counter}"

    def _network_mode(self, placement: Placement) -> str:
        return placement.ref if placement.kind == "network" else f"container:{placement.ref}"

    def run(self, placement: Placement, tasks: Iterable[Task]) -> dict[Task, dict[str, Any]]:
        """Run `tasks` at `placement` in one probe; raise ProbeFailed if it cannot observe."""
        task_list = list(dict.fromkeys(tasks))
        request = {
            "timeout": self.timeout,
            "tasks": [{"id": str(i), **task.to_wire()} for i, task in enumerate(task_list)],
        }
        api = self.client.api
        host_config = api.create_host_config(
            network_mode=self._network_mode(placement),
            read_only=True,
            tmpfs={"/tmp": "size=8m,mode=1777"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            **PROBE_LIMITS,
        )
        try:
            created = api.create_container(
                self.image,
                command=["python3", "-c", BOOTSTRAP],
                name=self._next_name(),
                environment={
                    "PYTHONDONTWRITEBYTECODE": "1",
                    "DDIAG_TASKS": encode_request(request),
                    **agent_environment(),
                },
                labels=self._labels(),
                host_config=host_config,
            )
        except docker.errors.APIError as exc:
            raise ProbeFailed(
                f"probe not created {placement.describe()}: {exc.explanation}"
            ) from None
        probe_id = created["Id"]
        with self._lock:
            self._created.add(probe_id)
        try:
            return self._start_and_wait(probe_id, placement, task_list)
        finally:
            self._remove(probe_id)

    def _start_and_wait(
        self, probe_id: str, placement: Placement, task_list: list[Task]
    ) -> dict[Task, dict[str, Any]]:
        api = self.client.api
        try:
            api.start(probe_id)
            self.started += 1
            status = api.wait(probe_id, timeout=self.timeout * 2 + PROBE_GRACE_S)
        except docker.errors.APIError as exc:
            explanation = str(exc.explanation or exc)
            if "executable file not found" in explanation or "no such file" in explanation:
                raise DiagError(self._unusable("it has no python3 on PATH")) from None
            raise ProbeFailed(f"probe failed {placement.describe()}: {explanation}") from None
        except Exception as exc:  # read timeouts from the engine connection
            raise ProbeFailed(f"probe did not finish {placement.describe()}: {exc}") from None
        code = status.get("StatusCode", -1)
        stderr = api.logs(probe_id, stdout=False, stderr=True).decode("utf-8", "replace")
        if code == EXIT_OLD_PYTHON:
            raise DiagError(self._unusable(stderr.strip()))
        if code != 0:
            last = stderr.strip().splitlines()[-1:] or [f"exit code {code}"]
            if code == 137:
                last = ["killed (out of memory or stopped)"]
            raise ProbeFailed(f"probe failed {placement.describe()}: {last[0]}")
        stdout = api.logs(probe_id, stdout=True, stderr=False).decode("utf-8", "replace")
        try:
            results = json.loads(stdout.strip().splitlines()[-1])["results"]
        except (ValueError, IndexError, KeyError):
            raise ProbeFailed(f"probe answered garbage {placement.describe()}") from None
        return {task: results.get(str(i), {"status": "error"}) for i, task in enumerate(task_list)}

    def _unusable(self, why: str) -> str:
        return (
            f"The probe image {self.image} is unusable: {why}. ddiag needs an image with "
            "python3 >= 3.10 on PATH (nothing else); pass one with --probe-image or "
            "DDIAG_PROBE_IMAGE, e.g. python:3.12-slim or nicolaka/netshoot."
        )

    def _remove(self, probe_id: str) -> None:
        try:
            self.client.api.remove_container(probe_id, v=True, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError:
            return  # keep it in _created: close() tries again
        with self._lock:
            self._created.discard(probe_id)

    def close(self) -> None:
        """Remove every probe of this run, including one created but not yet recorded."""
        with self._lock:
            known = set(self._created)
        try:
            labelled = self.client.api.containers(
                all=True, filters={"label": f"{RUN_LABEL}={self.run_id}"}
            )
            known |= {summary["Id"] for summary in labelled}
        except docker.errors.DockerException:
            pass
        for probe_id in known:
            self._remove(probe_id)
