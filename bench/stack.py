"""Generate the benchmark's compose stacks: N containers, 4 networks, references, timeouts.

Why a generator and not fixtures: the benchmark must scale the same shape to N = 10, 50 and
200, and the shape must be identical from run to run (seeded), so that the lead's final
numbers and anybody's re-run measure the same work.

The shape (issue 8):

- N services `svc-0` .. `svc-{N-1}`, one container each, over 4 networks `net-a` .. `net-d`
  whose subnets are pinned in the benchmark's own range (10.213.150.0/24 .. 10.213.179.0/24,
  4 per stack, so that stacks of different sizes can be up at the same time);
- every container on 1 or 2 networks, listening on 2 TCP ports; some declare both ports in
  `expose:`, some one, some none, as real stacks do;
- every container references 1 to 3 endpoints (service:port) of services it shares a network
  with, in the three forms `ddiag compose` reads: a URL (`UPSTREAM_URL=http://svc-7:8000/`),
  a HOST/PORT pair (`DB_HOST=svc-3` + `DB_PORT=5432`) and a `host:port` item
  (`CACHE_NODES=svc-4:6379`);
- about 10 % of the referenced endpoints fail by *timeout*, the slow failure that makes the
  runbook way expensive: the target runs a Python listener with `listen(0)` whose accept queue
  it fills itself, so the kernel drops every new SYN (the trick of
  compose-fixtures/filtered-port). It connects to itself until a connect times out (one
  connection suffices on Linux 5.x/6.x) rather than a fixed twice: the connect that does not
  fit would otherwise fail after ~2 minutes of SYN retries and kill the listener. Every other
  port is a BusyBox `httpd`, a few hundred KiB,
  so that 200 containers fit on a small machine.

Every container prints `READY_MARK` once its ports listen (and the filtered queue is full),
so the harness can wait for real readiness without healthchecks, whose periodic `exec`s would
load the engine during the measurements.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUSYBOX_IMAGE = "ddiag-test/busybox:latest"
PYTHON_IMAGE = "ddiag-test/python3:bookworm"
PROJECT_PREFIX = "ddiagbench-"
READY_MARK = "ddiagbench-ready"
NETWORK_KEYS = ("net-a", "net-b", "net-c", "net-d")
SUBNET_FIRST = 150  # 10.213.150.0/24
SUBNET_LAST = 179  # 10.213.179.0/24
MAX_SLOT = (SUBNET_LAST - SUBNET_FIRST + 1) // len(NETWORK_KEYS) - 1  # slots 0..6
FILTERED_SHARE = 0.10
# Port pools: the first port of a service speaks HTTP, the second is a "backend" port. Two
# pools keep the two ports of one service distinct without bookkeeping.
FRONT_PORTS = (3000, 5000, 8000, 8080, 9000)
BACK_PORTS = (5432, 6379, 9092, 9200, 11211)
# No secret-looking words (AUTH, TOKEN...): ddiag masks the values of such variables where
# they stand as values (`AUTH_NODES=***` in evidence), which would hide the references.
REFERENCE_PREFIXES = ("UPSTREAM", "DB", "CACHE", "QUEUE", "PAYMENTS", "SEARCH")
SECOND_NETWORK_SHARE = 0.35

# One port served (accept and close), one port whose SYNs the kernel drops. One process for
# both keeps the slow containers near 10 MiB each.
SLOW_LISTENER = f"""\
import socket, sys, threading, time
open_port, filtered_port = int(sys.argv[1]), int(sys.argv[2])
served = socket.socket()
served.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
served.bind(("0.0.0.0", open_port))
served.listen(128)
def serve():
    while True:
        conn, _ = served.accept()
        conn.close()
threading.Thread(target=serve, daemon=True).start()
dropped = socket.socket()
dropped.bind(("0.0.0.0", filtered_port))
dropped.listen(0)
held = []
while True:  # connect to ourselves until the queue is full: the next connect times out
    filler = socket.socket()
    filler.settimeout(1)
    try:
        filler.connect(("127.0.0.1", filtered_port))
    except TimeoutError:
        filler.close()
        break
    held.append(filler)
print("{READY_MARK}", flush=True)
while True:
    time.sleep(3600)
"""

# BusyBox httpd binds before it daemonizes, so READY_MARK is printed after both ports listen.
FAST_LISTENER = "httpd -p {a} && httpd -p {b} && echo " + READY_MARK + " && exec sleep 2147483647"


@dataclass(frozen=True)
class Reference:
    """`source` names `target:port` in its environment, in one of three forms."""

    source: str
    target: str
    port: int
    form: str  # "url", "host-port-pair" or "host-port"
    prefix: str

    def env(self) -> dict[str, str]:
        """The environment variables that carry this reference (what ddiag parses)."""
        if self.form == "url":
            return {f"{self.prefix}_URL": f"http://{self.target}:{self.port}/"}
        if self.form == "host-port-pair":
            return {f"{self.prefix}_HOST": self.target, f"{self.prefix}_PORT": str(self.port)}
        return {f"{self.prefix}_NODES": f"{self.target}:{self.port}"}


@dataclass(frozen=True)
class Service:
    """One service and its single container."""

    name: str
    ports: tuple[int, int]
    networks: tuple[str, ...]
    expose: tuple[int, ...]
    filtered_port: int | None = None
    references: tuple[Reference, ...] = ()

    @property
    def open_ports(self) -> tuple[int, ...]:
        return tuple(p for p in self.ports if p != self.filtered_port)


@dataclass(frozen=True)
class Stack:
    """A generated project: what it contains, and what should fail."""

    n: int
    seed: int
    slot: int
    services: tuple[Service, ...]
    subnets: dict[str, str] = field(default_factory=dict)
    healthy: bool = False
    prefix: str = PROJECT_PREFIX  # another one keeps two benchmarks on one engine apart

    @property
    def project(self) -> str:
        return f"{self.prefix}{'healthy-' if self.healthy else ''}n{self.n}"

    @property
    def networks(self) -> list[str]:
        """The engine's names of the project's networks (compose prefixes the project)."""
        return [f"{self.project}_{key}" for key in NETWORK_KEYS]

    def container(self, service: str) -> str:
        """The container name compose v2+ gives the service's only replica."""
        return f"{self.project}-{service}-1"

    @property
    def references(self) -> list[Reference]:
        return [ref for service in self.services for ref in service.references]

    @property
    def filtered_endpoints(self) -> set[tuple[str, int]]:
        return {(s.name, s.filtered_port) for s in self.services if s.filtered_port}

    def is_filtered(self, ref: Reference) -> bool:
        return (ref.target, ref.port) in self.filtered_endpoints

    def describe(self) -> dict[str, Any]:
        """What the results JSON records about the stack (enough to audit the findings)."""
        endpoints = {(r.target, r.port) for r in self.references}
        return {
            "project": self.project,
            "containers": len(self.services),
            "networks": dict(zip(self.networks, self.subnets.values(), strict=True)),
            "seed": self.seed,
            "ports_listening": 2 * len(self.services),
            "references": len(self.references),
            "referenced_endpoints": len(endpoints),
            "filtered_endpoints": sorted(f"{s}:{p}" for s, p in self.filtered_endpoints),
            "filtered_references": sum(self.is_filtered(r) for r in self.references),
        }

    def compose_model(self) -> dict[str, Any]:
        """The compose file as data. `pull_policy: never`: nothing is ever pulled."""
        services: dict[str, Any] = {}
        for service in self.services:
            env: dict[str, str] = {"LOG_LEVEL": "info", "SERVICE_NAME": service.name}
            for ref in service.references:
                env.update(ref.env())
            a, b = service.ports
            spec: dict[str, Any] = {"pull_policy": "never", "environment": env}
            if service.filtered_port:
                spec["image"] = PYTHON_IMAGE
                (served,) = service.open_ports
                argv = [str(served), str(service.filtered_port)]
                spec["command"] = ["python3", "-c", SLOW_LISTENER, *argv]
            else:
                spec["image"] = BUSYBOX_IMAGE
                spec["command"] = ["sh", "-c", FAST_LISTENER.format(a=a, b=b)]
            if service.expose:
                spec["expose"] = [str(p) for p in service.expose]
            spec["networks"] = list(service.networks)
            # PID 1 ignores SIGTERM: without this every `down` waits 10 s per container.
            spec["stop_signal"] = "SIGKILL"
            services[service.name] = spec
        networks = {
            key: {"ipam": {"config": [{"subnet": subnet}]}} for key, subnet in self.subnets.items()
        }
        return {"name": self.project, "services": services, "networks": networks}

    def write(self, directory: Path) -> Path:
        """Write `compose.yaml` (as JSON, which is YAML: no YAML library needed) and
        `stack.json` (the description) into DIRECTORY; return the compose file."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "compose.yaml"
        path.write_text(json.dumps(self.compose_model(), indent=2) + "\n")
        (directory / "stack.json").write_text(json.dumps(self.describe(), indent=2) + "\n")
        return path


def _subnets(slot: int) -> dict[str, str]:
    if not 0 <= slot <= MAX_SLOT:
        raise ValueError(f"subnet slot {slot} outside 0..{MAX_SLOT}")
    first = SUBNET_FIRST + slot * len(NETWORK_KEYS)
    return {key: f"10.213.{first + i}.0/24" for i, key in enumerate(NETWORK_KEYS)}


def generate(
    n: int, seed: int = 8, slot: int = 0, healthy: bool = False, prefix: str = PROJECT_PREFIX
) -> Stack:
    """The stack of N containers for SEED, on subnet slot SLOT (0..6). Deterministic: the same
    arguments give the same stack, byte for byte, on any machine and Python >= 3.10.
    `healthy` (issue 19): the same services, networks and references, but no endpoint times
    out, so nothing in a run has to wait for a timeout."""
    if n < 4:
        raise ValueError("a stack needs at least 4 containers (one per network)")
    if n > 250:
        raise ValueError("a /24 per network holds at most 250 containers here")
    rng = random.Random(f"ddiagbench:{n}:{seed}")
    names = [f"svc-{i}" for i in range(n)]
    networks: dict[str, tuple[str, ...]] = {}
    for i, name in enumerate(names):
        first = NETWORK_KEYS[i % len(NETWORK_KEYS)]  # every network gets members
        if rng.random() < SECOND_NETWORK_SHARE:
            second = rng.choice([k for k in NETWORK_KEYS if k != first])
            networks[name] = tuple(sorted((first, second)))
        else:
            networks[name] = (first,)
    ports = {name: (rng.choice(FRONT_PORTS), rng.choice(BACK_PORTS)) for name in names}

    references: dict[str, list[Reference]] = {}
    for name in names:
        peers = [p for p in names if p != name and set(networks[p]) & set(networks[name])]
        endpoints = [(p, port) for p in peers for port in ports[p]]
        count = min(len(endpoints), rng.randint(1, 3))
        chosen = rng.sample(endpoints, count)
        prefixes = rng.sample(REFERENCE_PREFIXES, count)
        references[name] = [
            Reference(name, target, port, rng.choice(("url", "host-port-pair", "host-port")), pre)
            for (target, port), pre in zip(chosen, prefixes, strict=True)
        ]

    # About 10 % of the distinct referenced endpoints time out; at most one per service, so
    # each slow container still serves its other port (a partial failure, the common case).
    referenced = sorted({(r.target, r.port) for refs in references.values() for r in refs})
    rng.shuffle(referenced)
    wanted = 0 if healthy else max(1, round(FILTERED_SHARE * len(referenced)))
    filtered: dict[str, int] = {}
    for target, port in referenced:
        if len(filtered) == wanted:
            break
        filtered.setdefault(target, port)

    services = []
    for name in names:
        shown = rng.random()
        a, b = ports[name]
        expose = (a, b) if shown < 0.4 else (a,) if shown < 0.7 else ()
        services.append(
            Service(
                name=name,
                ports=(a, b),
                networks=networks[name],
                expose=expose,
                filtered_port=filtered.get(name),
                references=tuple(references[name]),
            )
        )
    return Stack(
        n=n,
        seed=seed,
        slot=slot,
        services=tuple(services),
        subnets=_subnets(slot),
        healthy=healthy,
        prefix=prefix,
    )


if __name__ == "__main__":  # python -m bench.stack N DIR: write one stack to look at
    import sys

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(f"/tmp/ddiagbench-n{size}")
    print(generate(size).write(out))
