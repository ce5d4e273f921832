"""The container runs, but its healthcheck fails: the engine marks it unhealthy.

A healthcheck (the image's `HEALTHCHECK` or the service's `healthcheck:`) runs a command
inside the container every `interval`; after `retries` failures in a row the container is
`unhealthy`. It keeps running and keeps its DNS names, so peers may reach it, but
dependents with `depends_on: {condition: service_healthy}` are never started (`docker
compose up` fails with "dependency failed to start: container ... is unhealthy"), and
orchestrators and load balancers that honour health take it out of rotation. Either the
application really is broken, or the check itself is wrong: a tool missing from the image
(`curl` in a slim image), the wrong port or path, localhost resolving to ::1 while the app
listens on 127.0.0.1, or an interval shorter than the app's start time.

Detected from the engine: a running container whose `State.Health.Status` is `unhealthy`.
The evidence is the failing streak, the output of the last check and the check's command.

Fix: read the health log with `docker inspect --format '{{json .State.Health}}' NAME`, run
the check's command by hand (`docker exec NAME <test command>`: the finding spells it out),
then fix the application or the healthcheck (its command, `start_period`, `interval`,
`retries`).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from diag.checks._services import depends_on, target_containers
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.topology import Container

ID = "container.unhealthy"
SEVERITY = "error"
TITLE = "Container is unhealthy"

MAX_OUTPUT = 500


def _waiting(ctx: CheckContext, container: Container) -> tuple[list[str], list[str]]:
    """Services (and their containers) that wait for this one to be healthy."""
    if not container.service or not container.project:
        return [], []
    services: dict[str, None] = {}
    project = ctx.target.project
    if project is not None and project.name == container.project:
        for name, service in project.services.items():
            if service.depends_on.get(container.service) == "service_healthy":
                services[name] = None
    for other in ctx.topology.containers:
        if (
            other.project == container.project
            and other.service
            and not other.is_oneoff
            and depends_on(ctx, other).get(container.service) == "service_healthy"
        ):
            services[other.service] = None
    names = [
        c.name
        for c in ctx.topology.containers
        if c.project == container.project and c.service in services and not c.is_oneoff
    ]
    return list(services), sorted(names)


def _command(test: tuple[str, ...]) -> str:
    """The healthcheck as a command line: `CMD a b` → `a b`; `CMD-SHELL x` → `sh -c 'x'`."""
    if len(test) >= 2 and test[0] == "CMD-SHELL":
        return f"sh -c {shlex.quote(test[1])}"
    if test and test[0] == "CMD":
        return shlex.join(test[1:])
    return ""


def _fix(container: Container) -> str:
    see = (
        "See every recent check and its output: "
        f"`docker inspect --format '{{{{json .State.Health}}}}' {container.name}`"
    )
    command = _command(container.healthcheck_test)
    if command:
        see += f"; run the check by hand: `docker exec {container.name} {command}`"
    if not (container.service and container.project):
        return (
            f"{see}, and the application's log: `docker logs {container.name}`. Then fix the "
            "application, or the healthcheck (--health-cmd, --health-start-period) if the "
            "check is what is wrong."
        )
    return "\n".join(
        [
            f"{see}, and the application's log: "
            f"`docker compose -p {container.project} logs {container.service}`. Then fix the "
            "application, or the healthcheck if the check is what is wrong (a tool missing "
            "from the image, the wrong port or path, too short a start_period):",
            "services:",
            f"  {container.service}:",
            "    healthcheck:",
            '      test: ["CMD-SHELL", "<a command that succeeds once it is ready>"]',
            "      start_period: 30s",
        ]
    )


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    for container in target_containers(ctx):
        health = container.health
        if not container.running or health is None or health.status != "unhealthy":
            continue
        label = container.service or container.name
        output = health.last_output
        if len(output) > MAX_OUTPUT:
            output = output[:MAX_OUTPUT] + "…"
        evidence: dict[str, object] = {
            "health": health.status,
            "failing_streak": health.failing_streak,
            "last_output": output or "(the check printed nothing)",
        }
        command = _command(container.healthcheck_test)
        if command:
            evidence["healthcheck"] = command
        waiting, waiting_containers = _waiting(ctx, container)
        if waiting:
            evidence["waiting"] = [f"{name} (depends_on: service_healthy)" for name in waiting]
        last = f": {output.splitlines()[-1]}" if output.strip() else ""
        yield Result(
            subjects=subjects(container.service, waiting, container.name, waiting_containers),
            summary=(
                f"{label} is unhealthy: its healthcheck failed {health.failing_streak} "
                f"time(s) in a row{last}"
            ),
            evidence=evidence,
            fix=_fix(container),
        )
