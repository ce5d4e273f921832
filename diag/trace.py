"""Where a run's time goes (issue 19): named spans, written to a file when asked.

A healthy run costs about as much as a few container starts, and which of its steps
overlap decides what it costs: the engine read runs while the probes start, the report is
made while the probes are removed. A profiler shows one thread at a time; this shows every
step on one clock, so that a user can see on their own machine what `--trace FILE` (or
`DDIAG_TRACE=FILE`) shows on ours, and the benchmark can chart it (bench/plot.py).

Times are seconds since the ddiag process started, read from the kernel
(/proc/self/stat, in clock ticks: 10 ms resolution), so that the interpreter's own start
and the imports, which happen before any of ddiag's code runs, are counted too.

Spans are always recorded (a few thousand tuples at most: one per task) and written only
when a file is given, so no code path differs between a traced run and an untraced one.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FORMAT = 1


def _process_age() -> float:
    """Seconds since this process started (0.0 where /proc cannot tell)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
        return max(time.clock_gettime(time.CLOCK_BOOTTIME) - started, 0.0)
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


# time.monotonic() at the moment the process started
_ORIGIN = time.monotonic() - _process_age()
_lock = threading.Lock()
_spans: list[tuple[str, float, float, str, dict[str, Any]]] = []


def now() -> float:
    """The clock of every span (time.monotonic)."""
    return time.monotonic()


def add(name: str, start: float, end: float, **detail: Any) -> None:
    """Record a span measured by the caller (`start`, `end`: from `now()`)."""
    with _lock:
        _spans.append((name, start, end, threading.current_thread().name, detail))


def since_start(name: str, **detail: Any) -> None:
    """Record a span from the process's start to now (the interpreter and the imports)."""
    add(name, _ORIGIN, now(), **detail)


@contextmanager
def span(name: str, **detail: Any) -> Iterator[None]:
    """Record the time the block takes (also when it raises)."""
    start = now()
    try:
        yield
    finally:
        add(name, start, now(), **detail)


def document() -> dict[str, Any]:
    """Every span so far, in seconds since the process started, sorted by start."""
    with _lock:
        spans = sorted(_spans, key=lambda s: (s[1], s[2]))
    return {
        "ddiag_trace": FORMAT,
        "clock": "seconds since the ddiag process started (10 ms resolution at 0)",
        "written_at_s": round(now() - _ORIGIN, 4),
        "spans": [
            {
                "name": name,
                "start_s": round(start - _ORIGIN, 4),
                "end_s": round(end - _ORIGIN, 4),
                "thread": thread,
                **detail,
            }
            for name, start, end, thread, detail in spans
        ],
    }


def write(path: Path) -> None:
    """Write the trace to `path` as JSON (an unwritable path is the caller's error)."""
    path.write_text(json.dumps(document(), indent=1) + "\n")
