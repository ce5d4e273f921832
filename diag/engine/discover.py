"""Build a `Topology` from Engine API inspect data.

The engine-version differences live here and nowhere else: from API 1.44 an endpoint lists
the names the embedded DNS answers for it in `DNSNames`; older engines only give `Aliases`
(which up to 1.44 already hold the short id), to which the container's own name is added.
`topology_from_inspect` is pure so that recorded inspect JSON of both shapes can test it.

A swarm manager also reports its swarm (`swarm_from_inspect`): nodes, services and the tasks
it wants running, on every node; a worker knows only that it is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from diag.model.topology import (
    SWARM_TASK_ID,
    Container,
    Endpoint,
    EngineInfo,
    Health,
    Network,
    PortBinding,
    ServicePort,
    Subnet,
    Swarm,
    SwarmNode,
    SwarmService,
    SwarmTask,
    Topology,
)

PROBE_LABEL = "ddiag.probe"


def _ordered_unique(names: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for name in names:
        if name and name.lower() not in {s.lower() for s in seen}:
            seen[name] = None
    return tuple(seen)


def network_from_inspect(raw: Mapping[str, Any]) -> Network:
    ipam_configs = (raw.get("IPAM") or {}).get("Config") or []
    return Network(
        id=raw["Id"],
        name=raw["Name"],
        driver=raw.get("Driver") or "",
        scope=raw.get("Scope") or "local",
        internal=bool(raw.get("Internal")),
        attachable=bool(raw.get("Attachable")),
        enable_ipv6=bool(raw.get("EnableIPv6")),
        subnets=tuple(
            Subnet(cfg["Subnet"], cfg.get("Gateway") or None, cfg.get("IPRange") or None)
            for cfg in ipam_configs
            if cfg.get("Subnet")
        ),
        options=dict(raw.get("Options") or {}),
        labels=dict(raw.get("Labels") or {}),
        ingress=bool(raw.get("Ingress")),
    )


def _endpoint(
    net_name: str, raw: Mapping[str, Any], container_name: str, default_bridge: bool
) -> Endpoint:
    aliases = tuple(raw.get("Aliases") or ())
    if "DNSNames" in raw:
        dns_names = tuple(raw.get("DNSNames") or ())
    elif default_bridge:
        dns_names = ()
    else:
        dns_names = _ordered_unique((container_name, *aliases))
    return Endpoint(
        network_id=raw.get("NetworkID") or "",
        network_name=net_name,
        ip=raw.get("IPAddress") or "",
        ip_prefix_len=int(raw.get("IPPrefixLen") or 0),
        ipv6=raw.get("GlobalIPv6Address") or "",
        mac=raw.get("MacAddress") or "",
        dns_names=dns_names,
        aliases=aliases,
        links=tuple(raw.get("Links") or ()),
    )


def _port_key(key: str) -> tuple[int, str]:
    port, _, proto = key.partition("/")
    return int(port.split("-")[0]), proto or "tcp"


def _bindings(source: Mapping[str, Any]) -> tuple[PortBinding, ...]:
    bindings = []
    for key, hosts in sorted(source.items()):
        port, proto = _port_key(key)
        for host in hosts or ():
            bindings.append(
                PortBinding(port, proto, host.get("HostIp") or "", host.get("HostPort") or "")
            )
    return tuple(bindings)


def _asked(raw: Mapping[str, Any]) -> tuple[PortBinding, ...]:
    """`HostConfig.PortBindings`: what was asked for, granted or not (host mode discards it)."""
    return _bindings((raw.get("HostConfig") or {}).get("PortBindings") or {})


def _published(raw: Mapping[str, Any]) -> tuple[PortBinding, ...]:
    """Bindings as granted when the container runs, as asked when it does not."""
    granted = (raw.get("NetworkSettings") or {}).get("Ports") or {}
    return _bindings(granted) if any(granted.values()) else _asked(raw)


def _health(state: Mapping[str, Any]) -> Health | None:
    health = state.get("Health")
    if not health:
        return None
    log = health.get("Log") or []
    return Health(
        status=health.get("Status") or "",
        failing_streak=int(health.get("FailingStreak") or 0),
        last_output=(log[-1].get("Output") or "").strip() if log else "",
    )


def _has_healthcheck(raw: Mapping[str, Any] | None) -> bool:
    """The effective healthcheck (image's or the container's own); `NONE` disables it."""
    test = (raw or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


def container_from_inspect(
    raw: Mapping[str, Any], default_bridge_ids: set[str], last_logs: tuple[str, ...] = ()
) -> Container:
    config = raw.get("Config") or {}
    host_config = raw.get("HostConfig") or {}
    state = raw.get("State") or {}
    name = (raw.get("Name") or "").lstrip("/")
    networks = (raw.get("NetworkSettings") or {}).get("Networks") or {}
    env = dict(item.partition("=")[::2] for item in config.get("Env") or ())
    return Container(
        id=raw["Id"],
        name=name,
        image=config.get("Image") or raw.get("Image") or "",
        status=state.get("Status") or "",
        exit_code=int(state.get("ExitCode") or 0),
        error=state.get("Error") or "",
        restart_count=int(raw.get("RestartCount") or 0),
        health=_health(state),
        network_mode=host_config.get("NetworkMode") or "",
        endpoints=tuple(
            _endpoint(net_name, ep or {}, name, (ep or {}).get("NetworkID") in default_bridge_ids)
            for net_name, ep in sorted(networks.items())
        ),
        exposed=tuple(sorted(_port_key(key) for key in config.get("ExposedPorts") or {})),
        published=_published(raw),
        dns=tuple(host_config.get("Dns") or ()),
        dns_search=tuple(host_config.get("DnsSearch") or ()),
        dns_options=tuple(host_config.get("DnsOptions") or ()),
        extra_hosts=tuple(host_config.get("ExtraHosts") or ()),
        env=env,
        labels=dict(config.get("Labels") or {}),
        last_logs=last_logs,
        healthcheck=_has_healthcheck(config.get("Healthcheck")),
        links=tuple(host_config.get("Links") or ()),
        port_bindings=_asked(raw),
        pid=int(state.get("Pid") or 0),
        started_at=state.get("StartedAt") or "",
        healthcheck_test=(
            tuple(config["Healthcheck"]["Test"])
            if _has_healthcheck(config.get("Healthcheck"))
            else ()
        ),
    )


def _node(raw: Mapping[str, Any]) -> SwarmNode:
    spec, status = raw.get("Spec") or {}, raw.get("Status") or {}
    manager_addr = (raw.get("ManagerStatus") or {}).get("Addr") or ""
    addr = status.get("Addr") or ""
    if addr in ("", "0.0.0.0") and manager_addr:  # a manager may report 0.0.0.0 there
        addr = manager_addr.rsplit(":", 1)[0]
    return SwarmNode(
        id=raw["ID"],
        hostname=(raw.get("Description") or {}).get("Hostname") or "",
        role=spec.get("Role") or "",
        addr=addr,
        availability=spec.get("Availability") or "",
        state=status.get("State") or "",
        manager_addr=manager_addr,
    )


def _service(raw: Mapping[str, Any]) -> SwarmService:
    spec = raw.get("Spec") or {}
    template = spec.get("TaskTemplate") or {}
    endpoint = raw.get("Endpoint") or {}
    mode = (endpoint.get("Spec") or spec.get("EndpointSpec") or {}).get("Mode") or "vip"
    attachments = template.get("Networks") or spec.get("Networks") or []
    env = (template.get("ContainerSpec") or {}).get("Env") or ()
    return SwarmService(
        id=raw["ID"],
        name=spec.get("Name") or "",
        endpoint_mode=mode,
        vips=tuple(
            (v.get("NetworkID") or "", v["Addr"])
            for v in endpoint.get("VirtualIPs") or ()
            if v.get("Addr")  # none yet while the allocator works
        ),
        ports=tuple(
            ServicePort(
                target=int(p.get("TargetPort") or 0),
                published=int(p.get("PublishedPort") or 0),
                protocol=p.get("Protocol") or "tcp",
                mode=p.get("PublishMode") or "ingress",
            )
            for p in endpoint.get("Ports") or ()
        ),
        networks=tuple(a.get("Target") or "" for a in attachments),
        aliases=tuple(
            (a.get("Target") or "", alias) for a in attachments for alias in a.get("Aliases") or ()
        ),
        labels=dict(spec.get("Labels") or {}),
        env=dict(item.partition("=")[::2] for item in env),
    )


def _task(raw: Mapping[str, Any]) -> SwarmTask:
    status = raw.get("Status") or {}
    return SwarmTask(
        id=raw["ID"],
        service_id=raw.get("ServiceID") or "",
        node_id=raw.get("NodeID") or "",
        state=status.get("State") or "",
        container_id=(status.get("ContainerStatus") or {}).get("ContainerID") or "",
        addresses=tuple(
            ((attachment.get("Network") or {}).get("ID") or "", address)
            for attachment in raw.get("NetworksAttachments") or ()
            for address in attachment.get("Addresses") or ()
        ),
    )


def swarm_from_inspect(
    info: Mapping[str, Any],
    nodes: Iterable[Mapping[str, Any]] = (),
    services: Iterable[Mapping[str, Any]] = (),
    tasks: Iterable[Mapping[str, Any]] = (),
) -> Swarm | None:
    """`GET /info` (its `Swarm`), and on a manager `GET /nodes`, `/services` and `/tasks`
    (desired state running), as a Swarm; None when the engine is in no swarm. ddiag's own
    probe services (a previous run's, or this one's) and their tasks are left out."""
    state = info.get("Swarm") or {}
    if state.get("LocalNodeState") != "active":
        return None
    node_id, node_addr = state.get("NodeID") or "", state.get("NodeAddr") or ""
    if not state.get("ControlAvailable"):
        return Swarm(node_id, node_addr, manager=False)
    kept = [s for s in services if PROBE_LABEL not in ((s.get("Spec") or {}).get("Labels") or {})]
    ids = {s["ID"] for s in kept}
    return Swarm(
        node_id,
        node_addr,
        manager=True,
        nodes=tuple(sorted((_node(n) for n in nodes), key=lambda n: n.hostname)),
        services=tuple(sorted((_service(s) for s in kept), key=lambda s: s.name)),
        tasks=tuple(_task(t) for t in tasks if t.get("ServiceID") in ids),
    )


def _current_tasks(swarm: Swarm | None) -> set[str] | None:
    """The ids of the tasks the swarm wants running; None where that is not known (no
    swarm, or a worker)."""
    return {task.id for task in swarm.tasks} if swarm is not None and swarm.manager else None


def _history(raw: Mapping[str, Any], current: set[str] | None) -> bool:
    """A container of a task the swarm no longer wants running: a manager keeps up to
    TaskHistoryRetentionLimit of them per slot, stopped, and they are no one's concern."""
    task_id = ((raw.get("Config") or {}).get("Labels") or {}).get(SWARM_TASK_ID)
    return task_id is not None and current is not None and task_id not in current


def topology_from_inspect(
    version: Mapping[str, Any],
    networks: Iterable[Mapping[str, Any]],
    containers: Iterable[Mapping[str, Any]],
    logs: Mapping[str, tuple[str, ...]] | None = None,
    swarm: Swarm | None = None,
) -> Topology:
    """Turn `GET /version`, `GET /networks` and container inspects into a Topology.

    Probe containers of ddiag (this run's or another's) are left out: they are not the
    user's, and a diagnosis that listed them would change from run to run. So are, on a
    swarm manager, the stopped containers of tasks the swarm has replaced (its history).
    """
    nets = tuple(sorted((network_from_inspect(n) for n in networks), key=lambda n: n.name))
    default_bridge_ids = {n.id for n in nets if n.is_default_bridge}
    logs = logs or {}
    current = _current_tasks(swarm)
    members = tuple(
        sorted(
            (
                container_from_inspect(c, default_bridge_ids, logs.get(c["Id"], ()))
                for c in containers
                if PROBE_LABEL not in ((c.get("Config") or {}).get("Labels") or {})
                and not _history(c, current)
            ),
            key=lambda c: c.name,
        )
    )
    return Topology(
        engine=EngineInfo(
            version=str(version.get("Version", "")),
            api_version=str(version.get("ApiVersion", "")),
        ),
        networks=nets,
        containers=members,
        swarm=swarm,
    )
