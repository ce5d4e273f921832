"""What starts before the engine is read: the network guess (diag.engine.early) and the imports the
console script skips (diag.cli.entry)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import docker.errors
import pytest

from diag.cli.entry import engine_in_argv
from diag.engine.early import container_networks, named_networks, project_networks
from diag.engine.endpoint import EngineChoice

NETWORKS = {
    "shop_back": {"Id": "b" * 64, "Name": "shop_back", "Driver": "bridge", "Scope": "local"},
    "shop_front": {"Id": "f" * 64, "Name": "shop_front", "Driver": "bridge", "Scope": "local"},
    "mesh": {"Id": "o" * 64, "Name": "mesh", "Driver": "overlay", "Scope": "swarm"},
    "host": {"Id": "h" * 64, "Name": "host", "Driver": "host", "Scope": "local"},
}


class _Api:
    def __init__(self) -> None:
        self.filters: list[Any] = []

    def inspect_network(self, name: str) -> dict[str, Any]:
        if name not in NETWORKS:
            raise docker.errors.NotFound("no such network")
        return NETWORKS[name]

    def networks(self, filters: dict[str, str] | None = None) -> list[dict[str, Any]]:
        self.filters.append(filters)
        if filters:
            return [NETWORKS["shop_back"], NETWORKS["shop_front"], NETWORKS["mesh"]]
        return list(NETWORKS.values())

    def inspect_container(self, name: str) -> dict[str, Any]:
        if name != "shop-web-1":
            raise docker.errors.NotFound("no such container")
        attached = {"shop_front": {"NetworkID": "f" * 64}, "mesh": {"NetworkID": "o" * 64}}
        return {"NetworkSettings": {"Networks": attached}}


def test_named_networks_guess_the_local_bridges_among_the_names_and_skip_unknown_ones():
    guess = named_networks(["shop_back", "nope", "mesh", "host"])(_Api())  # type: ignore[arg-type]
    assert [(n.id, n.name, n.driver) for n in guess] == [("b" * 64, "shop_back", "bridge")]


def test_a_project_guess_asks_for_the_networks_compose_labelled_and_none_without_a_name():
    api = _Api()
    guess = project_networks("shop")(api)  # type: ignore[arg-type]
    assert [n.name for n in guess] == ["shop_back", "shop_front"]
    assert api.filters == [{"label": "com.docker.compose.project=shop"}]
    assert project_networks(None)(api) == []  # type: ignore[arg-type]
    assert len(api.filters) == 1


def test_a_container_guess_is_its_bridges_and_nothing_for_an_unknown_container():
    guess = container_networks("shop-web-1")(_Api())  # type: ignore[arg-type]
    assert [n.name for n in guess] == ["shop_front"]
    assert container_networks("nope")(_Api()) == []  # type: ignore[arg-type]


def _paramiko_after_entry(docker_host: str) -> str:
    """What `import docker` leaves as sys.modules["paramiko"] once diag.cli.entry decided."""
    code = (
        "import sys; from diag.cli.entry import skip_unused_transports; skip_unused_transports(); "
        "import docker; print(repr(sys.modules.get('paramiko', 'absent'))[:20])"
    )
    env = {"DOCKER_HOST": docker_host, "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_paramiko_is_not_imported_for_a_local_engine_and_is_for_an_ssh_one():
    assert _paramiko_after_entry("unix:///var/run/docker.sock") == "None"
    assert _paramiko_after_entry("ssh://user@example.invalid").startswith("<module 'paramiko'")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["network", "n", "-H", "ssh://me@far"], EngineChoice(host="ssh://me@far")),
        (["network", "n", "-Hssh://me@far"], EngineChoice(host="ssh://me@far")),
        (["compose", "--host=tcp://h:2375", "-q"], EngineChoice(host="tcp://h:2375")),
        (["compose", "--context", "lab", "web"], EngineChoice(context="lab")),
        (["compose", "-c", "a", "-c", "b"], EngineChoice(context="b")),  # the last, as typer
        (["network", "n", "--", "-H", "x"], EngineChoice()),
        (["network", "n", "-H"], EngineChoice()),  # typer will say the value is missing
        (["checks"], EngineChoice()),
    ],
)
def test_the_engine_options_are_read_before_typer(argv: list[str], expected: EngineChoice):
    assert engine_in_argv(argv) == expected


def test_paramiko_is_imported_when_the_command_line_names_an_ssh_engine():
    code = (
        "import sys; from diag.cli.entry import skip_unused_transports; "
        "skip_unused_transports(['network', 'n', '-H', 'ssh://user@example.invalid']); "
        "import docker; print(repr(sys.modules.get('paramiko', 'absent'))[:20])"
    )
    env = {"DOCKER_HOST": "unix:///var/run/docker.sock", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().startswith("<module 'paramiko'")
