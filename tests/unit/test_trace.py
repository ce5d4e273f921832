"""diag.trace: spans on one clock, in seconds since the process started (issue 19)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from diag import trace


def _named(name: str) -> list[dict]:
    return [span for span in trace.document()["spans"] if span["name"] == name]


def test_spans_are_seconds_since_the_process_started(tmp_path: Path) -> None:
    trace.since_start("test: since start")
    with trace.span("test: block", probe="shared"):
        pass
    (first,) = _named("test: since start")
    (block,) = _named("test: block")
    # pytest has run for a while: the process is older than this span's end, and the
    # interpreter's start is the origin of every span
    assert first["start_s"] == 0.0 and first["end_s"] > 0
    assert first["end_s"] <= block["start_s"] <= block["end_s"]
    assert block["probe"] == "shared" and block["thread"] == threading.current_thread().name
    trace.write(tmp_path / "t.json")
    written = json.loads((tmp_path / "t.json").read_text())
    assert written["ddiag_trace"] == trace.FORMAT
    assert [s["start_s"] for s in written["spans"]] == sorted(
        s["start_s"] for s in written["spans"]
    )


def test_a_block_that_raises_is_recorded_too() -> None:
    with pytest.raises(ValueError), trace.span("test: raised"):
        raise ValueError
    assert len(_named("test: raised")) == 1


def test_spans_measured_elsewhere_keep_their_times() -> None:
    start = trace.now()
    trace.add("test: added", start, start + 0.25, kind="connect")
    (added,) = _named("test: added")
    assert added["end_s"] - added["start_s"] == pytest.approx(0.25, abs=1e-3)
    assert added["kind"] == "connect"
