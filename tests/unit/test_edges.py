"""Dependency references in environment values, and edge merging."""

from __future__ import annotations

from pathlib import Path

import pytest

from diag.model.edges import (
    DEFAULT_PORTS,
    Edge,
    Reference,
    is_bind_address,
    merge_edges,
    plausible_host,
    protocol_port,
    references_in_env,
)
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


# --- the port a client would use (issue 17, item 3) -----------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MYSQL_HOST": "localhost"}, [("localhost", 3306, "the default mysql port")]),
        ({"MARIADB_HOST": "db"}, [("db", 3306, "the default mariadb port")]),
        ({"PG_HOST": "db"}, [("db", 5432, "the default pg port")]),
        ({"SPRING_REDIS_HOST": "cache"}, [("cache", 6379, "the default redis port")]),
        ({"MONGO_HOST": "m"}, [("m", 27017, "the default mongo port")]),
        ({"RABBIT_HOST": "mq"}, [("mq", 5672, "the default rabbit port")]),
        ({"MEMCACHE_SERVER": "mc"}, [("mc", 11211, "the default memcache port")]),
        ({"ELASTIC_HOST": "es"}, [("es", 9200, "the default elastic port")]),
        ({"KAFKA_ZOOKEEPER_HOST": "zk"}, [("zk", 2181, "the default zookeeper port")]),
        ({"MYSQL_HOST": "db", "MYSQL_PORT": "3307"}, [("db", 3307, "")]),
        ({"WORDPRESS_DB_HOST": "db"}, [("db", None, "")]),
        ({"WORDPRESS_DB_HOST": "db:3306"}, [("db", 3306, "")]),
        ({"DB_URL": "mysql+pymysql://u:p@db/app"}, [("db", 3306, "the default mysql port")]),
        ({"DB_URL": "postgres://db:6432/app"}, [("db", 6432, "")]),
    ],
)
def test_a_protocol_named_by_the_variable_or_scheme_gives_the_port(
    env: dict[str, str], expected: list[tuple[str, int | None, str]]
) -> None:
    assert [(r.host, r.port, r.port_from) for r in references_in_env(env)] == expected


def test_every_default_port_is_one_table() -> None:
    assert DEFAULT_PORTS["mysql"] == DEFAULT_PORTS["mariadb"] == 3306
    assert (
        protocol_port("POSTGRES")
        == protocol_port("postgres")
        == (5432, "the default postgres port")
    )
    assert protocol_port("WORDPRESS_DB") is None


def test_merge_keeps_a_written_port_written() -> None:
    web = _container("a" * 64, "web")
    inferred = Edge(
        web, "db", 3306, ("environment MYSQL_HOST",), port_from="the default mysql port"
    )
    written = Edge(web, "db", 3306, ("environment DB_URL",))
    (merged,) = merge_edges([inferred, written, Edge(web, "db", None, ("depends_on",))])
    assert merged.port_from == ""
    assert merged.origins == ("environment MYSQL_HOST", "environment DB_URL", "depends_on")
    (alone,) = merge_edges([inferred, Edge(web, "db", None, ("depends_on",))])
    assert (alone.port, alone.port_from) == (3306, "the default mysql port")


# --- listen and bind addresses are not references (issue 17, item 4a) ------------------------


@pytest.mark.parametrize(
    "env",
    [
        {"ADDRESS": "0.0.0.0:8000"},
        {"HOST": "0.0.0.0"},
        {"BIND": "::"},
        {"LISTEN_ADDR": "127.0.0.1:9000"},
        {"SERVER_ADDR": "0.0.0.0"},
        {"GUNICORN_BIND": "127.0.0.1:8000"},
        {"HTTP_LISTEN_ADDRESS": "localhost:8080"},
        {"KAFKA_LISTENERS": "PLAINTEXT://0.0.0.0:9092"},
        {"SERVER_URL": "http://[::]:8000/"},
        {"METRICS": "0.0.0.0:9100,[::]:9100"},
    ],
)
def test_bind_addresses_are_not_references(env: dict[str, str]) -> None:
    assert refs(env) == []


@pytest.mark.parametrize(
    ("variable", "host"),
    [("API_ADDR", "127.0.0.1"), ("BIND_PEER", "api"), ("LISTEN_UPSTREAM", "10.213.1.2")],
)
def test_loopback_of_other_variables_and_other_hosts_stay_references(
    variable: str, host: str
) -> None:
    assert not is_bind_address(variable, host)
    assert refs({variable: f"{host}:9000"}) == [(host, 9000)]


def ports_table() -> str:
    """README's table of DEFAULT_PORTS: one row per port, its protocol words."""
    words: dict[int, list[str]] = {}
    for word, port in sorted(DEFAULT_PORTS.items()):
        words.setdefault(port, []).append(f"`{word}`")
    return "\n".join(f"| {port} | {', '.join(words[port])} |" for port in sorted(words))


def test_readme_shows_the_one_table_of_default_ports() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- ports:start")[1].split("<!-- ports:end -->")[0]
    assert block.split("|---:|---|\n")[1].rstrip("\n") == ports_table()


@pytest.mark.parametrize(
    "env",
    [
        {"NEXT_PUBLIC_API_URL": "http://localhost:3000"},  # compiled into the browser's code
        {"REACT_APP_API_URL": "http://api:8000"},
        {"VITE_BACKEND": "localhost:8080"},
        {"VIRTUAL_HOST": "shop.example.com"},  # nginx-proxy: the container's own name
        {"LETSENCRYPT_HOST": "shop.example.com"},
        {"SERVER_NAME": "localhost"},
        {"ROOT_URL": "http://localhost:3000/"},  # gitea
        {"GF_SERVER_ROOT_URL": "http://localhost:3000"},  # grafana
        {"CLIENT_PUBLIC_URL": "http://localhost:8080"},  # a public URL at the browser's host
        {"EXTERNAL_URL": "http://127.0.0.1:9000"},
    ],
)
def test_addresses_for_browsers_and_own_names_are_no_references(env: dict[str, str]) -> None:
    assert references_in_env(env) == []


def test_an_app_url_is_kept_it_is_often_a_dependency() -> None:
    """`APP_URL` is Laravel's own address, but as often the app a sidecar calls: kept."""
    [ref] = references_in_env({"APP_URL": "http://localhost:8080/"})
    assert (ref.host, ref.port) == ("localhost", 8080)


def test_a_public_variable_naming_another_service_is_kept() -> None:
    [ref] = references_in_env({"EXTERNAL_API_URL": "http://payments:8080/v1"})
    assert (ref.host, ref.port) == ("payments", 8080)


def test_libpq_names_are_host_variables() -> None:
    [ref] = references_in_env({"PGHOST": "db", "PGPORT": "6543"})
    assert (ref.host, ref.port, ref.origin) == ("db", 6543, "environment PGHOST + PGPORT")
    [ref] = references_in_env({"PGHOST": "db"})
    assert (ref.host, ref.port, ref.port_from) == ("db", 5432, "the default pg port")
    assert references_in_env({"GHOST": "db"}) == []  # not a protocol word + HOST
