"""A Docker Swarm of several engines on this one machine, for the swarm checks' tests.

scripts/swarm-bed.sh does the work (its header has the layout: per node a network namespace,
a dockerd with its own data root, exec root, socket and cgroup parent; node 1 the manager,
the others workers; the test images copied from the main engine). This wraps it for pytest:
`swarm_bed(nodes)` brings a fresh bed up, yields how to reach each node, and takes the bed
down whatever happened. A machine that cannot host it (not root, a command missing: the
script's exit status 3) raises BedUnavailable, which the tests turn into a skip; any other
failure is an error, since the bed is what the swarm checks are tested on.

`leftovers()` lists what a bed left on the host, so that a test can hold `down` to its word.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "swarm-bed.sh"
UNAVAILABLE = 3  # the script's exit status when this machine cannot host the bed
UP_TIMEOUT_S = 300  # `up 3` takes ~20 s on two busy cores; loading the images is most of it
DOWN_TIMEOUT_S = 120
# What the script makes, by name: they must all be gone after `down`.
RUN_DIR = Path("/run/ddiag-swarm")
DATA_DIR = Path("/var/lib/ddiag-swarm")
NETNS = re.compile(r"^ddiag-node\d+$")
LINKS = re.compile(r"^(ddiagsw0|ddiagsw-n\d+)$")
FIREWALL_MARK = "ddiag-swarm-bed"


class BedUnavailable(Exception):
    """This machine cannot host the swarm bed; the test should be skipped."""


@dataclass(frozen=True)
class Node:
    """One engine of the bed."""

    name: str  # ddiag-node<i>: its netns, its hostname, HOSTNAME in `docker node ls`
    address: str  # on the link between the nodes; node 1's is the swarm's 2377
    host: str  # its DOCKER_HOST


@dataclass
class SwarmBed:
    """A running bed: `nodes[0]` is the manager."""

    nodes: list[Node]
    _clients: dict[str, docker.DockerClient] = field(default_factory=dict, repr=False)

    @property
    def manager(self) -> Node:
        return self.nodes[0]

    def node(self, number: int) -> Node:
        """Node `number`, counted from 1 as the script does."""
        return self.nodes[number - 1]

    def client(self, node: Node | int) -> docker.DockerClient:
        """A client of that node's engine (one per node, closed when the bed goes down)."""
        if isinstance(node, int):
            node = self.node(node)
        if node.name not in self._clients:
            self._clients[node.name] = docker.DockerClient(base_url=node.host, timeout=60)
        return self._clients[node.name]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def _script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, check=False, timeout=timeout
    )


def _failed(what: str, done: subprocess.CompletedProcess[str]) -> RuntimeError:
    tail = "\n".join(done.stderr.splitlines()[-20:])
    return RuntimeError(f"swarm-bed.sh {what} failed (exit {done.returncode}):\n{tail}")


def _nodes() -> list[Node]:
    listed = _script("nodes", timeout=30)
    if listed.returncode != 0:
        raise _failed("nodes", listed)
    return [Node(*line.split()) for line in listed.stdout.splitlines()]


@contextlib.contextmanager
def swarm_bed(nodes: int = 3) -> Iterator[SwarmBed]:
    """A fresh swarm of `nodes` engines, all Ready, taken down on exit."""
    try:
        up = _script("up", str(nodes), timeout=UP_TIMEOUT_S)
        if up.returncode == UNAVAILABLE:
            raise BedUnavailable(up.stderr.strip())
        if up.returncode != 0:
            raise _failed(f"up {nodes}", up)
        bed = SwarmBed(_nodes())
        try:
            yield bed
        finally:
            bed.close()
    finally:
        down = _script("down", timeout=DOWN_TIMEOUT_S)
        if down.returncode not in (0, UNAVAILABLE):
            raise _failed("down", down)


def _lines(*argv: str) -> list[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    return done.stdout.splitlines()


def _bed_processes() -> list[str]:
    """Live processes whose command line names the bed's directories."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and (str(RUN_DIR) in cmdline or str(DATA_DIR) in cmdline):
            found.append(f"process {proc.name}: {cmdline.strip()}")
    return found


def leftovers() -> list[str]:
    """Everything of a bed still on the host: network namespaces, links, processes,
    directories, cgroups, the firewall rule. Empty after a clean `down`."""
    names = [line.split()[0] for line in _lines("ip", "netns", "list")]
    found = [f"netns {name}" for name in names if NETNS.match(name)]
    for line in _lines("ip", "-o", "link", "show"):
        name = line.split(": ")[1].split("@")[0]
        if LINKS.match(name):
            found.append(f"link {name}")
    found += _bed_processes()
    found += [f"directory {path}" for path in (RUN_DIR, DATA_DIR) if path.exists()]
    found += [f"cgroup {path}" for path in Path("/sys/fs/cgroup").glob("*/ddiag-node*")]
    found += [f"cgroup {path}" for path in Path("/sys/fs/cgroup").glob("ddiag-node*")]
    found += [f"iptables rule {rule}" for rule in _lines("iptables", "-S") if FIREWALL_MARK in rule]
    return found
