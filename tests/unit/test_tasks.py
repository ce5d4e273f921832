"""Task and placement values: the hash they cache, and the order a probe takes them in."""

from __future__ import annotations

import dataclasses
import typing
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

from diag.model.tasks import FIRST_STEPS, HOSTS, LISTENING, Placement, Task, connect, pmtu, resolve
from diag.probes.session import ProbeSession


def test_every_task_kind_has_a_place_in_the_order_a_probe_takes_a_batch_in() -> None:
    kinds = typing.get_args(typing.get_type_hints(Task)["kind"])
    assert set(FIRST_STEPS) == set(kinds)


def test_equal_tasks_and_placements_hash_alike_whatever_their_labels() -> None:
    assert hash(resolve("db")) == hash(resolve("db")) and resolve("db") == resolve("db")
    assert resolve("db") != resolve("db", server="10.0.0.2")  # equality still sees every field
    assert dataclasses.replace(resolve("db"), server="10.0.0.2") == resolve("db", "A", "10.0.0.2")
    same_pings = pmtu(("10.0.0.3", "10.0.0.2"), (1500,)), pmtu(("10.0.0.2", "10.0.0.3"), (1500,))
    assert same_pings[0] == same_pings[1] and hash(same_pings[0]) == hash(same_pings[1])
    first, second = Placement("netns", "abc", "web-1"), Placement("netns", "abc", "renamed")
    assert first == second and hash(first) == hash(second)
    assert {(first, connect("10.0.0.2", 80)): 1}[(second, connect("10.0.0.2", 80))] == 1


class _Resident:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def send(self, request: dict[str, Any]) -> None:
        self.requests.append(request)


def test_a_probe_is_sent_listening_reads_first_then_what_may_wait_then_other_reads() -> None:
    session = ProbeSession(SimpleNamespace(api=None), "image", 2.0)  # type: ignore[arg-type]
    resident = _Resident()
    ready: Future[Any] = Future()
    ready.set_result(resident)
    place = Placement("netns", "abc")
    batch = [
        (session._route((place, task)), (place, task))
        for task in (HOSTS, connect("10.0.0.2", 80), LISTENING, resolve("db"))
    ]
    session._send("shared", ready, batch, lambda event: None)
    kinds = [task["kind"] for task in resident.requests[0]["tasks"]]
    assert kinds == ["listening", "connect", "resolve", "hosts"]
