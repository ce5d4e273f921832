"""The CLI on the real engine: report contents, options, error paths, probe cleanup."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.integration.stacks import ddiag, probes, running, slow_run, slow_run_with_probes

TOP_LEVEL_KEYS = {
    "schema_version",
    "tool",
    "target",
    "engine",
    "duration_s",
    "checks_run",
    "findings",
    "summary",
    "inconclusive",
    "run",
    "topology",
    "edges",
}


@pytest.fixture(scope="module")
def healthy():
    with running("healthy") as stack:
        yield stack


def test_rich_report_shows_topology_and_summary(healthy) -> None:
    result = ddiag("network", f"{healthy.project}_default", "--no-color")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Topology" in out and f"{healthy.project}_default" in out
    assert f"{healthy.project}-web-1" in out and "10.213.1." in out
    assert "backend" in out  # api's alias is among its DNS names
    assert "[::]:9000" in out  # api listening, read in its netns
    assert "No findings" in out
    assert "\x1b[" not in out


def test_json_follows_schema(healthy) -> None:
    result = ddiag("network", f"{healthy.project}_default", "--format", "json")
    report = json.loads(result.stdout)
    assert set(report) == TOP_LEVEL_KEYS
    assert report["schema_version"] == 1
    assert report["target"] == {
        "kind": "network",
        "names": [f"{healthy.project}_default"],
        "config_files": [],
    }
    assert report["engine"]["api_version"]
    assert "port.app-loopback" in report["checks_run"]
    assert report["summary"] == {"error": 0, "warning": 0, "info": 0}


def test_the_neighbour_tables_are_read_first_and_last(healthy, tmp_path) -> None:
    """host.neighbour-table-full counts the kernel's refusals between two reads: the
    opening one before any other task is answered, the closing one sent after the last
    answer (from the run's own trace)."""
    trace = tmp_path / "trace.json"
    result = ddiag(
        "network", f"{healthy.project}_default", "--format", "json", "--trace", str(trace)
    )
    assert result.returncode == 0, result.stderr
    assert "host.neighbour-table-full" in json.loads(result.stdout)["checks_run"]
    tasks = [s for s in json.loads(trace.read_text())["spans"] if s["name"] == "task"]
    reads = [s for s in tasks if s["kind"] == "neighbour_tables"]
    others = [s for s in tasks if s["kind"] not in ("neighbour_tables", "sysctl")]
    assert len(reads) == 2 and others, tasks
    opening, closing = sorted(reads, key=lambda span: span["start_s"])
    assert opening["start_s"] <= min(span["start_s"] for span in others)
    assert closing["start_s"] >= max(span["end_s"] for span in others)


def test_output_file_fail_on_and_select(tmp_path) -> None:
    with running("loopback-only") as stack:
        net = f"{stack.project}_default"
        out = tmp_path / "report.json"
        result = ddiag("network", net, "--format", "json", "--output", str(out))
        assert result.returncode == 1 and result.stdout == ""
        assert json.loads(out.read_text())["summary"]["error"] == 1
        assert ddiag("network", net, "--fail-on", "never").returncode == 0
        ignored = ddiag("network", net, "--ignore", "port", "--format", "json")
        assert ignored.returncode == 0
        assert not any(c.startswith("port.") for c in json.loads(ignored.stdout)["checks_run"])


def test_engine_unreachable_is_a_clear_error() -> None:
    result = ddiag("network", "anything", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 2
    assert "Cannot reach the Docker engine" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_network_suggests_close_names(engine) -> None:
    network = engine.networks.create("ddiagt-suggest-me", driver="bridge")
    try:
        result = ddiag("network", "ddiagt-sugest-me")
    finally:
        network.remove()
    assert result.returncode == 2
    assert "ddiagt-suggest-me" in result.stderr and "Did you mean" in result.stderr
    assert "Traceback" not in result.stderr


def test_probe_image_without_python_is_a_clear_error(healthy) -> None:
    result = ddiag(
        "network", f"{healthy.project}_default", "--probe-image", "ddiag-test/busybox:latest"
    )
    assert result.returncode == 2
    assert "unusable" in result.stderr and "python3" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_probe_image_is_a_clear_error(healthy) -> None:
    result = ddiag(
        "network",
        f"{healthy.project}_default",
        "--probe-image",
        "ddiag-test/nope:missing",
        "--pull",
        "never",
    )
    assert result.returncode == 2
    assert "ddiag-test/nope:missing is not on this engine" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_run_removes_probes(engine, sig, code) -> None:
    with running("filtered-port") as stack:
        proc = slow_run_with_probes(engine, f"{stack.project}_default")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == code, err
        assert "Traceback" not in err
        assert probes(engine) == []


@pytest.mark.parametrize("delay_s", [0.15, 0.3, 0.4, 0.5, 0.7])
def test_sigterm_at_any_moment_of_the_start_leaves_no_probe(engine, delay_s: float) -> None:
    """The probes are asked for before the imports, taken over by the diagnosis, handed to
    the runner: SIGTERM in any of those steps must remove them (in CI one came while the
    host's firewall was read, after the hand-over and before the runner's own guard, and
    both probes stayed)."""
    with running("filtered-port") as stack:
        proc = slow_run(f"{stack.project}_default")
        time.sleep(delay_s)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err
        assert _settled_probes(engine) == []


def _settled_probes(engine, quiet_s: float = 1.5, limit_s: float = 20.0) -> list:
    """The probes once their list stops changing. The engine finishes a create or start
    request it received before the client died: a probe of a ddiag killed mid-start can
    appear a moment after its death (seen in CI: two probes up "less than a second" after
    `ddiag cleanup` had removed the others). The next ddiag run reaps such late ones too."""
    deadline = time.monotonic() + limit_s
    seen = {p["Id"] for p in probes(engine)}
    quiet_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < quiet_s:
        time.sleep(0.25)
        now = {p["Id"] for p in probes(engine)}
        if now != seen:
            seen, quiet_since = now, time.monotonic()
    return probes(engine)


def test_cleanup_reaps_orphans_of_a_killed_run(engine) -> None:
    with running("filtered-port") as stack:
        proc = slow_run_with_probes(engine, f"{stack.project}_default")
        proc.kill()
        proc.communicate()
        assert _settled_probes(engine), "SIGKILL should leave the probe for the reaper"
        result = ddiag("cleanup")
        assert result.returncode == 0, result.stderr
        assert "removed" in result.stderr
        assert probes(engine) == []


def test_no_probe_left_behind(engine) -> None:
    """Runs last (conftest): the whole suite must not leak a probe."""
    assert probes(engine) == []
