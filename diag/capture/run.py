"""One live capture: the probe session, the capture task and the target's listening sockets.

The capture task goes to the source's netns placement; in shared mode the shared probe also
enters the target's namespace for it (`also`). In isolated mode a probe sees only the
namespace it stands in, so only the source side is captured, and the report says so. The
target's listening sockets are read in the same dispatch: the packets show a reset, the
sockets say whether nothing listens or the server listens on loopback only.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import docker

from diag.capture.plan import CapturePlan
from diag.errors import DiagError
from diag.model.observations import CaptureAnswer, ListeningAnswer
from diag.model.tasks import LISTENING, Placement, Planned, capture
from diag.probes.session import Answered, Event, Fatal, ProbeMode, ProbeSession, Unobservable

WAIT_MARGIN_S = 60.0  # probe start, the agent's own bounds, the frames' way back


@dataclass(frozen=True)
class Settings:
    count: int = 3
    seconds: float = 10.0
    timeout: float = 2.0
    passive: bool = False
    send: str = ""
    bulk: int = 0
    max_packets: int = 1000
    max_bytes: int = 2 << 20
    snaplen: int = 1024


@dataclass(frozen=True)
class Captured:
    answer: CaptureAnswer
    listeners: tuple[tuple[str, int], ...] | None
    target_captured: bool
    mode: str


ESCAPES = {"\\r": "\r", "\\n": "\n", "\\t": "\t", "\\\\": "\\"}


def unescape(text: str) -> str:
    """--send's \\r, \\n, \\t and \\\\ as the characters (a shell passes them literally);
    nothing else is touched, non-ASCII text included."""
    return re.sub(r"\\[rnt\\]", lambda m: ESCAPES[m.group(0)], text)


def _placement(container_id: str, name: str) -> Placement:
    return Placement("netns", container_id, name)


def run_capture(
    client: docker.DockerClient, image: str, plan: CapturePlan, settings: Settings, mode: ProbeMode
) -> Captured:
    target = plan.target if plan.target is not None and plan.target.running else None
    pids = {plan.source.id: plan.source.pid, **({target.id: target.pid} if target else {})}
    also = [{"pid": target.pid, "container": target.id}] if target and mode == "shared" else []
    task = capture(
        plan.name,
        plan.port,
        plan.allow,
        dns=plan.dns,
        count=settings.count,
        seconds=settings.seconds,
        passive=settings.passive,
        send=unescape(settings.send),
        bulk=settings.bulk,
        hosts=plan.filter_hosts(),
        ports=plan.filter_ports(),
        max_packets=settings.max_packets,
        max_bytes=settings.max_bytes,
        snaplen=settings.snaplen,
        also=also,
    )
    source_at = _placement(plan.source.id, plan.source.name)
    planned: list[Planned] = [(source_at, task)]
    target_at = _placement(target.id, target.name) if target else None
    if target_at is not None:
        planned.append((target_at, LISTENING))
    events: list[Event] = []
    done = threading.Event()
    lock = threading.Lock()

    def sink(event: Event) -> None:
        with lock:
            events.append(event)
            if len(events) == len(planned) or isinstance(event, Fatal):
                done.set()

    session = ProbeSession(client, image, settings.timeout, pids=pids, mode=mode)
    try:
        session.dispatch(planned, sink)
        if not done.wait(settings.seconds + WAIT_MARGIN_S):
            raise DiagError("the probe did not answer in time: no capture")
    finally:
        session.close()
    return _captured(events, source_at, target_at, bool(also), session.mode)


def _captured(
    events: list[Event], source_at: Placement, target_at: Placement | None, both: bool, mode: str
) -> Captured:
    answer: CaptureAnswer | None = None
    listeners: tuple[tuple[str, int], ...] | None = None
    for event in events:
        if isinstance(event, Fatal):
            raise event.error
        if isinstance(event, Unobservable) and event.placement == source_at:
            raise DiagError(f"cannot capture in {source_at.label}'s netns: {event.reason}")
        result = event.result if isinstance(event, Answered) else None
        if isinstance(result, CaptureAnswer):
            answer = result
        elif isinstance(result, ListeningAnswer) and result.status == "ok":
            listeners = tuple((s.address, s.port) for s in result.sockets)
    if answer is None:
        raise DiagError("the probe gave no capture")
    if answer.status != "ok":
        raise DiagError(f"the capture failed in the probe: {answer.detail}")
    captured_target = both and target_at is not None and not answer.not_captured
    return Captured(answer, listeners, captured_target, mode)
