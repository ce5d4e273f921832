"""What `ddiag capture` plans from the topology: the target container, and whether DNS may
be asked (only when nothing can leave the machine: SECURITY.md)."""

from __future__ import annotations

import pytest

from diag.capture.plan import plan_capture, split_target
from diag.errors import DiagError
from diag.model.topology import Container, Endpoint, EngineInfo, Network, Subnet, Topology

NET = Network("n1", "shop_default", "bridge", "local", False, False, False,
              (Subnet("10.9.0.0/24", None),))  # fmt: skip


def _container(name: str, ip: str, service: str, dns: tuple[str, ...] = ()) -> Container:
    endpoint = Endpoint("n1", NET.name, ip, 24, "", "", (), (service, name))
    labels = {"com.docker.compose.service": service}
    return Container(
        f"{name}-id", name, "img", "running", 0, "", 0, None, "shop_default", (endpoint,), (), (),
        dns=dns, labels=labels, pid=42,
    )  # fmt: skip


def _topology(web_dns: tuple[str, ...] = ()) -> Topology:
    web = _container("shop-web-1", "10.9.0.2", "web", web_dns)
    api = _container("shop-api-1", "10.9.0.3", "api")
    return Topology(EngineInfo("20.10", "1.41"), (NET,), (web, api))


def test_a_registered_name_is_looked_up_and_its_container_captured() -> None:
    plan = plan_capture(_topology(), "web", "api:8000")
    assert plan.source.name == "shop-web-1"
    assert plan.target is not None and plan.target.name == "shop-api-1"
    assert plan.target_ips == ("10.9.0.3",)
    assert plan.dns
    assert plan.filter_ports() == [8000, 53]
    assert "127.0.0.11" in plan.filter_hosts()


def test_an_unknown_name_is_not_asked_of_dns_that_forwards_off_the_machine() -> None:
    plan = plan_capture(_topology(), "web", "api.example.com:443")
    assert plan.target is None
    assert not plan.dns
    assert "--passive" in plan.dns_why


def test_an_unknown_name_is_asked_when_every_dns_server_is_local() -> None:
    assert plan_capture(_topology(("10.9.0.53",)), "web", "api.internal:80").dns
    assert not plan_capture(_topology(("10.9.0.53", "8.8.8.8")), "web", "api.internal:80").dns


def test_an_address_designates_its_container() -> None:
    plan = plan_capture(_topology(), "shop-web-1", "10.9.0.3:8000")
    assert plan.target is not None and plan.target.name == "shop-api-1"
    assert not plan.dns


@pytest.mark.parametrize("spec", ["api", "api:", "api:0", "api:99999", ":80"])
def test_a_target_needs_a_port(spec: str) -> None:
    with pytest.raises(DiagError):
        split_target(spec)


def test_an_unknown_source_is_an_error() -> None:
    with pytest.raises(DiagError, match="no container"):
        plan_capture(_topology(), "nope", "api:8000")


def test_only_the_capture_command_imports_scapy() -> None:
    """The CLI (every command's module) loads without scapy: its ~1 s import is paid by
    `ddiag capture` alone, when it decodes (diag.capture.decode)."""
    import subprocess
    import sys

    code = "import sys, diag.cli.app; print('scapy' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"


def test_send_escapes_are_the_shells_literal_ones_only() -> None:
    from diag.capture.run import unescape

    assert unescape(r"GET / HTTP/1.0\r\n\r\n") == "GET / HTTP/1.0\r\n\r\n"
    assert unescape("café \\x41 \\\\") == "café \\x41 \\"
