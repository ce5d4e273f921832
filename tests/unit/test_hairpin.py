"""port.hairpin on hand-built observations: web calls the gateway at a host port that its
sibling api publishes."""

from __future__ import annotations

from diag.checks.registry import all_checks
from diag.model.context import CheckContext
from diag.model.findings import Finding, Severity
from diag.model.topology import PortBinding

from .test_host_edges import GATEWAY, NETWORK, PORT, REFUSED, _host_listening, _observe
from .test_net_engine_checks import _compose_ctx, _container, _topology

OPEN = {"status": "open", "elapsed_ms": 1}
API_IP = "10.213.227.3"


def _ctx(host_ip: str, answer: dict, host_port: int = PORT) -> CheckContext:
    env = {"API_URL": f"http://{GATEWAY}:{PORT}/"}
    published = (PortBinding(80, "tcp", host_ip, str(host_port)),)
    topology = _topology(
        (NETWORK,),
        _container("web", (NETWORK, "10.213.227.2"), env=env),
        _container("api", (NETWORK, API_IP), published=published, exposed=((80, "tcp"),)),
    )
    ctx = _compose_ctx(topology, {"web": {"environment": env}, "api": {}})
    _observe(ctx, GATEWAY, (), {GATEWAY: answer})
    _host_listening(ctx, f"{host_ip}:{PORT}")
    return ctx


def _hairpins(ctx: CheckContext) -> list[Finding]:
    return [f for check in all_checks() for f in check.evaluate(ctx) if f.check == "port.hairpin"]


def _edge_checks(ctx: CheckContext) -> list[str]:
    """The checks that fire, but port.bound-localhost (api's loopback publishing, an info)."""
    found = [f.check for check in all_checks() for f in check.evaluate(ctx)]
    return [check for check in found if check != "port.bound-localhost"]


def test_a_port_published_on_loopback_refuses_the_hairpin() -> None:
    ctx = _ctx("127.0.0.1", REFUSED)
    (finding,) = _hairpins(ctx)
    assert finding.severity is Severity.ERROR
    assert finding.subjects[:2] == ("web", "api")
    assert "published by api as 127.0.0.1:" in finding.summary and finding.summary.endswith("fails")
    assert f"Point web at api:80 (`{GATEWAY}` → `api`, port {PORT} → 80)" in finding.fix
    assert NETWORK.name in finding.fix
    assert _edge_checks(ctx) == ["port.hairpin"]  # named once, not as host.service-loopback


def test_a_working_hairpin_is_a_warning() -> None:
    (finding,) = _hairpins(_ctx(GATEWAY, OPEN))
    assert finding.severity is Severity.WARNING
    assert finding.summary.endswith("works only through the host")


def test_a_host_port_no_container_publishes_is_no_hairpin() -> None:
    ctx = _ctx("127.0.0.1", REFUSED, host_port=PORT + 1)
    assert _hairpins(ctx) == []
    assert _edge_checks(ctx) == ["host.service-loopback"]
