"""port.exposed-despite-firewall, host.firewall-split and host.firewall-input against an
engine whose host is a network namespace of this test's own.

Both need host firewall rules that deny what Docker accepts, and this machine's own
firewall is never changed: the test makes a network namespace (`ip netns add`), starts a
dockerd in it (its own data root, exec root and socket under one directory, as
scripts/swarm-bed.sh starts its nodes: cgroup file systems mounted again after `ip netns
exec` remounted /sys), and runs ddiag in that namespace too, as root, so that ddiag reads
that namespace's iptables. The rules go into the namespace, and everything (containers,
engine, its processes, the namespace, the directory) is removed at the end. The namespace
has no link to anything: no packet leaves it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration import engine2
from tests.integration.stacks import PROBE_IMAGE

NETNS = "ddiagt-hostrules"
BASE = Path("/tmp/ddiagt-hostrules-engine")
BUSYBOX = "ddiag-test/busybox:latest"
NETWORK = "ddiagt-hr-app"
OWN = "10.213.126"  # the engine's default bridge (.1/25) and its pool (.128/25), in NETNS only
PUBLISHED = 18401

LAUNCH = """#!/bin/sh
# `ip netns exec` remounted /sys: mount the cgroup file systems again, then run dockerd.
set -eu
while read -r fstype target opts; do
  case $fstype in
    tmpfs) mount -t tmpfs -o "$opts" tmpfs "$target" ;;
    cgroup | cgroup2) mkdir -p "$target" && mount -t "$fstype" -o "$opts" "$fstype" "$target" ;;
  esac
done < "$(dirname "$0")/cgroup-mounts"
exec "$@"
"""


def _cgroup_mounts() -> str:
    """`FSTYPE TARGET SUPEROPTS` of each file system below /sys/fs/cgroup, in mount order."""
    lines = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if not fields[4].startswith("/sys/fs/cgroup"):
            continue
        dash = fields.index("-")
        lines.append(f"{fields[dash + 1]} {fields[4]} {fields[dash + 3]}")
    return "\n".join(lines) + "\n"


def in_netns(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", NETNS, *argv], capture_output=True, text=True, check=check
    )


class NetnsEngine(engine2.SecondEngine):
    """A dockerd whose host network namespace is NETNS (with iptables: its rules go there)."""

    def _network_argv(self) -> list[str]:
        """Docker's own networking, iptables included: in NETNS, its rules go there."""
        return [
            "--bip",
            f"{OWN}.1/25",
            "--default-address-pool",
            f"base={OWN}.128/25,size=28",
            "--cgroup-parent",
            f"/{NETNS}",
        ]

    def start(self) -> None:
        for tool in ("dockerd", "ip", "unshare", "setsid", "iptables-legacy"):
            if shutil.which(tool) is None:
                raise engine2.EngineUnavailable(f"no {tool} command")
        if os.geteuid() != 0:
            raise engine2.EngineUnavailable("an engine in a network namespace needs root")
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "daemon.json").write_text(
            json.dumps({"deprecated-key-path": str(self.base / "key.json")}) + "\n"
        )
        (self.base / "cgroup-mounts").write_text(_cgroup_mounts())
        launch = self.base / "launch.sh"
        launch.write_text(LAUNCH)
        launch.chmod(0o755)
        for argv in (["ip", "netns", "add", NETNS], ["ip", "-n", NETNS, "link", "set", "lo", "up"]):
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise engine2.EngineUnavailable(f"{' '.join(argv)}: {done.stderr.strip()}")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", NETNS, "unshare", "--uts", str(launch), *self._argv()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + engine2.START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.answers():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.25)
        tail = self.log.read_text(errors="replace").splitlines()[-15:]
        raise engine2.EngineUnavailable("the dockerd did not come up:\n" + "\n".join(tail))

    def teardown(self) -> None:
        """Containers and networks, the daemon, its processes, the namespace, the directory:
        whatever state they are in (an interrupted run's leftovers included)."""
        if self.answers():
            client = self.client()
            try:
                for summary in client.api.containers(all=True):
                    with contextlib.suppress(docker.errors.DockerException):
                        client.api.remove_container(summary["Id"], force=True, v=True)
                for summary in client.api.networks():
                    if summary["Name"] not in engine2.BUILTIN_NETWORKS:
                        with contextlib.suppress(docker.errors.DockerException):
                            client.api.remove_network(summary["Id"])
            finally:
                client.close()
        self._stop_daemon()
        deadline = time.monotonic() + engine2.STOP_TIMEOUT_S
        while (left := self._own_processes()) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM if time.monotonic() < deadline - 10 else 9)
            time.sleep(0.5)
        self._unmount()
        subprocess.run(["ip", "netns", "del", NETNS], capture_output=True, check=False)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def engine() -> Iterator[NetnsEngine]:
    made = NetnsEngine(base=BASE)
    made.teardown()
    try:
        made.start()
        made.load_images(PROBE_IMAGE, BUSYBOX)
        client = made.client()
        client.networks.create(NETWORK, driver="bridge")
        client.containers.run(
            BUSYBOX,
            ["httpd", "-f", "-p", "8080"],
            name="ddiagt-hr-web",
            network=NETWORK,
            ports={"8080/tcp": PUBLISHED},
            detach=True,
        )
        client.close()
        yield made
    except engine2.EngineUnavailable as exc:
        pytest.skip(f"cannot run an engine in a network namespace here: {exc}")
    finally:
        made.teardown()


def diagnose(engine: NetnsEngine, *target: str) -> dict[str, Any]:
    """`ddiag network NETWORK` (or `ddiag TARGET...`) run as root inside NETNS: it reads
    that namespace's rules."""
    env = {
        **os.environ,
        "DOCKER_HOST": engine.host,
        "DDIAG_PROBE_IMAGE": PROBE_IMAGE,
        "DDIAG_PULL": "never",
    }
    argv = [
        "ip",
        "netns",
        "exec",
        NETNS,
        sys.executable,
        "-m",
        "diag",
        *(target or ("network", NETWORK)),
    ]
    done = subprocess.run(
        [*argv, "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def of(report: dict[str, Any], check: str) -> list[dict[str, Any]]:
    assert check in report["checks_run"]
    return [f for f in report["findings"] if f["check"] == check]


def test_healthy_namespace_has_neither_finding(engine: NetnsEngine) -> None:
    report = diagnose(engine)
    assert of(report, "port.exposed-despite-firewall") == []
    assert of(report, "host.firewall-split") == []
    assert not any("firewall" in i["where"] for i in report["inconclusive"])


def test_input_drop_policy_does_not_close_a_published_port(engine: NetnsEngine) -> None:
    in_netns("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
    in_netns("iptables", "-P", "INPUT", "DROP")
    try:
        (finding,) = of(diagnose(engine), "port.exposed-despite-firewall")
    finally:
        in_netns("iptables", "-P", "INPUT", "ACCEPT")
        in_netns("iptables", "-D", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
    assert finding["subjects"] == ["ddiagt-hr-web"]
    binding = f"0.0.0.0:{PUBLISHED}->8080/tcp"
    assert finding["evidence"][binding].endswith(
        f"INPUT ends {PUBLISHED}/tcp at the INPUT policy (DROP)"
    )
    assert f"-p {PUBLISHED}" not in finding["fix"]
    assert f"127.0.0.1:{PUBLISHED}:8080" in finding["fix"]


def test_legacy_forward_drop_beside_the_engines_nft_rules(engine: NetnsEngine) -> None:
    in_netns("iptables-legacy", "-P", "FORWARD", "DROP")
    try:
        (finding,) = of(diagnose(engine), "host.firewall-split")
    finally:
        in_netns("iptables-legacy", "-P", "FORWARD", "ACCEPT")
    assert finding["severity"] == "error"
    assert NETWORK in finding["subjects"]
    assert "in the nft iptables backend, but the legacy backend's FORWARD" in finding["summary"]
    assert "sudo iptables-legacy -P FORWARD ACCEPT" in finding["fix"]


HOST_SERVICE_PORT = 18402
LISTENER = (
    "import socket, time\n"
    "server = socket.socket()\n"
    "server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    f"server.bind(('0.0.0.0', {HOST_SERVICE_PORT}))\n"
    "server.listen(16)\n"
    "time.sleep(600)\n"
)


def _gateway(client: docker.DockerClient) -> str:
    """NETWORK's gateway in NETNS: as IPAM says, else its subnet's first address (20.10
    leaves Gateway empty unless asked)."""
    config = client.api.inspect_network(NETWORK)["IPAM"]["Config"][0]
    if config.get("Gateway"):
        return str(config["Gateway"])
    return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def test_input_drop_policy_keeps_a_container_from_a_host_service(engine: NetnsEngine) -> None:
    """host.firewall-input: a service on NETNS's own address space, listening on every
    address, and NETNS's INPUT policy DROP: the container's connect to the gateway times out."""
    client = engine.client()
    gateway = _gateway(client)
    client.containers.run(
        BUSYBOX,
        ["sleep", "600"],
        name="ddiagt-hr-client",
        network=NETWORK,
        environment={"API_URL": f"http://{gateway}:{HOST_SERVICE_PORT}/"},
        detach=True,
    )
    client.close()
    listener = subprocess.Popen(
        ["ip", "netns", "exec", NETNS, sys.executable, "-c", LISTENER],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    in_netns("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
    in_netns("iptables", "-P", "INPUT", "DROP")
    try:
        report = diagnose(engine, "container", "ddiagt-hr-client", "--timeout", "1")
    finally:
        in_netns("iptables", "-P", "INPUT", "ACCEPT")
        in_netns("iptables", "-D", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
        listener.kill()
        listener.wait()
    (finding,) = of(report, "host.firewall-input")
    assert "the INPUT policy (DROP)" in finding["summary"]
    assert f"--dport {HOST_SERVICE_PORT} -j ACCEPT" in finding["fix"]
    [edge] = [e for e in report["edges"] if e["target"] == gateway]
    assert edge["check"] == "host.firewall-input"
