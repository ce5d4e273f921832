"""Connect to the Docker engine the way the docker CLI does, and read it once.

Order: `-c/--context`, else `-H/--host` or `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` /
`DOCKER_CERT_PATH`), else the current docker context (`DOCKER_CONTEXT` or `currentContext` in
the CLI config), else the local socket; the decision is
`diag.engine.endpoint.resolve_endpoint`, ssh:// and tcp+TLS contexts included.
Every way a connection can fail becomes a `DiagError` that says what to do.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import docker
import docker.errors

from diag.engine import engine_host
from diag.engine.bulk_read import EngineReadError, get_many, unix_socket_path
from diag.engine.discover import PROBE_LABEL, swarm_from_inspect, topology_from_inspect
from diag.engine.endpoint import EngineChoice, client_kwargs, resolve_endpoint
from diag.errors import DiagError
from diag.model.targets import gateways
from diag.model.topology import Swarm, Topology

LOG_LINES_OF_STOPPED = 5


def _describe_host(choice: EngineChoice | None) -> str:
    try:
        return resolve_endpoint(os.environ, choice).describe()
    except DiagError:
        return os.environ.get("DOCKER_HOST") or "the local socket"


def connect(choice: EngineChoice | None = None) -> docker.DockerClient:
    """A client for the engine the docker CLI would use (given -H/-c as `choice`), or a
    `DiagError` saying why not."""
    endpoint = resolve_endpoint(os.environ, choice)
    kwargs = client_kwargs(endpoint)
    try:
        client = docker.DockerClient(**kwargs)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DiagError(_unreachable_message(endpoint.describe(), exc)) from None
    return client


def _unreachable_message(where: str, exc: Exception) -> str:
    text = str(exc)
    if "Permission denied" in text or "PermissionError" in text:
        return (
            f"Permission denied on the Docker socket ({where}). Run ddiag as a user in the "
            "'docker' group (sudo usermod -aG docker $USER, then log in again), or with sudo."
        )
    return (
        f"Cannot reach the Docker engine at {where}. Start it (e.g. `sudo systemctl start "
        "docker`), or point DOCKER_HOST or `docker context use` at a running engine. "
        f"Details: {text.splitlines()[0] if text else type(exc).__name__}"
    )


def _logs_tail(client: docker.DockerClient, container_id: str) -> tuple[str, ...]:
    try:
        raw = client.api.logs(container_id, tail=LOG_LINES_OF_STOPPED, timestamps=False)
    except docker.errors.APIError:
        return ()
    return tuple(raw.decode("utf-8", "replace").splitlines())


def _read_swarm(api: docker.APIClient, info: dict[str, Any]) -> Swarm | None:
    """The swarm as this engine knows it: a manager lists nodes, services and the tasks it
    wants running (read after the containers: a container whose task is not among them is
    the swarm's history, see diag.engine.discover); a worker only knows it is one, and so does a
    manager whose cluster state cannot be read (no quorum)."""
    if not (info.get("Swarm") or {}).get("ControlAvailable"):
        return swarm_from_inspect(info)
    try:
        return swarm_from_inspect(
            info, api.nodes(), api.services(), api.tasks(filters={"desired-state": "running"})
        )
    except docker.errors.APIError:  # e.g. 503, the swarm has lost its quorum: facts unknown
        return swarm_from_inspect({"Swarm": {**info["Swarm"], "ControlAvailable": False}})


def read_topology(client: docker.DockerClient, choice: EngineChoice | None = None) -> Topology:
    """One read of the engine: version, networks, every container's inspect, the swarm.
    (`choice`: the -H/-c the client was connected with, to name the engine if it fails.)

    On a host with hundreds of containers the inspects dominate the discovery time: they
    are read in bulk (`_inspect_all`).
    """
    api = client.api
    try:
        version = api.version()
        networks = api.networks()
        summaries = [  # not probes: the topology leaves them out, and the engine makes an
            # inspect of a starting container (this run's own, started early) wait for it
            c
            for c in api.containers(all=True)
            if PROBE_LABEL not in (c.get("Labels") or {})
        ]
        with ThreadPoolExecutor(max_workers=8) as pool:
            info = pool.submit(api.info)
            inspects = [c for c in _inspect_all(client, summaries) if c is not None]
            stopped = [
                c["Id"]
                for c in inspects
                if (c.get("State") or {}).get("Status") != "running"
                and PROBE_LABEL not in ((c.get("Config") or {}).get("Labels") or {})
            ]
            logs = dict(
                zip(stopped, pool.map(_logs_tail, [client] * len(stopped), stopped), strict=True)
            )
            swarm = _read_swarm(api, info.result())
    except (docker.errors.DockerException, EngineReadError) as exc:
        raise DiagError(_unreachable_message(_describe_host(choice), exc)) from None
    topology = topology_from_inspect(version, networks, inspects, logs, swarm)
    addresses, names = engine_host.read(api.base_url, info.result(), gateways(topology))
    engine = replace(topology.engine, host_addresses=addresses, hosts_file_names=names)
    return replace(topology, engine=engine)


def _inspect_all(
    client: docker.DockerClient, summaries: list[dict[str, Any]]
) -> list[dict[str, Any] | None]:
    """Every container's inspect (None: removed since it was listed): over the local socket
    in bulk (diag.engine.bulk_read), else through docker-py a few at a time."""
    socket_path = unix_socket_path(client)
    if socket_path is not None:
        version = client.api.api_version
        return get_many(socket_path, [f"/v{version}/containers/{s['Id']}/json" for s in summaries])
    api = client.api
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(_inspect_or_none, [api] * len(summaries), summaries))


def _inspect_or_none(api: docker.APIClient, summary: dict[str, Any]) -> dict[str, Any] | None:
    """Inspect one container; one removed between list and inspect is simply gone."""
    try:
        return api.inspect_container(summary["Id"])
    except docker.errors.NotFound:
        return None
