"""What the engine's host is known as (diag/engine/engine_host.py), from recorded /proc
and /etc/hosts text and engine answers: no socket is opened, no file of this machine is read."""

from __future__ import annotations

import pytest

from diag.engine import engine_host
from diag.engine.hostfw import IN_IMAGE, LOCAL_ENGINE_URL

# /proc/net/fib_trie of a host with an uplink (192.0.2.10 and a secondary .11) and docker0.
FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 172.17.0.0/16 2 0 2
        +-- 172.17.0.0/31 1 0 0
           |-- 172.17.0.0
              /16 link UNICAST
           |-- 172.17.0.1
              /32 host LOCAL
        |-- 172.17.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        |-- 192.0.2.0
           /24 link UNICAST
        |-- 192.0.2.10
           /32 host LOCAL
        |-- 192.0.2.11
           /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
"""
IF_INET6 = """20010db8000000000000000000000010 02 40 00 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000000fc00fffe000001 02 40 20 80     eth0
"""


HOSTS = """127.0.0.1\tlocalhost
127.0.1.1\tdevbox
192.0.2.7\tlegacy.corp.lan legacy  # a VPN client's line
::1\tlocalhost ip6-localhost ip6-loopback
"""


def test_dotted_names_of_the_hosts_file() -> None:
    assert engine_host.dotted_names(HOSTS) == {"legacy.corp.lan"}


def test_local_ipv4_is_every_host_local_leaf_but_loopback() -> None:
    assert engine_host.local_ipv4(FIB_TRIE) == {"172.17.0.1", "192.0.2.10", "192.0.2.11"}


def test_local_ipv6_leaves_out_loopback_and_link_local() -> None:
    assert engine_host.local_ipv6(IF_INET6) == {"2001:db8::10"}


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://192.0.2.20:2375", {"192.0.2.20"}),
        ("https://DockerBox.example:2376", {"dockerbox.example"}),
        ("http://[2001:db8::20]:2375", {"2001:db8::20"}),
        ("http://127.0.0.1:2375", set()),  # loopback: in a container, the container itself
        ("http+docker://ssh", set()),  # ssh:// keeps no name in docker-py's base URL
        (LOCAL_ENGINE_URL, set()),
    ],
)
def test_a_tcp_engines_address_is_the_hosts(base_url: str, expected: set[str]) -> None:
    assert engine_host.of_url(base_url) == expected


def test_a_swarm_nodes_address_is_the_hosts() -> None:
    assert engine_host.of_swarm({"Swarm": {"NodeAddr": "192.0.2.30"}}) == {"192.0.2.30"}
    assert engine_host.of_swarm({"Swarm": {"NodeAddr": ""}}) == set()


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IN_IMAGE, raising=False)
    monkeypatch.setattr(engine_host, "this_machine", lambda: {"172.17.0.1", "192.0.2.10"})
    monkeypatch.setattr(engine_host, "_read", lambda path: HOSTS)


@pytest.mark.usefixtures("machine")
def test_this_machine_is_the_engines_host_when_it_holds_a_gateway() -> None:
    addresses, names = engine_host.read(LOCAL_ENGINE_URL, {}, frozenset({"172.17.0.1"}))
    assert addresses == {"172.17.0.1", "192.0.2.10"}
    assert names == {"legacy.corp.lan"}


@pytest.mark.usefixtures("machine")
def test_a_vm_behind_the_socket_is_not_this_machine() -> None:
    """Docker Desktop: the socket is local, the bridges are in a VM's kernel."""
    assert engine_host.read(LOCAL_ENGINE_URL, {}, frozenset({"10.213.0.1"})) == (set(), set())


@pytest.mark.usefixtures("machine")
def test_in_ddiags_own_image_the_interfaces_are_its_containers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(IN_IMAGE, "1")
    assert engine_host.read(LOCAL_ENGINE_URL, {}, frozenset({"172.17.0.1"})) == (set(), set())
