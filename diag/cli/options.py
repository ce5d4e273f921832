"""The options of the command line, each declared once.

`network`, `compose` and `container` take the same options: the fields of `CommonOptions`,
each annotated as typer reads a parameter. `@common_options` adds them to a command's
signature, after the command's own arguments and options and in field order (the order
`--help` lists them in), and hands the command one `CommonOptions` instead of twenty
parameters. Commands that take only a few of these options (`shell`, `cleanup`, `report`,
`diff`) use the same annotations one by one.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, cast, get_type_hints

import typer

from diag.cli import completion
from diag.cli.choices import PULL_MISSING, RICH, FailOn, Format, ProbeMode, Pull, value
from diag.engine.endpoint import EngineChoice
from diag.probes.probe import DEFAULT_PROBE_IMAGE
from diag.run.diagnosis import Request
from diag.run.target_spec import TargetSpec
from diag.run.waiting import DEFAULT_INTERVAL_S, Wait

FormatOpt = Annotated[Format, typer.Option("--format", help="Output format.")]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the report to FILE, not stdout.")
]
FailOnOpt = Annotated[
    FailOn | None,
    typer.Option(
        help="Exit 1 when a finding is at or above this severity (default error).",
        show_default=False,
    ),
]
SelectOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--select",
        help="Run only these check ids or families.",
        autocompletion=completion.check_patterns,
    ),
]
IgnoreOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ignore",
        help="Skip these check ids or families.",
        autocompletion=completion.check_patterns,
    ),
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
    ProbeMode | None,
    typer.Option(
        envvar="DDIAG_PROBE_MODE",
        help="shared (default): one probe enters every container's netns (CAP_SYS_ADMIN, "
        "CAP_SYS_PTRACE, host pid namespace); isolated: one unprivileged probe per place, "
        "slower. See SECURITY.md.",
        show_default=False,
    ),
]
PullOpt = Annotated[
    Pull,
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
        autocompletion=completion.severity_overrides,
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
WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait",
        min=0.0,
        metavar="SECONDS",
        help="Diagnose again until no finding reaches --fail-on (and everything was observed), "
        "for at most SECONDS: for a stack that was just started. The report is the last run's "
        "(default: one run).",
        show_default=False,
    ),
]
WaitIntervalOpt = Annotated[
    float,
    typer.Option(
        "--wait-interval",
        min=0.1,
        metavar="SECONDS",
        help="Seconds between the runs of --wait.",
    ),
]
HostOpt = Annotated[
    str | None,
    typer.Option(
        "--host",
        "-H",
        metavar="URL",
        help="The engine to use, as docker -H takes it (unix://, tcp://, ssh://): before "
        "DOCKER_HOST, DOCKER_CONTEXT and the current docker context.",
        show_default=False,
    ),
]
ContextOpt = Annotated[
    str | None,
    typer.Option(
        "--context",
        "-c",
        metavar="NAME",
        help="The docker context to use, as docker --context takes it: before DOCKER_HOST, "
        "DOCKER_CONTEXT and `docker context use`. Not with -H.",
        autocompletion=completion.contexts,
        show_default=False,
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress messages: only the report and errors.")
]
TraceOpt = Annotated[
    Path | None,
    typer.Option(
        "--trace",
        envvar="DDIAG_TRACE",
        metavar="FILE",
        help="Write where the run's time went (interpreter and imports, engine reads, probe "
        "starts, tasks, report, probe removal) to FILE as JSON.",
        show_default=False,
    ),
]


def pull_allowed(policy: Pull) -> bool:
    """--pull (or DDIAG_PULL) as the probes take it: may a missing image be pulled?"""
    return policy.value == "missing"


@dataclass(frozen=True)
class CommonOptions:
    """The options every diagnosing command takes, as typed. The field names are the
    parameter names typer derives option names from (`fail_on` is --fail-on)."""

    fmt: FormatOpt = RICH
    output: OutputOpt = None
    fail_on: FailOnOpt = None  # None: not given (config files, then the default, decide)
    select_ids: SelectOpt = None
    ignore_ids: IgnoreOpt = None
    severity: SeverityOpt = None
    probe_image: ProbeImageOpt = None
    pull: PullOpt = PULL_MISSING
    timeout: TimeoutOpt = None
    deadline: DeadlineOpt = None
    probe_mode: ProbeModeOpt = None
    no_color: NoColorOpt = False
    config: ConfigOpt = None
    quiet: QuietOpt = False
    egress: EgressOpt = None  # HOST:PORT as typed; parsed by diag.model.egress
    egress_dns: EgressDnsOpt = None
    wait: WaitOpt = 0.0
    wait_interval: WaitIntervalOpt = DEFAULT_INTERVAL_S
    host: HostOpt = None
    context: ContextOpt = None
    trace: TraceOpt = None

    def request(self, target: TargetSpec) -> Request:
        """What the diagnosis is asked (diag.run.diagnosis); the rest (format, output,
        colour, progress) is how the command shows the result."""
        return Request(
            target,
            select=tuple(self.select_ids or ()),
            ignore=tuple(self.ignore_ids or ()),
            severity=tuple(self.severity or ()),
            fail_on=value(self.fail_on),
            timeout=self.timeout,
            deadline=self.deadline,
            probe_image=self.probe_image,
            probe_mode=value(self.probe_mode),
            pull=pull_allowed(self.pull),
            probe_memory=os.environ.get("DDIAG_PROBE_MEMORY"),
            egress=tuple(self.egress or ()),
            egress_dns=tuple(self.egress_dns or ()),
            config=self.config,
            engine=EngineChoice(self.host, self.context),
        )

    def waiting(self) -> Wait:
        """How often the diagnosis may run (diag.run.waiting): once, unless --wait."""
        return Wait(self.wait, self.wait_interval)


def common_options(command: Callable[..., None]) -> Callable[..., None]:
    """`command` with the fields of CommonOptions as options of its own (what typer reads is
    the signature), called with them gathered in its `common` parameter."""
    own = inspect.signature(command, eval_str=True)
    hints = get_type_hints(CommonOptions, include_extras=True)
    shared = [
        inspect.Parameter(
            field.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=field.default,
            annotation=hints[field.name],
        )
        for field in fields(CommonOptions)
    ]
    parameters = [p for p in own.parameters.values() if p.name != "common"] + shared

    @functools.wraps(command)
    def parsed(**given: Any) -> None:
        common = CommonOptions(
            **{field.name: given.pop(field.name) for field in fields(CommonOptions)}
        )
        command(**given, common=common)

    # typer reads the parameters from `__signature__`, which functions may carry but the
    # type of a function does not declare.
    cast(Any, parsed).__signature__ = own.replace(parameters=parameters)
    parsed.__annotations__ = {p.name: p.annotation for p in parameters}
    return parsed
