"""Probe containers' life cycle: labels, limits, the probe image, and the reaper.

A probe is a container of the probe image that ddiag starts for one run (diag.probes.session says
which ones). It is labelled so that it can always be found again: by its run's `close()` on
success, error, Ctrl-C or SIGTERM, and by the next run's reaper (or `ddiag cleanup`) when a
ddiag was killed outright.

Least privilege: all capabilities dropped (the shared probe adds back exactly two, see
SECURITY.md), no-new-privileges, read-only root filesystem with a small /tmp,
memory/pids/CPU limits, no host mounts. The agent arrives on the probe's stdin and is
unpacked into its tmpfs (see diag.probes.bundle).

docker-py is imported by the functions that call the engine, not by this module: the probes'
labels and limits are read before docker-py is imported (diag.probes.launchpad, issue 19).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diag.engine.discover import PROBE_LABEL
from diag.errors import DiagError

if TYPE_CHECKING:
    import docker

DEFAULT_PROBE_IMAGE = "python:3.12-alpine"
RUN_LABEL = "ddiag.run"
OWNER_LABEL = "ddiag.owner"
CREATED_LABEL = "ddiag.created"
SHELL_LABEL = "ddiag.shell"  # an interactive `ddiag shell`: lives as long as its ddiag does
ORPHAN_AGE_S = 3600
SWARM_SERVICE_LABEL = "com.docker.swarm.service.id"  # on every container of a swarm task
PROBE_LIMITS: dict[str, Any] = {
    "mem_limit": "64m",
    "pids_limit": 128,
    "nano_cpus": 1_000_000_000,
}
OPEN_FILES = 4096  # the agent keeps up to 2048 tasks (sockets) in flight
PACKET_CAPS = ["NET_RAW"]  # ARP sweeps and DF pings (raw sockets); every agent probe has it


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


def _remove_swarm_probes(
    api: docker.APIClient, everything: bool, now: float, hostname: str
) -> list[str]:
    """Probe services on a swarm's nodes and their agent configs (diag.probes.swarm): the
    services first, since a config cannot be removed while a service uses it."""
    import docker.errors

    removed: list[str] = []
    for listing, remove in ((api.services, api.remove_service), (api.configs, api.remove_config)):
        try:
            found = listing(filters={"label": PROBE_LABEL})
        except docker.errors.DockerException:
            return removed  # not a swarm manager (or an engine too old): it has neither
        for summary in found:
            spec = summary.get("Spec") or {}
            if not everything and not is_orphan(spec.get("Labels") or {}, now, hostname):
                continue
            try:
                remove(summary["ID"])
            except docker.errors.APIError:
                continue  # gone already, or a config still in use: the next reaper's
            removed.append(spec.get("Name") or summary["ID"][:12])
    return removed


def remove_probes(
    client: docker.DockerClient,
    everything: bool = False,
    refused: Callable[[str, str], None] | None = None,
) -> list[str]:
    """Remove orphaned probes (or all of them), on a swarm manager also probe services;
    returns the names removed.

    A probe that another ddiag, `ddiag cleanup` or `docker rm` removes at the same time
    (404, or 409 "removal ... already in progress") is simply not ours to count. One whose
    removal the engine refuses for another reason is left to the next reaper, so that a
    stuck leftover never stops a run; `refused(name, why)` hears about it (`ddiag cleanup`
    says so)."""
    import docker.errors

    from diag.engine.errors import describe, lost_race

    api = client.api
    now = time.time()
    hostname = socket.gethostname()
    removed = _remove_swarm_probes(api, everything, now, hostname)
    for summary in api.containers(all=True, filters={"label": PROBE_LABEL}):
        labels = summary.get("Labels") or {}
        if SWARM_SERVICE_LABEL in labels:
            continue  # a probe service's task: the swarm removes it with its service
        if not (everything or is_orphan(labels, now, hostname)):
            continue
        name = (summary.get("Names") or [summary["Id"][:12]])[0].lstrip("/")
        try:
            api.remove_container(summary["Id"], v=True, force=True)
        except docker.errors.APIError as exc:
            if refused is not None and not lost_race(exc):
                refused(name, describe(exc))
            continue
        removed.append(name)
    return removed


def ensure_image(
    client: docker.DockerClient, image: str, progress: Callable[[str], None], pull: bool = True
) -> None:
    """Use the image if it is local; otherwise pull it (if allowed), reporting progress."""
    import docker.errors

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
