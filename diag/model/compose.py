"""The compose model of a project, from `docker compose config --format json` or from labels.

ddiag never parses compose YAML itself: the compose CLI merges files, interpolates
variables, applies `COMPOSE_*` variables and expands short syntax exactly as `docker
compose up` did. With only `-p PROJECT` and no compose file, the model is rebuilt from the
running containers' labels and inspect data, which is all the engine remembers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from diag.errors import DiagError
from diag.model.topology import Container, Topology

DEPENDS_ON_LABEL = "com.docker.compose.depends_on"
NETWORK_LABEL = "com.docker.compose.network"
SPECIAL_MODES = {"host", "none", "bridge"}


@dataclass(frozen=True)
class PublishedPort:
    target: int
    published: str
    host_ip: str
    protocol: str


@dataclass(frozen=True)
class Service:
    name: str
    environment: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    depends_on: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    links: tuple[tuple[str, str], ...] = ()
    network_mode: str = ""
    networks: tuple[str, ...] = ()
    healthcheck: bool | None = None
    ports: tuple[PublishedPort, ...] = ()
    extra_hosts: tuple[tuple[str, str], ...] = ()
    dns: tuple[str, ...] = ()

    @property
    def shares_netns_with(self) -> str | None:
        """`network_mode: service:x` → x (compose turns it into a depends_on too)."""
        mode = self.network_mode
        return mode.split(":", 1)[1] if mode.startswith("service:") else None


@dataclass(frozen=True)
class ComposeProject:
    name: str
    services: dict[str, Service] = field(hash=False, compare=False)
    networks: dict[str, str] = field(hash=False, compare=False)  # compose key → engine name
    source: str = "config"  # or "labels"
    config_files: tuple[str, ...] = ()
    extensions: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def ddiag_settings(self) -> dict[str, Any]:
        """The top-level `x-ddiag` extension (ignored by Compose): ddiag's own settings."""
        value = self.extensions.get("x-ddiag")
        return value if isinstance(value, dict) else {}

    def containers(self, topology: Topology, service: str | None = None) -> list[Container]:
        return [
            c
            for c in topology.containers
            if c.project == self.name and (service is None or c.service == service)
        ]


def _as_pairs(items: Any, separators: str = ":=") -> tuple[tuple[str, str], ...]:
    """`["db:10.0.0.2", "x=1.2.3.4"]` or `{"db": "10.0.0.2"}` → (("db", "10.0.0.2"), ...)."""
    if isinstance(items, Mapping):
        return tuple((str(k), str(v)) for k, v in items.items())
    pairs = []
    for item in items or ():
        text = str(item)
        cut = min((i for i in (text.find(s) for s in separators) if i >= 0), default=-1)
        if cut > 0:
            pairs.append((text[:cut], text[cut + 1 :]))
    return tuple(pairs)


def _links(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    links = []
    for item in items or ():
        service, _, alias = str(item).partition(":")
        links.append((service, alias or service))
    return tuple(links)


def _healthcheck(raw: Mapping[str, Any] | None) -> bool | None:
    if raw is None:
        return None  # compose does not know: the image may define one
    test = raw.get("test") or []
    return not (raw.get("disable") or (test and test[0] == "NONE"))


def unescape(text: str) -> str:
    """Compose's `$$` (a literal `$`) as the container has it. `docker compose config`
    prints its model escaped again (`$$$$(id)` for `$$(id)` in the file, and keys too), and
    ddiag shows what the container sees: this undoes that once, here where the model is
    built, so that no check, evidence, fix or redaction sees the escaped form."""
    return text.replace("$$", "$")


def service_from_config(name: str, raw: Mapping[str, Any]) -> Service:
    return Service(
        name=name,
        environment={
            unescape(str(k)): "" if v is None else unescape(str(v))
            for k, v in (raw.get("environment") or {}).items()
        },
        depends_on={
            target: (spec or {}).get("condition", "service_started")
            for target, spec in (raw.get("depends_on") or {}).items()
        },
        links=_links(raw.get("links") or ()),
        network_mode=raw.get("network_mode") or "",
        networks=tuple(raw.get("networks") or ()),
        healthcheck=_healthcheck(raw.get("healthcheck")),
        ports=tuple(
            PublishedPort(
                target=int(p.get("target", 0)),
                published=str(p.get("published") or ""),
                host_ip=p.get("host_ip") or "",
                protocol=p.get("protocol") or "tcp",
            )
            for p in raw.get("ports") or ()
        ),
        extra_hosts=_as_pairs(raw.get("extra_hosts")),
        dns=tuple(raw.get("dns") or ()),
    )


def project_from_config(model: Mapping[str, Any], files: Sequence[str] = ()) -> ComposeProject:
    return ComposeProject(
        name=model["name"],
        services={
            name: service_from_config(name, raw)
            for name, raw in sorted((model.get("services") or {}).items())
        },
        networks={
            key: (raw or {}).get("name") or f"{model['name']}_{key}"
            for key, raw in (model.get("networks") or {}).items()
        },
        source="config",
        config_files=tuple(files),
        extensions={k: v for k, v in model.items() if k.startswith("x-")},
    )


def _depends_on_label(value: str) -> dict[str, str]:
    """`db:service_healthy:false,cache:service_started:false` → {"db": "service_healthy", ...}."""
    found = {}
    for item in filter(None, value.split(",")):
        parts = item.split(":")
        found[parts[0]] = parts[1] if len(parts) > 1 else "service_started"
    return found


def project_from_labels(topology: Topology, name: str) -> ComposeProject:
    """What the engine remembers of a project: services, env, networks, depends_on."""
    containers = [c for c in topology.containers if c.project == name and not c.is_oneoff]
    if not containers:
        raise DiagError(_unknown_project(topology, name))
    by_id = {c.id: c for c in topology.containers}
    services: dict[str, Service] = {}
    for container in containers:
        if container.service is None or container.service in services:
            continue
        mode = container.network_mode
        if mode.startswith("container:"):
            joined = by_id.get(mode.split(":", 1)[1])
            mode = f"service:{joined.service}" if joined and joined.service else mode
        services[container.service] = Service(
            name=container.service,
            environment=dict(container.env),
            depends_on=_depends_on_label(container.labels.get(DEPENDS_ON_LABEL, "")),
            network_mode=mode if mode in SPECIAL_MODES or ":" in mode else "",
            networks=tuple(ep.network_name for ep in container.endpoints),
            healthcheck=container.healthcheck,
            extra_hosts=_as_pairs(container.extra_hosts),
            dns=container.dns,
        )
    networks = {
        n.labels.get(NETWORK_LABEL, n.name): n.name
        for n in topology.networks
        if n.labels.get("com.docker.compose.project") == name
    }
    return ComposeProject(name, dict(sorted(services.items())), networks, source="labels")


def _unknown_project(topology: Topology, name: str) -> str:
    import difflib

    known = sorted({c.project for c in topology.containers if c.project})
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = (
        f" Did you mean {' or '.join(close)}?"
        if close
        else (f" Projects with containers on this engine: {', '.join(known) or 'none'}.")
    )
    return f"No running compose project named {name!r}.{hint} (`docker compose ls -a` lists them.)"
