"""diag.engine.hostfw (reading and parsing iptables-save) and host.iptables, on recorded dumps.

The dumps in tests/data/iptables/ are real `iptables-save` output (see its README): the
host's own rules while Docker ran, and the same rules after the usual accidents, replayed
in a scratch network namespace.
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pytest

from diag.checks.host import iptables
from diag.checks.registry import find
from diag.engine import hostfw
from diag.model.context import CheckContext, Target
from diag.model.findings import Finding
from diag.model.firewall import HostFirewall, Option, parse
from diag.model.topology import Container, EngineInfo, Network, Subnet, Topology
from diag.model.topology import Endpoint as NetEndpoint
from diag.report.model import Inconclusive
from diag.run import runner

from .recorded import DATA

BRIDGES = frozenset({"docker0", "br-e697f6cb912b", "br-a99de28f30a5", "eth0", "lo"})


def dump(name: str) -> str:
    return (DATA / "iptables" / f"{name}.txt").read_text(encoding="utf-8")


def firewall(name: str, command: str = "iptables-save") -> HostFirewall:
    return parse(dump(name), command, BRIDGES)


def network(name: str, bridge_id: str, subnet: str, **changes: object) -> Network:
    made = Network(
        id=bridge_id + "0" * (64 - len(bridge_id)),
        name=name,
        driver="bridge",
        scope="local",
        internal=False,
        attachable=False,
        enable_ipv6=False,
        subnets=(Subnet(subnet, None),),
    )
    return dataclasses.replace(made, **changes)


DEFAULT = network(
    "bridge",
    "938fc239629e",
    "172.17.0.0/16",
    options={"com.docker.network.bridge.name": "docker0"},
)
APP = network("shop_default", "e697f6cb912b", "10.213.143.0/24")
SEALED = network("shop_sealed", "a99de28f30a5", "10.213.141.0/24", internal=True)


def member(name: str, service: str, on: Network, ip: str) -> Container:
    return Container(
        id=name * 8,
        name=name,
        image="ddiag-test/busybox:latest",
        status="running",
        exit_code=0,
        error="",
        restart_count=0,
        health=None,
        network_mode=on.name,
        endpoints=(NetEndpoint(on.id, on.name, ip, 24, "", "", (name, service), ()),),
        exposed=(),
        published=(),
        labels={"com.docker.compose.service": service, "com.docker.compose.project": "shop"},
    )


WEB = member("shop-web-1", "web", APP, "10.213.143.2")


def ctx_for(fw: HostFirewall | None, *networks: Network) -> CheckContext:
    chosen = networks or (DEFAULT, APP, SEALED)
    topology = Topology(EngineInfo("20.10.24", "1.41"), (DEFAULT, APP, SEALED), (WEB,))
    target = Target("network", tuple(n.name for n in chosen), tuple(chosen))
    return CheckContext(topology, target, host_firewall=fw)


def findings(fw: HostFirewall | None, *networks: Network) -> list[Finding]:
    check = find(iptables.ID)
    assert check is not None
    return list(check.evaluate(ctx_for(fw, *networks)))


# --- parsing -------------------------------------------------------------------------------


def test_parse_real_nft_dump() -> None:
    fw = firewall("nft-docker")
    assert fw.read_with == "iptables-save v1.8.9 (nf_tables)"
    assert fw.docker_chains == [
        "filter/DOCKER",
        "filter/DOCKER-ISOLATION-STAGE-1",
        "filter/DOCKER-ISOLATION-STAGE-2",
        "filter/DOCKER-USER",
        "nat/DOCKER",
    ]
    assert fw.jumps_to("nat", "PREROUTING", "DOCKER")
    assert fw.jumps_to("nat", "OUTPUT", "DOCKER")
    assert fw.jumps_to("filter", "FORWARD", "DOCKER-USER")
    assert fw.reachable("filter", "FORWARD") == {
        "FORWARD",
        "DOCKER",
        "DOCKER-USER",
        "DOCKER-ISOLATION-STAGE-1",
        "DOCKER-ISOLATION-STAGE-2",
    }
    assert not fw.jumps_to("nat", "POSTROUTING", "DOCKER")
    masquerade = fw.source_nat()
    assert len(masquerade) == 8
    docker0 = next(r for r in masquerade if r.source and r.source.value == "172.17.0.0/16")
    assert docker0.text == "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"
    assert docker0.out_interface == Option("docker0", negated=True)
    assert docker0.target == "MASQUERADE"


def test_parse_legacy_dump_has_the_same_rules() -> None:
    legacy = firewall("legacy-docker", "iptables-legacy-save")
    nft = firewall("nft-docker")
    assert legacy.read_with == "iptables-legacy-save: iptables-save v1.8.9"
    assert {r.text for r in legacy.rules} == {r.text for r in nft.rules}
    assert legacy.chains == nft.chains
    assert legacy.backend == "legacy" and nft.backend == "nft"
    assert nft.policy("filter", "FORWARD") == "DROP" and nft.policy("filter", "INPUT") == "ACCEPT"
    assert nft.policy("filter", "DOCKER") is None  # a user chain has no policy


def test_parse_ip6tables_dump_is_the_ipv6_family() -> None:
    """ip6tables-save's dump, in iptables-save's format: one parser, the family told by
    the command; the tools a fix names are ip6tables'."""
    v6 = firewall("ip6-docker-ufw", "ip6tables-save")
    assert v6.family == "ipv6" and v6.backend == "nft"
    assert v6.read_with == "ip6tables-save v1.8.9 (nf_tables)"
    assert (v6.tool, v6.fix_tool) == ("ip6tables-nft", "ip6tables")
    assert v6.jumps_to("nat", "PREROUTING", "DOCKER") and v6.policy("filter", "INPUT") == "DROP"
    legacy_dump = dump("ip6-docker-ufw").replace(" (nf_tables)", "")  # legacy's header
    legacy = parse(legacy_dump, "ip6tables-legacy-save", BRIDGES)
    assert (legacy.tool, legacy.fix_tool) == ("ip6tables-legacy", "ip6tables-legacy")
    v4 = dataclasses.replace(firewall("nft-docker"), v6=v6)
    assert v4.family == "ipv4" and v4.fix_tool == "iptables"
    assert v4.for_family("ipv4") is v4 and v4.for_family("ipv6") is v6
    assert firewall("nft-docker").for_family("ipv6") is None  # not read


def test_parse_accidents() -> None:
    missing = firewall("nft-missing-masquerade")
    assert not any(r.source and r.source.value == "10.213.143.0/24" for r in missing.source_nat())
    assert len(missing.source_nat()) == 7
    flushed = firewall("nft-nat-flushed")
    assert flushed.source_nat() == []
    assert flushed.docker_chains[-1] == "filter/DOCKER-USER"  # nat/DOCKER is gone
    assert not flushed.jumps_to("nat", "PREROUTING", "DOCKER")
    assert flushed.jumps_to("filter", "FORWARD", "DOCKER")
    bare = firewall("nft-no-docker-chains")
    assert bare.docker_chains == [] and bare.rules == ()
    assert bare.chains["filter"] == {"INPUT", "FORWARD", "OUTPUT"}
    assert parse("").docker_chains == []  # a host where no nf_tables table exists


def test_rule_options_negation_goto_and_quotes() -> None:
    fw = parse(
        "*filter\n:FORWARD ACCEPT [0:0]\n:DOCKER-FORWARD - [0:0]\n:DOCKER - [0:0]\n"
        '-A FORWARD -m comment --comment "hand made -j DROP" -g DOCKER-FORWARD\n'
        "-A DOCKER-FORWARD ! -s 10.0.0.0/8 -o br-x -j DOCKER\n"
        '-A FORWARD -m comment --comment "unbalanced -j ACCEPT\n'
        "COMMIT\n"
    )
    first, second, third = fw.rules
    assert first.target == "DOCKER-FORWARD"  # the comment's words are not options
    assert second.source == Option("10.0.0.0/8", negated=True)
    assert second.out_interface == Option("br-x", negated=False)
    assert third.target == "ACCEPT"  # split on whitespace when the quotes do not balance
    assert fw.jumps_to("filter", "FORWARD", "DOCKER")  # FORWARD → DOCKER-FORWARD → DOCKER
    assert not fw.jumps_to("filter", "DOCKER", "FORWARD")


# --- reading -------------------------------------------------------------------------------


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Which commands `shutil.which` finds (all by default); root by default."""
    present = {*hostfw.SAVE_COMMANDS, "nft"}
    monkeypatch.setattr(hostfw.shutil, "which", lambda name: name if name in present else None)
    monkeypatch.setattr(hostfw.os, "geteuid", lambda: 0)
    monkeypatch.setattr(hostfw, "_interfaces", lambda: BRIDGES)
    return present


def fake_run(answers: dict[str, str | Exception], calls: list[str]) -> hostfw.Runner:
    def run(argv: list[str]) -> str:
        calls.append(" ".join(argv))
        answer = answers.get(argv[0], hostfw.Unreadable(f"`{argv[0]}` could not run"))
        if isinstance(answer, Exception):
            raise answer
        return answer

    return run


def test_read_judges_the_first_dump_with_docker_chains(installed: set[str]) -> None:
    calls: list[str] = []
    answers: dict[str, str | Exception] = {
        "iptables-save": dump("nft-docker"),
        "iptables-nft-save": dump("nft-docker"),
        "iptables-legacy-save": "",  # no legacy table exists: it shows nothing
    }
    fw = hostfw.read(fake_run(answers, calls))
    assert fw is not None and fw.command == "iptables-save" and fw.interfaces == BRIDGES
    assert fw.backend == "nft" and fw.others == () and fw.native is None  # nft failed
    assert calls == [
        "iptables-save",
        "iptables-nft-save",
        "iptables-legacy-save",
        "nft -j list ruleset",
    ]


def test_read_keeps_what_the_other_backend_shows(installed: set[str]) -> None:
    answers: dict[str, str | Exception] = {
        "iptables-save": dump("nft-docker"),
        "iptables-nft-save": dump("nft-docker"),
        "iptables-legacy-save": dump("legacy-ufw-forward-drop"),
    }
    fw = hostfw.read(fake_run(answers, []))
    assert fw is not None and fw.backend == "nft"
    (other,) = fw.others
    assert other.command == "iptables-legacy-save" and other.backend == "legacy"
    assert other.tool == "iptables-legacy" and other.policy("filter", "FORWARD") == "DROP"
    answers["iptables-legacy-save"] = hostfw.Unreadable("no ip_tables module")
    fw = hostfw.read(fake_run(answers, []))
    assert fw is not None and fw.others == ()


def test_read_falls_back_to_legacy(installed: set[str]) -> None:
    calls: list[str] = []
    answers: dict[str, str | Exception] = {
        "iptables-save": dump("nft-no-docker-chains"),
        "iptables-nft-save": hostfw.Unreadable("no nf_tables"),  # a fallback may fail
        "iptables-legacy-save": dump("legacy-docker"),
    }
    fw = hostfw.read(fake_run(answers, calls))
    assert fw is not None and fw.command == "iptables-legacy-save"
    assert calls[:3] == ["iptables-save", "iptables-nft-save", "iptables-legacy-save"]


def _nft_tables(*tables: tuple[str, str]) -> str:
    """`nft -j list ruleset` holding only these (family, name) tables, each empty."""
    items = [{"table": {"family": family, "name": name, "handle": 1}} for family, name in tables]
    return json.dumps({"nftables": [{"metainfo": {"version": "1.0.6"}}, *items]})


def test_read_without_docker_chains_asks_nft_for_the_engines_table(installed: set[str]) -> None:
    bare = dump("nft-no-docker-chains")
    calls: list[str] = []
    answers: dict[str, str | Exception] = {
        "iptables-save": bare,
        "iptables-nft-save": bare,
        "iptables-legacy-save": "",
        "nft": _nft_tables(("ip", "nat"), ("ip", "docker-bridges"), ("ip6", "docker-bridges")),
    }
    fw = hostfw.read(fake_run(answers, calls))
    assert fw is not None and fw.command == "iptables-save" and fw.nft_docker_bridges
    assert calls[-1] == "nft -j list ruleset"
    answers["nft"] = _nft_tables(("ip", "nat"), ("ip", "filter"))
    fw = hostfw.read(fake_run(answers, []))
    assert fw is not None and not fw.nft_docker_bridges


def test_read_keeps_the_native_nftables_tables(installed: set[str]) -> None:
    answers: dict[str, str | Exception] = {
        "iptables-save": dump("nft-docker"),
        "nft": (DATA / "nftables" / "firewalld.json").read_text(encoding="utf-8"),
    }
    fw = hostfw.read(fake_run(answers, []))
    assert fw is not None and fw.native is not None
    assert [t.label for t in fw.native.tables] == ["table inet firewalld"]
    answers["nft"] = "Error: JSON support not compiled-in"
    fw = hostfw.read(fake_run(answers, []))
    assert fw is not None and fw.native is None
    installed.discard("nft")
    calls: list[str] = []
    fw = hostfw.read(fake_run(answers, calls))
    assert fw is not None and fw.native is None and "nft -j list ruleset" not in calls


def test_read_chooses_the_ipv6_dump_as_the_ipv4_one(installed: set[str]) -> None:
    """ip6tables-save and its twins are read after the IPv4 side and nft, chosen among
    the same way (the first with a Docker chain), and kept as `v6` with the native tables."""
    installed.update(hostfw.SAVE6_COMMANDS)
    calls: list[str] = []
    answers: dict[str, str | Exception] = {
        "iptables-save": dump("nft-docker"),
        "nft": (DATA / "nftables" / "nftables-conf.json").read_text(encoding="utf-8"),
        "ip6tables-save": "",  # the default backend shows no IPv6 table
        "ip6tables-nft-save": "",
        "ip6tables-legacy-save": dump("ip6-docker-ufw"),
    }
    fw = hostfw.read(fake_run(answers, calls))
    assert fw is not None and fw.v6 is not None
    assert calls[-3:] == ["ip6tables-save", "ip6tables-nft-save", "ip6tables-legacy-save"]
    assert fw.v6.command == "ip6tables-legacy-save" and fw.v6.family == "ipv6"
    assert fw.v6.native is fw.native and fw.v6.interfaces == BRIDGES
    assert fw.v6.others == () and fw.v6.v6 is None  # the nft backend shows no IPv6 table


def test_read_without_ip6tables_keeps_the_ipv4_rules(installed: set[str]) -> None:
    """No ip6tables, or a failing one: the IPv6 rules are unknown (None), not open, and
    the IPv4 rules are read all the same."""
    answers: dict[str, str | Exception] = {"iptables-save": dump("nft-docker")}
    fw = hostfw.read(fake_run(answers, []))
    assert fw is not None and fw.command == "iptables-save" and fw.v6 is None
    installed.update(hostfw.SAVE6_COMMANDS)
    answers["ip6tables-save"] = hostfw.Unreadable("no ip6_tables module")
    answers["ip6tables-legacy-save"] = dump("ip6-docker-ufw")
    fw = hostfw.read(fake_run(answers, []))
    assert fw is not None and fw.v6 is None


def test_read_ipv6_engine_table_on_the_nftables_backend(installed: set[str]) -> None:
    """Without Docker chains in ip6tables, `table ip6 docker-bridges` says the engine
    keeps its IPv6 rules in nftables; `table ip docker-bridges` alone says so for IPv4."""
    installed.update(hostfw.SAVE6_COMMANDS)
    bare = dump("nft-no-docker-chains")
    answers: dict[str, str | Exception] = {
        "iptables-save": bare,
        "ip6tables-save": "",
        "nft": _nft_tables(("ip", "docker-bridges"), ("ip6", "docker-bridges")),
    }
    fw = hostfw.read(fake_run(answers, []))
    assert fw is not None and fw.v6 is not None
    assert fw.nft_docker_bridges and fw.v6.nft_docker_bridges
    answers["nft"] = _nft_tables(("ip", "docker-bridges"))
    fw = hostfw.read(fake_run(answers, []))
    assert fw is not None and fw.v6 is not None
    assert fw.nft_docker_bridges and not fw.v6.nft_docker_bridges


def test_read_failure_of_the_first_command_is_unreadable(installed: set[str]) -> None:
    failing = hostfw.Unreadable("`iptables-save` failed: Permission denied")
    with pytest.raises(hostfw.Unreadable, match="Permission denied"):
        hostfw.read(fake_run({"iptables-save": failing}, []))


def test_read_says_nothing_without_privilege_or_iptables(
    installed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    run = fake_run({"iptables-save": dump("nft-docker")}, calls)
    monkeypatch.setattr(hostfw, "may_read", lambda: False)  # a user in the docker group
    assert hostfw.read(run) is None
    monkeypatch.setattr(hostfw, "may_read", lambda: True)
    installed.clear()  # no iptables on the host
    assert hostfw.read(run) is None
    assert calls == []


def test_may_read_needs_root_or_cap_net_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostfw.os, "geteuid", lambda: 1000)
    assert not hostfw.may_read("Name:\tddiag\nCapEff:\t0000000000000000\n")
    assert hostfw.may_read("CapEff:\t0000000000001000\n")  # bit 12: CAP_NET_ADMIN
    assert not hostfw.may_read("CapEff:\t0000000000002000\n")  # CAP_NET_RAW only
    assert not hostfw.may_read("")
    monkeypatch.setattr(hostfw.os, "geteuid", lambda: 0)
    assert hostfw.may_read("CapEff:\t0000000000000000\n")


def test_engine_is_local_only_on_a_unix_socket() -> None:
    assert hostfw.engine_is_local("http+docker://localhost")
    assert not hostfw.engine_is_local("http+docker://ssh")
    assert not hostfw.engine_is_local("https://10.0.0.5:2376")


# --- the check -----------------------------------------------------------------------------


def test_healthy_rules_have_no_finding() -> None:
    assert findings(firewall("nft-docker")) == []
    assert findings(firewall("legacy-docker", "iptables-legacy-save")) == []


def test_missing_masquerade_names_the_network() -> None:
    found = findings(firewall("nft-missing-masquerade"))
    assert len(found) == 1
    finding = found[0]
    assert finding.check == "host.iptables" and finding.severity.value == "error"
    assert finding.subjects == ("web", "shop-web-1", "shop_default")
    assert finding.summary == (
        "no MASQUERADE rule for shop_default (10.213.143.0/24) in the host's nat POSTROUTING: "
        "containers on it have no way out of the host"
    )
    assert finding.evidence["network"] == "shop_default: 10.213.143.0/24 on bridge br-e697f6cb912b"
    assert "-s 10.213.143.0/24 ! -o br-e697f6cb912b -j MASQUERADE" in finding.evidence["looked_for"]
    assert "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE" in finding.evidence["found"]
    assert finding.evidence["read_with"] == "iptables-save: iptables-nft-save v1.8.9 (nf_tables)"
    assert "sudo systemctl restart docker" in finding.fix
    assert (
        "sudo iptables -t nat -A POSTROUTING -s 10.213.143.0/24 ! -o br-e697f6cb912b -j MASQUERADE"
        in finding.fix
    )


def test_masquerade_off_internal_or_routed_networks_need_no_rule() -> None:
    fw = firewall("nft-missing-masquerade")
    off = dataclasses.replace(
        APP, options={"com.docker.network.bridge.enable_ip_masquerade": "false"}
    )
    routed = dataclasses.replace(
        APP, options={"com.docker.network.bridge.gateway_mode_ipv4": "routed"}
    )
    assert findings(fw, off) == [] and findings(fw, routed) == []
    assert findings(fw, SEALED) == []  # internal: no rule expected, none missing


def test_nat_flushed_reports_the_chains_and_each_network() -> None:
    found = findings(firewall("nft-nat-flushed"))
    chains, *masquerade = found
    assert chains.summary.startswith(
        "Docker's iptables chains are missing on the host: DOCKER (nat, from PREROUTING), "
        "DOCKER (nat, from OUTPUT);"
    )
    assert "nat DOCKER: missing" in chains.evidence["chains"]
    assert "filter DOCKER-USER: jumped to from FORWARD" in chains.evidence["chains"]
    assert "--iptables=false" not in chains.fix  # filter chains exist: the engine wrote rules
    assert chains.subjects == ("web", "shop-web-1", "bridge", "shop_default")
    assert [f.subjects[-1] for f in masquerade] == ["bridge", "shop_default"]


def test_no_docker_chains_at_all_is_one_finding_that_names_iptables_false() -> None:
    found = findings(firewall("nft-no-docker-chains"))
    assert len(found) == 1
    assert found[0].evidence["docker_chains_found"] == "none"
    assert found[0].summary.endswith("and no container has a way out")
    assert "--iptables=false" in found[0].fix


def test_says_nothing_where_the_rules_are_not_the_networks() -> None:
    fw = firewall("nft-no-docker-chains")
    assert findings(None) == []  # not read: remote engine, not root, no iptables
    assert findings(dataclasses.replace(fw, nft_docker_bridges=True)) == []
    elsewhere = dataclasses.replace(fw, interfaces=frozenset({"eth0", "lo"}))
    assert findings(elsewhere) == []  # Docker Desktop's VM, a rootless engine


def test_other_source_nat_rules_that_cover_or_not() -> None:
    def with_postrouting(*lines: str) -> HostFirewall:
        base = dump("nft-missing-masquerade").replace(
            "-A POSTROUTING -s 172.17.0.0/16",
            "\n".join(lines) + "\n-A POSTROUTING -s 172.17.0.0/16",
        )
        return parse(base, "iptables-save", BRIDGES)

    covering = (
        "-A POSTROUTING -o eth0 -j MASQUERADE",  # a blanket masquerade
        "-A POSTROUTING -s 10.213.0.0/16 ! -o br-e697f6cb912b -j SNAT --to-source 192.0.2.7",
    )
    for line in covering:
        assert findings(with_postrouting(line), APP) == [], line
    not_covering = (
        "-A POSTROUTING -m addrtype --src-type LOCAL -o br-e697f6cb912b -j MASQUERADE",
        "-A POSTROUTING -s 10.213.143.9/32 -d 10.213.143.9/32 -p tcp --dport 80 -j MASQUERADE",
        "-A POSTROUTING ! -s 10.213.143.0/24 -j MASQUERADE",
        "-A POSTROUTING -s 10.213.143.0/24 -o br-e697f6cb912b -j MASQUERADE",
    )
    for line in not_covering:
        assert len(findings(with_postrouting(line), APP)) == 1, line


# --- the runner reads it once, only where it may ---------------------------------------------


def test_runner_reads_the_firewall_only_for_a_local_engine_and_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    check = find(iptables.ID)
    other = find("port.refused")
    assert check is not None and other is not None
    local = SimpleNamespace(api=SimpleNamespace(base_url="http+docker://localhost"))
    remote = SimpleNamespace(api=SimpleNamespace(base_url="https://10.0.0.5:2376"))
    fw = firewall("nft-docker")
    monkeypatch.setattr(hostfw, "read", lambda: fw)
    assert runner._host_firewall(local, [check, other]) == (fw, [])
    assert runner._host_firewall(local, [other]) == (None, [])
    assert runner._host_firewall(remote, [check]) == (None, [])

    def fails() -> HostFirewall:
        raise hostfw.Unreadable("`iptables-save` did not answer within 5 s")

    monkeypatch.setattr(hostfw, "read", fails)
    assert runner._host_firewall(local, [check]) == (
        None,
        [Inconclusive("the host's firewall", "`iptables-save` did not answer within 5 s")],
    )


def test_read_says_nothing_in_the_ddiag_image(
    installed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In its image ddiag sits in a container's netns: the rules there are not the host's."""
    calls: list[str] = []
    answers: dict[str, str | Exception] = dict.fromkeys(hostfw.SAVE_COMMANDS, dump("nft-docker"))
    run = fake_run(answers, calls)
    monkeypatch.setattr(hostfw, "may_read", lambda: True)
    monkeypatch.setenv("DDIAG_IN_IMAGE", "1")
    assert hostfw.read(run) is None
    assert calls == []
    monkeypatch.delenv("DDIAG_IN_IMAGE")
    assert hostfw.read(run) is not None
