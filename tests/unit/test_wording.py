"""Sentences that name one thing or several: the listing and the verb that agrees with it
(diag.model.wording), and the checks whose summaries say "web uses" / "web and worker use".

The per-port findings run on the recorded `rec6` stack (tests/unit/test_net_netns_ipv6.py):
api (10.213.138.3) listens on 9090 only here, and its clients use api:8080, refused.
"""

from __future__ import annotations

from typing import Any

import pytest

from diag.model.context import CheckContext
from diag.model.wording import listed, names_verb

from . import test_net_netns_ipv6 as rec6
from .recorded import evaluate

ON_9090 = {"status": "ok", "sockets": [{"family": "tcp", "address": "0.0.0.0", "port": 9090}]}


@pytest.mark.parametrize(
    ("names", "conjunction", "expected"),
    [
        ([], "and", ""),
        (["web"], "and", "web"),
        (["web", "worker"], "and", "web and worker"),
        (["web", "worker", "cron"], "and", "web, worker and cron"),
        (["db", "cache"], "or", "db or cache"),
    ],
)
def test_listed(names: list[str], conjunction: str, expected: str) -> None:
    assert listed(names, conjunction) == expected


def test_the_verb_agrees_with_one_name_or_several() -> None:
    assert names_verb(["web"], "uses", "use") == "web uses"
    assert names_verb(["web", "worker"], "uses", "use") == "web and worker use"
    assert names_verb(["a", "b", "c"], "is", "are") == "a, b and c are"


def _clients_of_api(*more: dict[str, Any]) -> CheckContext:
    """rec6 with `more` clients of api:8080 beside `client`, api listening on 9090 only."""
    ctx = rec6._compose_ctx("rec6", [rec6._rec6_network()], rec6.REC6_API, rec6.REC6_CLIENT, *more)
    rec6._observe_api(ctx, rec6.REFUSED, sockets=ON_9090)
    return ctx


WORKER = rec6._rec6_container("worker", "9e1f" * 16, "10.213.138.4", ["API_URL=http://api:8080/v1"])


def test_not_listening_with_one_client_says_uses() -> None:
    [finding] = evaluate("port.not-listening", _clients_of_api())
    assert finding.summary.startswith("client uses api:8080 but nothing listens on it")
    assert "point client at the port api listens on (0.0.0.0:9090)." in finding.fix


def test_not_listening_with_several_clients_says_use() -> None:
    [finding] = evaluate("port.not-listening", _clients_of_api(WORKER))
    assert finding.summary.startswith("client and worker use api:8080 but nothing listens")
    assert "point client and worker at the port api listens on" in finding.fix
