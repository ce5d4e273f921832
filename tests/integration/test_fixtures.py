"""Every compose fixture, brought up on the real engine, diagnosed by the real CLI.

A fixture directory holds `compose.yaml` and `expect.json`: the ddiag command (with
`{project}` for the compose project name), the exit code, and the findings it must produce
(check id and subjects that must be among the finding's). Any other finding that names
the fixture's services, containers or networks fails the test, so a fixture proves both
that its check fires and that nothing else does. Optional keys: `after_up` (compose
commands run after `up`, e.g. a `run -d` one-off), `up_may_fail` (the scenario itself makes
`compose up` fail, e.g. a host port already taken), `secrets` (strings no format may print),
`edges` (the dependencies a person would draw from the compose file, each of which must be
among the report's edges: `"web → db:5432"`, or `"web → db"` for any port; or an object
compared on the keys it gives, e.g. `{"source": "web", "target": "db", "status": "failed"}`),
`names_shown` (names that redaction must leave whole, e.g. a service whose name is also a
password: a whole string of the JSON report, and in the rich one).
"""

from __future__ import annotations

import json

import pytest

from tests.integration.stacks import ddiag, fixture_names, running


def _edge_found(declared: str | dict, edges: list[dict]) -> bool:
    """A declared edge (see the module docstring) is among the report's edges."""
    if isinstance(declared, str):
        source, _, target = map(str.strip, declared.partition("→"))
        name, _, port = target.partition(":")
        declared = {"source": source, "target": name} | ({"port": int(port)} if port else {})
    return any(declared.items() <= edge.items() for edge in edges)


def _matches(expected: dict, finding: dict) -> bool:
    return finding["check"] == expected["check"] and set(expected.get("subjects", [])) <= set(
        finding["subjects"]
    )


# Isolated probes (one unprivileged probe per place) must find exactly what the shared probe
# finds: these fixtures cover netns reads (listening sockets, resolv.conf, /etc/hosts), DNS
# through the embedded server and a custom one, peers' connects, and timeouts.
ISOLATED_TOO = [
    "shop",
    "custom-resolver-unreachable",
    "extra-hosts-override",
    "filtered-port",
    "localhost-in-container",
]


@pytest.mark.parametrize("name", fixture_names())
def test_fixture(name: str) -> None:
    _diagnose_fixture(name, "shared")


@pytest.mark.parametrize("name", ISOLATED_TOO)
def test_fixture_with_isolated_probes(name: str) -> None:
    _diagnose_fixture(name, "isolated")


def _diagnose_fixture(name: str, mode: str) -> None:
    with running(name) as stack:
        expect = stack.expect
        result = ddiag(*stack.command(), "--format", "json", "--probe-mode", mode)
        assert "Traceback" not in result.stderr, result.stderr
        report = json.loads(result.stdout)
        assert report["run"]["probe_mode"] == mode
        ours = stack.names()
        findings = [f for f in report["findings"] if set(f["subjects"]) & ours]
        missing = [e for e in expect["findings"] if not any(_matches(e, f) for f in findings)]
        unexpected = [f for f in findings if not any(_matches(e, f) for e in expect["findings"])]
        assert not missing, f"expected findings not produced: {missing}\nreport: {result.stdout}"
        assert not unexpected, f"unexpected findings: {json.dumps(unexpected, indent=1)}"
        assert result.returncode == expect["exit_code"], result.stderr
        unseen = [e for e in expect.get("edges", []) if not _edge_found(e, report["edges"])]
        assert not unseen, f"declared edges not in the report: {unseen}\n{report['edges']}"
        assert report["inconclusive"] == [], report["inconclusive"]
        _assert_netns_view_agrees_with_the_engine(report)
        if "secrets" in expect or "names_shown" in expect:
            rich = ddiag(*stack.command(), "--format", "rich")
            for secret in expect.get("secrets", []):
                assert secret not in result.stdout + result.stderr
                assert secret not in rich.stdout + rich.stderr
            for name in expect.get("names_shown", []):
                assert name in _strings(report), f"{name} is no whole string of the report"
                assert name in rich.stdout, f"{name} is missing from the rich report"


def _strings(value: object) -> set[str]:
    """Every string of a JSON document."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return {text for item in value for text in _strings(item)}
    return set()


def _assert_netns_view_agrees_with_the_engine(report: dict) -> None:
    """The interfaces read in each netns hold the address the engine gave that endpoint."""
    seen = {
        space["container"]: {a.split("/")[0] for i in space["interfaces"] for a in i["addresses"]}
        for space in report["topology"]["netns"]
    }
    for network in report["topology"]["networks"]:
        for member in network["members"]:
            if member["ip"] and member["container"] in seen:
                assert member["ip"] in seen[member["container"]], (member, seen)
