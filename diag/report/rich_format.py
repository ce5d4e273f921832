"""`--format rich`: the report for a person at a terminal.

Findings grouped by severity (each with evidence and fix), what could not be checked, a
topology tree (network -> containers with IPs, DNS names, ports), and a one-line summary.
Every piece of text that comes from the engine or a probe is added as `Text`, never as
markup, so a container name or log line cannot restyle or fake the report; and the whole
document is passed through `clean_all()` first, so no escape sequence or control character
from it reaches the terminal (Rich writes a `Text`'s characters as they are, ESC included).
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from diag.report.model import SEVERITY_ORDER, ReportDoc, edge_name, edge_origins, edge_status
from diag.report.options import RenderOptions
from diag.report.text import clean_all

STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _evidence_lines(evidence: dict[str, Any]) -> Text:
    text = Text()
    for key, value in evidence.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        text.append(f"  {key}: ", style="dim")
        text.append(shown + "\n")
    return text


def _finding_panel(finding: dict[str, Any]) -> Panel:
    severity = finding["severity"]
    body = Text()
    body.append(finding["summary"] + "\n")
    body.append("subjects: ", style="dim")
    body.append(", ".join(finding["subjects"]) + "\n")
    body.append("evidence:\n", style="dim")
    body.append_text(_evidence_lines(finding["evidence"]))
    body.append("fix:\n", style="bold green")
    body.append(finding["fix"], style="green")
    title = Text.assemble(
        (f" {severity.upper()} ", STYLE[severity]),
        (f"{finding['check']} ", "bold"),
        (f"· {finding['title']} ", ""),
    )
    return Panel(body, title=title, title_align="left", border_style=STYLE[severity])


def _member_label(member: dict[str, Any]) -> Text:
    label = Text()
    label.append(member["container"], style="bold")
    if member["service"]:
        label.append(f" ({member['service']})", style="dim")
    label.append(f"  {member['ip'] or '-'}")
    if member["status"] != "running":
        label.append(f"  [{member['status']}]", style="red")
    if member["dns_names"]:
        label.append("  dns: ", style="dim")
        label.append(", ".join(member["dns_names"]))
    ports = list(dict.fromkeys(member["exposed"] + member["published"]))
    if ports:
        label.append("  ports: ", style="dim")
        label.append(", ".join(ports))
    if member["listening"] is not None:
        label.append("  listening: ", style="dim")
        label.append(", ".join(member["listening"]) or "nothing")
    return label


def _network_label(network: dict[str, Any]) -> Text:
    flags = [network["driver"], ", ".join(network["subnets"]) or "no subnet"]
    if network["internal"]:
        flags.append("internal")
    if network["default_bridge"]:
        flags.append("default bridge: no embedded DNS")
    return Text.assemble((network["name"], "bold blue"), f"  ({'; '.join(flags)})")


def _topology_tree(doc: ReportDoc) -> Tree:
    tree = Tree(Text("Topology", style="bold"))
    for network in doc["topology"]["networks"]:
        branch = tree.add(_network_label(network))
        if not network["members"]:
            branch.add(Text("no containers", style="dim"))
        for member in network["members"]:
            branch.add(_member_label(member))
    return tree


MAX_NETNS_SHOWN = 30  # a 200-container run lists them all in JSON, not on a terminal


def _netns_tree(doc: ReportDoc) -> Tree | None:
    """`ip -br addr` and `ip route` of each container's netns, loopback left out."""
    spaces = doc["topology"].get("netns") or []
    if not spaces:
        return None
    tree = Tree(Text("Interfaces and routes", style="bold"))
    for space in spaces[:MAX_NETNS_SHOWN]:
        service = f" ({space['service']})" if space["service"] else ""
        branch = tree.add(Text(f"{space['container']}{service}", style="bold"))
        for interface in space["interfaces"]:
            if interface["name"] == "lo":
                continue
            state = ("UP", "green") if interface["up"] else ("DOWN", "red")
            branch.add(
                Text.assemble(
                    f"{interface['name']}  ",
                    state,
                    f"  {' '.join(interface['addresses']) or '-'}  mtu {interface['mtu']}",
                )
            )
        for route in space["routes"]:
            via = f" via {route['via']}" if route.get("via") else ""
            branch.add(Text(f"{route['dst']}{via} dev {route['dev']}", style="dim"))
    if len(spaces) > MAX_NETNS_SHOWN:
        tree.add(Text(f"… and {len(spaces) - MAX_NETNS_SHOWN} more (--format json has all)"))
    return tree


def _edges_tree(doc: ReportDoc) -> Tree | None:
    if not doc["edges"]:
        return None
    tree = Tree(Text("Dependencies", style="bold"))
    for edge in doc["edges"]:
        status, reason = edge_status(edge)
        if status == "not checked":
            mark, style = f"? not checked: {reason}", "yellow"
        elif status == "failed":
            mark, style = f"✗ {edge['check'] or '(no check names the cause)'}", "red"
        else:
            mark, style = "✓", "green"
        tree.add(
            Text.assemble(
                f"{edge_name(edge)}  ", (mark, style), (f"  ({edge_origins(edge)})", "dim")
            )
        )
    return tree


def matrix_table(doc: ReportDoc) -> Table | None:
    """`--matrix`: rows reach columns; each cell lists the target's ports, ✓ or ✗ why."""
    cells = doc.get("matrix")
    if cells is None:
        return None
    services = sorted({c["from"] for c in cells} | {c["to"] for c in cells})
    table = Table(title="Reachability (row → column)", show_lines=True)
    table.add_column("from \\ to", style="bold")
    for service in services:
        table.add_column(service)
    for source in services:
        row: list[Text | str] = [source]
        for target in services:
            text = Text()
            for cell in (c for c in cells if c["from"] == source and c["to"] == target):
                if text:
                    text.append("\n")
                mark = ("✓", "green") if cell["reachable"] else ("✗", "red")
                text.append(f"{cell['port']} ")
                text.append(*mark)
                if not cell["reachable"]:
                    text.append(f" {cell['detail']}", style="dim")
            row.append(text if text else ("—" if source == target else ""))
        table.add_row(*row)
    return table


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("s" if count != 1 and word != "info" else "")


def summary_line(doc: ReportDoc) -> Text:
    counts = doc["summary"]
    text = Text()
    if not doc["findings"]:
        text.append("No findings", style="bold green")
    else:
        parts = [(_plural(counts[s.value], s.value), STYLE[s.value]) for s in SEVERITY_ORDER]
        shown = [(part, style) for part, style in parts if not part.startswith("0 ")]
        for index, (part, style) in enumerate(shown):
            text.append(("" if index == 0 else ", ") + part, style=style)
    engine = doc["engine"]
    text.append(
        f"  ·  {doc['target']['kind']} {', '.join(doc['target']['names'])}"
        + "".join(f" {service}" for service in doc["target"].get("services", []))
        + f"  ·  {_plural(len(doc['checks_run']), 'check')}, "
        f"{_plural(doc['run']['probes_started'], 'probe')}"
        f"  ·  {doc['duration_s']:.1f} s"
        f"  ·  engine {engine['version']} (API {engine['api_version']})"
    )
    if doc["inconclusive"]:
        text.append(f"  ·  {len(doc['inconclusive'])} inconclusive", style="yellow")
    return text


def text_console(buffer: io.StringIO, options: RenderOptions) -> Console:
    """A console that writes to `buffer`: colour only when asked, and never markup, so
    untrusted text cannot restyle the output. Shared by every Rich rendering."""
    return Console(
        file=buffer,
        force_terminal=options.color,
        no_color=not options.color,
        color_system="standard" if options.color else None,
        width=options.width,
        highlight=False,
        emoji=False,
        markup=False,
    )


def render(doc: ReportDoc, options: RenderOptions) -> str:
    doc = clean_all(doc)
    buffer = io.StringIO()
    console = text_console(buffer, options)
    for severity in SEVERITY_ORDER:
        group = [f for f in doc["findings"] if f["severity"] == severity.value]
        if group:
            console.print(
                Text(f"{severity.value.capitalize()}s ({len(group)})", STYLE[severity.value])
            )
            console.print(Group(*(_finding_panel(f) for f in group)))
    if doc["inconclusive"]:
        console.print(Text(f"Inconclusive ({len(doc['inconclusive'])})", style="yellow"))
        for item in doc["inconclusive"]:
            console.print(Text.assemble("  ", (item["where"], "bold"), ": ", item["reason"]))
    edges = _edges_tree(doc)
    if edges is not None:
        console.print(edges)
    matrix = matrix_table(doc)
    if matrix is not None:
        console.print(matrix)
    console.print(_topology_tree(doc))
    netns = _netns_tree(doc)
    if netns is not None:
        console.print(netns)
    console.print(summary_line(doc))
    return buffer.getvalue()
