"""The probes of one run: which probe observes each placement, started once, fed by line.

Two modes (`--probe-mode`, see SECURITY.md):

- **shared** (default): one probe in the engine host's pid namespace with CAP_SYS_ADMIN and
  CAP_SYS_PTRACE (and nothing else) enters every container's netns itself. Networks that
  must be seen as a fresh peer sees them get a sleeping *anchor* container, whose netns
  the shared probe enters too: one for all the run's user-defined bridges where the
  answer cannot depend on it (diag.probes.bridges), one per network otherwise. The engine host's
  own netns is the probe's parent's (its containerd shim runs where the engine does). A
  bridge-only run of any size costs two container starts, at once.
- **isolated**: one unprivileged probe per placement (a network, or `container:X`).
  Chosen by the user, or by ddiag when the engine refuses the shared probe its namespaces
  (rootless engines, user-namespace remapping).

In both modes a placement on a swarm overlay on some node (kind "node") is observed by a
probe service that the swarm runs on that node (diag.probes.swarm).

Every dispatched task ends in exactly one event, an answer or a failure, so the runner
can always tell when it has everything.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

import docker
import docker.errors

from diag import trace
from diag.agent.view import HOST_PID
from diag.engine.errors import ENGINE_ERRORS
from diag.engine.unix_http import EngineCallError
from diag.errors import DiagError
from diag.model.observations import Answer, parse
from diag.model.tasks import FIRST_STEPS, HOST, Placement, Planned, Task, peer_placement
from diag.model.topology import Network
from diag.probes import bridges
from diag.probes.bundle import agent_payload
from diag.probes.launchpad import Launchpad, new_run_id
from diag.probes.probe import RUN_LABEL, probe_labels
from diag.probes.resident import OUT_OF_MEMORY, Resident
from diag.probes.spec import DEFAULT_MEMORY, SHARED_KEY, create_body, has_agent, probe_name
from diag.probes.swarm import SwarmProber

ProbeMode = Literal["shared", "isolated"]
NETNS_DENIED = "cannot enter its network namespace"
MAX_PARALLEL_STARTS = 8


# How an engine says no to a host pid namespace or added capabilities (rootless engines,
# userns-remap, authorization plugins); other start failures (a memory limit too small
# to start in) would fail isolated probes just the same, so they are not a reason to switch.
REFUSAL_HINTS = ("not permitted", "permission", "namespace", "capabilit", "privilege", "userns")


def _refused(message: str) -> bool:
    return any(hint in message.lower() for hint in REFUSAL_HINTS)


class ProbeUnavailable(Exception):
    """A probe could not be created or started; what it was to observe is inconclusive."""


@dataclass(frozen=True)
class Answered:
    placement: Placement
    task: Task[Any]
    result: Answer


def answered(pair: Planned, raw: object) -> Answered:
    """The agent's answer to a task as it enters ddiag (from a resident probe's stream or a
    swarm task's log): parsed here, once, so that everything after reads a record."""
    return Answered(*pair, parse(pair[1], raw))


@dataclass(frozen=True)
class Unobservable:
    placement: Placement
    task: Task[Any]
    reason: str


@dataclass(frozen=True)
class Fatal:
    error: DiagError


Event = Answered | Unobservable | Fatal
Sink = Callable[[Event], None]


@dataclass(frozen=True)
class Route:
    """Which resident observes a placement, and from which netns (pid 0: its own)."""

    resident_key: str
    pid: int = 0
    container: str = ""
    asked_name: str = ""  # a lookup's name as the bridges anchor asks it (diag.probes.bridges)
    member_of: tuple[str, ...] = ()  # ... and the subnets the asker must have an address in


class ProbeSession:
    """Starts residents on first use and removes every one of them in `close()`."""

    def __init__(
        self,
        client: docker.DockerClient,
        image: str,
        timeout: float,
        pids: Mapping[str, int] | None = None,
        mode: ProbeMode = "shared",
        memory: str = DEFAULT_MEMORY,
        run_id: str = "",
    ) -> None:
        self.api = client.api
        self.image = image
        self.timeout = timeout
        self.pids: Mapping[str, int] = pids or {}  # container id -> State.Pid, for routes
        self.mode: ProbeMode = mode
        self.memory = memory
        self.run_id = run_id or new_run_id()
        self.started = 0
        self.memory_peak: int | None = None
        self._lock = threading.Lock()
        self._residents: dict[str, Future[Resident]] = {}
        self._created: set[str] = set()
        self._pending: dict[int, tuple[Planned, Sink]] = {}
        self._sent_at: dict[int, float] = {}  # task key -> trace.now() when it was sent
        self._by_resident: dict[str, set[int]] = {}
        self._ended: dict[str, tuple[str, bool]] = {}  # resident key -> (why, image unusable)
        self._next_key = 0
        self._bridges: dict[str, Network] = {}  # network id -> network, on the bridges anchor
        self._shared_bridges = False  # the shared probe was launched on them (take_over)
        self._launched: Launchpad | None = None  # the probes taken over, if any
        self._pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL_STARTS)
        self.fallback_reason = ""  # why the shared probe was refused, if it was
        self._swarm = SwarmProber(
            self.api, image, self.run_id, memory, self._count_start, self._record_peak
        )

    def prestart(self) -> None:
        """Start the shared probe now, before anything is asked of it: the CLI calls this
        right after connecting, so that container starts (the largest fixed cost of a run)
        overlap reading the engine and `docker compose config`. Isolated probes start with
        their first task."""
        if self.mode == "shared":
            self._resident("shared", HOST)
        # made meanwhile (0.04 s of CPU), not after the engine has started the probe
        threading.Thread(target=agent_payload, name="ddiag-payload", daemon=True).start()

    def prestart_anchors(self, networks: Sequence[Network]) -> None:
        """Start the anchors of `networks` now: the CLI's guess (diag.engine.early) right after
        `prestart`, the target's networks once the engine is read. The first call with two
        or more networks that may share one (diag.probes.bridges) starts the bridges anchor for
        them; every other network gets an anchor of its own (any not named here: at first
        use)."""
        if self.mode != "shared":
            return
        with self._lock:
            if not self._bridges and bridges.KEY not in self._residents:
                self._bridges = {n.id: n for n in bridges.sharing(networks)}
        if self._bridges:
            self._resident(bridges.KEY, peer_placement(next(iter(self._bridges.values()))))
        for network in networks:
            if network.id not in self._bridges:
                self._resident(f"anchor:{network.id}", peer_placement(network))

    def suits(self, image: str, mode: ProbeMode, memory: str) -> bool:
        """Whether a session started early still fits the run's settings (a compose file's
        x-ddiag may change the probe image, mode or memory)."""
        return (self.image, self.mode, self.memory) == (image, mode, memory)

    # --- routing ---------------------------------------------------------------------

    def _bridged(self, pair: Planned) -> Network | None:
        """The network of `pair`, when the bridges anchor observes it."""
        placement, task = pair
        network = self._bridges.get(placement.ref) if placement.kind == "network" else None
        return network if network is not None and bridges.serves(network, task) else None

    def _anchor_key(self, pair: Planned) -> str:
        return bridges.KEY if self._bridged(pair) else f"anchor:{pair[0].ref}"

    def _residents_for(self, pair: Planned) -> list[str]:
        placement = pair[0]
        if self.mode == "isolated":
            return [f"{placement.kind}:{placement.ref}"]
        if placement.kind != "network":
            return ["shared"]
        key = self._anchor_key(pair)
        # The shared probe as the bridges anchor: one wait, so that the bridges' tasks and
        # the containers' go out in one batch, packet tasks first (FIRST_STEPS); sent
        # apart, the ARP sweeps queued behind 700 other tasks and started 0.1 s late.
        return ["shared"] if key == bridges.KEY and self._shared_bridges else ["shared", key]

    def _route(self, pair: Planned) -> Route:
        placement, task = pair
        if self.mode == "isolated":
            return Route(f"{placement.kind}:{placement.ref}")
        if placement.kind == "netns":
            return Route("shared", self.pids.get(placement.ref, 0), placement.ref)
        if placement.kind == "host":  # the netns of the probe's containerd shim (diag.agent.view)
            return Route("shared", HOST_PID)
        anchor = self._resident(self._anchor_key(pair), placement).result()
        network = self._bridged(pair)
        if network is not None and task.kind == "resolve":
            subnets = tuple(subnet.subnet for subnet in network.subnets)
            return Route(
                "shared", anchor.pid, anchor.id, bridges.asked_name(task, network), subnets
            )
        return Route("shared", anchor.pid, anchor.id)

    # --- residents -------------------------------------------------------------------

    def _resident(self, key: str, placement: Placement) -> Future[Resident]:
        with self._lock:
            if key not in self._residents:
                self._residents[key] = self._pool.submit(self._start, key, placement)
            return self._residents[key]

    @staticmethod
    def _network_mode(key: str, placement: Placement) -> str:
        if key == SHARED_KEY:
            return "none"
        if placement.kind == "host":
            return "host"
        if placement.kind == "network":
            return placement.ref
        return f"container:{placement.ref}"

    def _start(self, key: str, placement: Placement) -> Resident:
        with trace.span("probe start", probe=key.split(":")[0]):
            return self._started(key, placement)

    def _where(self, key: str, placement: Placement) -> str:
        if key == bridges.KEY:
            return "on networks " + ", ".join(n.name for n in self._bridges.values())
        return "the shared probe" if key == SHARED_KEY else placement.describe()

    def _started(self, key: str, placement: Placement) -> Resident:
        where = self._where(key, placement)
        agent = has_agent(key)
        try:
            created = self.api.create_container_from_config(
                create_body(
                    key,
                    self.image,
                    self._network_mode(key, placement),
                    self.memory,
                    probe_labels(self.run_id),
                ),
                probe_name(self.run_id, key),
            )
        except docker.errors.APIError as exc:
            raise ProbeUnavailable(f"probe not created {where}: {exc.explanation}") from None
        except ENGINE_ERRORS as exc:
            raise ProbeUnavailable(f"probe not created {where}: the engine: {exc}") from None
        with self._lock:
            self._created.add(created["Id"])
            joined = [n for n in self._bridges if n != placement.ref] if key == bridges.KEY else []
        try:
            for network_id in joined:  # (placement's network is its network_mode)
                self.api.connect_container_to_network(created["Id"], network_id)
        except docker.errors.APIError as exc:
            raise ProbeUnavailable(f"probe not attached {where}: {exc.explanation}") from None
        except ENGINE_ERRORS as exc:
            raise ProbeUnavailable(f"probe not attached {where}: the engine: {exc}") from None
        resident = Resident(self.api, created["Id"], where)
        try:
            if agent:
                resident.attach()
            resident.start(agent_payload if agent else None)
            return self._serving(key, resident)
        except docker.errors.APIError as exc:
            explanation = str(exc.explanation or exc)
            if "executable file not found" in explanation or "no such file" in explanation:
                raise DiagError(self.unusable("it has no python3 on PATH")) from None
            if resident.exit_reason()[0].startswith(OUT_OF_MEMORY) or self.memory != DEFAULT_MEMORY:
                explanation += f" (its memory limit, DDIAG_PROBE_MEMORY, is {self.memory})"
            raise ProbeUnavailable(f"probe not started {where}: {explanation}") from None
        except ENGINE_ERRORS as exc:
            raise ProbeUnavailable(f"probe not started {where}: the engine: {exc}") from None

    def _serving(self, key: str, resident: Resident) -> Resident:
        """A probe that runs: counted, and its agent's answers read on a thread of their own."""
        self._count_start()
        if has_agent(key):
            threading.Thread(
                target=resident.serve,
                args=(self._on_answer, lambda why, bad: self._on_end(key, why, bad)),
                daemon=True,
            ).start()
        return resident

    def take_over(self, launched: Launchpad) -> None:
        """The probes diag.probes.launchpad asked for before the imports become this
        session's (made with its run id): each is attached and given the agent as soon as
        it runs; one the engine refused is asked for again here, so that its error and any
        fallback (isolated mode) are the session's as usual."""
        with self._lock:
            self._launched = launched
            self._created.update(launched.created())
            self._bridges = {n.id: n for n in launched.bridged}
            for key, (network, launch) in launched.launches.items():
                placement = HOST if network is None else peer_placement(network)
                self._residents[key] = self._pool.submit(
                    self._taken, key, placement, launch, launched
                )
            self._shared_bridges = bool(launched.bridged)
            if launched.bridged:  # the shared probe was launched on those networks
                self._residents[bridges.KEY] = self._pool.submit(
                    self._bridging,
                    launched.launches[SHARED_KEY][1],
                    self._residents[SHARED_KEY],
                    peer_placement(launched.bridged[0]),
                )

    def _bridging(
        self, launch: Future[str], shared: Future[Resident], placement: Placement
    ) -> Resident:
        """The bridges anchor: the shared probe itself, when the engine started it on those
        networks (diag.probes.launchpad); else an anchor of its own, as usual. Routes to it
        enter its namespace like an anchor's (its pid, its container id)."""
        if launch.exception() is None:
            return shared.result()
        return self._start(bridges.KEY, placement)

    def _taken(
        self, key: str, placement: Placement, launch: Future[str], launched: Launchpad
    ) -> Resident:
        try:
            probe_id = launch.result()
        except (EngineCallError, OSError):
            stale = launched.sockets.pop(key, None)
            if stale is not None:
                stale.close()
            if key in launched.ids:  # created, not started: its name is taken until removed
                self._remove(launched.ids[key])
            with self._lock:
                self._created.update(launched.created())  # any other: removed by close()
            return self._start(key, placement)
        with self._lock:
            self._created.add(probe_id)
        resident = Resident(self.api, probe_id, self._where(key, placement))
        resident.started_at = launched.started_at.get(key, trace.now())
        attached = launched.sockets.get(key)
        try:
            if attached is not None:  # and the agent sent
                resident.attached(attached)
                resident.running()
            else:
                if has_agent(key):
                    resident.attach()
                resident.running(agent_payload if has_agent(key) else None)
        except ENGINE_ERRORS as exc:
            raise ProbeUnavailable(f"probe not attached {resident.where}: {exc}") from None
        return self._serving(key, resident)

    def unusable(self, why: str) -> str:
        return (
            f"The probe image {self.image} is unusable: {why}. ddiag needs an image with "
            "python3 >= 3.10 on PATH (nothing else); pass one with --probe-image or "
            "DDIAG_PROBE_IMAGE, e.g. python:3.12-slim or nicolaka/netshoot."
        )

    # --- dispatch and answers ----------------------------------------------------------

    def dispatch(self, planned: list[Planned], sink: Sink) -> None:
        """Observe `planned` in the background; each task ends in one event sent to `sink`."""
        threading.Thread(
            target=self._guarded, args=(self._dispatch, planned, sink), daemon=True
        ).start()

    @staticmethod
    def _guarded(
        work: Callable[[list[Planned], Sink], None], planned: list[Planned], sink: Sink
    ) -> None:
        """Whatever goes wrong while dispatching, no task is left without an event (the run
        would otherwise wait for its deadline); an answer that still comes is kept too."""
        try:
            work(planned, sink)
        except Exception as exc:  # the engine went away, or a bug: a gap, not a hang
            for placement, task in planned:
                sink(Unobservable(placement, task, str(exc)))

    def _dispatch(self, planned: list[Planned], sink: Sink) -> None:
        """Start every probe this wave needs at once, and send each probe its tasks as soon
        as the probes they need are up: a container's netns needs only the shared probe,
        so its observations (and their timeouts) do not wait for the networks' anchors."""
        on_nodes = [pair for pair in planned if pair[0].kind == "node"]
        if on_nodes:  # probes the swarm runs on its nodes, whatever the probe mode
            self._swarm.dispatch(
                on_nodes,
                self.timeout,
                lambda pair, raw: sink(answered(pair, raw)),
                lambda pair, reason: sink(Unobservable(*pair, reason)),
            )
        by_needs: dict[tuple[str, ...], list[Planned]] = {}
        for pair in planned:
            if pair[0].kind != "node":
                by_needs.setdefault(tuple(self._residents_for(pair)), []).append(pair)
        groups = [
            ([self._resident(key, pairs[0][0]) for key in needs], pairs)
            for needs, pairs in by_needs.items()
        ]
        for needed, pairs in groups:
            if all(future.done() for future in needed):
                self._guarded(self._route_and_send, pairs, sink)
            else:
                threading.Thread(
                    target=self._await_and_send, args=(needed, pairs, sink), daemon=True
                ).start()

    def _await_and_send(
        self, needed: list[Future[Resident]], pairs: list[Planned], sink: Sink
    ) -> None:
        wait(needed)
        self._guarded(self._route_and_send, pairs, sink)

    def _route_and_send(self, planned: list[Planned], sink: Sink) -> None:
        """Send tasks whose probes have started (or failed to) to the probes that observe them."""
        by_resident: dict[str, list[tuple[Route, Planned]]] = {}
        unbridged: list[Planned] = []
        for pair in planned:
            try:
                route = self._route(pair)
            except ProbeUnavailable as exc:
                if self._bridged(pair):
                    unbridged.append(pair)
                else:
                    sink(Unobservable(pair[0], pair[1], str(exc)))
                continue
            except DiagError as exc:
                sink(Fatal(exc))
                return
            by_resident.setdefault(route.resident_key, []).append((route, pair))
        if unbridged:  # the bridges anchor could not start: an anchor per network instead
            with self._lock:
                self._bridges = {}
            self._dispatch(unbridged, sink)
        for key, batch in by_resident.items():
            self._send(key, self._resident(key, batch[0][1][0]), batch, sink)

    def _send(
        self, key: str, future: Future[Resident], batch: list[tuple[Route, Planned]], sink: Sink
    ) -> None:
        try:
            resident = future.result()
        except DiagError as exc:
            sink(Fatal(exc))
            return
        except ProbeUnavailable as exc:
            if key == "shared" and self.mode == "shared" and _refused(str(exc)):
                self._fall_back(str(exc), [pair for _, pair in batch], sink)
                return
            for _, (placement, task) in batch:
                sink(Unobservable(placement, task, str(exc)))
            return
        tasks = []
        with self._lock:
            for route, pair in sorted(batch, key=lambda item: FIRST_STEPS[item[1][1].kind]):
                self._next_key += 1
                self._pending[self._next_key] = (pair, sink)
                self._sent_at[self._next_key] = trace.now()
                self._by_resident.setdefault(key, set()).add(self._next_key)
                wire = {"k": self._next_key, "pid": route.pid, "container": route.container}
                wire |= pair[1].to_wire()
                if route.asked_name:
                    wire |= {"target": route.asked_name, "member_of": list(route.member_of)}
                tasks.append(wire)
            ended = self._ended.get(key)
        if ended is not None:  # it died before this batch (e.g. out of memory as it started)
            self._on_end(key, *ended)
            return
        try:
            resident.send({"timeout": self.timeout, "tasks": tasks})
        except OSError as exc:
            self._on_end(key, f"the probe cannot be written to: {exc}", False)

    def _fall_back(self, why: str, planned: list[Planned], sink: Sink) -> None:
        """The engine refused the shared probe: observe with isolated probes instead."""
        self.mode = "isolated"
        self.fallback_reason = why
        self._dispatch(planned, sink)

    def _take(self, key: int) -> tuple[Planned, Sink] | None:
        with self._lock:
            found = self._pending.pop(key, None)
            sent = self._sent_at.pop(key, None)
            if found is not None and sent is not None:
                trace.add("task", sent, trace.now(), kind=found[0][1].kind)
            for keys in self._by_resident.values():
                keys.discard(key)
            return found

    def _on_answer(self, answer: dict[str, Any]) -> None:
        if "done" in answer:
            peak = answer.get("memory_peak_bytes")
            if isinstance(peak, int):
                self._record_peak(peak)
            return
        key = answer.get("k")
        found = self._take(key) if isinstance(key, int) else None
        if found is None:
            return
        (placement, task), sink = found
        if "fail" in answer:
            reason = str(answer["fail"])
            if reason.startswith(NETNS_DENIED) and self.mode == "shared":
                self._fall_back(reason, [(placement, task)], sink)
                return
            sink(Unobservable(placement, task, reason))
        else:
            sink(answered((placement, task), answer.get("r")))

    def _count_start(self) -> None:
        with self._lock:
            self.started += 1

    def _record_peak(self, peak: int) -> None:
        with self._lock:
            self.memory_peak = max(self.memory_peak or 0, peak)

    def _on_end(self, key: str, reason: str, unusable: bool) -> None:
        """The resident `key` is gone: its pending tasks, and any sent to it later (a probe
        started early can die before it is given anything), end with `reason`."""
        with self._lock:
            self._ended[key] = (reason, unusable)
            keys = sorted(self._by_resident.pop(key, set()))
        for number in keys:
            found = self._take(number)
            if found is None:
                continue
            (placement, task), sink = found
            if unusable:
                sink(Fatal(DiagError(self.unusable(reason))))
            else:
                sink(Unobservable(placement, task, reason))

    # --- the end -----------------------------------------------------------------------

    def close(self) -> None:
        """Remove every probe of this run, including one created but not yet recorded."""
        with trace.span("probe removal"):
            self._close()

    def _close(self) -> None:
        self._swarm.close()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._launched is not None:
            # its requests run on its own threads, whether or not a take-over (cancelled
            # above, if it had not begun) waits for them: a probe it creates after the
            # listing below would be left behind (seen in CI, Ctrl-C during the start)
            self._launched.settle()
            with self._lock:
                self._created.update(self._launched.created())
        with self._lock:
            known = set(self._created)
        # The probes recorded are removed at once; the engine is asked meanwhile for any
        # other of this run's (created, but not yet recorded), which follow.
        with ThreadPoolExecutor(max_workers=MAX_PARALLEL_STARTS) as removing:
            removing.map(self._remove, known)
            try:
                labelled = self.api.containers(
                    all=True, filters={"label": f"{RUN_LABEL}={self.run_id}"}
                )
            except ENGINE_ERRORS:
                labelled = []
            removing.map(self._remove, {summary["Id"] for summary in labelled} - known)

    def _remove(self, probe_id: str) -> None:
        # gone already, or the engine is: then the next run's reaper takes it
        with contextlib.suppress(*ENGINE_ERRORS), trace.span("probe removed", probe=probe_id[:12]):
            self.api.remove_container(probe_id, v=True, force=True)
