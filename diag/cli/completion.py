"""Shell completion of names: the engine's (networks, containers, compose projects, shell
targets), the docker contexts, and the catalog's (check ids and families, for --select,
--ignore, --severity and `ddiag explain`). The closed options' values complete by themselves
(diag.cli.choices).

Called by the shell on TAB (typer's `autocompletion`), so it must be quick and quiet: one
short read of the engine, and no completions at all (never an error) when it does not answer.
The engine asked is the one the command line names so far (-H or -c typed before the TAB),
as the command itself would ask. The contexts and the catalog are read with no engine.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import docker
import typer

from diag.checks.registry import all_checks
from diag.engine.endpoint import EngineChoice, client_kwargs, context_names, resolve_endpoint
from diag.model.findings import Severity

TIMEOUT_S = 3
CONTAINER_PREFIX = "container:"
SERVICE = "com.docker.compose.service"


Ctx = typer.Context | None  # the command line parsed so far (None: called directly)


def _choice(ctx: Ctx) -> EngineChoice:
    """-H and -c as typed before the TAB."""
    params = ctx.params if ctx is not None else {}
    return EngineChoice(params.get("host"), params.get("context"))


def _ask(read: Callable[[docker.APIClient], list[str]], ctx: Ctx = None) -> list[str]:
    try:
        endpoint = resolve_endpoint(os.environ, _choice(ctx))
        client = docker.DockerClient(**client_kwargs(endpoint), timeout=TIMEOUT_S)
        try:
            return sorted(set(read(client.api)))
        finally:
            client.close()
    except Exception:  # completion never fails loudly
        return []


def _networks(api: docker.APIClient) -> list[str]:
    return [n["Name"] for n in api.networks()]


def _containers(api: docker.APIClient, running: bool = False) -> list[str]:
    found = api.containers(all=not running)
    return [
        name.lstrip("/")
        for c in found
        if "ddiag.probe" not in (c.get("Labels") or {})
        for name in (c.get("Names") or [])[:1]
    ]


def _projects(api: docker.APIClient) -> list[str]:
    return [
        c["Labels"]["com.docker.compose.project"]
        for c in api.containers(all=True, filters={"label": "com.docker.compose.project"})
    ]


def _services(api: docker.APIClient, project: str | None) -> list[str]:
    label = "com.docker.compose.project" + (f"={project}" if project else "")
    found = api.containers(all=True, filters={"label": label})
    return [c["Labels"][SERVICE] for c in found if c["Labels"].get(SERVICE)]


def networks(incomplete: str, ctx: Ctx = None) -> list[str]:
    return [n for n in _ask(_networks, ctx) if n.startswith(incomplete)]


def containers(incomplete: str, ctx: Ctx = None) -> list[str]:
    return [n for n in _ask(_containers, ctx) if n.startswith(incomplete)]


def projects(incomplete: str, ctx: Ctx = None) -> list[str]:
    return [n for n in _ask(_projects, ctx) if n.startswith(incomplete)]


def services(incomplete: str, ctx: Ctx = None) -> list[str]:
    """Compose services with a container on the engine: of the project -p names, if typed."""
    project = ctx.params.get("project") if ctx is not None else None
    return [n for n in _ask(lambda api: _services(api, project), ctx) if n.startswith(incomplete)]


def shell_targets(incomplete: str, ctx: Ctx = None) -> list[str]:
    """Networks, or `container:NAME` of running containers once `container:` is typed."""
    if incomplete.startswith(CONTAINER_PREFIX):
        names = _ask(lambda api: _containers(api, running=True), ctx)
        return [
            f"{CONTAINER_PREFIX}{n}"
            for n in names
            if n.startswith(incomplete[len(CONTAINER_PREFIX) :])
        ]
    found = [n for n in _ask(_networks, ctx) if n.startswith(incomplete)]
    return [*found, CONTAINER_PREFIX] if CONTAINER_PREFIX.startswith(incomplete) else found


def contexts(incomplete: str) -> list[str]:
    """The docker contexts, for -c/--context (read from the CLI config, no engine)."""
    return [name for name in context_names(os.environ) if name.startswith(incomplete)]


def check_ids(incomplete: str) -> list[str]:
    """Check ids, for `ddiag explain`."""
    return [check.id for check in all_checks() if check.id.startswith(incomplete)]


def check_patterns(incomplete: str) -> list[str]:
    """Families (`dns`) and check ids (`dns.ndots`), as --select and --ignore take them."""
    ids = [check.id for check in all_checks()]
    families = dict.fromkeys(check_id.split(".", 1)[0] for check_id in ids)
    return [pattern for pattern in [*families, *ids] if pattern.startswith(incomplete)]


def severity_overrides(incomplete: str) -> list[str]:
    """`CHECK=LEVEL` for --severity: every family and id with every level, so that the shell
    completes the common part (`dns.nd` becomes `dns.ndots=`) and then offers the levels."""
    return [
        f"{pattern}={level.value}"
        for pattern in check_patterns(incomplete.partition("=")[0])
        for level in Severity
        if f"{pattern}={level.value}".startswith(incomplete)
    ]
