"""Which of a network's tasks the bridges anchor observes (diag.probes.bridges), and how the
session routes them (one anchor for several bridges, the rest to an anchor of their own)."""

from __future__ import annotations

from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

from diag.model.tasks import RESOLV_CONF, Placement, arp_sweep, connect, pmtu, resolve
from diag.model.topology import Network, Subnet
from diag.probes import bridges
from diag.probes.session import ProbeSession, ProbeUnavailable


def _bridge(name: str, subnet: str, **changes: Any) -> Network:
    fields: dict[str, Any] = {
        "id": name * 4,
        "name": name,
        "driver": "bridge",
        "scope": "local",
        "internal": False,
        "attachable": False,
        "enable_ipv6": False,
        "subnets": (Subnet(subnet, None),),
    }
    return Network(**(fields | changes))


BACK = _bridge("shop_back", "10.1.0.0/24")
FRONT = _bridge("shop_front", "10.2.0.0/24")


def test_only_local_bridges_named_as_plain_dns_labels_share_the_anchor() -> None:
    assert bridges.joins(BACK)
    assert not bridges.joins(_bridge("Shop_Back", "10.3.0.0/24"))  # not a lowercase label
    assert not bridges.joins(_bridge("shop.back", "10.3.0.0/24"))  # NAME.shop.back is ambiguous
    assert not bridges.joins(_bridge("bridge", "172.17.0.0/16"))  # the default bridge
    assert not bridges.joins(_bridge("mesh", "10.4.0.0/24", driver="overlay", scope="swarm"))
    assert not bridges.joins(_bridge("bare", "10.5.0.0/24", subnets=()))


def test_tasks_inside_the_network_and_embedded_dns_lookups_go_to_the_bridges_anchor() -> None:
    assert bridges.serves(BACK, connect("10.1.0.5", 80))
    assert not bridges.serves(BACK, connect("10.2.0.5", 80))  # another network's address
    assert not bridges.serves(BACK, connect("192.0.2.1", 443))  # outside: routed, egress
    assert bridges.serves(BACK, pmtu(("10.1.0.5", "10.1.0.6"), (1500,)))
    assert not bridges.serves(BACK, pmtu(("10.1.0.5", "10.2.0.6"), (1500,)))
    assert bridges.serves(BACK, arp_sweep("10.1.0.0/24"))
    assert not bridges.serves(BACK, arp_sweep("10.9.0.0/24"))
    assert bridges.serves(BACK, resolve("db")) and bridges.serves(BACK, resolve("db", "AAAA"))
    assert not bridges.serves(BACK, resolve("db", "A", server="10.1.0.53"))  # not the engine's
    assert not bridges.serves(BACK, RESOLV_CONF)  # a peer's own file: an anchor of its own
    assert bridges.asked_name(resolve("db."), BACK) == "db.shop_back"


class _Resident:
    def __init__(self, pid: int) -> None:
        self.pid, self.id = pid, f"container-{pid}"


def _session(started: dict[str, Any]) -> ProbeSession:
    """A session whose residents are `started` (key -> a resident, or an exception)."""
    session = ProbeSession(SimpleNamespace(api=None), "image", 2.0)  # type: ignore[arg-type]

    def resident(key: str, placement: Placement, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        outcome = started.get(key, _Resident(99))
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
        return future

    session._resident = resident  # type: ignore[method-assign]
    return session


def test_the_session_routes_bridged_tasks_to_one_anchor_and_qualifies_their_lookups() -> None:
    session = _session({bridges.KEY: _Resident(7)})
    session.prestart_anchors([BACK, FRONT, _bridge("Upper", "10.6.0.0/24")])
    back = Placement("network", BACK.id, BACK.name)
    lookup = session._route((back, resolve("db")))
    assert (lookup.pid, lookup.asked_name) == (7, "db.shop_back")
    assert session._route((back, connect("10.1.0.5", 80))).pid == 7
    assert session._residents_for((back, RESOLV_CONF)) == ["shared", f"anchor:{BACK.id}"]
    upper = Placement("network", "Upper" * 4, "Upper")
    assert session._residents_for((upper, connect("10.6.0.5", 80))) == [
        "shared",
        f"anchor:{'Upper' * 4}",
    ]


def test_a_single_bridge_keeps_an_anchor_of_its_own() -> None:
    session = _session({})
    session.prestart_anchors([BACK])
    back = Placement("network", BACK.id, BACK.name)
    assert session._residents_for((back, connect("10.1.0.5", 80))) == [
        "shared",
        f"anchor:{BACK.id}",
    ]
    assert session._route((back, resolve("db"))).asked_name == ""


def test_a_bridges_anchor_that_cannot_start_leaves_each_network_an_anchor_of_its_own() -> None:
    session = _session({bridges.KEY: ProbeUnavailable("no address left on shop_back")})
    session.prestart_anchors([BACK, FRONT])
    sent: list[Any] = []
    session._send = lambda key, future, batch, sink: sent.extend(batch)  # type: ignore[method-assign]
    back = Placement("network", BACK.id, BACK.name)
    session._route_and_send([(back, resolve("db"))], lambda event: None)
    ((route, _),) = sent
    assert (route.pid, route.asked_name) == (99, "")  # the network's own anchor, as asked
    assert session._residents_for((back, connect("10.1.0.5", 80)))[1] == f"anchor:{BACK.id}"
