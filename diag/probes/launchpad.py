"""The shared probe and the guessed anchors, asked for over the engine's unix socket before
docker-py is imported (issue 19).

On a healthy run the anchors' start, their ARP sweeps' grace and their removal follow one
another on the critical path, so every tenth of a second before the first request counts;
importing docker-py and the probe session took 0.13 s of it. Here the requests are the
Engine API's own (diag.probes.spec, the same bodies the session sends through docker-py),
on the standard library's HTTP client, each probe on a thread of its own: create, join the
extra networks (the bridges anchor), attach to an agent's stdio (as `docker attach` does),
start, and send the agent (diag.probes.bundle). The probe session takes the probes and the
attached sockets over once it exists (`ProbeSession.take_over`); what an agent printed
meanwhile waits in its socket.

Every probe asked for is removed by whoever ends up owning it: the session that took it
over, or `remove()` (the diagnosis did not adopt it: a bad option, other settings, Ctrl-C
while importing). `remove()` waits for the requests still on their way, so a probe created
while it runs is not left behind; a ddiag killed outright leaves it to the next reaper.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from diag import trace
from diag.engine.unix_http import EngineCallError, UnixConnection, attach, call, path
from diag.model.topology import Network
from diag.probes import bridges
from diag.probes.bundle import agent_payload
from diag.probes.probe import RUN_LABEL, probe_labels
from diag.probes.spec import ANCHOR_PREFIX, SHARED_KEY, create_body, has_agent, probe_name

MAX_PARALLEL = 4
REMOVE_TIMEOUT_S = 30.0


def new_run_id() -> str:
    """A run's id: in every probe's name and label (diag.probes.probe)."""
    return uuid.uuid4().hex[:12]


class Launchpad:
    """The probes one run asked for before the imports, by key (as ProbeSession keys them)."""

    def __init__(self, socket_path: str, image: str, memory: str) -> None:
        self.socket_path = socket_path
        self.image = image
        self.memory = memory
        self.run_id = new_run_id()
        # key -> (the network an anchor stands for; None: the shared probe, its launch)
        self.launches: dict[str, tuple[Network | None, Future[str]]] = {}
        self.started_at: dict[str, float] = {}  # key -> trace.now() when start was asked
        self.bridged: list[Network] = []  # the networks the bridges anchor joins
        self.sockets: dict[str, socket.socket] = {}  # key -> an agent's attached stdio
        self.ids: dict[str, str] = {}  # key -> the id of the probe created for it
        self._created: list[str] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL, thread_name_prefix="launch")

    def _connection(self) -> UnixConnection:
        return UnixConnection(self.socket_path)

    def image_is_local(self) -> bool:
        """Whether the engine has the probe image (raises EngineCallError if it cannot say)."""
        connection = self._connection()
        try:
            return call(connection, "GET", path("/images/{}/json", self.image)) is not None
        finally:
            connection.close()

    def launch(self, networks: Sequence[Network]) -> None:
        """The shared probe, and an anchor for each of `networks`. When some of them may
        share the bridges anchor (diag.probes.bridges), the shared probe joins them itself
        and is that anchor: one container to start and to remove instead of two, which
        took 0.1 s off each end of a healthy run on two cores (issue 19). It observes
        those networks from its own namespace as it would from the anchor's."""
        self.bridged = bridges.sharing(networks)
        if self.bridged:
            first, *others = self.bridged
            self._launch(SHARED_KEY, None, first.id, [n.id for n in others])
        else:
            self._launch(SHARED_KEY, None, "none", [])
        # made while the engine creates and starts it (0.04 s of CPU)
        threading.Thread(target=agent_payload, name="ddiag-payload", daemon=True).start()
        for network in networks:
            if network not in self.bridged:
                self._launch(ANCHOR_PREFIX + network.id, network, network.id, [])

    def _launch(self, key: str, network: Network | None, mode: str, joined: list[str]) -> None:
        self.launches[key] = (network, self._pool.submit(self._started, key, mode, joined))

    def _started(self, key: str, network_mode: str, joined: list[str]) -> str:
        """Create, join, start: the probe's id, or EngineCallError saying what was refused."""
        with trace.span("probe start", probe=key.split(":")[0]):
            connection = self._connection()
            try:
                body = create_body(
                    key, self.image, network_mode, self.memory, probe_labels(self.run_id)
                )
                where = path("/containers/create?name={}", probe_name(self.run_id, key))
                created = call(connection, "POST", where, body)
                probe_id = str((created or {}).get("Id") or "")
                if not probe_id:
                    raise EngineCallError(f"POST {where}: no container id in the answer")
                with self._lock:
                    self._created.append(probe_id)
                    self.ids[key] = probe_id
                if has_agent(key):  # before the start, as the session attaches
                    self.sockets[key] = attach(self.socket_path, probe_id)
                for network_id in joined:
                    call(
                        connection,
                        "POST",
                        path("/networks/{}/connect", network_id),
                        {"Container": probe_id},
                    )
                self.started_at[key] = trace.now()
                call(connection, "POST", path("/containers/{}/start", probe_id))
                if key in self.sockets:  # if it died before reading, the session says why
                    with contextlib.suppress(OSError):
                        self.sockets[key].sendall(agent_payload())
                return probe_id
            finally:
                connection.close()

    def created(self) -> list[str]:
        """The ids of the probes created so far (some may not have started)."""
        with self._lock:
            return list(self._created)

    def settle(self) -> None:
        """Wait for the requests on their way (a create the engine is still answering)."""
        self._pool.shutdown(wait=True)

    def remove(self) -> None:
        """Remove every probe asked for, once the requests on their way have ended; and any
        other of this run's the engine has (a create whose answer was lost)."""
        self.settle()
        for sock in self.sockets.values():
            sock.close()
        connection = self._connection()
        try:
            labelled = call(
                connection,
                "GET",
                "/containers/json?all=1&filters="
                + path("{}", json.dumps({"label": [f"{RUN_LABEL}={self.run_id}"]})),
            )
            found = {str(summary.get("Id")) for summary in labelled or []}
        except EngineCallError:
            found = set()
        try:
            for probe_id in dict.fromkeys([*self.created(), *sorted(found)]):
                try:
                    call(connection, "DELETE", path("/containers/{}?force=1&v=1", probe_id))
                except EngineCallError:
                    continue  # gone already, or the engine is: the next run's reaper takes it
        finally:
            connection.close()


class UnixReads:
    """The reads of diag.engine.early's guesses, over the unix socket (see EngineReads)."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path

    def _get(self, where: str) -> Any:
        connection = UnixConnection(self.socket_path)
        try:
            found = call(connection, "GET", where)
        finally:
            connection.close()
        if found is None:
            raise EngineCallError(f"GET {where}: not found", 404)
        return found

    def inspect_network(self, net_id: str) -> dict[str, Any]:
        return dict(self._get(path("/networks/{}", net_id)))

    def networks(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        listed = {name: [v] if isinstance(v, str) else v for name, v in (filters or {}).items()}
        query = "?filters=" + path("{}", json.dumps(listed)) if listed else ""  # as docker-py
        return list(self._get("/networks" + query))

    def inspect_container(self, container: str) -> dict[str, Any]:
        return dict(self._get(path("/containers/{}/json", container)))
