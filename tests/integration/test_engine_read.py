"""The engine read in bulk over its socket (diag.engine.bulk_read) is the read docker-py makes."""

from __future__ import annotations

from diag.engine import client as engine_module
from diag.engine.client import read_topology
from tests.integration.stacks import running


def test_the_bulk_read_and_docker_py_read_the_same_topology(engine, monkeypatch) -> None:
    with running("cross-network"):
        bulk = read_topology(engine)
        monkeypatch.setattr(engine_module, "unix_socket_path", lambda client: None)
        through_docker_py = read_topology(engine)
    assert bulk.containers and bulk == through_docker_py
