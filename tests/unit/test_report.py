"""The JSON and rich report formats, on a small Report built by hand."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timezone

import pytest

from diag import __version__
from diag.model.context import Target
from diag.model.findings import Finding, Severity
from diag.model.topology import (
    Container,
    Endpoint,
    EngineInfo,
    Network,
    PortBinding,
    Subnet,
    Topology,
)
from diag.report import FORMATS, RenderOptions, Report, json_format, rich_format
from diag.report.model import Inconclusive

MARKUP = "[bold red]x[/]"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

SHOP_BACK = Network(
    id="f" * 64,
    name="shop_back",
    driver="bridge",
    scope="local",
    internal=False,
    attachable=False,
    enable_ipv6=False,
    subnets=(Subnet("10.213.9.0/24", "10.213.9.1"),),
)


def _container(name: str, service: str, ip: str, status: str = "running") -> Container:
    return Container(
        id=(name.encode().hex() + "0" * 64)[:64],
        name=name,
        image="ddiag-test/busybox:latest",
        status=status,
        exit_code=0,
        error="",
        restart_count=0,
        health=None,
        network_mode="shop_back",
        endpoints=(
            Endpoint(SHOP_BACK.id, SHOP_BACK.name, ip, 24, "", "", (name, service), (service,)),
        ),
        exposed=((8000, "tcp"),),
        published=(PortBinding(8000, "tcp", "127.0.0.1", "18000"),),
        labels={"com.docker.compose.service": service, "com.docker.compose.project": "shop"},
    )


API_FINDING = Finding(
    check="port.app-loopback",
    severity=Severity.ERROR,
    title="Service listens on loopback only",
    subjects=("api", "shop-api-1", "shop_back"),
    summary="api listens on 127.0.0.1:8000 only; peers on shop_back get connection refused",
    evidence={"listening": ["127.0.0.1:8000"], "probe": "connect 10.213.9.3:8000 refused"},
    fix="Bind the server to 0.0.0.0 (or ::) inside the container, e.g. --host 0.0.0.0",
)
INFO_FINDING = Finding(
    check="container.not-running",
    severity=Severity.INFO,
    title="Container is not running",
    subjects=("init", "shop-init-1", "shop_back"),
    summary="init is exited (exit code 0)",
    evidence={"state": "exited (exit code 0)", "restarts": 0},
    fix="See why: `docker compose -p shop logs init`",
)
MARKUP_FINDING = Finding(
    check="dns.wrong-address",
    severity=Severity.WARNING,
    title="Name does not resolve to the container's address",
    subjects=("web", "shop-web-1"),
    summary=f"name {MARKUP} resolves oddly",
    evidence={"answer": [f"{MARKUP}"], "log": "[link=http://evil]click[/link]"},
    fix="Recreate [green]it[/green]",
)


def _report(findings: list[Finding], **extra: object) -> Report:
    topology = Topology(
        EngineInfo("20.10.24+dfsg1", "1.41"),
        (SHOP_BACK,),
        (
            _container("shop-api-1", "api", "10.213.9.3"),
            _container("shop-web-1", "web", "10.213.9.2"),
        ),
    )
    return Report(
        target=Target("network", ("shop_back",), (SHOP_BACK,)),
        topology=topology,
        started_at=datetime(2026, 11, 29, 3, 30, tzinfo=timezone.utc),
        duration_s=1.4249,
        checks_run=["dns.wrong-address", "port.app-loopback"],
        findings=findings,
        **extra,
    )


# --- JSON ----------------------------------------------------------------------------------


def test_json_report_schema_v1() -> None:
    report = _report(
        [INFO_FINDING, API_FINDING],
        inconclusive=[Inconclusive("on network shop_back", "resolve db A: timeout")],
    )
    out = json_format.render(report.to_dict(), RenderOptions())
    assert out.endswith("}\n")
    data = json.loads(out)
    assert list(data) == [
        "schema_version",
        "tool",
        "target",
        "engine",
        "duration_s",
        "checks_run",
        "findings",
        "summary",
        "inconclusive",
        "run",
        "topology",
        "edges",
    ]
    assert data["schema_version"] == 1
    assert data["tool"] == {"name": "ddiag", "version": __version__}
    assert data["target"] == {"kind": "network", "names": ["shop_back"], "config_files": []}
    assert data["run"] == {
        "started_at": "2026-11-29T03:30:00+00:00",
        "probes_started": 0,
        "probe_mode": "shared",
        "probe_memory_peak_bytes": None,
        "deadline_reached": False,
    }
    assert [n["name"] for n in data["topology"]["networks"]] == ["shop_back"]
    assert data["edges"] == []
    assert data["engine"] == {"version": "20.10.24+dfsg1", "api_version": "1.41"}
    assert data["duration_s"] == 1.42
    assert data["checks_run"] == ["dns.wrong-address", "port.app-loopback"]
    assert data["summary"] == {"error": 1, "warning": 0, "info": 1}
    assert data["inconclusive"] == [
        {"where": "on network shop_back", "reason": "resolve db A: timeout"}
    ]
    # most severe first
    assert [f["check"] for f in data["findings"]] == ["port.app-loopback", "container.not-running"]
    assert data["findings"][0] == {
        "check": "port.app-loopback",
        "severity": "error",
        "title": "Service listens on loopback only",
        "subjects": ["api", "shop-api-1", "shop_back"],
        "summary": "api listens on 127.0.0.1:8000 only; peers on shop_back get connection refused",
        "evidence": {"listening": ["127.0.0.1:8000"], "probe": "connect 10.213.9.3:8000 refused"},
        "fix": "Bind the server to 0.0.0.0 (or ::) inside the container, e.g. --host 0.0.0.0",
    }


def test_json_report_without_findings() -> None:
    data = json.loads(json_format.render(_report([]).to_dict(), RenderOptions()))
    assert data["findings"] == []
    assert data["summary"] == {"error": 0, "warning": 0, "info": 0}
    assert data["inconclusive"] == []


def test_json_keeps_text_verbatim() -> None:
    data = json.loads(json_format.render(_report([MARKUP_FINDING]).to_dict(), RenderOptions()))
    assert data["findings"][0]["summary"] == f"name {MARKUP} resolves oddly"


def test_formats_by_name() -> None:
    assert FORMATS["json"] is json_format.render
    assert FORMATS["rich"] is rich_format.render


# --- rich ----------------------------------------------------------------------------------


@pytest.mark.parametrize("color", [False, True])
def test_rich_renders_markup_in_text_literally(color: bool) -> None:
    out = rich_format.render(
        _report([MARKUP_FINDING]).to_dict(), RenderOptions(color=color, width=120)
    )
    assert ("\x1b[" in out) is color
    out = ANSI.sub("", out)
    assert f"name {MARKUP} resolves oddly" in out
    assert f"answer: {MARKUP}" in out
    assert "[link=http://evil]click[/link]" in out
    assert "Recreate [green]it[/green]" in out


ESCAPES = "\x1b[31mRED\x1b[0m \x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\ \x07bell\x9b2J"


@pytest.mark.parametrize("color", [False, True])
def test_rich_drops_escape_sequences_of_the_input(color: bool) -> None:
    """Rich writes a Text's characters as they are: ESC, OSC hyperlinks and C1 controls of
    the report's text must be removed before it reaches a terminal (found by the hostile
    fixture on the real engine)."""
    finding = dataclasses.replace(
        MARKUP_FINDING,
        summary=f"health log: {ESCAPES}",
        evidence={"last_output": ESCAPES, ESCAPES: "key"},
    )
    report = _report([finding], inconclusive=[Inconclusive(f"on {ESCAPES}", ESCAPES)])
    out = rich_format.render(report.to_dict(), RenderOptions(color=color, width=250))
    assert "\x1b]" not in out and "\x07" not in out and "\x9b" not in out
    assert "\x1b" not in ANSI.sub("", out)
    assert "\x1b[31mRED" not in out
    assert "health log: RED link bell2J" in out


def test_rich_plain_output_sections() -> None:
    report = _report(
        [API_FINDING, INFO_FINDING],
        inconclusive=[Inconclusive("on network shop_back", "resolve db A: timeout")],
        listening={_container("shop-api-1", "api", "").id: ["127.0.0.1:8000"]},
        probes_started=3,
    )
    out = rich_format.render(report.to_dict(), RenderOptions(color=False, width=250))
    assert "\x1b[" not in out  # no colour codes without color
    assert "Errors (1)" in out and "Infos (1)" in out and "Warnings" not in out
    assert "ERROR port.app-loopback · Service listens on loopback only" in out
    assert "subjects: api, shop-api-1, shop_back" in out
    assert "listening: 127.0.0.1:8000" in out
    assert "Inconclusive (1)" in out
    assert "on network shop_back: resolve db A: timeout" in out
    assert "shop_back  (bridge; 10.213.9.0/24)" in out
    assert "shop-api-1 (api)  10.213.9.3" in out
    assert "dns: shop-api-1, api" in out
    assert "127.0.0.1:18000->8000/tcp" in out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("1 error, 1 info  ·  network shop_back  ·  2 checks, 3 probes")
    assert "engine 20.10.24+dfsg1 (API 1.41)" in summary
    assert "1 inconclusive" in summary


def test_rich_no_findings() -> None:
    out = rich_format.render(_report([]).to_dict(), RenderOptions(width=120))
    assert out.strip().splitlines()[-1].startswith("No findings")
    assert "Errors" not in out


def test_rich_markup_in_container_names_is_literal() -> None:
    report = _report([])
    evil = _container("[blink]evil[/blink]", "[red]svc[/red]", "10.213.9.66", status="exited")
    report.topology = Topology(
        report.topology.engine, report.topology.networks, (*report.topology.containers, evil)
    )
    out = ANSI.sub("", rich_format.render(report.to_dict(), RenderOptions(color=True, width=160)))
    assert "[blink]evil[/blink]" in out
    assert "([red]svc[/red])" in out
    assert "[exited]" in out
