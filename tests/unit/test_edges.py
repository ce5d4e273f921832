"""Dependency references in environment values, and edge merging."""

from __future__ import annotations

import pytest

from diag.model.edges import Edge, Reference, merge_edges, plausible_host, references_in_env
from diag.model.topology import Container


def refs(env: dict[str, str]) -> list[tuple[str, int | None]]:
    return [(r.host, r.port) for r in references_in_env(env)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("postgres://user:pw@db:5432/app", [("db", 5432)]),
        ("postgresql://db/app", [("db", 5432)]),
        ("redis://cache:6379/0", [("cache", 6379)]),
        ("http://api/v1", [("api", 80)]),
        ("https://api.example.com/", [("api.example.com", 443)]),
        ("amqp://guest:guest@rabbit", [("rabbit", 5672)]),
        ("kafka1:9092,kafka2:9092", [("kafka1", 9092), ("kafka2", 9092)]),
        ("http://[::1]:8080/", [("::1", 8080)]),
        ("localhost:6379", [("localhost", 6379)]),
        ("10:30", []),
        ("/var/lib/data", []),
        ("just words here", []),
        ("somescheme://x:99999", [("x", None)]),
    ],
)
def test_references_in_values(value: str, expected: list[tuple[str, int | None]]) -> None:
    assert refs({"SOME_URL": value}) == expected


def test_host_and_port_variables_pair_up() -> None:
    env = {"DB_HOST": "db", "DB_PORT": "5432", "CACHE_HOSTNAME": "cache"}
    found = references_in_env(env)
    assert [(r.host, r.port) for r in found] == [("db", 5432), ("cache", None)]
    assert found[0].origin == "environment DB_HOST + DB_PORT"


def test_own_identity_and_bind_variables_are_not_references() -> None:
    env = {"HOSTNAME": "3f2a1b", "HOST": "0.0.0.0", "PORT": "8000", "BIND": "0.0.0.0:8000"}
    assert refs(env) == []


@pytest.mark.parametrize("host", ["db", "my-db_1", "10.0.0.2", "::1", "api.internal"])
def test_plausible_hosts(host: str) -> None:
    assert plausible_host(host)


@pytest.mark.parametrize("host", ["", "123", "-x", "a/b", "a b"])
def test_implausible_hosts(host: str) -> None:
    assert not plausible_host(host)


def _container(cid: str, service: str) -> Container:
    return Container(
        id=cid, name=f"p-{service}-1", image="i", status="running", exit_code=0, error="",
        restart_count=0, health=None, network_mode="p_default", endpoints=(), exposed=(),
        published=(), labels={"com.docker.compose.service": service},
    )  # fmt: skip


def test_merge_folds_portless_edges_into_ported_ones() -> None:
    web = _container("a" * 64, "web")
    merged = merge_edges(
        [
            Edge(web, "db", None, ("depends_on",)),
            Edge(web, "db", 5432, ("environment DB_URL",)),
            Edge(web, "DB", 5432, ("environment DB_HOST + DB_PORT",)),
            Edge(web, "cache", None, ("depends_on",)),
        ]
    )
    assert [(e.name, e.port, e.origins) for e in merged] == [
        ("cache", None, ("depends_on",)),
        ("db", 5432, ("environment DB_URL", "environment DB_HOST + DB_PORT", "depends_on")),
    ]


def test_reference_is_plain_data() -> None:
    assert Reference("db", 5432, "x") == Reference("db", 5432, "x")
