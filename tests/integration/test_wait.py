"""--wait on the real engine: a server that starts 10 s after its container fails a run
made at once, and passes a run that waits for it (compose-fixtures/late-listener)."""

from __future__ import annotations

import json
import time

from tests.integration.stacks import ddiag, running

FAIL_ON = ("--fail-on", "warning")  # a port nobody listens on yet is a warning


def test_a_late_server_fails_at_once_and_passes_with_wait() -> None:
    with running("late-listener") as stack:
        compose = ("compose", "-p", stack.project, "-f", str(stack.directory / "compose.yaml"))
        at_once = ddiag(*compose, *FAIL_ON, "--format", "json")
        assert at_once.returncode == 1, at_once.stderr
        found = {f["check"] for f in json.loads(at_once.stdout)["findings"]}
        assert "port.not-listening" in found
        began = time.monotonic()
        waited = ddiag(
            *compose, *FAIL_ON, "--wait", "30", "--wait-interval", "1", "--format", "json"
        )
        assert waited.returncode == 0, waited.stderr
        assert json.loads(waited.stdout)["findings"] == []
        assert "ddiag: not ready (attempt 1" in waited.stderr  # it said what it waited for
        assert "port.not-listening (api, web, …)" in waited.stderr
        assert "ready at attempt" in waited.stderr
        assert time.monotonic() - began < 30
