"""Services in the host's network namespace (`network_mode: host`): dns.host-network-target
and port.host-network-localhost, on hand-built topologies and recorded answers of the
agent's shapes (the fixture compose-fixtures/host-network runs the same on the engine).

Project `n` on `n_default`: `client` (bridge) calls `hostsvc` (host network) by name;
`hostclient` (host network) calls localhost:DB_PORT, which `db` (bridge) serves.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from diag.checks._edges import local_networks
from diag.checks.registry import all_checks, edge_views
from diag.model.context import CheckContext
from diag.model.findings import Finding
from diag.model.tasks import LISTENING, reach
from diag.model.topology import Container, Endpoint, PortBinding

from .recorded import record
from .test_net_engine_checks import _compose_ctx, _container, _network, _topology

NETWORK = _network("default", "10.213.144.0/28", gateway="10.213.144.1")
HOST_NET = dataclasses.replace(
    _network("host", "", compose=False), driver="host", subnets=()
)  # the engine's `host` network: no subnet, no DNS
API_PORT, DB_PORT = 18791, 18792
NOT_FOUND = {"status": "ok", "hosts_ips": [], "resolve": None, "connects": {}}


def _on_host(service: str, env: dict[str, str]) -> Container:
    """A compose container of `service` in the host's network namespace."""
    base = _container(service, env=env)
    endpoint = Endpoint(HOST_NET.id, HOST_NET.name, "", 0, "", "", (), ())
    return dataclasses.replace(base, network_mode="host", endpoints=(endpoint,))


def _sockets(*texts: str) -> dict[str, Any]:
    found = [
        {"family": "tcp", "address": a, "port": int(p)}
        for a, _, p in (t.rpartition(":") for t in texts)
    ]
    return {"status": "ok", "sockets": found}


def _ctx(*containers: Container) -> CheckContext:
    topology = _topology((NETWORK, HOST_NET), *containers)
    services = {c.service: {"environment": c.env} for c in containers if c.service}
    return _compose_ctx(topology, services)


def _findings(ctx: CheckContext) -> list[Finding]:
    return [f for check in all_checks() for f in check.evaluate(ctx)]


def _named(ctx: CheckContext, service: str) -> Container:
    found = ctx.topology.container_named(f"n-{service}-1")
    assert found is not None
    return found


# --- dns.host-network-target --------------------------------------------------------------


def _client_calls_host_service(*host_listening: str) -> CheckContext:
    client = _container(
        "client", (NETWORK, "10.213.144.2"), env={"API_URL": f"http://hostsvc:{API_PORT}/"}
    )
    ctx = _ctx(client, _on_host("hostsvc", {}))
    task = reach("hostsvc", API_PORT, False, local_networks(ctx))
    record(ctx.observations, ctx.netns_placement(_named(ctx, "client")), task, NOT_FOUND)
    if host_listening:
        record(ctx.observations, ctx.host_placement(), LISTENING, _sockets(*host_listening))
    return ctx


def test_a_host_network_service_has_no_name_to_resolve() -> None:
    (finding,) = _findings(_client_calls_host_service(f"127.0.0.1:{API_PORT}"))
    assert finding.check == "dns.host-network-target"
    assert finding.subjects[:2] == ("client", "hostsvc")
    assert '      - "hostsvc:host-gateway"' in finding.fix
    assert f"not on 127.0.0.1:{API_PORT} only" in finding.fix  # loopback: must listen wider
    assert finding.evidence["host_listening"] == [f"127.0.0.1:{API_PORT}"]
    (view,) = [v for v in edge_views(_client_calls_host_service()) if v.edge.name == "hostsvc"]
    assert view.check == "dns.host-network-target"  # not dns.cross-network's "join host"


def test_a_host_service_listening_on_every_address_needs_only_the_name() -> None:
    (finding,) = _findings(_client_calls_host_service(f"0.0.0.0:{API_PORT}"))
    assert "host-gateway" in finding.fix and "listen on" not in finding.fix


def test_unread_host_sockets_leave_the_listening_part_out() -> None:
    (finding,) = _findings(_client_calls_host_service())
    assert "host_listening" not in finding.evidence and "listen on" not in finding.fix


# --- port.host-network-localhost ----------------------------------------------------------


def _host_client_calls_localhost(db: Container) -> CheckContext:
    hostclient = _on_host("hostclient", {"DB_URL": f"postgres://localhost:{DB_PORT}/app"})
    ctx = _ctx(hostclient, db)
    refused = {"status": "refused", "elapsed_ms": 1}
    answer = {"status": "ok", "hosts_ips": ["127.0.0.1"], "resolve": None,
              "connects": {"127.0.0.1": refused}}  # fmt: skip
    task = reach("localhost", DB_PORT, False, local_networks(ctx))
    record(ctx.observations, ctx.netns_placement(_named(ctx, "hostclient")), task, answer)
    record(
        ctx.observations,
        ctx.netns_placement(_named(ctx, "hostclient")),
        LISTENING,
        _sockets("0.0.0.0:22"),
    )
    record(
        ctx.observations,
        ctx.netns_placement(_named(ctx, "db")),
        LISTENING,
        _sockets(f"0.0.0.0:{DB_PORT}"),
    )
    return ctx


def test_a_host_network_client_needs_the_port_published() -> None:
    db = _container("db", (NETWORK, "10.213.144.3"))
    (finding,) = _findings(_host_client_calls_localhost(db))
    assert finding.check == "port.host-network-localhost"
    assert finding.subjects[:2] == ("hostclient", "db")
    assert f'  db:\n    ports:\n      - "127.0.0.1:{DB_PORT}:{DB_PORT}"' in finding.fix
    assert "the container itself" not in finding.fix  # port.localhost-in-container's words


def test_a_published_port_is_not_this_checks_concern() -> None:
    published = (PortBinding(DB_PORT, "tcp", "127.0.0.1", str(DB_PORT)),)
    db = _container("db", (NETWORK, "10.213.144.3"), published=published)
    assert "port.host-network-localhost" not in {
        f.check for f in _findings(_host_client_calls_localhost(db))
    }
