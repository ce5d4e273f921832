"""Reachability rules: parsing, validation with where-it-went-wrong messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diag.errors import DiagError
from diag.model.expectations import Rule, check_services, load_rules_file, parse_rules


def test_rules_parse_with_and_without_port() -> None:
    raw = [
        {"from": "web", "to": "api:8000", "reachable": True},
        {"from": "*", "to": "db", "reachable": False},
    ]
    rules = parse_rules(raw, "x-ddiag")
    assert rules == [
        Rule("web", "api", 8000, True, "x-ddiag expect[0]"),
        Rule("*", "db", None, False, "x-ddiag expect[1]"),
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("web->db", "must be a list"),
        (["web"], "a rule is a mapping"),
        ([{"from": "web", "to": "db", "reachable": True, "port": 1}], "unknown key(s) port"),
        ([{"from": "web", "to": "db"}], "missing reachable"),
        ([{"from": "web", "to": "db", "reachable": "yes"}], "true or false"),
        ([{"from": "web", "to": "db:http", "reachable": True}], "'http' is not a TCP port"),
        ([{"from": "web", "to": "db:0", "reachable": True}], "'0' is not a TCP port"),
        ([{"from": "web", "to": ":80", "reachable": True}], "needs a service"),
    ],
)
def test_malformed_rules_say_where(raw: object, message: str) -> None:
    with pytest.raises(DiagError) as error:
        parse_rules(raw, "compose.yaml x-ddiag")
    assert message in str(error.value)
    assert "compose.yaml x-ddiag" in str(error.value)


def test_unknown_services_are_rejected() -> None:
    rules = parse_rules([{"from": "wbe", "to": "db", "reachable": True}], "x-ddiag")
    with pytest.raises(DiagError, match="`from: wbe` is not a service"):
        check_services(rules, ["web", "db"], {"web", "db"})
    rules = parse_rules([{"from": "web", "to": "dB2", "reachable": True}], "x-ddiag")
    with pytest.raises(DiagError, match="`to: dB2` is no service"):
        check_services(rules, ["web", "db"], {"web", "db"})


def test_rules_files_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "rules.toml"
    toml.write_text('[[expect]]\nfrom = "web"\nto = "db:5432"\nreachable = false\n')
    assert load_rules_file(toml) == [Rule("web", "db", 5432, False, f"{toml} expect[0]")]
    js = tmp_path / "rules.json"
    js.write_text(json.dumps({"expect": [{"from": "web", "to": "api", "reachable": True}]}))
    assert load_rules_file(js)[0].target == "api"
    bad = tmp_path / "bad.toml"
    bad.write_text("expect = [")
    with pytest.raises(DiagError, match="not valid TOML"):
        load_rules_file(bad)
    with pytest.raises(DiagError, match="Cannot read --expect file"):
        load_rules_file(tmp_path / "missing.toml")
