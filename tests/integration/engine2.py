"""A second, private Docker engine for the tests that must hurt an engine.

Killing the shared engine would break every other user of it, so a test that needs an engine
to die mid-run starts its own `dockerd` here, with its own data root, exec root (and so its
own managed containerd), socket and pid file under one directory, a bridge of its own and no
iptables rules, and loads the local test images into it (no registry is needed). The test
owns that engine: it may kill it, restart it, and tears it down at the end, which stops the
daemon, ends the containerd and shims this engine started (by pid, found by their command
line naming this engine's directory), unmounts what the daemon left mounted and removes the
directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

BASE = Path(os.environ.get("DDIAG_E2_DIR", "/tmp/ddiag-e2"))
START_TIMEOUT_S = 60
# `--bridge none` makes dockerd delete docker0 at start (moby removes the default bridge
# interface when told to use none), which is the *first* engine's bridge on a shared host.
# So the second engine gets a bridge of its own, made here and removed at teardown.
BRIDGE = "ddiage2br0"
BRIDGE_ADDRESS = "10.213.127.1/24"
STOP_TIMEOUT_S = 30
BUILTIN_NETWORKS = {"bridge", "host", "none"}


class EngineUnavailable(Exception):
    """The second engine could not be started here; the test should be skipped."""


@dataclass
class SecondEngine:
    """A dockerd of the test's own, reachable at `host` (a unix socket under `base`)."""

    base: Path = BASE
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def socket(self) -> Path:
        return self.base / "docker.sock"

    @property
    def host(self) -> str:
        """The DOCKER_HOST value for this engine."""
        return f"unix://{self.socket}"

    @property
    def log(self) -> Path:
        return self.base / "dockerd.log"

    def _argv(self) -> list[str]:
        """The dockerd command: its own files under `base`, its socket, its networking."""
        return [
            "dockerd",
            "--config-file",
            str(self.base / "daemon.json"),
            "--data-root",
            str(self.base / "data"),
            "--exec-root",
            str(self.base / "exec"),
            "--pidfile",
            str(self.base / "dockerd.pid"),
            "-H",
            self.host,
            *self._network_argv(),
        ]

    def _network_argv(self) -> list[str]:
        """A bridge of its own and no iptables rules (see BRIDGE)."""
        return ["--bridge", BRIDGE, "--iptables=false", "--ip-masq=false"]

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, timeout=30)

    def answers(self) -> bool:
        try:
            client = self.client()
            try:
                return bool(client.ping())
            finally:
                client.close()
        except docker.errors.DockerException:
            return False
        except OSError:
            return False

    def start(self) -> None:
        """Start (or restart) the daemon and wait until it answers; EngineUnavailable if it
        cannot start here (no dockerd, not root, or it does not come up)."""
        if shutil.which("dockerd") is None:
            raise EngineUnavailable("no dockerd binary on PATH")
        if os.geteuid() != 0:
            raise EngineUnavailable("a second dockerd needs root")
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "daemon.json").write_text("{}\n")
        _make_bridge()
        self._await_old_containerd()
        self._launch(self._argv())

    def _launch(self, argv: list[str]) -> None:
        """Run `argv` (a dockerd, maybe behind a wrapper) and wait until it answers; stop it
        and raise EngineUnavailable, with its log's tail, when it does not come up."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # not in the test's process group: no stray Ctrl-C
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.answers():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.25)
        tail = self.log.read_text(errors="replace").splitlines()[-15:]
        self._stop_daemon()
        raise EngineUnavailable("the dockerd did not come up:\n" + "\n".join(tail))

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send `sig` to the daemon (SIGKILL: a crash) and wait for it to be gone."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def cli(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """The docker CLI against this engine."""
        return subprocess.run(
            ["docker", "-H", self.host, *args],
            input=stdin,
            capture_output=True,
            check=False,
            timeout=300,
        )

    def load_images(self, *images: str) -> None:
        """Copy images from the main engine (`docker save | docker load`): no registry."""
        saved = subprocess.run(
            ["docker", "save", *images], capture_output=True, check=True, timeout=300
        )
        loaded = self.cli("load", stdin=saved.stdout)
        if loaded.returncode != 0:
            raise EngineUnavailable(f"docker load failed: {loaded.stderr.decode(errors='replace')}")

    def _await_old_containerd(self) -> None:
        """After a daemon is killed, its containerd dies too but stays a zombie for a while
        (until init reaps it); a dockerd started meanwhile finds that pid "still running",
        waits for its socket and gives up. Wait until the pid is gone, killing the process
        if it is still alive (it is this engine's own) and lingers."""
        pid_file = self.base / "exec" / "containerd" / "containerd.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        ours = str(self.base).encode() in _cmdline(pid)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            if ours and _alive(pid) and time.monotonic() > deadline - STOP_TIMEOUT_S / 2:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)

    def _stop_daemon(self) -> None:
        self.kill(signal.SIGTERM)

    def _own_processes(self) -> list[int]:
        """Pids of the processes this engine started (its containerd, its shims): their
        command lines name this engine's directory."""
        marker = str(self.base).encode()
        return [
            int(entry.name)
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit()
            and int(entry.name) != os.getpid()
            and marker in _cmdline(int(entry.name))
            and _alive(int(entry.name))
        ]

    def _unmount(self) -> None:
        prefix = str(self.base)
        with open("/proc/mounts") as mounts:
            points = [line.split()[1] for line in mounts if len(line.split()) > 1]
        for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)

    def _stop_everything(self, engine_up: bool) -> None:
        """Remove every container and network (when `engine_up`: the engine answers), stop
        the daemon, end what it left running and unmount what it mounted: what every test
        engine's teardown does before removing its own places."""
        if engine_up:
            client = self.client()
            try:
                for summary in client.api.containers(all=True):
                    with contextlib.suppress(docker.errors.DockerException):
                        client.api.remove_container(summary["Id"], force=True, v=True)
                for summary in client.api.networks():  # a stopped dockerd leaves their bridges
                    if summary["Name"] not in BUILTIN_NETWORKS:
                        with contextlib.suppress(docker.errors.DockerException):
                            client.api.remove_network(summary["Id"])
            finally:
                client.close()
        self._stop_daemon()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while (left := self._own_processes()) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM if time.monotonic() < deadline - 10 else 9)
            time.sleep(0.5)
        self._unmount()

    def teardown(self) -> None:
        """Remove every container, stop the daemon, end what it left running, unmount and
        remove its directory. Safe to call whatever state the engine is in."""
        started = self.process is not None and self.process.poll() is None
        self._stop_everything(started and self.answers())
        shutil.rmtree(self.base, ignore_errors=True)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)


@contextlib.contextmanager
def running(*images: str) -> Iterator[SecondEngine]:
    """A second engine started (after clearing what an interrupted session left), with
    `images` copied from the main engine, torn down afterwards; EngineUnavailable if not."""
    engine = SecondEngine()
    engine.teardown()
    try:
        engine.start()
        engine.load_images(*images)
        yield engine
    finally:
        engine.teardown()


def _make_bridge() -> None:
    if shutil.which("ip") is None:
        raise EngineUnavailable("no `ip` command to make the second engine's bridge")
    if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode == 0:
        return
    for argv in (
        ["ip", "link", "add", BRIDGE, "type", "bridge"],
        ["ip", "addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE],
        ["ip", "link", "set", BRIDGE, "up"],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise EngineUnavailable(f"cannot make its bridge: {done.stderr.strip()}")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    """Running (a zombie, waiting to be reaped, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
