"""The compose model as `docker compose config --format json` prints it (issue 17, item 4b).

The compose CLI prints its model escaped: a `$$` in the file (a literal `$` for the
container) comes out as `$$$$`, and a key's `$` as `$$`. The JSON below is what Compose v5
printed for

    environment:
      CMD: "echo $$$$ $${HOME}"
      "K$$EY": v

whose container has `CMD=echo $$ ${HOME}` and `K$$EY=v`.
"""

from __future__ import annotations

from diag.model.compose import project_from_config, service_from_config, unescape
from diag.model.edges import references_in_env

PRINTED = {"environment": {"CMD": "echo $$$$ $${HOME}", "K$$$$EY": "v", "EMPTY": None}}


def test_environment_is_what_the_container_has() -> None:
    service = service_from_config("a", PRINTED)
    assert service.environment == {"CMD": "echo $$ ${HOME}", "K$$EY": "v", "EMPTY": ""}


def test_unescape_undoes_one_level_only() -> None:
    assert unescape("$$$$(id)") == "$$(id)"
    assert unescape("$$$") == "$$"
    assert unescape("no dollar") == "no dollar"


def test_edges_name_the_variable_as_the_container_has_it() -> None:
    model = {
        "name": "p",
        "services": {"web": {"environment": {"PRICE$$_DB_URL": "postgres://db/x?t=$$1"}}},
    }
    environment = project_from_config(model).services["web"].environment
    assert environment == {"PRICE$_DB_URL": "postgres://db/x?t=$1"}
    [reference] = references_in_env(environment)
    assert reference.origin == "environment PRICE$_DB_URL"
