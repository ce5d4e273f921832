"""Scale (issue 7, item 7): a network with 200 containers is diagnosed correctly within the
deadline, on the real engine.

scale-200 brings up 199 `member` httpd containers (`--scale member=199`), each exposing a
port it listens on, and one `broken` container listening on 127.0.0.1:8000 only. The run
must find exactly that one port.app-loopback, nothing else and nothing inconclusive, within
--deadline. The figures (bring-up, the run's wall time, probes started, the probes' memory
peak when the report has it) are printed (`pytest -s`) and written to /tmp/ddiag-scale.json
for the issue's closing note.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import docker

from tests.integration.stacks import PROBE_IMAGE, probes_of, running

MEMBERS = 199
DEADLINE_S = 120
TIMEOUT_S = 2
FIGURES = Path(os.environ.get("DDIAG_SCALE_FIGURES", "/tmp/ddiag-scale.json"))


def _write(figures: dict[str, Any]) -> None:
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
    print("\nscale figures:", json.dumps(figures, indent=2))


def _diagnose(network: str) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """`ddiag network NETWORK --format json --deadline 120 --timeout 2`: how it ended, its
    wall time and its pid (the owner of its probes)."""
    argv = ["network", network, "--format", "json", "--deadline", str(DEADLINE_S)]
    argv += ["--timeout", str(TIMEOUT_S)]
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "diag", *argv],
        env={**os.environ, "DDIAG_PROBE_IMAGE": PROBE_IMAGE, "DDIAG_PULL": "never"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=DEADLINE_S + 120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    wall = time.monotonic() - started
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), wall, proc.pid


def test_200_containers_on_one_network(engine: docker.DockerClient) -> None:
    figures: dict[str, Any] = {"containers": MEMBERS + 1, "cpus": os.cpu_count()}
    began = time.monotonic()
    with running("scale-200", "--scale", f"member={MEMBERS}") as stack:
        figures["bring_up_s"] = round(time.monotonic() - began, 1)
        network = f"{stack.project}_default"
        attached = len(engine.api.inspect_network(network)["Containers"])
        result, wall, pid = _diagnose(network)
        left = probes_of(engine, pid)
        down_from = time.monotonic()
    figures["bring_down_s"] = round(time.monotonic() - down_from, 1)
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    run = report.get("run", {})
    figures.update(
        ddiag_wall_s=round(wall, 1),
        exit_code=result.returncode,
        duration_s=report.get("duration_s"),
        probes_started=run.get("probes_started"),
        probe_memory_peak_bytes=run.get("probe_memory_peak_bytes"),
        probe_mode=run.get("probe_mode"),
        findings=dict(Counter(f["check"] for f in report.get("findings", []))),
        inconclusive=len(report.get("inconclusive", [])),
    )
    _write(figures)

    assert attached == MEMBERS + 1, f"{attached} containers on {network}"
    assert "Traceback" not in result.stderr, result.stderr
    assert report, f"no report: exit {result.returncode}\n{result.stderr}"
    assert result.returncode == 1, result.stderr
    findings = [(f["check"], f["subjects"]) for f in report["findings"]]
    assert len(findings) == 1, (
        f"{len(findings)} findings, expected only port.app-loopback on broken: "
        f"{figures['findings']}; first: {json.dumps(report['findings'][:1], indent=1)[:3000]}"
    )
    (check, subjects), *_ = findings
    assert check == "port.app-loopback" and "broken" in subjects, findings
    assert report["inconclusive"] == [], report["inconclusive"][:10]
    assert wall < DEADLINE_S, f"{wall:.1f} s"
    assert left == [], "probes left behind"
