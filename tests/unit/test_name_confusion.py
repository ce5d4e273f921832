"""Fix texts that name a network: the compose key of the network that matters, never a
fixed `default` (dns.name-confusion, dns.duplicate-alias, and `network_key()` itself).

Hand-built compose project `q` with two networks, `q_front` (10.213.60.0/24, key `front`)
and `q_back` (10.213.61.0/24, key `back`); nothing is observed, so every edge is judged
from the engine's facts alone, as these checks judge it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from diag.checks._edges import network_key
from diag.checks.registry import find
from diag.model.compose import NETWORK_LABEL, project_from_config
from diag.model.context import CheckContext
from diag.model.findings import Finding
from diag.model.targets import compose_target, network_target
from diag.model.topology import Container, Endpoint, EngineInfo, Network, Subnet, Topology

PROJECT = "q"


def _network(key: str, subnet: str) -> Network:
    name = f"{PROJECT}_{key}"
    return Network(
        id=(name.encode().hex() * 8)[:64],
        name=name,
        driver="bridge",
        scope="local",
        internal=False,
        attachable=False,
        enable_ipv6=False,
        subnets=(Subnet(subnet, None),),
        labels={"com.docker.compose.project": PROJECT, NETWORK_LABEL: key},
    )


FRONT = _network("front", "10.213.60.0/24")
BACK = _network("back", "10.213.61.0/24")
ADDRESSES = {FRONT.name: "10.213.60", BACK.name: "10.213.61"}


def _container(service: str, host: int, *networks: Network, **changes: Any) -> Container:
    name = f"{PROJECT}-{service}-1"
    cid = (service.encode().hex() * 16)[:64]
    names = (name, service, *changes.pop("aliases", ()), cid[:12])
    container = Container(
        id=cid,
        name=name,
        image="ddiag-test/busybox:latest",
        status="running",
        exit_code=0,
        error="",
        restart_count=0,
        health=None,
        network_mode=networks[0].name,
        endpoints=tuple(
            Endpoint(n.id, n.name, f"{ADDRESSES[n.name]}.{host}", 24, "", "", names, names)
            for n in networks
        ),
        exposed=(),
        published=(),
        labels={"com.docker.compose.project": PROJECT, "com.docker.compose.service": service},
    )
    return dataclasses.replace(container, **changes)


def _ctx(containers: list[Container], services: dict[str, dict[str, Any]]) -> CheckContext:
    topology = Topology(EngineInfo("20.10.24", "1.41"), (FRONT, BACK), tuple(containers))
    model = {
        "name": PROJECT,
        "services": services,
        "networks": {"front": {"name": FRONT.name}, "back": {"name": BACK.name}},
    }
    return CheckContext(topology, compose_target(topology, project_from_config(model)))


def _findings(check_id: str, ctx: CheckContext) -> list[Finding]:
    check = find(check_id)
    assert check is not None, check_id
    return list(check.evaluate(ctx))


def _web_uses(host: str, db_networks: tuple[Network, ...], **db: Any) -> Finding:
    """The name-confusion finding of web (on front) using `host`, db on `db_networks`."""
    web = _container("web", 2, FRONT)
    ctx = _ctx(
        [web, _container("db", 3, *db_networks, **db)],
        {"web": {"environment": {"DB_HOST": host, "DB_PORT": "5432"}}, "db": {}},
    )
    (finding,) = _findings("dns.name-confusion", ctx)
    assert "default" not in finding.fix
    return finding


def test_the_alias_goes_under_the_network_the_service_shares_with_the_source() -> None:
    finding = _web_uses("database", (FRONT, BACK))
    assert "did you mean db" in finding.summary
    assert finding.fix.endswith(
        "or give the intended service the alias:\n"
        "  db:\n    networks:\n      front:\n        aliases: [database]\n      back: {}"
    )  # back stays listed: a service's networks: list is all it is attached to


def test_the_source_must_join_when_they_share_no_network() -> None:
    finding = _web_uses("database", (BACK,))
    assert finding.fix.endswith(
        "  db:\n    networks:\n      back:\n        aliases: [database]\n"
        "Either way, web shares no network with db: attach it to back:\n"
        "  web:\n    networks: [front, back]"
    )


def test_a_container_name_suggested_becomes_its_service() -> None:
    finding = _web_uses("q-dbx-1", (FRONT,))
    assert "did you mean q-db-1" in finding.summary
    assert "  db:\n    networks:\n      front:\n        aliases: [q-dbx-1]" in finding.fix


def test_without_a_suggestion_the_alias_goes_on_the_source_network() -> None:
    finding = _web_uses("zzzzzzzz", (BACK,))
    assert "did you mean" not in finding.summary
    assert finding.fix.endswith(
        "  <service name>:\n    networks:\n      front:\n        aliases: [zzzzzzzz]"
    )


def test_duplicate_alias_names_the_network_the_name_collides_on() -> None:
    web = _container("web", 2, BACK)
    one = _container("postgres", 3, BACK, aliases=("pg",))
    two = _container("legacy", 4, BACK, aliases=("pg",))
    env = {"DB_URL": "postgres://app@pg:5432/app"}
    ctx = _ctx([web, one, two], {"web": {"environment": env}, "postgres": {}, "legacy": {}})
    (finding,) = _findings("dns.duplicate-alias", ctx)
    assert "      back:\n        aliases: [pg-other]" in finding.fix
    assert "shared:" not in finding.fix


def test_network_key_from_the_model_then_the_label_then_the_engine_name() -> None:
    unlabelled = dataclasses.replace(_network("x", "10.213.62.0/24"), labels={})
    web = _container("web", 2, FRONT)
    ctx = _ctx([web], {"web": {}})
    assert network_key(ctx, FRONT.name) == "front"  # the compose model
    topology = Topology(EngineInfo("20.10.24", "1.41"), (FRONT, unlabelled), (web,))
    plain = CheckContext(topology, network_target(topology, [FRONT.name]))
    assert network_key(plain, FRONT.name) == "front"  # no model: the network's label
    assert network_key(plain, unlabelled.name) == unlabelled.name
