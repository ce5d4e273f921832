"""`--format markdown`: an incident runbook, for a ticket, a wiki page or a pull request.

Title with the target, engine, start time and duration; a summary table (counts by severity,
then one row per finding); each finding as a section with its evidence, the fix in a code
block and the commands a person would type to see the problem themselves; what could not be
checked; the dependencies; and the topology as a Mermaid flowchart (networks as subgraphs,
containers with their IPs, failing edges dashed and red, labelled with the check id) that
GitHub and GitLab render.

Every piece of text from the report is escaped for where it lands: Markdown prose (HTML,
emphasis, links, table pipes, line-start markers), code spans and fenced blocks (fences
longer than any backtick run inside), shell commands (`shlex.quote`), Mermaid labels
(entity codes for quotes, brackets and the like) and Mermaid ids (`[A-Za-z0-9_]` only).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from diag.report.model import (
    SEVERITY_ORDER,
    ReportDoc,
    edge_origins,
    edge_status,
    host_note,
)
from diag.report.options import RenderOptions
from diag.report.text import clean, one_line

NETSHOOT = "nicolaka/netshoot"
MAX_COMMANDS = 6
FAILED_STYLE = "stroke:#d73a49,stroke-width:2px,color:#d73a49"
UNOBSERVED_STYLE = "stroke:#b08800,stroke-width:1px,color:#b08800"

# Backslash-escaped: what starts code, emphasis (`_` only where it could: not inside a
# word), links, table cells, strikethrough, headings; line starts that open a block.
_MD_SPECIAL = re.compile(r"[\\`*\[\]|~#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_LINE_START = re.compile(r"^([+=-])(?=[\s=+-]|$)|^(\d{1,9})([.)])(?=\s|$)")
_BACKTICKS = re.compile(r"`+")
_MERMAID_ESCAPES = {ord(c): f"#{ord(c)};" for c in "#&\"'<>[](){}|;`\\"}


# --- escaping ------------------------------------------------------------------------------


def text(value: object) -> str:
    """Untrusted text as one line of Markdown prose that renders as exactly that text."""
    escaped = one_line(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = _MD_SPECIAL.sub(lambda m: "\\" + m[0], escaped)
    return _LINE_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", escaped)


def code(value: object, table: bool = False) -> str:
    """Untrusted text as an inline code span (pipes escaped too when in a table cell)."""
    content = one_line(value)
    if not content:
        return ""
    longest = max((len(run) for run in _BACKTICKS.findall(content)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if content[0] == "`" or content[-1] == "`" else ""
    if table:
        content = content.replace("|", "\\|")
    return f"{fence}{pad}{content}{pad}{fence}"


def fenced(body: str, info: str = "") -> str:
    """A fenced code block that no content can close early."""
    content = clean(body).rstrip("\n")
    longest = max((len(run) for run in _BACKTICKS.findall(content)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{content}\n{fence}"


def mermaid_label(value: object) -> str:
    """Untrusted text for inside a quoted Mermaid label: entity codes for the characters
    that could end the label, start markup or be taken as HTML."""
    return one_line(value).translate(_MERMAID_ESCAPES)


def mermaid_id(*parts: object) -> str:
    """An id of `[A-Za-z0-9_]` only (callers make it unique with an index part)."""
    return "_".join(re.sub(r"[^A-Za-z0-9_]", "_", one_line(p))[:32] for p in parts)


def shell(*args: object) -> str:
    return " ".join(shlex.quote(one_line(arg)) for arg in args)


# --- the document --------------------------------------------------------------------------


def _title(doc: ReportDoc) -> list[str]:
    target = doc["target"]
    engine = doc["engine"]
    run = doc.get("run") or {}
    started = run.get("started_at") or ""
    try:
        shown = datetime.fromisoformat(started).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        shown = started
    probes = run.get("probes_started")
    facts = [
        f"**Engine:** {text(engine.get('version'))} (API {text(engine.get('api_version'))})",
        f"**Started:** {text(shown) or 'unknown'}",
        f"**Duration:** {float(doc.get('duration_s') or 0):.1f} s",
        f"**Checks:** {len(doc['checks_run'])}"
        + (f", {int(probes)} probes" if isinstance(probes, int) else ""),
        f"**ddiag:** {text(doc['tool'].get('version'))}",
    ]
    files = target.get("config_files") or []
    lines = [
        f"# ddiag runbook: {text(target['kind'])} {', '.join(code(n) for n in target['names'])}"
        + "".join(f" {code(service)}" for service in target.get("services", [])),
        "",
        " · ".join(facts),
    ]
    if files:
        lines += ["", "**Compose files:** " + ", ".join(code(f) for f in files)]
    return lines


def _summary(doc: ReportDoc) -> list[str]:
    counts = doc["summary"]
    lines = ["## Summary", ""]
    lines += ["| severity | findings |", "|---|---:|"]
    lines += [f"| {s.value} | {int(counts.get(s.value, 0))} |" for s in SEVERITY_ORDER]
    inconclusive = len(doc.get("inconclusive") or [])
    lines.append(f"| inconclusive | {inconclusive} |")
    lines.append("")
    if not doc["findings"]:
        lines.append(
            "No findings: every check that ran found the target healthy"
            + (", as far as it could see (see Inconclusive)." if inconclusive else ".")
        )
        return lines
    lines += ["| # | severity | check | subjects | summary |", "|---:|---|---|---|---|"]
    for index, finding in enumerate(doc["findings"], 1):
        subjects = ", ".join(code(s, table=True) for s in finding["subjects"])
        lines.append(
            f"| {index} | {text(finding['severity'])} | {code(finding['check'], table=True)} "
            f"| {subjects} | {text(finding['summary'])} |"
        )
    return lines


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _evidence(evidence: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in evidence.items():
        if isinstance(value, list) and len(value) > 1:
            lines.append(f"- **{text(key)}:**")
            lines += [f"  - {text(_shown(item))}" for item in value]
        elif isinstance(value, list):
            lines.append(f"- **{text(key)}:** {text(_shown(value[0])) if value else 'none'}")
        else:
            lines.append(f"- **{text(key)}:** {text(_shown(value))}")
    return lines or ["- none recorded"]


class _Topology:
    """Who is who in the document's topology: networks, members, services."""

    def __init__(self, doc: ReportDoc) -> None:
        self.networks: list[dict[str, Any]] = doc["topology"]["networks"]
        self.members = [(net, m) for net in self.networks for m in net["members"]]

    def network(self, name: str) -> dict[str, Any] | None:
        return next((n for n in self.networks if n["name"] == name), None)

    def containers_of(self, name: str) -> list[str]:
        """The containers `name` (a container or a service) stands for, running first."""
        found = [m for _, m in self.members if name in (m["container"], m["service"])]
        found.sort(key=lambda m: m["status"] != "running")
        return list(dict.fromkeys(m["container"] for m in found))

    def endpoints(self, container: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(net, m) for net, m in self.members if m["container"] == container]


def _ports(member: dict[str, Any]) -> list[str]:
    return [p.split("/")[0] for p in member["exposed"] if p.endswith("/tcp")]


def _netns(container: str) -> tuple[str, ...]:
    """`docker run` of a netshoot container sharing `container`'s network namespace (and
    with it its resolv.conf and hosts file)."""
    return ("docker", "run", "--rm", "--network", f"container:{container}", NETSHOOT)


def _peer(network: str) -> tuple[str, ...]:
    """`docker run` of a netshoot container attached to `network`, as any peer on it."""
    return ("docker", "run", "--rm", "--network", network, NETSHOOT)


def _see_commands(finding: dict[str, Any], doc: ReportDoc, topo: _Topology) -> list[str]:
    """The docker commands that show a person what the check saw, per check family."""
    family = finding["check"].split(".", 1)[0]
    subjects = finding["subjects"]
    containers = list(dict.fromkeys(c for s in subjects for c in topo.containers_of(s)))
    networks = [s for s in subjects if topo.network(s) is not None]
    commands: list[tuple[object, ...]] = []
    edges = [
        e
        for e in doc.get("edges") or []
        if e.get("check") == finding["check"] and e["source"] in subjects
    ]
    for edge in edges[:2]:
        sources = topo.containers_of(edge["source"])
        if not sources:
            continue
        if finding["check"] == "dns.extra-hosts-override":
            commands.append((*_netns(sources[0]), "cat", "/etc/hosts"))
        if edge.get("to_host"):  # a name of the host is in /etc/hosts, never in DNS
            commands.append((*_netns(sources[0]), "getent", "hosts", edge["target"]))
        elif family == "dns" or not edge["port"]:
            commands.append((*_netns(sources[0]), "dig", "+search", edge["target"]))
        if edge["port"]:
            commands.append(
                (*_netns(sources[0]), "nc", "-vz", "-w", "2", edge["target"], edge["port"])
            )
        if family == "port":
            commands += [
                (*_netns(t), "ss", "-ltnp") for t in topo.containers_of(edge["target"])[:1]
            ]
    for container in containers[:2]:
        if family == "container":
            commands.append(("docker", "logs", "--tail", "50", container))
            commands.append(("docker", "inspect", "--format", "{{json .State}}", container))
        elif family == "port" and not edges:
            commands.append((*_netns(container), "ss", "-ltnp"))
            for net, member in topo.endpoints(container)[:1]:
                for port in _ports(member)[:2]:
                    if member["ip"]:
                        commands.append(
                            (*_peer(net["name"]), "nc", "-vz", "-w", "2", member["ip"], port)
                        )
        elif family == "dns" and not edges:
            commands.append((*_netns(container), "cat", "/etc/resolv.conf"))
            for net, member in topo.endpoints(container)[:1]:
                names = [n for n in member["dns_names"] if n != container][:1] or [container]
                commands += [(*_peer(net["name"]), "dig", "+short", name) for name in names]
    commands += [("docker", "network", "inspect", n) for n in networks[:2]]
    if not commands:
        commands += [("docker", "inspect", c) for c in containers[:2]]
    return list(dict.fromkeys(shell(*c) for c in commands))[:MAX_COMMANDS]


def _finding(index: int, finding: dict[str, Any], doc: ReportDoc, topo: _Topology) -> list[str]:
    lines = [
        f"### {index}. {text(finding['severity']).upper()}: {code(finding['check'])}"
        f" · {text(finding['title'])}",
        "",
        text(finding["summary"]),
        "",
        "**Subjects:** " + (", ".join(code(s) for s in finding["subjects"]) or "none"),
        "",
        "**Evidence**",
        "",
        *_evidence(finding["evidence"]),
        "",
        "**Fix**",
        "",
        fenced(finding["fix"] or "(no fix recorded)", "text"),
    ]
    commands = _see_commands(finding, doc, topo)
    if commands:
        lines += ["", "**See it yourself**", "", fenced("\n".join(commands), "sh")]
    return lines


def _inconclusive(doc: ReportDoc) -> list[str]:
    items = doc.get("inconclusive") or []
    lines = [f"## Inconclusive ({len(items)})", ""]
    if not items:
        return [*lines, "Nothing: every observation the checks asked for was made."]
    lines += ["Observations that could not be made; what they would have shown is unknown.", ""]
    return lines + [f"- **{text(i['where'])}:** {text(i['reason'])}" for i in items]


def _edge_status(edge: dict[str, Any]) -> str:
    status, reason = edge_status(edge)
    if status == "not checked":
        return f"not checked: {text(reason)}"
    if status == "failed":
        return f"fails: {code(edge['check'], table=True)}" if edge.get("check") else "fails"
    return "works"


def _dependencies(doc: ReportDoc) -> list[str]:
    edges = doc.get("edges") or []
    if not edges:
        return []
    lines = ["## Dependencies", "", "| source | target | port | from | status |"]
    lines.append("|---|---|---:|---|---|")
    for edge in edges:
        origins = text(edge_origins(edge))
        lines.append(
            f"| {code(edge['source'], table=True)} | {code(edge['target'], table=True)}"
            f"{host_note(edge)} "
            f"| {text(edge['port'] or '')} | {origins} | {_edge_status(edge)} |"
        )
    return [*lines, ""]


def _matrix(doc: ReportDoc) -> list[str]:
    """`ddiag compose --matrix`: rows reach columns; each cell lists ports with ✓ or ✗."""
    cells = doc.get("matrix")
    if cells is None:
        return []
    services = sorted({c["from"] for c in cells} | {c["to"] for c in cells})
    lines = ["## Reachability matrix", "", "Rows reach columns, port by port.", ""]
    lines.append("| from \\ to | " + " | ".join(code(s, table=True) for s in services) + " |")
    lines.append("|---" * (len(services) + 1) + "|")
    for source in services:
        row = []
        for target in services:
            marks = [
                f"{c['port']} " + ("✓" if c["reachable"] else f"✗ {text(c['detail'])}")
                for c in cells
                if c["from"] == source and c["to"] == target
            ]
            row.append("<br>".join(marks) if marks else ("—" if source == target else ""))
        lines.append(f"| {code(source, table=True)} | " + " | ".join(row) + " |")
    return [*lines, ""]


def _member_label(member: dict[str, Any]) -> str:
    name = mermaid_label(member["container"])
    if member.get("service") and member["service"] != member["container"]:
        name += f" ({mermaid_label(member['service'])})"
    where = mermaid_label(member["ip"] or "no IP")
    if member["status"] != "running":
        where += f" · {mermaid_label(member['status'])}"
    return f"{name}<br/>{where}"


def _flowchart(doc: ReportDoc) -> Iterator[str]:
    topo = _Topology(doc)
    yield "flowchart LR"
    nodes: dict[str, list[tuple[int, str]]] = {}  # container, service, dns name → nodes
    down: list[str] = []
    for i, network in enumerate(topo.networks):
        subnets = ", ".join(network["subnets"]) or "no subnet"
        label = f"{mermaid_label(network['name'])} · {mermaid_label(subnets)}"
        yield f'  subgraph {mermaid_id("net", i, network["name"])}["{label}"]'
        if not network["members"]:
            yield f'    {mermaid_id("net", i, "empty")}["no containers"]'
        for j, member in enumerate(network["members"]):
            node = mermaid_id("n", i, j, member["container"])
            yield f'    {node}["{_member_label(member)}"]'
            names = [member["container"], member["service"], *member["dns_names"]]
            for name in dict.fromkeys(n for n in names if n):
                nodes.setdefault(name, []).append((i, node))
            if member["status"] != "running":
                down.append(node)
        yield "  end"
    outside: dict[str, str] = {}
    failed: list[int] = []
    unobserved: list[int] = []
    for k, edge in enumerate(doc.get("edges") or []):
        sources = nodes.get(edge["source"], [])
        targets = nodes.get(edge["target"], [])
        shared = [(s, t) for s in sources for t in targets if s[0] == t[0]]
        pair = shared[0] if shared else (next(iter(sources), None), next(iter(targets), None))
        ends = []
        for end, name in zip(pair, (edge["source"], edge["target"]), strict=True):
            if end is None:  # a name no container holds (a typo, localhost, outside host)
                if name not in outside:
                    outside[name] = mermaid_id("x", len(outside), name)
                    yield f'  {outside[name]}["{mermaid_label(name)}"]'
                ends.append(outside[name])
            else:
                ends.append(end[1])
        port = f":{edge['port']}" if edge["port"] else ""
        status, _ = edge_status(edge)
        if status == "not checked":
            arrow, label = "-.->", f"{port} not checked"
            unobserved.append(k)
        elif status == "failed":
            arrow, label = "-.->", f"{port} ✗ {edge['check'] or ''}"
            failed.append(k)
        else:
            arrow, label = "-->", port or "ok"
        yield f'  {ends[0]} {arrow}|"{mermaid_label(label.strip())}"| {ends[1]}'
    yield "  classDef down fill:#fde2e1,stroke:#d73a49,stroke-dasharray:4 3"
    yield "  classDef missing fill:#fff5b1,stroke:#b08800,stroke-dasharray:4 3"
    if down:
        yield f"  class {','.join(down)} down"
    if outside:
        yield f"  class {','.join(outside.values())} missing"
    if failed:
        yield f"  linkStyle {','.join(map(str, failed))} {FAILED_STYLE}"
    if unobserved:
        yield f"  linkStyle {','.join(map(str, unobserved))} {UNOBSERVED_STYLE}"


def _topology(doc: ReportDoc) -> list[str]:
    if not doc["topology"]["networks"] and not doc.get("edges"):
        return []
    legend = (
        "Networks are boxes; a container on several networks appears in each. Arrows are "
        "dependencies: solid works, dashed red fails (labelled with the check), dashed yellow "
        "was not checked (the dependency table says why); containers that are not running "
        "are shaded red."
    )
    return ["## Topology", "", legend, "", fenced("\n".join(_flowchart(doc)), "mermaid"), ""]


def _checks_run(doc: ReportDoc) -> list[str]:
    shown = ", ".join(code(c) for c in doc["checks_run"]) or "none"
    return [f"## Checks run ({len(doc['checks_run'])})", "", shown]


def render(doc: ReportDoc, options: RenderOptions) -> str:
    topo = _Topology(doc)
    lines = [*_title(doc), "", *_summary(doc), ""]
    if doc["findings"]:
        lines += ["## Findings", ""]
        for index, finding in enumerate(doc["findings"], 1):
            lines += [*_finding(index, finding, doc, topo), ""]
    lines += [*_inconclusive(doc), ""]
    lines += _dependencies(doc)
    lines += _matrix(doc)
    lines += _topology(doc)
    lines += _checks_run(doc)
    return "\n".join(lines) + "\n"
