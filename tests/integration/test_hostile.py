"""Untrusted text stays text (issue 7, item 4), on the real engine.

The hostile-text fixture puts ANSI and OSC escape sequences, Rich markup, Markdown, HTML and
XML metacharacters into an env value and an env variable's name, labels, network aliases,
the network's own name and a health log, and three checks quote them in their findings
(container.unhealthy, dns.name-confusion, dns.wrong-address). Every format the CLI writes
must show that text as text: JSON keeps it exactly (JSON escapes it), JUnit and SARIF
parse, Markdown renders to HTML without a tag or link of the input's, and the Rich report
(plain and in colour on a terminal) holds no escape sequence of the input and shows Rich
markup literally. Saved runs (`ddiag report`, `ddiag diff`) are rendered too.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.types
import pytest
from markdown_it import MarkdownIt

from tests.integration.stacks import PROBE_IMAGE, Stack, ddiag, running

# What api's healthcheck prints (its HOSTILE env value, see compose.yaml), as the engine
# stores it in the health log.
HOSTILE = (
    "\x1b[31mRED\x1b[0m \x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\ [bold red]x[/] "
    "[link=http://evil.example]click[/link] # h | pipe | `tick` <script>alert(1)</script> "
    '& " ]]> <!-- x -->'
)
# The same text with the escape sequences removed: what a person may see.
VISIBLE = HOSTILE.replace("\x1b[31m", "").replace("\x1b[0m", "")
VISIBLE = re.sub(r"\x1b\]8;;[^\x1b]*\x1b\\", "", VISIBLE)
NETWORK = 'ddiagt-hostile-[bold red]x[/]<b>|p|&"]]>'
ENV_NAME = "EVIL_[bold red]x[/]<script>|pipe|`t`_URL"
ALIASES = ("[bold red]x[/]", "<script>alert(1)</script>")
# Literal pieces a report must show as they are (no spaces: wrapping cannot split them).
LITERALS = ("[link=http://evil.example]click[/link]", "<script>alert(1)</script>", "]]>")
SGR = re.compile(r"\x1b\[[0-9;]*m")
OUTPUT_TIMEOUT_S = 120
ESC_SUBNET = "10.213.125.0/24"


@pytest.fixture(scope="module")
def hostile() -> Iterator[Stack]:
    with running("hostile-text") as stack:
        yield stack


def _compose(stack: Stack) -> list[str]:
    return ["compose", "-p", stack.project, "-f", str(stack.directory / "compose.yaml")]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI; a report with findings exits 1, never with a traceback."""
    result = ddiag(*args)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    return result


def _on_a_terminal(args: list[str], columns: int = 250) -> str:
    """Run the CLI with stdout on a pseudo-terminal (so it renders in colour, as for a
    person) and stderr on a pipe (so no progress spinner); returns what the terminal got."""
    master, slave = pty.openpty()
    env = {
        **os.environ,
        "DDIAG_PROBE_IMAGE": PROBE_IMAGE,
        "DDIAG_PULL": "never",
        "COLUMNS": str(columns),
        "TERM": "xterm-256color",
    }
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "diag", *args],
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + OUTPUT_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = err.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == 1, stderr
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def _assert_shows_literally(text: str) -> None:
    for literal in LITERALS:
        assert literal in text, f"{literal!r} not shown literally"
    assert "[bold" in text and "red]x[/]" in text, "Rich markup was interpreted"
    assert "RED link" in text, "the escape sequences around RED and link were not just removed"
    assert ENV_NAME.split("<", 1)[0] in text


def test_json_keeps_the_raw_text(hostile: Stack) -> None:
    doc = json.loads(_run(*_compose(hostile), "--format", "json").stdout)
    by_check: dict[str, list[dict[str, Any]]] = {}
    for finding in doc["findings"]:
        by_check.setdefault(finding["check"], []).append(finding)
    (unhealthy,) = by_check["container.unhealthy"]
    assert unhealthy["summary"].endswith(HOSTILE), unhealthy["summary"]
    assert unhealthy["evidence"]["last_output"] == HOSTILE
    (confusion,) = by_check["dns.name-confusion"]
    assert ENV_NAME in confusion["evidence"]["from"]
    wrong = by_check["dns.wrong-address"]
    assert sorted(f["evidence"]["query"].split(" A @")[0] for f in wrong) == sorted(ALIASES)
    assert all(NETWORK in f["subjects"] for f in wrong)
    (network,) = doc["topology"]["networks"]
    assert network["name"] == NETWORK
    (api,) = [m for m in network["members"] if m["service"] == "api"]
    assert set(ALIASES) <= set(api["dns_names"])
    assert doc["inconclusive"] == []


def test_junit_and_sarif_parse_and_hold_the_text(hostile: Stack) -> None:
    junit = _run(*_compose(hostile), "--format", "junit").stdout
    assert "\x1b" not in junit
    root = ET.fromstring(junit)
    messages = [f.get("message", "") for f in root.iter("failure")]
    assert any(m.endswith(VISIBLE) for m in messages), messages
    details = "".join(f.text or "" for f in root.iter("failure"))
    assert ENV_NAME in details and NETWORK in details

    sarif = _run(*_compose(hostile), "--format", "sarif").stdout
    assert "\x1b" not in sarif
    results = json.loads(sarif)["runs"][0]["results"]
    texts = [r["message"]["text"] for r in results]
    assert any(VISIBLE in t for t in texts), texts
    assert all(set(r["message"]) == {"text"} for r in results), "report text given as markdown"


def _table_rows(tokens: list[Any]) -> list[int]:
    """The number of cells of each table row Markdown parsed."""
    rows, cells = [], 0
    for token in tokens:
        if token.type == "tr_open":
            cells = 0
        elif token.type in ("td_open", "th_open"):
            cells += 1
        elif token.type == "tr_close":
            rows.append(cells)
    return rows


def test_markdown_renders_the_text_as_text(hostile: Stack) -> None:
    source = _run(*_compose(hostile), "--format", "markdown").stdout
    assert "\x1b" not in source
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    html = md.render(source)
    assert "<script" not in html and "<!--" not in html and "<b>" not in html
    assert "<a " not in html, "the input made a link"
    tags = set(re.findall(r"</?([a-z0-9]+)", html))
    assert tags <= {
        "h1", "h2", "h3", "p", "strong", "code", "pre", "table", "thead", "tbody", "tr", "th",
        "td", "ul", "li", "em", "br",
    }, tags  # fmt: skip
    escaped = VISIBLE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert escaped.replace('"', "&quot;") in html, "the health log is not shown as it is"
    # every table row has its header's cell count: no pipe of the input split a cell
    tokens = md.parse(source)
    rows = _table_rows(tokens)
    assert rows and set(rows) <= {2, 5}, rows
    summary = next(line for line in source.splitlines() if "container.unhealthy" in line)
    assert "\\| pipe \\|" in summary and "&lt;script&gt;" in summary


def test_rich_plain_shows_markup_literally_without_escapes(hostile: Stack) -> None:
    out = _run(*_compose(hostile), "--no-color").stdout
    assert "\x1b" not in out
    _assert_shows_literally(out)
    assert NETWORK.split("<", 1)[0] in out


def test_rich_in_colour_on_a_terminal(hostile: Stack) -> None:
    out = _on_a_terminal(_compose(hostile))
    assert SGR.search(out), "no colour: the pseudo-terminal was not taken for one"
    assert "\x1b]" not in out, "an OSC sequence (hyperlink) of the input reached the terminal"
    assert "\x1b[31mRED" not in out
    plain = SGR.sub("", out)
    assert "\x1b" not in plain, "an escape sequence other than ddiag's own colours"
    _assert_shows_literally(plain)
    assert "RED link [bold red]x[/] [link=http://evil.example]click[/link]" in plain


def test_saved_run_and_diff_render_the_text_as_text(hostile: Stack, tmp_path: Path) -> None:
    saved = tmp_path / "run.json"
    _run(*_compose(hostile), "--format", "json", "--output", str(saved))
    rendered = ddiag("report", str(saved), "--no-color")
    assert rendered.returncode == 1 and "Traceback" not in rendered.stderr, rendered.stderr
    assert "\x1b" not in rendered.stdout
    _assert_shows_literally(rendered.stdout)

    before = json.loads(saved.read_text())
    before["findings"] = []
    before["summary"] = {"error": 0, "warning": 0, "info": 0}
    empty = tmp_path / "before.json"
    empty.write_text(json.dumps(before))
    for fmt in ("rich", "markdown"):
        diff = ddiag("diff", str(empty), str(saved), "--format", fmt, "--no-color")
        assert "Traceback" not in diff.stderr, diff.stderr
        assert diff.returncode in (0, 1), diff.stderr
        assert "\x1b" not in diff.stdout, fmt
        if fmt == "markdown":
            html = MarkdownIt("commonmark", {"html": True}).enable("table").render(diff.stdout)
            assert "<script" not in html and "<a " not in html
        else:  # narrow table cells: only pieces short enough not to be folded
            assert "RED" in diff.stdout and "[bold" in diff.stdout and "[/]" in diff.stdout


def test_error_messages_drop_escape_sequences(engine) -> None:
    """A network name is engine data too: when ddiag names it in an error message (exit 2,
    on stderr: "did you mean", or the list of networks), its escape sequences must not
    reach the terminal."""
    name = "ddiagt-esc\x1b[31mred\x1b]8;;http://evil.example/\x07"
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=ESC_SUBNET)])
    network = engine.networks.create(name, driver="bridge", ipam=ipam)
    try:
        result = ddiag("network", "ddiagt-escred")
    finally:
        network.remove()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "ddiagt-esc" in result.stderr, result.stderr  # suggested, or listed
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr, repr(result.stderr)
