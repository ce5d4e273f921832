"""The `ddiag` command line: typed options, clear errors (exit 2), findings decide exit 0/1."""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, NoReturn

import docker
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from checks.catalog import readme_block
from checks.registry import all_checks, find
from diag import __version__
from diag.cli import completion, saved_runs
from diag.engine.client import connect, read_topology
from diag.engine.compose_cli import load_config
from diag.engine.early import Guess, container_networks, named_networks, project_networks
from diag.errors import DiagError
from diag.model.compose import project_from_config, project_from_labels
from diag.model.context import Target
from diag.model.egress import parse_egress, parse_egress_dns
from diag.model.expectations import load_rules_file
from diag.model.findings import reaches
from diag.model.targets import compose_target, container_target, network_target, stack_project
from diag.model.topology import Topology
from diag.probes.probe import DEFAULT_PROBE_IMAGE, ensure_image, remove_probes
from diag.probes.resident import ENGINE_ERRORS
from diag.probes.session import DEFAULT_MEMORY, ProbeSession
from diag.probes.shell import no_docker_cli, plan_shell, resolve_target, run_shell
from diag.report import FORMATS, RenderOptions
from diag.report.model import ReportDoc
from diag.report.text import clean
from diag.run.config import Settings, Sources, command_line_layer, select_checks
from diag.run.runner import RunOptions, diagnose

EXIT_FINDINGS = 1
EXIT_ERROR = 2
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
    str | None,
    typer.Option(
        help="Exit 1 when a finding is at or above this severity: error|warning|info|never "
        "(default error).",
        show_default=False,
    ),
]
SelectOpt = Annotated[
    list[str] | None, typer.Option("--select", help="Run only these check ids or families.")
]
IgnoreOpt = Annotated[
    list[str] | None, typer.Option("--ignore", help="Skip these check ids or families.")
]
ProbeImageOpt = Annotated[
    str | None,
    typer.Option(
        envvar="DDIAG_PROBE_IMAGE",
        help=f"Image for probe containers: any image with python3 >= 3.10 "
        f"(default {DEFAULT_PROBE_IMAGE}).",
        show_default=False,
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        min=0.1,
        help="Seconds to wait for each DNS answer or TCP connect (default 2).",
        show_default=False,
    ),
]
DeadlineOpt = Annotated[
    float | None,
    typer.Option(
        min=1.0,
        envvar="DDIAG_DEADLINE",
        help="Seconds for the whole run (default 120): what is not observed by then is "
        "reported inconclusive, and the exit code is 2 unless findings already make it 1.",
        show_default=False,
    ),
]
ProbeModeOpt = Annotated[
    str | None,
    typer.Option(
        envvar="DDIAG_PROBE_MODE",
        help="shared (default): one probe enters every container's netns (CAP_SYS_ADMIN, "
        "CAP_SYS_PTRACE, host pid namespace); isolated: one unprivileged probe per place, "
        "slower. See SECURITY.md.",
        show_default=False,
    ),
]
PullOpt = Annotated[
    str,
    typer.Option(
        envvar="DDIAG_PULL",
        help="Pull the probe image when it is missing (missing) or never (never).",
    ),
]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="Plain text, no colours.")]
SeverityOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--severity",
        metavar="CHECK=LEVEL",
        help="Override the severity of a check id or family: e.g. dns.ndots=info (repeatable).",
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Settings file (TOML). Default: ddiag.toml in the current directory, if any.",
        show_default=False,
    ),
]
EgressOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--egress",
        metavar="HOST:PORT",
        help="Also check that a TCP connect to HOST:PORT works from each network (repeatable; "
        "IPv6 as [ADDRESS]:PORT). Opt-in: no outside address is probed unless named here.",
    ),
]
EgressDnsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--egress-dns",
        metavar="NAME",
        help="Also check that NAME resolves from each network, as its members resolve it "
        "(repeatable). Opt-in, like --egress.",
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress messages: only the report and errors.")
]


def fail(message: str) -> NoReturn:
    stderr.print(Text(clean(f"ddiag: {message}"), style="red"), soft_wrap=True)
    raise typer.Exit(EXIT_ERROR)


def _exit_code(doc: ReportDoc, fail_on: str) -> int:
    return EXIT_FINDINGS if reaches(doc["findings"], fail_on) else 0


def _use_color(fmt: str, output: Path | None, no_color: bool) -> bool:
    return (
        fmt == "rich"
        and output is None
        and not no_color
        and not os.environ.get("NO_COLOR")
        and sys.stdout.isatty()
    )


def _progress_wanted(quiet: bool) -> bool:
    """Progress goes to stderr only when it is a terminal (not a CI log, even with FORCE_COLOR)."""
    return not quiet and sys.stderr.isatty() and stderr.is_terminal


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that `finally` blocks remove the probes."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated()


@dataclass(frozen=True)
class CommonOptions:
    """The options every diagnosing command takes (ARCHITECTURE.md, "Data flow")."""

    fmt: str
    output: Path | None
    fail_on: str | None  # None: not given (config files, then the default, decide)
    select_ids: list[str] | None
    ignore_ids: list[str] | None
    probe_image: str | None
    pull: str
    timeout: float | None
    no_color: bool
    severity: list[str] | None = None
    config: Path | None = None
    quiet: bool = False
    deadline: float | None = None
    probe_mode: str | None = None
    egress: list[str] | None = None  # HOST:PORT as typed; parsed by diag.model.egress
    egress_dns: list[str] | None = None

    def sources(self) -> Sources:
        """The command line over x-ddiag over ddiag.toml (diag.run.config)."""
        layer = command_line_layer(
            self.select_ids,
            self.ignore_ids,
            self.severity,
            self.fail_on,
            self.timeout,
            self.probe_image,
            self.probe_mode,
            self.deadline,
        )
        return Sources(layer, self.config)

    def resolved(self, settings: Settings) -> CommonOptions:
        return replace(
            self,
            fail_on=settings.fail_on,
            select_ids=list(settings.select),
            ignore_ids=list(settings.ignore),
            probe_image=settings.probe_image,
            timeout=settings.timeout,
            deadline=settings.deadline,
            probe_mode=settings.probe_mode,
        )


# What a command needs to find its target besides the engine (the compose file, read while
# the engine is): it returns how to make the target from the engine's topology.
Prepare = Callable[[], Callable[[Topology], Target]]


def run_diagnosis(prepare: Prepare, guess: Guess, options: CommonOptions) -> None:
    """What every diagnosing command shares: settings, discover, probe, report, exit.

    `guess` names the networks whose anchors start with the shared probe (diag.engine.early)."""
    fmt, output, pull = options.fmt, options.output, options.pull
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if pull not in PULL_POLICIES:
        fail(f"--pull takes one of {', '.join(PULL_POLICIES)}, not {pull!r}")
    if options.no_color:
        stderr.no_color = True
    try:  # the command line and ddiag.toml: their mistakes stop us before the engine is asked
        sources = options.sources()
        settings = sources.resolve()
        checks = select_checks(settings)
        egress = parse_egress(options.egress or ())
        egress_dns = parse_egress_dns(options.egress_dns or ())
    except DiagError as exc:
        fail(str(exc))
    signal.signal(signal.SIGTERM, _on_sigterm)
    early: ProbeSession | None = None  # started before the target is known; ours to close
    try:
        client = connect()
        remove_probes(client)  # probes orphaned by a killed ddiag
        early = _start_early(client, settings, guess)
        with ThreadPoolExecutor(max_workers=1) as reading:  # the engine and the compose file
            engine_read = reading.submit(read_topology, client)
            make_target = prepare()
            topology = engine_read.result()
        target = make_target(topology)
        project = target.project
        x_ddiag = project.extensions.get("x-ddiag") if project is not None else None
        if project is not None and x_ddiag:  # the compose file's own settings
            settings = sources.resolve(x_ddiag, project.config_files)
            checks = select_checks(settings)
        options = options.resolved(settings)
        status = stderr.status("Starting probes", spinner="dots")
        show = _progress_wanted(options.quiet)
        if show:
            status.start()
        try:
            ensure_image(client, settings.probe_image, status.update, pull=pull == "missing")
            run_options = RunOptions(
                settings.probe_image,
                settings.timeout,
                settings.severity,
                deadline=settings.deadline,
                probe_mode=settings.probe_mode,  # type: ignore[arg-type]
                probe_memory=_probe_memory(),
                egress=egress,
                egress_dns=egress_dns,
            )
            handed, early = early, None  # diagnose() closes what it is given
            if handed is not None and not handed.suits(
                run_options.probe_image, run_options.probe_mode, run_options.probe_memory
            ):
                handed.close()
                handed = None
            report = diagnose(
                client, topology, target, checks, run_options, status.update, session=handed
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
    finally:
        if early is not None:  # the run ended before the probe was handed over
            early.close()
    doc = report.to_dict()
    fail_on = settings.fail_on
    rendered = FORMATS[fmt](
        doc,
        RenderOptions(
            color=_use_color(fmt, output, options.no_color),
            width=_width(output),
            fail_on=fail_on,
        ),
    )
    if output is None:
        sys.stdout.write(rendered)
    else:
        try:
            output.write_text(rendered, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write the report to {output}: {exc.strerror}")
    incomplete = _incompleteness(doc, report.unobserved_places, settings.deadline)
    if incomplete:  # "could not check" must not pass a CI job as "checked and fine"
        stderr.print(f"ddiag: {incomplete}", style="yellow", soft_wrap=True)
        raise typer.Exit(_exit_code(doc, fail_on) or EXIT_ERROR)
    raise typer.Exit(_exit_code(doc, fail_on))


def _incompleteness(doc: ReportDoc, unobserved_places: int, deadline: float) -> str:
    """Why the report is incomplete ("" when it is not): the deadline came first, or some
    places could not be observed at all (probes refused, killed, out of memory)."""
    if doc["run"]["deadline_reached"]:
        return (
            f"the run's deadline ({deadline:g} s) came before every observation; what is "
            "missing is listed as inconclusive"
        )
    if unobserved_places:
        return (
            f"{unobserved_places} place(s) could not be observed: their probes were refused, "
            "killed or out of memory, or the Docker engine went away (see inconclusive in "
            "the report); the result is incomplete"
        )
    return ""


def _start_early(
    client: docker.DockerClient, settings: Settings, guess: Guess
) -> ProbeSession | None:
    """The shared probe and the anchors of the networks `guess` names, starting while the
    engine is read and the compose file resolved; None where they could not be used as
    they are (isolated mode, or an image still to pull: pulling shows progress, later)."""
    if settings.probe_mode != "shared":
        return None
    try:
        client.api.inspect_image(settings.probe_image)
    except ENGINE_ERRORS:
        return None
    session = ProbeSession(client, settings.probe_image, settings.timeout, memory=_probe_memory())
    session.prestart()
    session.prestart_anchors(guess(client.api))
    return session


def _probe_memory() -> str:
    """DDIAG_PROBE_MEMORY: the probes' memory limit, as docker takes it (e.g. 64m, 1g)."""
    value = os.environ.get("DDIAG_PROBE_MEMORY", "").strip().lower() or DEFAULT_MEMORY
    if not re.fullmatch(r"[0-9]+[bkmg]?", value):
        raise DiagError(f"DDIAG_PROBE_MEMORY takes a size such as 64m or 1g, not {value!r}.")
    return value


def _width(output: Path | None) -> int:
    if output is None and sys.stdout.isatty():
        return Console().width
    return 100


@app.command(
    epilog="Examples:  ddiag network shop_back  ·  ddiag network bridge  ·  "
    "ddiag network shop_front shop_back --format json -o report.json",
)
def network(
    names: Annotated[
        list[str],
        typer.Argument(
            help="Network names or ids.", show_default=False, autocompletion=completion.networks
        ),
    ],
    fmt: FormatOpt = "rich",
    output: OutputOpt = None,
    fail_on: FailOnOpt = None,
    select_ids: SelectOpt = None,
    ignore_ids: IgnoreOpt = None,
    severity: SeverityOpt = None,
    probe_image: ProbeImageOpt = None,
    pull: PullOpt = "missing",
    timeout: TimeoutOpt = None,
    deadline: DeadlineOpt = None,
    probe_mode: ProbeModeOpt = None,
    no_color: NoColorOpt = False,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    egress: EgressOpt = None,
    egress_dns: EgressDnsOpt = None,
) -> None:
    """Diagnose networks as a peer on each sees them: names, ports, listeners, stopped members."""
    run_diagnosis(
        lambda: lambda topology: network_target(topology, names),
        named_networks(names),
        CommonOptions(
            fmt,
            output,
            fail_on,
            select_ids,
            ignore_ids,
            probe_image,
            pull,
            timeout,
            no_color,
            severity=severity,
            config=config,
            quiet=quiet,
            deadline=deadline,
            probe_mode=probe_mode,
            egress=egress,
            egress_dns=egress_dns,
        ),
    )


@app.command(
    epilog="Examples:  ddiag compose  ·  ddiag compose -f compose.yaml -f compose.prod.yaml  ·  "
    "ddiag compose -p shop --format json  ·  ddiag compose --fail-on warning --severity "
    "dns.ndots=info  ·  settings also come from the compose file's top-level x-ddiag and "
    "from ddiag.toml",
)
def compose(
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
    fmt: FormatOpt = "rich",
    output: OutputOpt = None,
    fail_on: FailOnOpt = None,
    select_ids: SelectOpt = None,
    ignore_ids: IgnoreOpt = None,
    severity: SeverityOpt = None,
    probe_image: ProbeImageOpt = None,
    pull: PullOpt = "missing",
    timeout: TimeoutOpt = None,
    deadline: DeadlineOpt = None,
    probe_mode: ProbeModeOpt = None,
    no_color: NoColorOpt = False,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    egress: EgressOpt = None,
    egress_dns: EgressDnsOpt = None,
) -> None:
    """Diagnose a running compose project, service to service, from each source's netns.

    The model comes from `docker compose config` (so -f, -p, --project-directory and
    COMPOSE_* mean what they mean to docker compose); with only -p and no compose file it
    is rebuilt from the containers' labels, or, on a swarm manager, from the services of
    the stack -p names (`docker stack deploy`).
    """

    def prepare() -> Callable[[Topology], Target]:
        rules = load_rules_file(expect) if expect else []
        model = load_config(files or [], project, project_directory)

        def make_target(topology: Topology) -> Target:
            if model is None:
                assert project is not None  # load_config returns None only with -p
                found = stack_project(topology, project) or project_from_labels(topology, project)
            else:
                found = project_from_config(model, files or [])
            return compose_target(topology, found, rules, matrix)

        return make_target

    run_diagnosis(
        prepare,
        project_networks(project or os.environ.get("COMPOSE_PROJECT_NAME")),
        CommonOptions(
            fmt,
            output,
            fail_on,
            select_ids,
            ignore_ids,
            probe_image,
            pull,
            timeout,
            no_color,
            severity=severity,
            config=config,
            quiet=quiet,
            deadline=deadline,
            probe_mode=probe_mode,
            egress=egress,
            egress_dns=egress_dns,
        ),
    )


@app.command(
    epilog="Examples:  ddiag container shop-web-1  ·  ddiag container web --format json",
)
def container(
    name: Annotated[
        str,
        typer.Argument(
            help="Container name or id.", show_default=False, autocompletion=completion.containers
        ),
    ],
    fmt: FormatOpt = "rich",
    output: OutputOpt = None,
    fail_on: FailOnOpt = None,
    select_ids: SelectOpt = None,
    ignore_ids: IgnoreOpt = None,
    severity: SeverityOpt = None,
    probe_image: ProbeImageOpt = None,
    pull: PullOpt = "missing",
    timeout: TimeoutOpt = None,
    deadline: DeadlineOpt = None,
    probe_mode: ProbeModeOpt = None,
    no_color: NoColorOpt = False,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    egress: EgressOpt = None,
    egress_dns: EgressDnsOpt = None,
) -> None:
    """Diagnose one container: its networks and the dependencies its configuration names."""
    run_diagnosis(
        lambda: lambda topology: container_target(topology, name),
        container_networks(name),
        CommonOptions(
            fmt,
            output,
            fail_on,
            select_ids,
            ignore_ids,
            probe_image,
            pull,
            timeout,
            no_color,
            severity=severity,
            config=config,
            quiet=quiet,
            deadline=deadline,
            probe_mode=probe_mode,
            egress=egress,
            egress_dns=egress_dns,
        ),
    )


@app.command(
    "checks",
    epilog="Examples:  ddiag checks  ·  ddiag checks --markdown > catalog.md",
)
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


@app.command(
    epilog="Examples:  ddiag explain port.app-loopback  ·  ddiag explain dns.cross-network",
)
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


@app.command(
    epilog="Examples:  ddiag cleanup  ·  ddiag cleanup --all (also probes of runs still going)",
)
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
    pull: PullOpt = "missing",
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """An interactive shell in a probe on a network or in a container's netns, removed on exit.

    The probe has the same limits as ddiag's own probes, plus NET_RAW for ping and
    traceroute; what tools it has depends on the image (nicolaka/netshoot has them all).
    """
    import shutil

    if pull not in PULL_POLICIES:
        fail(f"--pull takes one of {', '.join(PULL_POLICIES)}, not {pull!r}")
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        image = Sources(command_line_layer(probe_image=probe_image), config).resolve().probe_image
        client = connect()
        remove_probes(client)
        target = resolve_target(read_topology(client), where)
        docker_cli = shutil.which("docker")
        run = plan_shell(image, target, sys.stdin.isatty(), docker_cli or "docker")
        if docker_cli is None:
            raise DiagError(no_docker_cli(run.command))
        status = stderr.status("Preparing the probe image", spinner="dots")
        show = _progress_wanted(quiet)
        if show:
            status.start()
        try:
            ensure_image(client, image, status.update, pull=pull == "missing")
        finally:
            if show:
                status.stop()
        if show:
            stderr.print(
                Text(f"ddiag: shell on {target.label} ({image}); exit to remove it", style="dim")
            )
        code = run_shell(client, run)
    except DiagError as exc:
        fail(str(exc))
    except _Terminated:
        raise typer.Exit(143) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
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
        stderr.print(Text(clean(f"ddiag: {warning}"), style="yellow"), soft_wrap=True)
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
