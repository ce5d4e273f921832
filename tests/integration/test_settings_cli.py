"""Settings (x-ddiag, ddiag.toml, command line), --quiet and progress, and `ddiag shell`,
on the real engine."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time

import docker
import pytest

from tests.integration.stacks import PROBE_IMAGE, ddiag, running


@pytest.fixture(scope="module")
def stack():
    with running("x-ddiag-settings") as found:
        yield found


def _findings(result) -> list[tuple[str, str]]:
    return [(f["check"], f["severity"]) for f in json.loads(result.stdout)["findings"]]


def _shells(engine: docker.DockerClient) -> list:
    """Shell probes on the engine (other runs' probes may come and go meanwhile)."""
    return engine.api.containers(all=True, filters={"label": ["ddiag.probe", "ddiag.shell"]})


def test_x_ddiag_downgrades_a_check_and_raises_fail_on(stack) -> None:
    result = ddiag(*stack.command(), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert _findings(result) == [("port.app-loopback", "info")]
    assert json.loads(result.stdout)["summary"] == {"error": 0, "warning": 0, "info": 1}


def test_command_line_wins_over_x_ddiag(stack) -> None:
    assert ddiag(*stack.command(), "--fail-on", "info").returncode == 1
    result = ddiag(*stack.command(), "--severity", "port.app-loopback=error", "--format", "json")
    assert result.returncode == 1, result.stderr
    assert _findings(result) == [("port.app-loopback", "error")]


def test_ddiag_toml_is_below_x_ddiag(stack, tmp_path) -> None:
    (tmp_path / "ddiag.toml").write_text(
        'fail-on = "never"\n[severity]\n"port.app-loopback" = "error"\n'
    )
    result = ddiag(*stack.command(), "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # x-ddiag: info, fail on warning
    assert _findings(result) == [("port.app-loopback", "info")]
    other = tmp_path / "only-dns.toml"
    other.write_text('select = ["dns"]\n')
    result = ddiag(*stack.command(), "--config", str(other), "--format", "json")
    report = json.loads(result.stdout)
    assert report["findings"] == [] and all(c.startswith("dns.") for c in report["checks_run"])


def test_ddiag_toml_applies_to_network_targets(stack, tmp_path) -> None:
    (tmp_path / "ddiag.toml").write_text('fail-on = "warning"\n[severity]\nport = "warning"\n')
    result = ddiag("network", f"{stack.project}_default", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert _findings(result) == [("port.app-loopback", "warning")]


def test_unknown_x_ddiag_key_is_a_usage_error_naming_key_and_file(stack, tmp_path) -> None:
    bad = tmp_path / "compose.yaml"
    text = (stack.directory / "compose.yaml").read_text()
    bad.write_text(text.replace("  fail-on: warning", "  fail_on: warning"))
    result = ddiag("compose", "-p", stack.project, "-f", str(bad))
    assert result.returncode == 2, result.stderr
    assert "'fail_on'" in result.stderr and str(bad) in result.stderr
    assert "Did you mean 'fail-on'" in result.stderr
    assert "Traceback" not in result.stderr


def _stderr_on_a_terminal(*args: str) -> tuple[int, str, str]:
    """Run ddiag with stderr on a pseudo-terminal (stdout piped): what a person would see."""
    master, slave = pty.openpty()
    env = {**os.environ, "DDIAG_PROBE_IMAGE": PROBE_IMAGE, "DDIAG_PULL": "never"}
    env["TERM"] = "xterm"
    proc = subprocess.Popen(
        [sys.executable, "-m", "diag", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out = proc.stdout.read().decode() if proc.stdout else ""
    return proc.wait(timeout=60), out, seen.decode("utf-8", "replace")


def test_progress_only_on_a_terminal_and_not_with_quiet(stack) -> None:
    network = f"{stack.project}_default"
    code, out, err = _stderr_on_a_terminal("network", network, "--fail-on", "never")
    assert code == 0 and "Topology" in out
    assert "probe" in err.lower(), err
    code, out, err = _stderr_on_a_terminal("network", network, "--fail-on", "never", "--quiet")
    assert code == 0 and "Topology" in out
    assert err.strip() == "", err
    piped = ddiag("network", network, "--fail-on", "never")
    assert piped.returncode == 0 and piped.stderr == ""


def test_no_color_env_and_option_keep_the_report_plain(stack) -> None:
    network = f"{stack.project}_default"
    for extra, env in (([], {"NO_COLOR": "1"}), (["--no-color"], {})):
        result = ddiag("network", network, *extra, env={**env, "FORCE_COLOR": "1"})
        assert "\x1b[" not in result.stdout + result.stderr


def test_shell_on_a_network_runs_piped_commands_and_leaves_nothing(stack, engine) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "diag", "shell", f"{stack.project}_default"],
        input="cat /etc/resolv.conf; grep CapEff /proc/self/status; exit 7\n",
        capture_output=True,
        text=True,
        env={**os.environ, "DDIAG_PROBE_IMAGE": PROBE_IMAGE, "DDIAG_PULL": "never"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 7, result.stderr  # the shell's own exit code
    assert "nameserver 127.0.0.11" in result.stdout  # the embedded DNS of a user network
    assert re.search(r"CapEff:\s+0000000000002000", result.stdout)  # NET_RAW, nothing else
    assert _shells(engine) == []


def test_shell_in_a_container_netns_sees_its_listener(stack, engine) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "diag", "shell", f"container:{stack.project}-api-1"],
        input="cat /proc/net/tcp; exit\n",
        capture_output=True,
        text=True,
        env={**os.environ, "DDIAG_PROBE_IMAGE": PROBE_IMAGE, "DDIAG_PULL": "never"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "0100007F:1F40" in result.stdout  # api's 127.0.0.1:8000, seen from inside its netns
    assert _shells(engine) == []


def test_shell_unknown_target_suggests_close_names(stack) -> None:
    result = ddiag("shell", f"{stack.project}_defualt")
    assert result.returncode == 2
    assert f"Did you mean {stack.project}_default" in result.stderr
    result = ddiag("shell", f"container:{stack.project}-apj-1")
    assert result.returncode == 2
    assert f"{stack.project}-api-1" in result.stderr


def test_shell_container_is_removed_when_ddiag_is_terminated(stack, engine) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "diag", "shell", f"{stack.project}_default"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "DDIAG_PROBE_IMAGE": PROBE_IMAGE, "DDIAG_PULL": "never"},
    )
    deadline = time.monotonic() + 30
    while not _shells(engine) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _shells(engine), "the shell's container never appeared"
    proc.terminate()
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert _shells(engine) == []
