"""A Docker engine whose host is a network namespace of the test's own.

Tests of the host's own state (its firewall, its routes, its sysctls) must never change the
machine they run on. They change this namespace instead: `ip netns add`, a dockerd started
in it (its own data root, exec root and socket under one directory, as
scripts/swarm-bed.sh starts its nodes: cgroup file systems mounted again after `ip netns
exec` remounted /sys), and ddiag run in it too, as root, so that ddiag reads that
namespace's rules, routes and sysctls through the engine, and its /etc/hosts and
/etc/resolv.conf (NETNS_ETC).
Everything (containers, engine, its processes, the namespace, the directories) is removed
at the end. The namespace has no
link to anything: no packet leaves it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration import engine2
from tests.integration.stacks import PROBE_IMAGE

NETNS = "ddiagt-hostrules"
BASE = Path("/tmp/ddiagt-hostrules-engine")
BUSYBOX = "ddiag-test/busybox:latest"
OWN = "10.213.126"  # the engine's default bridge (.1/25) and its pool (.128/25), in NETNS only
# With `ipv6`: the default bridge's IPv6 subnet (a ULA prefix), in NETNS only.
OWN6 = "fd00:db8:7e::/64"
# `ip netns exec NETNS` binds the files of /etc/netns/NETNS over /etc's: the engine's host
# (and ddiag run there) reads this /etc/hosts, with a dotted name only it defines.
NETNS_ETC = Path("/etc/netns") / NETNS
HOST_ONLY_NAME, HOST_ONLY_ADDRESS = "legacy.ddiagt.test", "10.213.127.20"
HOSTS = f"127.0.0.1\tlocalhost\n::1\tlocalhost\n{HOST_ONLY_ADDRESS}\t{HOST_ONLY_NAME}\n"
# A loopback resolver, as on a dnsmasq host: nothing listens there, so a lookup in NETNS
# fails at once instead of going to this machine's resolver; the default bridge's
# containers get the engine's fallback (8.8.8.8), which NETNS has no route to.
RESOLV_CONF = "nameserver 127.0.0.1\n"

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


def in_netns(
    *argv: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", NETNS, *argv],
        capture_output=True,
        text=True,
        check=check,
        input=stdin,
    )


@dataclass
class NetnsEngine(engine2.SecondEngine):
    """A dockerd whose host network namespace is NETNS (with iptables: its rules go there).
    `ipv6`: dual-stack, and the engine writes ip6tables rules too (Engine 20.10 has them
    only as an experimental feature: `--experimental --ip6tables`)."""

    ipv6: bool = False

    def _network_argv(self) -> list[str]:
        """Docker's own networking, iptables included: in NETNS, its rules go there."""
        dual_stack = ["--ipv6", "--fixed-cidr-v6", OWN6, "--experimental", "--ip6tables"]
        return [
            "--bip",
            f"{OWN}.1/25",
            "--default-address-pool",
            f"base={OWN}.128/25,size=28",
            "--cgroup-parent",
            f"/{NETNS}",
            *(dual_stack if self.ipv6 else []),
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
        NETNS_ETC.mkdir(parents=True, exist_ok=True)
        (NETNS_ETC / "hosts").write_text(HOSTS)
        (NETNS_ETC / "resolv.conf").write_text(RESOLV_CONF)
        launch = self.base / "launch.sh"
        launch.write_text(LAUNCH)
        launch.chmod(0o755)
        for argv in (["ip", "netns", "add", NETNS], ["ip", "-n", NETNS, "link", "set", "lo", "up"]):
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise engine2.EngineUnavailable(f"{' '.join(argv)}: {done.stderr.strip()}")
        self._launch(["ip", "netns", "exec", NETNS, "unshare", "--uts", str(launch), *self._argv()])

    def teardown(self) -> None:
        """Containers and networks, the daemon, its processes, the namespace, the directory:
        whatever state they are in (an interrupted run's leftovers included)."""
        self._stop_everything(self.answers())
        subprocess.run(["ip", "netns", "del", NETNS], capture_output=True, check=False)
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(NETNS_ETC, ignore_errors=True)


@contextlib.contextmanager
def started(ipv6: bool = False) -> Iterator[NetnsEngine]:
    """The engine (dual-stack with `ipv6`), up with the local test images, and torn down
    whatever happens; the test is skipped where an engine cannot run in a namespace (no
    root, no tools)."""
    made = NetnsEngine(base=BASE, ipv6=ipv6)
    made.teardown()
    try:
        made.start()
        made.load_images(PROBE_IMAGE, BUSYBOX)
        yield made
    except engine2.EngineUnavailable as exc:
        pytest.skip(f"cannot run an engine in a network namespace here: {exc}")
    finally:
        made.teardown()


def diagnose(engine: NetnsEngine, *command: str) -> tuple[int, dict[str, Any]]:
    """`ddiag COMMAND... --format json` run as root inside NETNS, against its engine."""
    env = {
        **os.environ,
        "DOCKER_HOST": engine.host,
        "DDIAG_PROBE_IMAGE": PROBE_IMAGE,
        "DDIAG_PULL": "never",
    }
    argv = ["ip", "netns", "exec", NETNS, sys.executable, "-m", "diag", *command]
    done = subprocess.run(
        [*argv, "--format", "json"], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.stdout, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)
