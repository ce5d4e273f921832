"""The `ddiag` command line: typed options, clear errors (exit 2), findings decide exit 0/1."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from checks.catalog import readme_block
from checks.registry import all_checks, find, select
from diag import __version__, saved_runs
from diag.compose import load_config, project_from_config, project_from_labels
from diag.context import Target
from diag.engine import connect, read_topology
from diag.errors import DiagError
from diag.expectations import load_rules_file
from diag.findings import Severity
from diag.probe import DEFAULT_PROBE_IMAGE, ensure_image, remove_probes
from diag.report import FORMATS, RenderOptions
from diag.report.model import ReportDoc
from diag.runner import RunOptions, diagnose
from diag.targets import compose_target, container_target, network_target
from diag.topology import Topology

EXIT_FINDINGS = 1
EXIT_ERROR = 2
FAIL_ON = ("error", "warning", "info", "never")
PULL_POLICIES = ("missing", "never")

app = typer.Typer(
    name="ddiag",
    help="Diagnose Docker and Docker Compose networking with probe containers.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
stderr = Console(stderr=True, highlight=False)

FormatOpt = Annotated[str, typer.Option("--format", help=f"Output format: {', '.join(FORMATS)}.")]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the report to FILE, not stdout.")
]
FailOnOpt = Annotated[
    str,
    typer.Option(
        help="Exit 1 when a finding is at or above this severity: error|warning|info|never."
    ),
]
SelectOpt = Annotated[
    list[str] | None, typer.Option("--select", help="Run only these check ids or families.")
]
IgnoreOpt = Annotated[
    list[str] | None, typer.Option("--ignore", help="Skip these check ids or families.")
]
ProbeImageOpt = Annotated[
    str,
    typer.Option(
        envvar="DDIAG_PROBE_IMAGE",
        help="Image for probe containers: any image with python3 >= 3.10.",
    ),
]
TimeoutOpt = Annotated[
    float, typer.Option(min=0.1, help="Seconds to wait for each DNS answer or TCP connect.")
]
PullOpt = Annotated[
    str,
    typer.Option(
        envvar="DDIAG_PULL",
        help="Pull the probe image when it is missing (missing) or never (never).",
    ),
]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="Plain text, no colours.")]


def fail(message: str) -> NoReturn:
    stderr.print(Text(f"ddiag: {message}", style="red"), soft_wrap=True)
    raise typer.Exit(EXIT_ERROR)


def _exit_code(doc: ReportDoc, fail_on: str) -> int:
    if fail_on == "never":
        return 0
    threshold = Severity(fail_on).rank
    failing = any(Severity(f["severity"]).rank >= threshold for f in doc["findings"])
    return EXIT_FINDINGS if failing else 0


def _use_color(fmt: str, output: Path | None, no_color: bool) -> bool:
    return (
        fmt == "rich"
        and output is None
        and not no_color
        and "NO_COLOR" not in os.environ
        and sys.stdout.isatty()
    )


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that `finally` blocks remove the probes."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated()


@dataclass(frozen=True)
class CommonOptions:
    """The options every diagnosing command takes (DESIGN.md, "Command line")."""

    fmt: str
    output: Path | None
    fail_on: str
    select_ids: list[str] | None
    ignore_ids: list[str] | None
    probe_image: str
    pull: str
    timeout: float
    no_color: bool


def run_diagnosis(make_target: Callable[[Topology], Target], options: CommonOptions) -> None:
    """What every diagnosing command shares: validate, discover, probe, report, exit."""
    fmt, output, fail_on = options.fmt, options.output, options.fail_on
    probe_image, pull = options.probe_image, options.pull
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if pull not in PULL_POLICIES:
        fail(f"--pull takes one of {', '.join(PULL_POLICIES)}, not {pull!r}")
    if fail_on not in FAIL_ON:
        fail(f"--fail-on takes one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    checks = select(all_checks(), options.select_ids or [], options.ignore_ids or [])
    if not checks:
        fail("--select/--ignore leave no check to run; `ddiag checks` lists the ids")
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        client = connect()
        remove_probes(client)  # probes orphaned by a killed ddiag
        topology = read_topology(client)
        target = make_target(topology)
        status = stderr.status("Starting probes", spinner="dots")
        show = stderr.is_terminal
        if show:
            status.start()
        try:
            ensure_image(client, probe_image, status.update, pull=pull == "missing")
            report = diagnose(
                client,
                topology,
                target,
                checks,
                RunOptions(probe_image, options.timeout),
                status.update,
            )
        finally:
            if show:
                status.stop()
    except DiagError as exc:
        fail(str(exc))
    except _Terminated:
        stderr.print("ddiag: terminated; probes removed")
        raise typer.Exit(143) from None
    except KeyboardInterrupt:
        stderr.print("ddiag: interrupted; probes removed")
        raise typer.Exit(130) from None
    doc = report.to_dict()
    rendered = FORMATS[fmt](
        doc,
        RenderOptions(color=_use_color(fmt, output, options.no_color), width=_width(output)),
    )
    if output is None:
        sys.stdout.write(rendered)
    else:
        try:
            output.write_text(rendered, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write the report to {output}: {exc.strerror}")
    raise typer.Exit(_exit_code(doc, fail_on))


def _width(output: Path | None) -> int:
    if output is None and sys.stdout.isatty():
        return Console().width
    return 100


@app.command(
    epilog="Examples:  ddiag network shop_back  ·  ddiag network bridge  ·  "
    "ddiag network shop_front shop_back --format json -o report.json",
)
def network(
    names: Annotated[list[str], typer.Argument(help="Network names or ids.", show_default=False)],
    fmt: FormatOpt = "rich",
    output: OutputOpt = None,
    fail_on: FailOnOpt = "error",
    select_ids: SelectOpt = None,
    ignore_ids: IgnoreOpt = None,
    probe_image: ProbeImageOpt = DEFAULT_PROBE_IMAGE,
    pull: PullOpt = "missing",
    timeout: TimeoutOpt = 2.0,
    no_color: NoColorOpt = False,
) -> None:
    """Diagnose networks as a peer on each sees them: names, ports, listeners, stopped members."""
    run_diagnosis(
        lambda topology: network_target(topology, names),
        CommonOptions(
            fmt, output, fail_on, select_ids, ignore_ids, probe_image, pull, timeout, no_color
        ),
    )


@app.command(
    epilog="Examples:  ddiag compose  ·  ddiag compose -f compose.yaml -f compose.prod.yaml  ·  "
    "ddiag compose -p shop --format json",
)
def compose(
    files: Annotated[
        list[str] | None,
        typer.Option("--file", "-f", help="Compose file(s), as for docker compose."),
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project-name", "-p", help="Compose project name.")
    ] = None,
    project_directory: Annotated[
        str | None, typer.Option("--project-directory", help="As for docker compose.")
    ] = None,
    expect: Annotated[
        Path | None,
        typer.Option(
            "--expect",
            help="Reachability rules (TOML [[expect]] or JSON), added to x-ddiag's `expect`.",
        ),
    ] = None,
    matrix: Annotated[
        bool,
        typer.Option("--matrix", help="Also show the service x service reachability matrix."),
    ] = False,
    fmt: FormatOpt = "rich",
    output: OutputOpt = None,
    fail_on: FailOnOpt = "error",
    select_ids: SelectOpt = None,
    ignore_ids: IgnoreOpt = None,
    probe_image: ProbeImageOpt = DEFAULT_PROBE_IMAGE,
    pull: PullOpt = "missing",
    timeout: TimeoutOpt = 2.0,
    no_color: NoColorOpt = False,
) -> None:
    """Diagnose a running compose project, service to service, from each source's netns.

    The model comes from `docker compose config` (so -f, -p, --project-directory and
    COMPOSE_* mean what they mean to docker compose); with only -p and no compose file it
    is rebuilt from the containers' labels.
    """

    def make_target(topology: Topology) -> Target:
        rules = load_rules_file(expect) if expect else []
        model = load_config(files or [], project, project_directory)
        if model is None:
            assert project is not None  # load_config returns None only with -p
            found = project_from_labels(topology, project)
        else:
            found = project_from_config(model, files or [])
        return compose_target(topology, found, rules, matrix)

    run_diagnosis(
        make_target,
        CommonOptions(
            fmt, output, fail_on, select_ids, ignore_ids, probe_image, pull, timeout, no_color
        ),
    )


@app.command(
    epilog="Examples:  ddiag container shop-web-1  ·  ddiag container web --format json",
)
def container(
    name: Annotated[str, typer.Argument(help="Container name or id.", show_default=False)],
    fmt: FormatOpt = "rich",
    output: OutputOpt = None,
    fail_on: FailOnOpt = "error",
    select_ids: SelectOpt = None,
    ignore_ids: IgnoreOpt = None,
    probe_image: ProbeImageOpt = DEFAULT_PROBE_IMAGE,
    pull: PullOpt = "missing",
    timeout: TimeoutOpt = 2.0,
    no_color: NoColorOpt = False,
) -> None:
    """Diagnose one container: its networks and the dependencies its configuration names."""
    run_diagnosis(
        lambda topology: container_target(topology, name),
        CommonOptions(
            fmt, output, fail_on, select_ids, ignore_ids, probe_image, pull, timeout, no_color
        ),
    )


@app.command("checks")
def list_checks(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the catalog as the README's table.")
    ] = False,
) -> None:
    """The check catalog: id, default severity and title of every check."""
    if markdown:
        print(readme_block())
        return
    table = Table("id", "severity", "title", box=None)
    for check in all_checks():
        table.add_row(check.id, check.severity.value, check.title)
    Console(highlight=False).print(table)


@app.command()
def explain(
    check_id: Annotated[str, typer.Argument(help="A check id, e.g. port.app-loopback")],
) -> None:
    """A check's failure mode, how ddiag detects it, and the fix."""
    check = find(check_id)
    if check is None:
        import difflib

        close = difflib.get_close_matches(check_id, [c.id for c in all_checks()], n=3)
        fail(f"no check {check_id!r}." + (f" Did you mean {' or '.join(close)}?" if close else ""))
    Console(highlight=False).print(
        Text.assemble((f"{check.id}", "bold"), f"  ({check.severity.value})\n\n", check.doc),
        soft_wrap=True,
    )


@app.command()
def cleanup(
    all_probes: Annotated[
        bool, typer.Option("--all", help="Also remove probes of runs that may still be going.")
    ] = False,
) -> None:
    """Remove probe containers left behind by a ddiag that was killed."""
    try:
        removed = remove_probes(connect(), everything=all_probes)
    except DiagError as exc:
        fail(str(exc))
    stderr.print(
        f"removed {len(removed)} probe(s)" + (f": {', '.join(removed)}" if removed else "")
    )


SavedRunArg = Annotated[
    Path,
    typer.Argument(help="A report saved with --format json (- reads stdin).", show_default=False),
]


@app.command(
    "report",
    epilog="Examples:  ddiag report run.json  ·  ddiag report run.json --format markdown -o run.md",
)
def report_command(
    run: SavedRunArg,
    fmt: FormatOpt = "rich",
    output: OutputOpt = None,
    fail_on: FailOnOpt = "error",
    no_color: NoColorOpt = False,
) -> None:
    """Render a saved JSON report in any format; the exit code follows its findings, as live."""
    try:
        rendered, code = saved_runs.render_saved(
            run, fmt, fail_on, color=_use_color(fmt, output, no_color), width=_width(output)
        )
        saved_runs.write(rendered, output)
    except DiagError as exc:
        fail(str(exc))
    raise typer.Exit(code)


@app.command(
    "diff",
    epilog="Examples:  ddiag diff good.json now.json  ·  ddiag diff a.json b.json --format json",
)
def diff_command(
    before: SavedRunArg,
    after: SavedRunArg,
    fmt: Annotated[
        str, typer.Option("--format", help="Output format: rich, json, markdown.")
    ] = "rich",
    output: OutputOpt = None,
    fail_on: Annotated[
        str,
        typer.Option(help="Exit 1 when a NEW finding is at or above: error|warning|info|never."),
    ] = "error",
    no_color: NoColorOpt = False,
) -> None:
    """What changed between two saved runs: new, resolved and unchanged findings."""
    try:
        rendered, code, warnings = saved_runs.diff_saved(
            before,
            after,
            fmt,
            fail_on,
            color=_use_color(fmt, output, no_color),
            width=_width(output),
        )
        saved_runs.write(rendered, output)
    except DiagError as exc:
        fail(str(exc))
    for warning in warnings:
        stderr.print(Text(f"ddiag: {warning}", style="yellow"), soft_wrap=True)
    raise typer.Exit(code)


@app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema (draft 2020-12) of the --format json report."""
    sys.stdout.write(saved_runs.schema())


def _version(value: bool) -> None:
    if value:
        print(f"ddiag {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """ddiag: find why a container cannot reach another, with evidence and a fix."""


def main() -> None:
    app()
