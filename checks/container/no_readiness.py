"""A service depends on another that has no healthcheck: "started" is not "ready".

`depends_on: [db]` (condition `service_started`, the default) only orders the start: compose
starts `web` as soon as `db`'s container has started, which is usually seconds before
Postgres accepts connections. A `web` that connects at start-up then fails with "connection
refused" or "name not found" and exits or crash-loops, and the failure comes and goes with
the machine's speed: the classic "works on the second `up`". Compose can only wait for
readiness when the target says what ready means, with a healthcheck.

Detected from the compose model (`ddiag compose`) or the `com.docker.compose.depends_on`
label: a `depends_on` with condition `service_started` whose target has no effective
healthcheck (neither `healthcheck:` nor the image's `HEALTHCHECK`, as the target's
container reports it). Dependencies compose adds by itself for `links:` and `network_mode:
service:x` are left out. Reported as info: an application that retries its connections
does not need it.

Fix: give the target a healthcheck and make the dependent wait for it:

    services:
      db:
        healthcheck:
          test: ["CMD-SHELL", "pg_isready -U postgres"]
          interval: 5s
          retries: 10
      web:
        depends_on:
          db:
            condition: service_healthy
"""

from __future__ import annotations

from collections.abc import Iterator

from diag.checks._services import (
    STARTED,
    depends_on,
    model_service,
    service_containers,
    target_containers,
)
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.topology import Container
from diag.model.wording import listed, names_verb

ID = "container.no-readiness"
SEVERITY = "info"
TITLE = "Dependency is started, not ready"

# A readiness command for well-known images (matched on the image's last path element).
_KNOWN_TESTS = {
    "postgres": "pg_isready -U postgres",
    "postgis": "pg_isready -U postgres",
    "mysql": "mysqladmin ping -h 127.0.0.1",
    "mariadb": "healthcheck.sh --connect --innodb_initialized",
    "redis": "redis-cli ping",
    "valkey": "valkey-cli ping",
    "mongo": "mongosh --quiet --eval 'db.runCommand({ping: 1})'",
    "rabbitmq": "rabbitmq-diagnostics -q ping",
    "elasticsearch": "curl -fs http://localhost:9200/_cluster/health",
}


def _implicit(ctx: CheckContext, container: Container) -> set[str]:
    """Services compose made a dependency of by itself: `links:`, `network_mode: service:`."""
    found: set[str] = set()
    service = model_service(ctx, container)
    if service is not None:
        found |= {target for target, _ in service.links}
        if service.shares_netns_with:
            found.add(service.shares_netns_with)
    for target in container.link_targets.values():
        holder = ctx.topology.container_named(target)
        if holder is not None and holder.service and holder.project == container.project:
            found.add(holder.service)
    if container.network_mode.startswith("container:"):
        owner = ctx.topology.container_named(container.network_mode.split(":", 1)[1])
        if owner is not None and owner.service and owner.project == container.project:
            found.add(owner.service)
    return found


def _has_healthcheck(ctx: CheckContext, project: str, service: str) -> bool | None:
    """The target's effective healthcheck: its containers say; else the model; else None."""
    containers = service_containers(ctx, project, service)
    if containers:
        return any(c.healthcheck for c in containers)
    model = ctx.target.project
    if model is not None and model.name == project and service in model.services:
        return model.services[service].healthcheck
    return None


def _test_for(image: str) -> str:
    base = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    for name, test in _KNOWN_TESTS.items():
        if base == name or base.startswith(name + "-"):
            return test
    return "<a command that succeeds once it is ready>"


def _fix(target: str, dependents: list[str], test: str) -> str:
    lines = [
        f"Give {target} a healthcheck and make {listed(dependents)} wait until it passes:",
        "services:",
        f"  {target}:",
        "    healthcheck:",
        f'      test: ["CMD-SHELL", "{test}"]',
        "      interval: 5s",
        "      retries: 10",
    ]
    for dependent in dependents:
        lines += [
            f"  {dependent}:",
            "    depends_on:",
            f"      {target}:",
            "        condition: service_healthy",
        ]
    return "\n".join(lines)


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    # target (project, service) -> its dependents, one container each (the first by name)
    waiting: dict[tuple[str, str], dict[str, Container]] = {}
    for container in target_containers(ctx):
        if not container.service or not container.project:
            continue
        implicit = _implicit(ctx, container)
        for target, condition in depends_on(ctx, container).items():
            if condition != STARTED or target in implicit or target == container.service:
                continue
            dependents = waiting.setdefault((container.project, target), {})
            dependents.setdefault(container.service, container)
    for (project, target), dependents in sorted(waiting.items()):
        if _has_healthcheck(ctx, project, target) is not False:
            continue
        targets = service_containers(ctx, project, target)
        names = sorted(dependents)
        image = targets[0].image if targets else ""
        depending = listed(names)
        yield Result(
            subjects=subjects(
                names,
                target,
                [dependents[name].name for name in names],
                [c.name for c in targets],
            ),
            summary=(
                f"{names_verb(names, 'depends', 'depend')} on {target} with "
                f"condition service_started, but {target} has no healthcheck: compose starts "
                f"{depending} as soon as {target} has started, not when it is ready"
            ),
            evidence={
                "depends_on": [f"{name} -> {target} (service_started)" for name in names],
                "healthcheck": f"{target} has none (neither healthcheck: nor the image's)",
            },
            fix=_fix(target, names, _test_for(image)),
        )
