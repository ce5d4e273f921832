"""The `ddiag` commands: each parses its options and delegates, so that what a command
does can be read, and tested, without typer (diag.cli.diagnosing, diag.cli.probe_shell,
diag.cli.saved_runs). Bad input is exit 2 with a message, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from diag import __version__
from diag.capture.run import Settings
from diag.checks.catalog import order_block, order_text, readme_block
from diag.checks.registry import all_checks, find
from diag.cli import capturing, completion, console, probe_shell, saved_runs
from diag.cli.choices import FAIL_ON_ERROR, PULL_MISSING, RICH, RICH_DIFF, DiffFormat, FailOn, value
from diag.cli.console import fail, stderr
from diag.cli.diagnosing import diagnose_and_exit
from diag.cli.interrupts import probes_removed_on_exit, refusals_exit_2
from diag.cli.options import (
    CommonOptions,
    ConfigOpt,
    ContextOpt,
    FailOnOpt,
    FormatOpt,
    HostOpt,
    NoColorOpt,
    OutputOpt,
    ProbeImageOpt,
    ProbeModeOpt,
    PullOpt,
    QuietOpt,
    TimeoutOpt,
    common_options,
    pull_allowed,
)
from diag.engine.client import connect
from diag.engine.endpoint import EngineChoice
from diag.errors import DiagError
from diag.probes.probe import remove_probes
from diag.run.target_spec import ComposeSpec, ContainerSpec, NetworkSpec

app = typer.Typer(
    name="ddiag",
    help="Diagnose Docker and Docker Compose networking with probe containers.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


@app.command(
    epilog="Examples:  ddiag network shop_back  ·  ddiag network bridge  ·  "
    "ddiag network shop_front shop_back --format json -o report.json",
)
@common_options
def network(
    names: Annotated[
        list[str],
        typer.Argument(
            help="Network names or ids.", show_default=False, autocompletion=completion.networks
        ),
    ],
    *,
    common: CommonOptions,
) -> None:
    """Diagnose networks as a peer on each sees them: names, ports, listeners, stopped members."""
    diagnose_and_exit(NetworkSpec(tuple(names)), common)


@app.command(
    epilog="Examples:  ddiag compose  ·  ddiag compose web api  ·  "
    "ddiag compose -f compose.yaml -f compose.prod.yaml --profile debug  ·  "
    "ddiag compose -p shop --format json  ·  ddiag compose --fail-on warning --severity "
    "dns.ndots=info  ·  settings also come from the compose file's top-level x-ddiag and "
    "from ddiag.toml",
)
@common_options
def compose(
    services: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[SERVICE]...",
            help="Only these services: their edges, and the findings about them (default: "
            "every service).",
            show_default=False,
            autocompletion=completion.services,
        ),
    ] = None,
    files: Annotated[
        list[str] | None,
        typer.Option("--file", "-f", help="Compose file(s), as for docker compose."),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(
            "--project-name",
            "-p",
            help="Compose project name.",
            autocompletion=completion.projects,
        ),
    ] = None,
    project_directory: Annotated[
        str | None, typer.Option("--project-directory", help="As for docker compose.")
    ] = None,
    profiles: Annotated[
        list[str] | None,
        typer.Option("--profile", help="A profile to enable, as for docker compose (repeatable)."),
    ] = None,
    env_files: Annotated[
        list[str] | None,
        typer.Option("--env-file", help="An environment file, as for docker compose (repeatable)."),
    ] = None,
    expect: Annotated[
        Path | None,
        typer.Option(
            "--expect",
            help="Reachability rules file (TOML expect tables, or JSON), added to x-ddiag's.",
        ),
    ] = None,
    matrix: Annotated[
        bool,
        typer.Option("--matrix", help="Also show the service x service reachability matrix."),
    ] = False,
    *,
    common: CommonOptions,
) -> None:
    """Diagnose a running compose project, service to service, from each source's netns.

    The model comes from `docker compose config` (so -f, -p, --project-directory, --profile,
    --env-file and COMPOSE_* mean what they mean to docker compose); with only -p and no
    compose file it is rebuilt from the containers' labels, or, on a swarm manager, from
    the services of the stack -p names (`docker stack deploy`). SERVICE...: only these
    services, as `docker compose ps SERVICE...` lists only them.
    """
    spec = ComposeSpec(
        tuple(files or ()),
        project,
        project_directory,
        expect,
        matrix,
        profiles=tuple(profiles or ()),
        env_files=tuple(env_files or ()),
        services=tuple(services or ()),
    )
    diagnose_and_exit(spec, common)


@app.command(
    epilog="Examples:  ddiag container shop-web-1  ·  ddiag container web --format json",
)
@common_options
def container(
    name: Annotated[
        str,
        typer.Argument(
            help="Container name or id.", show_default=False, autocompletion=completion.containers
        ),
    ],
    *,
    common: CommonOptions,
) -> None:
    """Diagnose one container: its networks and the dependencies its configuration names."""
    diagnose_and_exit(ContainerSpec(name), common)


@app.command(
    epilog="Examples:  ddiag capture web api:8000  ·  ddiag capture web api:8000 --pcap "
    "web-api.pcapng  ·  ddiag capture web db:5432 --passive --seconds 30  ·  "
    "ddiag capture web api:8000 --send 'GET / HTTP/1.0\\r\\n\\r\\n'",
)
def capture(
    source: Annotated[
        str,
        typer.Argument(
            help="The container (name, id or compose service) the connection starts from.",
            show_default=False,
            autocompletion=completion.containers,
        ),
    ],
    target: Annotated[
        str,
        typer.Argument(
            help="NAME:PORT as the source's application writes it, or ADDRESS:PORT.",
            show_default=False,
        ),
    ],
    count: Annotated[int, typer.Option(min=1, max=20, help="Connection attempts.")] = 3,
    seconds: Annotated[
        float, typer.Option(min=1.0, max=60.0, help="Capture for at most this long.")
    ] = 10.0,
    pcap_file: Annotated[
        Path | None,
        typer.Option("--pcap", help="Write the packets to this pcapng file (for Wireshark)."),
    ] = None,
    passive: Annotated[
        bool,
        typer.Option(
            "--passive",
            help="Make no connection: watch the application's own traffic for --seconds.",
        ),
    ] = False,
    send: Annotated[
        str,
        typer.Option(
            help="Text to send once connected (\\r\\n escapes), e.g. an HTTP request line.",
        ),
    ] = "",
    bulk: Annotated[
        int,
        typer.Option(
            min=0,
            max=1 << 20,
            help="Bytes of filler to send after --send (large packets: an MTU black hole).",
        ),
    ] = 0,
    max_packets: Annotated[int, typer.Option(min=10, max=5000, help="Packets kept.")] = 1000,
    max_bytes: Annotated[int, typer.Option(min=10_000, max=4 << 20, help="Bytes kept.")] = 2 << 20,
    json_output: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    timeout: TimeoutOpt = None,
    probe_image: ProbeImageOpt = None,
    probe_mode: ProbeModeOpt = None,
    pull: PullOpt = PULL_MISSING,
    quiet: QuietOpt = False,
    host: HostOpt = None,
    context: ContextOpt = None,
) -> None:
    """Watch one connection at packet level, explained, with a pcapng to keep.

    Captures in the source's netns (and the target's, when it is a container) while ddiag
    makes the connection itself (or, with --passive, while your own traffic flows), then
    explains each attempt: the DNS exchange, the TCP handshake as each side saw it, and the
    first bytes back. Exit 1 when a finding is an error.
    """
    request = capturing.CaptureRequest(
        source,
        target,
        Settings(
            count=count,
            seconds=seconds,
            timeout=timeout or 2.0,
            passive=passive,
            send=send,
            bulk=bulk,
            max_packets=max_packets,
            max_bytes=max_bytes,
        ),
        pcap_file,
        json_output,
        probe_image,
        probe_mode.value if probe_mode else None,
        pull_allowed(pull),
        quiet,
        EngineChoice(host, context),
    )
    with probes_removed_on_exit(announce=False):
        code = capturing.capture_command(request, timeout)
    raise typer.Exit(code)


@app.command(
    "checks",
    epilog="Examples:  ddiag checks  ·  ddiag checks --markdown > catalog.md  ·  "
    "ddiag checks --order",
)
def list_checks(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the catalog as the README's table.")
    ] = False,
    order: Annotated[
        bool,
        typer.Option(
            "--order",
            help="Print the checks that explain failures, most specific first: of several "
            "that could explain one failure, the first listed owns it.",
        ),
    ] = False,
) -> None:
    """The check catalog: id, default severity and title of every check."""
    if order:
        print(order_block() if markdown else order_text())
        return
    if markdown:
        print(readme_block())
        return
    table = Table("id", "severity", "title", box=None)
    for check in all_checks():
        table.add_row(check.id, check.severity.value, check.title)
    Console(highlight=False).print(table)


@app.command(
    epilog="Examples:  ddiag explain port.app-loopback  ·  ddiag explain dns.cross-network",
)
def explain(
    check_id: Annotated[
        str,
        typer.Argument(
            help="A check id, e.g. port.app-loopback", autocompletion=completion.check_ids
        ),
    ],
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


@app.command(
    epilog="Examples:  ddiag cleanup  ·  ddiag cleanup --all (also probes of runs still going)",
)
def cleanup(
    all_probes: Annotated[
        bool, typer.Option("--all", help="Also remove probes of runs that may still be going.")
    ] = False,
    host: HostOpt = None,
    context: ContextOpt = None,
) -> None:
    """Remove probe containers left behind by a ddiag that was killed."""
    left: list[str] = []

    def refused(name: str, why: str) -> None:
        left.append(name)
        console.warn(f"{name} was not removed: {why}")

    with refusals_exit_2():
        removed = remove_probes(
            connect(EngineChoice(host, context)), everything=all_probes, refused=refused
        )
    stderr.print(
        f"removed {len(removed)} probe(s)" + (f": {', '.join(removed)}" if removed else "")
    )
    if left:  # what was asked is not done: a script must not read it as done
        fail(f"{len(left)} probe(s) remain: run ddiag cleanup again later, or `docker rm -f` them")


@app.command(
    epilog="Examples:  ddiag shell shop_back  ·  ddiag shell container:shop-api-1  ·  "
    "ddiag shell shop_back --probe-image nicolaka/netshoot  ·  "
    "echo 'cat /etc/resolv.conf' | ddiag shell shop_back",
)
def shell(
    where: Annotated[
        str,
        typer.Argument(
            help="A network (to join it as a peer), or container:NAME (to share its netns).",
            metavar="NETWORK|container:NAME",
            autocompletion=completion.shell_targets,
            show_default=False,
        ),
    ],
    probe_image: ProbeImageOpt = None,
    pull: PullOpt = PULL_MISSING,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    host: HostOpt = None,
    context: ContextOpt = None,
) -> None:
    """An interactive shell in a probe on a network or in a container's netns, removed on exit.

    The probe has the same limits as ddiag's own probes, plus NET_RAW for ping and
    traceroute; what tools it has depends on the image (nicolaka/netshoot has them all).
    """
    engine = EngineChoice(host, context)
    with probes_removed_on_exit(announce=False):
        code = probe_shell.open_shell(where, probe_image, pull_allowed(pull), config, quiet, engine)
    raise typer.Exit(code)


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
    fmt: FormatOpt = RICH,
    output: OutputOpt = None,
    fail_on: FailOnOpt = FAIL_ON_ERROR,
    no_color: NoColorOpt = False,
) -> None:
    """Render a saved JSON report in any format; the exit code follows its findings, as live."""
    try:
        rendered, code = saved_runs.render_saved(
            run,
            fmt.value,
            value(fail_on),
            color=console.use_color(fmt.value, output, no_color),
            width=console.width(output),
        )
        console.write(rendered, output)
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
    fmt: Annotated[DiffFormat, typer.Option("--format", help="Output format.")] = RICH_DIFF,
    output: OutputOpt = None,
    fail_on: Annotated[
        FailOn, typer.Option(help="Exit 1 when a NEW finding is at or above this severity.")
    ] = FAIL_ON_ERROR,
    no_color: NoColorOpt = False,
) -> None:
    """What changed between two saved runs: new, resolved and unchanged findings."""
    try:
        rendered, code, warnings = saved_runs.diff_saved(
            before,
            after,
            fmt.value,
            fail_on.value,
            color=console.use_color(fmt.value, output, no_color),
            width=console.width(output),
        )
        console.write(rendered, output)
    except DiagError as exc:
        fail(str(exc))
    for warning in warnings:
        console.warn(warning)
    raise typer.Exit(code)


@app.command(
    "schema",
    epilog="Examples:  ddiag schema > ddiag-report.schema.json",
)
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
