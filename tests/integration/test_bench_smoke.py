"""The benchmark harness at N = 10, once (issue 8): it must run end to end on the real
engine and find the timeouts it planted. No timing is asserted (BENCHMARKS.md has figures)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.integration.stacks import PROBE_IMAGE, ROOT


def test_bench_smoke_runs_and_finds_what_it_planted() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--strict-findings"],
        cwd=ROOT,
        env={**os.environ, "DDIAG_PROBE_IMAGE": PROBE_IMAGE, "DDIAG_PULL": "never"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
