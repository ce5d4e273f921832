"""Edges whose configuration names no port (issue 17, item 3), on hand-built topologies.

Compose project `n` on `n_default` (10.213.226.0/24; test_net_engine_checks' helpers):
`web` (10.213.226.2) depends on `db` (10.213.226.3) the ways real compose files write it
(`WORDPRESS_DB_HOST=db`, `MYSQL_HOST=localhost`, `depends_on` alone). The port a client
would use is inferred (checks/_edge_port.py), the edge is tried there, and the report lists
it as failed when that port refuses, or as "not checked", with the reason, when the port
cannot be known: never as working. Observations have the shapes the agent returns
(diag/agent/tasks.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from diag.checks._edges import local_networks
from diag.checks.registry import all_checks, edge_views, find
from diag.model.context import CheckContext
from diag.model.findings import Finding
from diag.model.tasks import LISTENING, Planned, Task, reach
from diag.model.topology import Container

from .recorded import record
from .test_net_engine_checks import PROJECT, _compose_ctx, _container, _network, _topology

WEB_IP, DB_IP = "10.213.226.2", "10.213.226.3"
REFUSED = {"status": "refused", "elapsed_ms": 1}
OPEN = {"status": "open", "elapsed_ms": 1}
NETWORK = _network("default", "10.213.226.0/24")


def _ctx(
    web_env: dict[str, str],
    depends_on: tuple[str, ...] = (),
    web: dict[str, Any] | None = None,
    **db: Any,
) -> CheckContext:
    """web (with `web_env`, and `depends_on`) and db (its container changed by `db`)."""
    topology = _topology(
        (NETWORK,),
        _container("web", (NETWORK, WEB_IP), env=web_env, **(web or {})),
        _container("db", (NETWORK, DB_IP), **db),
    )
    services = {
        "web": {"environment": web_env, "depends_on": {name: {} for name in depends_on}},
        "db": {},
    }
    return _compose_ctx(topology, services)


def _named(ctx: CheckContext, service: str) -> Container:
    found = ctx.topology.container_named(f"{PROJECT}-{service}-1")
    assert found is not None, service
    return found


def _listening(ctx: CheckContext, service: str, *sockets: tuple[str, int]) -> None:
    record(
        ctx.observations,
        ctx.netns_placement(_named(ctx, service)),
        LISTENING,
        {
            "status": "ok",
            "sockets": [
                {"family": "tcp6" if ":" in a else "tcp", "address": a, "port": p}
                for a, p in sockets
            ],
        },
    )


def _reaches(ctx: CheckContext) -> list[Planned]:
    check = find("port.refused")
    assert check is not None
    return [(at, task) for at, task in check.plan(ctx) if task.kind == "reach"]


def _observe_reach(
    ctx: CheckContext,
    name: str,
    port: int | None,
    connects: dict[str, dict[str, Any]],
    hosts: tuple[str, ...] = (),
) -> None:
    """web's reach of `name` (at `port`): the embedded DNS answers db's address."""
    task: Task[Any] = reach(name, port, not hosts, local_networks(ctx))
    resolve = None if hosts else {"status": "ok", "rcode": "NOERROR", "addresses": [DB_IP]}
    answer = {"status": "ok", "hosts_ips": list(hosts), "resolve": resolve, "connects": connects}
    record(ctx.observations, ctx.netns_placement(_named(ctx, "web")), task, answer)


def _findings(ctx: CheckContext) -> list[Finding]:
    return [f for check in all_checks() for f in check.evaluate(ctx)]


def _view(ctx: CheckContext) -> tuple[int | None, str, str | None, str, str]:
    (view,) = edge_views(ctx)
    return view.edge.port, view.edge.port_from, view.check, view.status, view.reason


# --- the port from what the target exposes --------------------------------------------------


def test_wordpress_db_host_is_tried_on_the_port_db_exposes_and_fails_there() -> None:
    ctx = _ctx({"WORDPRESS_DB_HOST": "db"}, depends_on=("db",), exposed=((3306, "tcp"),))
    assert [task.port for _, task in _reaches(ctx)] == [3306]
    _listening(ctx, "db")  # the server is down: nothing listens
    _listening(ctx, "web")
    _observe_reach(ctx, "db", 3306, {DB_IP: REFUSED})
    [finding] = [f for f in _findings(ctx) if f.check == "port.not-listening"]
    assert finding.subjects[:2] == ("db", "web")
    assert "web uses db:3306 but nothing listens on it" in finding.summary
    assert _view(ctx) == (3306, "the only port db exposes", "port.not-listening", "failed", "")


def test_inferred_port_is_evidence_of_the_edge_finding() -> None:
    ctx = _ctx({"WORDPRESS_DB_HOST": "db"}, exposed=((3306, "tcp"),))
    _listening(ctx, "db", ("0.0.0.0", 3306))
    _listening(ctx, "web")
    _observe_reach(ctx, "db", 3306, {DB_IP: REFUSED})
    [finding] = [f for f in _findings(ctx) if f.check == "port.refused"]
    assert finding.evidence["edge"] == "web → db:3306"
    assert finding.evidence["port"] == "3306, the only port db exposes"


def test_host_and_port_in_one_host_variable_keep_their_port() -> None:
    ctx = _ctx({"WORDPRESS_DB_HOST": "db:3307"}, exposed=((3306, "tcp"),))
    assert [task.port for _, task in _reaches(ctx)] == [3307]
    _listening(ctx, "db", ("0.0.0.0", 3307))
    _observe_reach(ctx, "db", 3307, {DB_IP: OPEN})
    assert _view(ctx) == (3307, "", None, "ok", "")


def test_a_working_inferred_port_is_ok() -> None:
    ctx = _ctx({}, depends_on=("db",), exposed=((5432, "tcp"),))
    _listening(ctx, "db", ("::", 5432))
    _observe_reach(ctx, "db", 5432, {DB_IP: OPEN})
    assert _view(ctx) == (5432, "the only port db exposes", None, "ok", "")


# --- the port from what the target listens on -----------------------------------------------


def test_without_expose_the_port_comes_from_the_listening_sockets_once_read() -> None:
    ctx = _ctx({"APP_DB_HOST": "db"})
    # first round: db's sockets are not read yet, so db is only looked up
    assert [task.port for _, task in _reaches(ctx)] == [0]
    _listening(ctx, "db", ("0.0.0.0", 5432), ("127.0.0.1", 9187))
    assert [task.port for _, task in _reaches(ctx)] == [5432]
    _observe_reach(ctx, "db", 5432, {DB_IP: OPEN})
    assert _view(ctx) == (5432, "the only port db listens on", None, "ok", "")


def test_a_loopback_only_listener_is_tried_and_explained() -> None:
    ctx = _ctx({"APP_DB_HOST": "db"})
    _listening(ctx, "db", ("127.0.0.1", 5432))
    _listening(ctx, "web")
    _observe_reach(ctx, "db", 5432, {DB_IP: REFUSED})
    port, _, check, status, _ = _view(ctx)
    assert (port, check, status) == (5432, "port.app-loopback", "failed")


# --- ports that cannot be known: not checked, never ✓ ----------------------------------------


def test_several_exposed_ports_are_not_guessed_between() -> None:
    ctx = _ctx({"APP_DB_HOST": "db"}, exposed=((80, "tcp"), (443, "tcp")))
    assert [task.port for _, task in _reaches(ctx)] == [0]  # looked up, never connected
    _observe_reach(ctx, "db", None, {})
    port, _, check, status, reason = _view(ctx)
    assert (port, check, status) == (None, None, "not checked")
    assert reason.startswith("db exposes 80, 443, and no port is configured")
    assert "(db:PORT)" in reason


@pytest.mark.parametrize(
    ("db", "protocol"),
    [
        ({"image": "mariadb:11"}, "mariadb"),  # the image says what the server speaks
        ({"env": {"MYSQL_ROOT_PASSWORD": "x", "MYSQL_DATABASE": "wp"}}, "mysql"),  # its env too
    ],
    ids=["image", "environment"],
)
def test_of_several_ports_the_targets_protocol_picks_its_default(
    db: dict[str, Any], protocol: str
) -> None:
    """The wordpress sample: `WORDPRESS_DB_HOST=db`, a MariaDB exposing 3306 and 33060."""
    ctx = _ctx({"WORDPRESS_DB_HOST": "db"}, exposed=((3306, "tcp"), (33060, "tcp")), **db)
    assert [task.port for _, task in _reaches(ctx)] == [3306]
    _observe_reach(ctx, "db", 3306, {DB_IP: {"status": "open", "elapsed_ms": 1}})
    port, inferred, check, status, _ = _view(ctx)
    assert (port, check, status) == (3306, None, "ok")
    assert inferred == f"the {protocol} port, which db exposes (also: 33060)"


def test_a_client_protocol_in_the_targets_environment_picks_nothing() -> None:
    ctx = _ctx({"APP_DB_HOST": "db"}, exposed=((80, "tcp"), (8080, "tcp")), env={"HTTP_PROXY": "x"})
    assert [task.port for _, task in _reaches(ctx)] == [0]


def test_nothing_exposed_nor_listening_is_not_checked() -> None:
    ctx = _ctx({}, depends_on=("db",))
    _listening(ctx, "db")
    _observe_reach(ctx, "db", None, {})
    assert _view(ctx)[3:] == ("not checked", "db exposes no port and listens on none")


def test_unread_sockets_are_not_checked() -> None:
    ctx = _ctx({}, depends_on=("db",))
    _observe_reach(ctx, "db", None, {})
    assert _view(ctx)[3:] == (
        "not checked",
        "db exposes no port, and its listening sockets could not be read",
    )


def test_a_name_that_does_not_resolve_fails_whatever_the_port() -> None:
    ctx = _ctx({"APP_DB_HOST": "db"}, exposed=((80, "tcp"), (443, "tcp")))
    task: Task[Any] = reach("db", None, True, local_networks(ctx))
    nxdomain = {"status": "nxdomain", "rcode": "NXDOMAIN", "addresses": []}
    answer = {"status": "ok", "hosts_ips": [], "resolve": nxdomain, "connects": {}}
    record(ctx.observations, ctx.netns_placement(_named(ctx, "web")), task, answer)
    assert _view(ctx)[2:4] == ("dns.wrong-address", "failed")


def test_nothing_observed_is_not_checked() -> None:
    ctx = _ctx({}, depends_on=("db",), exposed=((5432, "tcp"),))
    assert _view(ctx)[3:] == ("not checked", "nothing was observed from web's network namespace")


def test_a_stopped_source_is_not_checked() -> None:
    ctx = _ctx({}, depends_on=("db",), web={"status": "exited"}, exposed=((5432, "tcp"),))
    assert _view(ctx)[3:] == ("not checked", "web is not running")


def test_a_shared_namespace_needs_no_port() -> None:
    ctx = _ctx({}, depends_on=("db",), exposed=((80, "tcp"), (443, "tcp")))
    shared = dataclasses.replace(ctx.target.edges[0], origins=("depends_on", "network_mode"))
    ctx = CheckContext(ctx.topology, dataclasses.replace(ctx.target, edges=(shared,)))
    _observe_reach(ctx, "db", None, {})
    assert _view(ctx) == (None, "", None, "ok", "")


# --- localhost ---------------------------------------------------------------------------------


def test_mysql_host_localhost_is_tried_on_the_mysql_port() -> None:
    ctx = _ctx({"MYSQL_HOST": "localhost"}, exposed=((3306, "tcp"),))
    _listening(ctx, "web", ("0.0.0.0", 80))
    _listening(ctx, "db", ("0.0.0.0", 3306))
    _observe_reach(ctx, "localhost", 3306, {"127.0.0.1": REFUSED}, hosts=("127.0.0.1",))
    [finding] = [f for f in _findings(ctx) if f.check == "port.localhost-in-container"]
    assert finding.subjects == ("web", "db", "n-web-1")
    assert finding.evidence["port"] == "3306, the default mysql port"
    assert "MYSQL_HOST: <same value with localhost replaced by db>" in finding.fix
    assert _view(ctx)[:4] == (
        3306,
        "the default mysql port",
        "port.localhost-in-container",
        "failed",
    )


def test_localhost_without_a_protocol_is_not_checked() -> None:
    ctx = _ctx({"API_HOST": "localhost"}, exposed=((3306, "tcp"),))
    _observe_reach(ctx, "localhost", None, {}, hosts=("127.0.0.1",))
    port, _, check, status, reason = _view(ctx)
    assert (port, check, status) == (None, None, "not checked")
    assert reason == (
        "no port is configured for localhost: name its port in web's configuration (localhost:PORT)"
    )


def test_an_address_outside_the_engine_is_not_checked() -> None:
    """web's hosts file sends `legacy` to a machine elsewhere: never contacted, not judged."""
    ctx = _ctx({"LEGACY_URL": "http://legacy:8080/"}, web={"extra_hosts": ("legacy:192.0.2.10",)})
    _observe_reach(ctx, "legacy", 8080, {}, hosts=("192.0.2.10",))
    assert _view(ctx)[2:] == (
        None,
        "not checked",
        "never contacted: 192.0.2.10, outside this engine's networks",
    )
