"""`--format rich`: the report for a person at a terminal.

Findings grouped by severity (each with evidence and fix), what could not be checked, a
topology tree (network -> containers with IPs, DNS names, ports), and a one-line summary.
Every piece of text that comes from the engine or a probe is added as `Text`, never as
markup, so a container name or log line cannot restyle or fake the report.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text
from rich.tree import Tree

from diag.findings import Finding, Severity
from diag.report.model import SEVERITY_ORDER, Report
from diag.report.options import RenderOptions
from diag.topology import Container, Endpoint, Network

STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def _evidence_lines(evidence: dict[str, Any]) -> Text:
    text = Text()
    for key, value in evidence.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        text.append(f"  {key}: ", style="dim")
        text.append(shown + "\n")
    return text


def _finding_panel(finding: Finding) -> Panel:
    body = Text()
    body.append(finding.summary + "\n")
    body.append("subjects: ", style="dim")
    body.append(", ".join(finding.subjects) + "\n")
    body.append("evidence:\n", style="dim")
    body.append_text(_evidence_lines(dict(finding.evidence)))
    body.append("fix:\n", style="bold green")
    body.append(finding.fix, style="green")
    title = Text.assemble(
        (f" {finding.severity.value.upper()} ", STYLE[finding.severity]),
        (f"{finding.check} ", "bold"),
        (f"· {finding.title} ", ""),
    )
    return Panel(body, title=title, title_align="left", border_style=STYLE[finding.severity])


def _member_label(container: Container, endpoint: Endpoint, report: Report) -> Text:
    label = Text()
    label.append(container.name, style="bold")
    if container.service:
        label.append(f" ({container.service})", style="dim")
    label.append(f"  {endpoint.ip or '-'}")
    if not container.running:
        label.append(f"  [{container.status}]", style="red")
    names = [n for n in endpoint.dns_names if n != container.short_id]
    if names:
        label.append("  dns: ", style="dim")
        label.append(", ".join(names))
    ports = [f"{p}/{proto}" for p, proto in container.exposed]
    ports += [
        f"{b.host_ip or '0.0.0.0'}:{b.host_port}->{b.container_port}/{b.proto}"
        for b in container.published
    ]
    if ports:
        label.append("  ports: ", style="dim")
        label.append(", ".join(dict.fromkeys(ports)))
    listening = report.listening.get(container.id)
    if listening is not None:
        label.append("  listening: ", style="dim")
        label.append(", ".join(listening) or "nothing")
    return label


def _network_label(network: Network) -> Text:
    subnets = ", ".join(s.subnet for s in network.subnets) or "no subnet"
    flags = [network.driver, subnets]
    if network.internal:
        flags.append("internal")
    if network.is_default_bridge:
        flags.append("default bridge: no embedded DNS")
    return Text.assemble((network.name, "bold blue"), f"  ({'; '.join(flags)})")


def _topology_tree(report: Report) -> Tree:
    tree = Tree(Text("Topology", style="bold"))
    for network in report.target.networks:
        branch = tree.add(_network_label(network))
        members = report.topology.members(network)
        if not members:
            branch.add(Text("no containers", style="dim"))
        for container, endpoint in members:
            branch.add(_member_label(container, endpoint, report))
    return tree


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("s" if count != 1 and word != "info" else "")


def summary_line(report: Report) -> Text:
    counts = report.counts
    text = Text()
    if not report.findings:
        text.append("No findings", style="bold green")
    else:
        parts = [
            (_plural(counts[s.value], s.value), STYLE[s]) for s in SEVERITY_ORDER if counts[s.value]
        ]
        for index, (part, style) in enumerate(parts):
            text.append(("" if index == 0 else ", ") + part, style=style)
    text.append(
        f"  ·  {report.target.kind} {', '.join(report.target.names)}"
        f"  ·  {_plural(len(report.checks_run), 'check')}, "
        f"{_plural(report.probes_started, 'probe')}"
        f"  ·  {report.duration_s:.1f} s"
        f"  ·  engine {report.topology.engine.version} (API {report.topology.engine.api_version})"
    )
    if report.inconclusive:
        text.append(f"  ·  {len(report.inconclusive)} inconclusive", style="yellow")
    return text


def render(report: Report, options: RenderOptions) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=options.color,
        no_color=not options.color,
        color_system="standard" if options.color else None,
        width=options.width,
        highlight=False,
        emoji=False,
        markup=False,
    )
    for severity in SEVERITY_ORDER:
        group = [f for f in report.sorted_findings() if f.severity == severity]
        if group:
            console.print(Text(f"{severity.value.capitalize()}s ({len(group)})", STYLE[severity]))
            console.print(Group(*(_finding_panel(f) for f in group)))
    if report.inconclusive:
        console.print(Text(f"Inconclusive ({len(report.inconclusive)})", style="yellow"))
        for item in report.inconclusive:
            console.print(Text.assemble("  ", (item.where, "bold"), ": ", item.reason))
    console.print(_topology_tree(report))
    console.print(summary_line(report))
    return buffer.getvalue()
