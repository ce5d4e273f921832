"""Measure ddiag against the runbook way and the floor on generated stacks (issue 8).

    python -m bench.run                        # N = 10, 50, 200; 5 repetitions; timeout 2 s
    python -m bench.run --sizes 10,50 --repeat 3
    python -m bench.run --smoke                # CI: N = 10 once, no timing claims

Three things are timed on the same stacks, with the same per-connect timeout:

- **ddiag**: `ddiag compose -p P -f FILE` and `ddiag network NET...` (all 4 networks), JSON;
  exit code 1 is expected (the planted timeouts are findings);
- **baseline**, the runbook way: for each source container, in series, one
  `docker run --rm --network container:SRC <probe image> python3 -c ...` doing that source's
  DNS lookups and TCP connects one after another, each connect with the same timeout;
- **floor**: one `docker run --rm <probe image> python3 -c pass`, plus one timeout: what any
  tool that starts one probe and waits out one timeout must pay.

Why interleaved: the machine's load drifts (other containers, CPU frequency, page cache), and
a ratio of two figures taken minutes apart measures the drift as well. So all stacks are up
together and every repetition runs every (N, method) pair in a freshly shuffled order; the
figures are medians over repetitions.

Why os.wait4: it returns the rusage of exactly that child (ru_maxrss, KiB on Linux), which
covers ddiag and the children it waited for (e.g. `docker compose config`). ddiag's own peak
(VmHWM) is sampled from /proc as well, so a heavy helper cannot hide inside the first figure.

Stacks are always torn down (`docker compose down -v --remove-orphans`), on success, error,
Ctrl-C and SIGTERM, unless `--keep` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import analysis
from bench.stack import MAX_SLOT, PROJECT_PREFIX, READY_MARK, Stack, generate
from diag.agent import neighbours

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DEFAULT_IMAGE = "ddiag-test/python3:bookworm"
RUN_LABEL = "ddiagbench.run"
ALL_METHODS = tuple(dict.fromkeys(analysis.METHODS + analysis.HEALTHY_METHODS))
BRING_UP_TIMEOUT_S = 900
COMMAND_TIMEOUT_S = 1800  # one measured command; generous: baseline at N = 200 is minutes

# The runbook's probe script: the source's lookups and connects, one after another, as a
# person pasting `getent hosts X; nc -zw T X PORT` per dependency would. stdlib only.
BASELINE_SCRIPT = """\
import json, socket, sys, time
timeout, refs = float(sys.argv[1]), json.loads(sys.argv[2])
out = []
for host, port in refs:
    start = time.monotonic()
    try:
        addr = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    except OSError:
        out.append([host, port, "dns-failed", round(time.monotonic() - start, 3)])
        continue
    try:
        socket.create_connection((addr, port), timeout=timeout).close()
        result = "ok"
    except TimeoutError:
        result = "timeout"
    except ConnectionRefusedError:
        result = "refused"
    except OSError as error:
        result = type(error).__name__
    out.append([host, port, result, round(time.monotonic() - start, 3)])
print(json.dumps(out))
"""


class Interrupted(Exception):
    """SIGTERM, turned into an exception so that `finally` tears the stacks down."""


@dataclass
class Timed:
    """One child process, timed and measured."""

    argv: list[str]
    wall_s: float
    exit_code: int
    rss_tree_kib: int | None  # wait4's ru_maxrss: the child and the children it reaped
    rss_self_kib: int | None  # VmHWM of the child process itself, sampled from /proc
    stdout: str
    stderr: str


@dataclass
class Measurement:
    """One (N, method, repetition) data point, as stored in the results JSON."""

    n: int
    method: str
    rep: int
    ok: bool
    wall_s: float
    exit_code: int | None = None
    rss_tree_kib: int | None = None
    rss_self_kib: int | None = None
    probes_started: int | None = None
    probe_memory_peak_bytes: int | None = None
    ddiag_duration_s: float | None = None
    findings_by_check: dict[str, int] = field(default_factory=dict)
    findings_same_as_first: bool | None = None
    planted: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    healthy: bool = False  # a stack where nothing times out (issue 19)
    # the kernel refused neighbour entries meanwhile (None: its counters not readable)
    neighbour_overflow: bool | None = None
    trace_phases: dict[str, list[list[float]]] = field(default_factory=dict)  # ddiag --trace


def _vm_hwm(pid: int, stop: threading.Event, peak: list[int]) -> None:
    """Sample the child's VmHWM (its own high-water RSS, monotonic) until it exits."""
    path = f"/proc/{pid}/status"
    while not stop.is_set():
        try:
            with open(path) as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(line.split()[1]))
                        break
        except (OSError, ValueError):
            return
        stop.wait(0.02)


def _stop(proc: subprocess.Popen, terminated: bool) -> None:
    """Let an interrupted child clean up (ddiag removes its probes on SIGINT and SIGTERM).

    On Ctrl-C the terminal already sent SIGINT to the child: a second one could cut its
    cleanup short, so it gets time first. On SIGTERM nobody told the child: tell it."""
    signals = [signal.SIGTERM] if terminated else [None, signal.SIGINT]
    for sig in [*signals, signal.SIGKILL]:
        if sig is not None:
            with suppress(ProcessLookupError):
                proc.send_signal(sig)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
            return


def timed(argv: Sequence[str], env: dict[str, str] | None = None) -> Timed:
    """Run ARGV to completion: wall time, exit code, peak RSS. Output goes through files,
    not pipes, so a large report never blocks the child while we sit in wait4."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, env=env)
        stop, peak = threading.Event(), [0]
        sampler = threading.Thread(target=_vm_hwm, args=(proc.pid, stop, peak), daemon=True)
        sampler.start()
        # A hung child is asked to stop (SIGINT: ddiag removes its probes), not abandoned.
        watchdog = threading.Timer(COMMAND_TIMEOUT_S, proc.send_signal, (signal.SIGINT,))
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException as error:
            _stop(proc, terminated=isinstance(error, Interrupted))
            raise
        finally:
            watchdog.cancel()
            stop.set()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
        out.seek(0)
        err.seek(0)
        return Timed(
            argv=list(argv),
            wall_s=wall,
            exit_code=proc.returncode,
            rss_tree_kib=usage.ru_maxrss or None,
            rss_self_kib=peak[0] or None,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def _docker(*args: str, timeout: float = 600, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=check
    )


@dataclass
class Deployed:
    """A stack that is (being) up, and where its compose file lives."""

    stack: Stack
    file: Path
    bring_up_s: float | None = None

    def compose(
        self, *args: str, timeout: float = BRING_UP_TIMEOUT_S
    ) -> subprocess.CompletedProcess:
        return _docker(
            "compose", "-p", self.stack.project, "-f", str(self.file), *args, timeout=timeout
        )


def _ready_count(deployed: Deployed) -> int:
    logs = deployed.compose("logs", "--no-color", "--no-log-prefix", timeout=120)
    return logs.stdout.count(READY_MARK)


def bring_up(deployed: Deployed) -> None:
    """Up, then wait until every container printed READY_MARK (listeners bound and the
    filtered accept queues full): `--wait` alone only means "running"."""
    deployed.compose("down", "-v", "--remove-orphans")  # leftovers of a killed run
    start = time.monotonic()
    up = deployed.compose("up", "-d", "--wait", "--wait-timeout", str(BRING_UP_TIMEOUT_S))
    if up.returncode != 0:
        raise RuntimeError(f"compose up failed for {deployed.stack.project}:\n{up.stderr[-2000:]}")
    want = len(deployed.stack.services)
    while (ready := _ready_count(deployed)) < want:
        project = deployed.stack.project
        exited = _docker(
            "ps", "-a", "--format", "{{.Names}}",
            "--filter", f"label=com.docker.compose.project={project}",
            "--filter", "status=exited",
        ).stdout.split()  # fmt: skip
        if exited:
            tail = _docker("logs", "--tail", "5", exited[0])
            logs = (tail.stdout + tail.stderr).strip()
            raise RuntimeError(f"{project}: {len(exited)} exited, e.g. {exited[0]}: {logs}")
        if time.monotonic() - start > BRING_UP_TIMEOUT_S:
            raise RuntimeError(f"{project}: only {ready}/{want} ready")
        time.sleep(0.5)
    deployed.bring_up_s = time.monotonic() - start


@dataclass
class Teardown:
    """What `down` left behind: containers are a problem (ours, still running); a network
    without containers that the engine will not delete is a warning (see tear_down)."""

    problem: str | None = None
    warning: str | None = None


def tear_down(deployed: Deployed) -> Teardown:
    """Remove the stack, its volumes and networks.

    Docker 20.10 sometimes keeps a network's endpoint count above zero after every container
    on it is gone ("has active endpoints"), until dockerd restarts. That is the engine's
    bookkeeping, not something of ours still running, and compose reuses the network (same
    name and labels) next time; so it is reported as a warning, not as a failed run."""
    project = deployed.stack.project
    down = deployed.compose("down", "-v", "--remove-orphans", "-t", "1")
    if down.returncode != 0:
        time.sleep(3)  # endpoints are released asynchronously after container removal
        down = deployed.compose("down", "-v", "--remove-orphans", "-t", "1")
    label = f"label=com.docker.compose.project={project}"
    left = _docker("ps", "-aq", "--filter", label).stdout.split()
    if left:
        return Teardown(problem=f"{len(left)} containers of {project} left: {left[:5]}")
    if down.returncode == 0:
        return Teardown()
    networks = _docker("network", "ls", "-q", "--filter", label).stdout.split()
    if not networks:
        return Teardown(problem=f"compose down failed for {project}: {down.stderr[-500:]}")
    names = _docker("network", "inspect", "--format", "{{.Name}}", *networks).stdout.split()
    return Teardown(
        warning=f"the engine kept network(s) {names} of {project} with no container on them "
        "(a stale endpoint count: dockerd bookkeeping, cleared by a dockerd restart; compose "
        "reuses them on the next run)"
    )


def remove_probes_of_run(run_id: str) -> None:
    """Baseline/floor containers of this run still present after an interrupt."""
    left = _docker("ps", "-aq", "--filter", f"label={RUN_LABEL}={run_id}").stdout.split()
    if left:
        _docker("rm", "-f", *left)


# ---- the four methods -------------------------------------------------------------------


def _findings(doc: dict[str, Any]) -> list[str]:
    """A comparable signature of the findings: check id and subjects, sorted."""
    return sorted(f"{f['check']} {','.join(f.get('subjects', []))}" for f in doc["findings"])


def _count(findings: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding["check"]] = counts.get(finding["check"], 0) + 1
    return dict(sorted(counts.items()))


def _ports_named(finding: dict[str, Any]) -> set[int]:
    """Ports a finding names: "... to 10.213.150.5:8000 (svc-3) timed out" gives {8000}."""
    text = f"{finding.get('summary')} {(finding.get('evidence') or {}).get('probe')}"
    return {int(p) for p in re.findall(r"\d:(\d{1,5})\b", text)}


def _unplanted_errors(stack: Stack, doc: dict[str, Any]) -> list[str]:
    """Error findings the stack did not plant: anything but `port.filtered`, and any
    `port.filtered` on a port that serves (a false timeout, e.g. from an overloaded probe)."""
    planted = stack.filtered_endpoints
    out = []
    for f in doc["findings"]:
        if f["severity"] != "error":
            continue
        subjects = f.get("subjects", [])
        if f["check"] == "port.filtered" and any(
            (service, port) in planted for service in subjects[:1] for port in _ports_named(f)
        ):
            continue
        out.append(f"{f['check']} {','.join(subjects)}: {f.get('summary', '')}"[:300])
    return sorted(out)


def _errors_field(stack: Stack, doc: dict[str, Any]) -> dict[str, Any]:
    """The count of unplanted errors and the first few (the file stays small at N = 200)."""
    errors = _unplanted_errors(stack, doc)
    return {"other_errors_count": len(errors), "other_errors": errors[:20]}


def _planted_compose(stack: Stack, doc: dict[str, Any]) -> dict[str, Any]:
    """Did `ddiag compose` explain every planted timeout on the edges, and report no error
    the stack did not plant?"""
    failing = {
        (e["source"], e["target"], e["port"]): e["check"]
        for e in doc.get("edges", [])
        if e.get("check")
    }
    planted = {(r.source, r.target, r.port) for r in stack.references if stack.is_filtered(r)}
    return {
        "planted_references": len(planted),
        "found": sum(key in failing for key in planted),
        "found_as_filtered": sum(failing.get(key) == "port.filtered" for key in planted),
        "unexpected_failing_edges": sorted(
            f"{s}->{t}:{p} {c}" for (s, t, p), c in failing.items() if (s, t, p) not in planted
        ),
        **_errors_field(stack, doc),
        "edges": len(doc.get("edges", [])),
    }


def _planted_network(stack: Stack, doc: dict[str, Any]) -> dict[str, Any]:
    """Did `ddiag network` report a `port.filtered` naming every slow service and port, and
    no error the stack did not plant?"""
    filtered = [f for f in doc["findings"] if f["check"] == "port.filtered"]

    def covered(service: str, port: int) -> bool:
        return any(
            service in f.get("subjects", [])[:1] and port in _ports_named(f) for f in filtered
        )

    planted = sorted(stack.filtered_endpoints)
    return {
        "planted_endpoints": len(planted),
        "found": sum(covered(s, p) for s, p in planted),
        "missed": sorted(f"{s}:{p}" for s, p in planted if not covered(s, p)),
        **_errors_field(stack, doc),
    }


class Runner:
    """Runs the methods; remembers the first findings per (N, command) to compare later."""

    def __init__(
        self,
        ddiag: list[str],
        image: str,
        timeout: float,
        run_id: str,
        reports: Path | None = None,
    ) -> None:
        self.ddiag = ddiag
        self.reports = reports
        self.image = image
        self.timeout = timeout
        self.run_id = run_id
        self.first_findings: dict[tuple[int, str, bool], list[str]] = {}
        self.env = dict(os.environ, DDIAG_PROBE_IMAGE=image, DDIAG_PULL="never", NO_COLOR="1")
        # --trace (issue 19); a ddiag from before it (--ddiag, to compare) is timed without
        help_text = subprocess.run(
            [*ddiag, "network", "--help"], capture_output=True, text=True, env=self.env
        ).stdout
        self.traces = "--trace" in help_text

    def ddiag_run(self, deployed: Deployed, method: str, rep: int) -> Measurement:
        stack = deployed.stack
        if method == "ddiag_compose":
            args = ["compose", "-p", stack.project, "-f", str(deployed.file)]
        else:
            args = ["network", *stack.networks]
        with tempfile.TemporaryDirectory(prefix="ddiagbench-trace-") as traces:
            trace = Path(traces) / "trace.json"
            argv = [*self.ddiag, *args, "--format", "json", "--timeout", f"{self.timeout:g}"]
            result = timed([*argv, "--trace", str(trace)] if self.traces else argv, self.env)
            phases = analysis.phases(json.loads(trace.read_text())) if trace.exists() else {}
        m = Measurement(
            n=stack.n,
            method=method,
            rep=rep,
            ok=False,
            wall_s=result.wall_s,
            exit_code=result.exit_code,
            rss_tree_kib=result.rss_tree_kib,
            rss_self_kib=result.rss_self_kib,
            healthy=stack.healthy,
            trace_phases=phases,
        )
        if result.exit_code not in (0, 1):
            m.error = f"exit {result.exit_code}: {result.stderr.strip()[-1500:]}"
            return m
        try:
            doc = json.loads(result.stdout)
        except json.JSONDecodeError as error:
            m.error = f"no JSON report ({error}): {result.stderr.strip()[-500:]}"
            return m
        if self.reports:
            self.reports.mkdir(parents=True, exist_ok=True)
            (self.reports / f"n{stack.n}-{method}-rep{rep}.json").write_text(result.stdout)
        run = doc.get("run") or {}
        m.ok = True
        m.probes_started = run.get("probes_started")
        m.probe_memory_peak_bytes = run.get("probe_memory_peak_bytes")
        m.ddiag_duration_s = doc.get("duration_s")
        m.findings_by_check = _count(doc["findings"])
        signature = _findings(doc)
        first = self.first_findings.setdefault((stack.n, method, stack.healthy), signature)
        m.findings_same_as_first = signature == first
        if method == "ddiag_compose":
            m.planted = _planted_compose(stack, doc)
        else:
            m.planted = _planted_network(stack, doc)
        return m

    def baseline(self, deployed: Deployed, rep: int) -> Measurement:
        """One `docker run --network container:SRC` per source, in series, as a runbook."""
        stack = deployed.stack
        results: dict[str, int] = {}
        errors: list[str] = []
        start = time.perf_counter()
        for service in stack.services:
            if not service.references:
                continue
            refs = json.dumps([[r.target, r.port] for r in service.references])
            argv = [
                "docker", "run", "--rm", "--pull", "never",
                "--label", f"{RUN_LABEL}={self.run_id}",
                "--network", f"container:{stack.container(service.name)}",
                self.image, "python3", "-c", BASELINE_SCRIPT, f"{self.timeout:g}", refs,
            ]  # fmt: skip
            done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
            if done.returncode != 0:
                errors.append(f"{service.name}: exit {done.returncode} {done.stderr[-300:]}")
                continue
            for _host, _port, outcome, _secs in json.loads(done.stdout):
                results[outcome] = results.get(outcome, 0) + 1
        wall = time.perf_counter() - start
        filtered = sum(stack.is_filtered(r) for r in stack.references)
        return Measurement(
            n=stack.n,
            method="baseline",
            rep=rep,
            ok=not errors,
            wall_s=wall,
            planted={
                "planted_references": filtered,
                "outcomes": results,
                "timeouts_match_planted": results.get("timeout", 0) == filtered,
            },
            error="; ".join(errors)[:2000] or None,
        )

    def floor(self, deployed: Deployed, rep: int, method: str = "floor") -> Measurement:
        """One probe start, plus one timeout on a stack where something times out (`floor`;
        on a healthy stack, `probe_start`, nothing waits for one). Measured once per
        (stack, repetition) although it does not depend on N: the same drift that touches
        the others touches it. The probe joins one of the stack's networks, as ddiag's
        probes do (an endpoint and a veth are part of a probe's start), and never the
        default bridge, which a host may lack."""
        stack = deployed.stack
        argv = [
            "docker", "run", "--rm", "--pull", "never",
            "--label", f"{RUN_LABEL}={self.run_id}",
            "--network", stack.networks[0],
            self.image, "python3", "-c", "pass",
        ]  # fmt: skip
        result = timed(argv)
        return Measurement(
            n=stack.n,
            method=method,
            rep=rep,
            ok=result.exit_code == 0,
            wall_s=result.wall_s + (0 if stack.healthy else self.timeout),
            exit_code=result.exit_code,
            error=None if result.exit_code == 0 else result.stderr[-500:],
            healthy=stack.healthy,
        )

    def measure(self, deployed: Deployed, method: str, rep: int) -> Measurement:
        before = neighbour_overflows()
        if method in analysis.DDIAG_METHODS:
            m = self.ddiag_run(deployed, method, rep)
        elif method == "baseline":
            m = self.baseline(deployed, rep)
        else:
            m = self.floor(deployed, rep, method)
        after = neighbour_overflows()
        if before is not None and after is not None:
            m.neighbour_overflow = after > before
        return m


def neighbour_overflows() -> int | None:
    """How many neighbour entries the kernel has refused since boot because its table was
    full (`table_fulls` of /proc/net/stat/arp_cache and ndisc_cache, read as the agent reads
    them for host.neighbour-table-full; None where they cannot be read: not the initial
    namespace). The table is one for every namespace, 1024 entries by default
    (gc_thresh3); past it the kernel drops packets, and a connect times out as if
    filtered: a run during an overflow measures the machine, not ddiag."""
    refused = 0
    for name in neighbours.TABLES:
        try:
            with open(f"/proc/net/stat/{name}", encoding="ascii") as handle:
                refused += neighbours.table_stats(handle.read())["table_fulls"]
        except FileNotFoundError:
            continue  # no IPv6 in this kernel
        except (OSError, ValueError):
            return None
    return refused


# ---- machine, results, table ------------------------------------------------------------


def _read(path: str) -> str | None:
    with suppress(OSError), open(path) as handle:
        return handle.read().strip()
    return None


def _first_line(path: str, prefix: str) -> str | None:
    with suppress(OSError), open(path) as handle:
        for line in handle:
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    return None


def machine() -> dict[str, Any]:
    """What the figures depend on: cores, CPU, memory, kernel, engine, versions."""
    version = _docker("version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}")
    engine, _, api = version.stdout.strip().partition(" ")
    compose = _docker("compose", "version", "--short").stdout.strip()
    mem_kib = (_first_line("/proc/meminfo", "MemTotal") or "").split()
    mem = f"{int(mem_kib[0]) / 2**20:.1f} GiB" if mem_kib and mem_kib[0].isdigit() else None
    git = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu": _first_line("/proc/cpuinfo", "model name"),
        "memory": mem,
        "kernel": platform.release(),
        "os": platform.platform(),
        "engine": engine or None,
        "api_version": api or None,
        "compose": compose or None,
        "python": platform.python_version(),
        "neigh_gc_thresh3": _read("/proc/sys/net/ipv4/neigh/default/gc_thresh3"),
        "ddiag_commit": git or None,
    }


def print_table(result: dict[str, Any], smoke: bool) -> None:
    an = result["analysis"]
    rows = [analysis.TABLE_HEADER, *analysis.table_rows(an)]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    print()
    for i, row in enumerate(rows):
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print()
    healthy = [analysis.HEALTHY_HEADER, *analysis.healthy_rows(an)]
    if len(healthy) > 1:
        widths = [max(len(str(r[i])) for r in healthy) for i in range(len(healthy[0]))]
        print("healthy stacks (issue 19):")
        for row in healthy:
            print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
        print()
    if smoke:
        print("smoke run: one repetition at N = 10, no timing claims")
    else:
        for row in an["targets"] + an["healthy"]["targets"]:
            print(f"  [{row['verdict']:>6}] {row['target']}: {analysis.fmt_value(row)}")
    print()
    stacks = [("", result["stacks"]), ("healthy ", result["healthy_stacks"])]
    for kind, n, stack in ((k, n, s) for k, found in stacks for n, s in found.items()):
        up = stack.get("bring_up_s")
        print(
            f"  {kind}N = {n}: bring-up {f'{up:.1f} s' if up else 'not completed'}, "
            f"{stack['references']} references, {len(stack['filtered_endpoints'])} filtered "
            f"endpoints ({stack['filtered_references']} references)"
        )


def _note(m: Measurement) -> str:
    """One line on the findings of a run, for the progress output."""
    p = m.planted
    if m.method == "ddiag_compose":
        return (
            f"ok  planted {p.get('found')}/{p.get('planted_references')} references, "
            f"{p.get('other_errors_count')} errors not planted"
        )
    if m.method == "ddiag_network":
        return (
            f"ok  planted {p.get('found')}/{p.get('planted_endpoints')} endpoints, "
            f"{p.get('other_errors_count')} errors not planted"
        )
    if m.method == "baseline":
        outcomes = p.get("outcomes") or {}
        return f"ok  timeouts {outcomes.get('timeout', 0)}/{p.get('planted_references')}"
    return "ok"


def _planted_problems(m: Measurement) -> list[str]:
    """Findings that do not match what the stack planted (for --strict-findings)."""
    p = m.planted
    if m.method == "ddiag_compose" and (
        p.get("found") != p.get("planted_references")
        or p.get("unexpected_failing_edges")
        or p.get("other_errors_count")
    ):
        return [
            f"N={m.n} rep {m.rep} ddiag compose: {p.get('found')}/{p.get('planted_references')}"
            f" planted found, {len(p.get('unexpected_failing_edges') or [])} unexpected failing"
            f" edges, {p.get('other_errors_count')} errors not planted"
        ]
    if m.method == "ddiag_network" and (p.get("missed") or p.get("other_errors_count")):
        return [
            f"N={m.n} rep {m.rep} ddiag network: missed {p.get('missed')}, "
            f"{p.get('other_errors_count')} errors not planted"
        ]
    if m.method == "baseline" and not p.get("timeouts_match_planted"):
        return [f"N={m.n} rep {m.rep} baseline: outcomes {p.get('outcomes')}"]
    return []


# ---- main -------------------------------------------------------------------------------


def _ddiag_command(given: str | None) -> list[str]:
    """The ddiag next to this Python (the checkout's venv), else on PATH, else `-m diag`."""
    if given:
        return [given]
    beside = Path(sys.executable).parent / "ddiag"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("ddiag")
    return [found] if found else [sys.executable, "-m", "diag"]


def _described(deployed: Iterable[Deployed]) -> dict[str, Any]:
    return {str(d.stack.n): {**d.stack.describe(), "bring_up_s": d.bring_up_s} for d in deployed}


def _methods(stack: Stack, args: argparse.Namespace) -> list[str]:
    """The methods asked for that apply to STACK: on a healthy one, ddiag and one probe
    start (no baseline: nothing waits for a timeout, so the runbook's cost is its starts)."""
    kind = analysis.HEALTHY_METHODS if stack.healthy else analysis.METHODS
    return [method for method in kind if method in args.methods]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark ddiag against the runbook way and the floor (issue 8).",
    )
    parser.add_argument("--sizes", default="10,50,200", help="stack sizes N (default 10,50,200)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--timeout", type=float, default=2.0, help="per connect (default 2)")
    parser.add_argument("--seed", type=int, default=8, help="stack generator seed (default 8)")
    parser.add_argument(
        "--smoke", action="store_true", help="N = 10, one repetition, no timing claims (CI)"
    )
    parser.add_argument("--keep", action="store_true", help="leave the stacks up afterwards")
    parser.add_argument(
        "--strict-findings",
        action="store_true",
        help="also fail when the findings do not match the planted timeouts",
    )
    parser.add_argument(
        "--healthy-sizes",
        default="50,200",
        help="sizes N of healthy stacks, where nothing times out (issue 19; default 50,200; "
        "'' for none)",
    )
    parser.add_argument(
        "--methods",
        default=",".join(ALL_METHODS),
        help="subset of " + ",".join(ALL_METHODS) + " (each stack runs those of its kind)",
    )
    parser.add_argument("--probe-image", default=os.environ.get("DDIAG_PROBE_IMAGE", DEFAULT_IMAGE))
    parser.add_argument("--ddiag", help="the ddiag executable (default: the venv's)")
    parser.add_argument(
        "--output", type=Path, help="results JSON (default bench/results/latest.json, smoke.json)"
    )
    parser.add_argument(
        "--reports", type=Path, help="also save every ddiag JSON report in this directory"
    )
    parser.add_argument(
        "--prefix",
        default=PROJECT_PREFIX,
        help=f"compose project name prefix (default {PROJECT_PREFIX}): another one, and other "
        "--slot-offset, keep two benchmarks on one engine apart",
    )
    parser.add_argument(
        "--slot-offset",
        type=int,
        default=0,
        help=f"first subnet slot (0..{MAX_SLOT}); stacks take consecutive slots",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.healthy_sizes, args.repeat = "10", "10", 1
    args.sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    args.healthy_sizes = [int(s) for s in str(args.healthy_sizes).split(",") if s.strip()]
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(args.methods) - set(ALL_METHODS)
    if unknown:
        parser.error(f"unknown methods: {sorted(unknown)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    stacks = len(args.sizes) + len(args.healthy_sizes)
    if args.slot_offset + stacks - 1 > MAX_SLOT or args.slot_offset < 0:
        parser.error(f"subnet slots {args.slot_offset}.. exceed 0..{MAX_SLOT}")
    if args.output is None:
        args.output = RESULTS / ("smoke.json" if args.smoke else "latest.json")
    return args


@contextmanager
def sigterm_as_exception() -> Iterator[None]:
    """SIGTERM (CI cancel, `kill`) takes the same path as Ctrl-C: through `finally`."""

    def handler(signum: int, frame: object) -> None:
        raise Interrupted(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    run_id = uuid.uuid4().hex[:12]
    runner = Runner(
        _ddiag_command(args.ddiag), args.probe_image, args.timeout, run_id, args.reports
    )
    workdir = Path(tempfile.mkdtemp(prefix="ddiagbench-"))
    deployed: list[Deployed] = []
    measurements: list[Measurement] = []
    problems: list[str] = []
    warnings: list[str] = []
    started = datetime.now(timezone.utc)
    interrupted = False
    with sigterm_as_exception():
        try:
            kinds = [(n, False) for n in args.sizes] + [(n, True) for n in args.healthy_sizes]
            for slot, (n, healthy) in enumerate(kinds, start=args.slot_offset):
                stack = generate(n, args.seed, slot, healthy, args.prefix)
                d = Deployed(stack, stack.write(workdir / stack.project))
                deployed.append(d)
                print(f"bringing up {stack.project} ({n} containers) ...", flush=True)
                bring_up(d)
                print(f"  ready in {d.bring_up_s:.1f} s", flush=True)
            for rep in range(args.repeat):
                order = [(d, method) for d in deployed for method in _methods(d.stack, args)]
                random.Random(f"{args.seed}:{rep}").shuffle(order)
                for d, method in order:
                    m = runner.measure(d, method, rep)
                    measurements.append(m)
                    mark = _note(m) if m.ok else f"FAILED: {m.error}"
                    kind = "healthy" if m.healthy else ""
                    print(
                        f"rep {rep + 1}/{args.repeat}  N={d.stack.n:<4} {kind:<7} {method:<14} "
                        f"{m.wall_s:7.2f} s  {mark}",
                        flush=True,
                    )
                    if not m.ok:
                        problems.append(f"N={m.n} rep {rep} {method}: {m.error}")
                    elif args.strict_findings:
                        problems.extend(_planted_problems(m))
        except (KeyboardInterrupt, Interrupted) as error:
            interrupted = True
            problems.append(f"interrupted ({str(error) or 'Ctrl-C'})")
            print("\ninterrupted: tearing the stacks down ...", file=sys.stderr, flush=True)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as error:
            problems.append(str(error))
            print(f"error: {error}", file=sys.stderr, flush=True)
        finally:
            # A second Ctrl-C must not leave 200 containers behind: ignore it while cleaning.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                remove_probes_of_run(run_id)
                for d in deployed:
                    if args.keep:
                        print(f"kept {d.stack.project}: docker compose -p {d.stack.project} down")
                        continue
                    outcome = tear_down(d)
                    if outcome.problem:
                        problems.append(outcome.problem)
                    if outcome.warning:
                        warnings.append(outcome.warning)
                if not args.keep:
                    shutil.rmtree(workdir, ignore_errors=True)
            finally:
                signal.signal(signal.SIGINT, previous)

    result: dict[str, Any] = {
        "schema": 1,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "smoke": args.smoke,
        "settings": {
            "sizes": args.sizes,
            "healthy_sizes": args.healthy_sizes,
            "repeat": args.repeat,
            "timeout_s": args.timeout,
            "seed": args.seed,
            "probe_image": args.probe_image,
            "methods": args.methods,
            "ddiag": runner.ddiag,
        },
        "machine": machine(),
        "stacks": _described(d for d in deployed if not d.stack.healthy),
        "healthy_stacks": _described(d for d in deployed if d.stack.healthy),
        "measurements": [asdict(m) for m in measurements],
        "problems": problems,
        "warnings": warnings,
        "interrupted": interrupted,
    }
    result["analysis"] = analysis.analyse(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result, args.smoke)
    print(f"\nresults: {args.output}")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
