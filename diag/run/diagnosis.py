"""One diagnosis, from what a command was asked to the report, with no terminal involved.

The command line parses its options into a `Request`, and shows what `Diagnosis.run`
returns; everything in between (the settings' layers, the engine, the target, the early
probe session, the runner) is here, so that it can be driven and tested without typer
or a console.

Two orderings matter. Bad input (an option, ddiag.toml, an --egress, DDIAG_PROBE_MEMORY)
is refused when the `Diagnosis` is made, before it asks the engine anything: a typo costs
no observation (the console script may already have asked for the shared probe on a
guess, diag.run.prelaunch; a run refused here removes it at once, unused). And container
starts are a run's largest fixed cost, so the shared probe and the anchors of the networks
the target names start right after connecting, while the engine is read and the compose
file resolved (diag.engine.early), if diag.run.prelaunch has not asked for them already;
the runner is handed that session if it still suits the settings, which the compose
file's x-ddiag may change.

A `Diagnosis` may run more than once (`--wait`, diag.run.waiting). Every run reads the
engine again and starts its own probes: between runs containers start, restart and change
address, and a probe kept across the wait would watch namespaces that may be gone. What
cannot have changed is done once: the connection to the engine (and its ping), the reaper's
pass over orphaned probes, the probe image check (and pull), and the target's preparation
(for compose, the `docker compose config` subprocess and the --expect file).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import docker

from diag import trace
from diag.checks.registry import Check
from diag.engine.client import connect, read_topology
from diag.engine.endpoint import EngineChoice
from diag.engine.errors import ENGINE_ERRORS
from diag.model.context import Target
from diag.model.egress import parse_egress, parse_egress_dns
from diag.model.findings import failing
from diag.model.topology import Topology
from diag.probes.probe import ensure_image, remove_probes
from diag.probes.session import ProbeMode, ProbeSession
from diag.probes.spec import probe_memory
from diag.report.model import Report, ReportDoc
from diag.run import prelaunch
from diag.run.config import Settings, Sources, command_line_layer, select_checks
from diag.run.runner import Progress, RunOptions, diagnose
from diag.run.target_spec import MakeTarget, TargetSpec


@dataclass(frozen=True)
class Request:
    """What a diagnosing command was asked: its target, and settings as they were given (None
    or empty: not given, so x-ddiag, ddiag.toml or the defaults decide). How the report is
    shown (format, file, colour, progress) is the caller's business, not the diagnosis's."""

    target: TargetSpec
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()  # CHECK=LEVEL, as typed
    fail_on: str | None = None
    timeout: float | None = None
    deadline: float | None = None
    probe_image: str | None = None
    probe_mode: str | None = None
    pull: bool = True  # pull the probe image when it is missing
    probe_memory: str | None = None  # DDIAG_PROBE_MEMORY, as set
    egress: tuple[str, ...] = ()  # HOST:PORT, as typed (diag.model.egress parses them)
    egress_dns: tuple[str, ...] = ()
    config: Path | None = None  # --config FILE; None: ddiag.toml in the current directory
    engine: EngineChoice = field(default_factory=EngineChoice)  # -H/--host, -c/--context


@dataclass(frozen=True)
class Outcome:
    """A finished run: its report, and the settings it ran with (every layer merged, x-ddiag
    included), which decide the exit code (`fail_on`) and explain a short run (`deadline`)."""

    report: Report
    settings: Settings

    @cached_property
    def doc(self) -> ReportDoc:
        """The JSON document every format renders (redacted): made once per run."""
        return self.report.to_dict()

    def failing(self) -> list[Mapping[str, Any]]:
        """The findings (report dicts) at or above `fail-on`."""
        return failing(self.doc["findings"], self.settings.fail_on)

    def failed(self) -> bool:
        """Whether a finding is at or above `fail-on`."""
        return bool(self.failing())

    def ready(self) -> bool:
        """What --wait waits for: nothing at or above `fail-on`, and nothing left unobserved
        (the run would exit 0)."""
        return not self.failed() and not self.incompleteness()

    def incompleteness(self) -> str:
        """Why the report is incomplete ("" when it is not): the deadline came first, or some
        places could not be observed at all (probes refused, killed, out of memory). A run
        that could not check must not pass a CI job as one that checked and found nothing."""
        if self.doc["run"]["deadline_reached"]:
            return (
                f"the run's deadline ({self.settings.deadline:g} s) came before every "
                "observation; what is missing is listed as inconclusive"
            )
        if self.report.unobserved_places:
            return (
                f"{self.report.unobserved_places} place(s) could not be observed: their probes "
                "were refused, killed or out of memory, or the Docker engine went away (see "
                "inconclusive in the report); the result is incomplete"
            )
        return ""


def _silent(message: str) -> None:
    """Progress nobody watches."""


class Diagnosis:
    """A run of the checks against one target: made from a `Request` (which it validates at
    once, raising DiagError), then `run()` against the engine."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self._sources = Sources(
            command_line_layer(
                request.select,
                request.ignore,
                request.severity,
                request.fail_on,
                request.timeout,
                request.probe_image,
                request.probe_mode,
                request.deadline,
            ),
            request.config,
        )
        # The command line over ddiag.toml: what the probes start with. The compose file's
        # x-ddiag, read in run(), may still change them.
        self.settings = self._sources.resolve()
        self.checks = select_checks(self.settings)
        self._egress = parse_egress(request.egress)
        self._egress_dns = parse_egress_dns(request.egress_dns)
        self._memory = probe_memory(request.probe_memory)
        # Done by the first run, kept for the next (see the module's docstring)
        self._client: docker.DockerClient | None = None
        self._make_target: MakeTarget | None = None
        self._local_images: set[str] = set()

    def run(self, progress: Progress = _silent) -> Outcome:
        """Connect, read the engine, find the target, observe and evaluate. Raises DiagError
        for what the engine or the compose file refuse; an engine error that no step
        expected (a call refused or cut off mid-run) escapes as it is, for the caller to
        report (diag.cli.interrupts: exit 2). This run's probes are removed however it ends:
        Ctrl-C too, and SIGTERM once the caller makes it an exception (diag.cli.interrupts)."""
        client = self._connected()
        with trace.span("early probes asked for"):
            early = self._start_early(client)  # ours to close until it is handed to the runner
        try:
            topology, target = self._read(client)
            settings, checks = self._with_compose_settings(target)
            progress("Starting probes")
            if settings.probe_image not in self._local_images:
                ensure_image(client, settings.probe_image, progress, pull=self.request.pull)
                self._local_images.add(settings.probe_image)
            options = self._run_options(settings)
            handed, early = early, None  # diagnose() closes what it is given
            report = diagnose(
                client,
                topology,
                target,
                checks,
                options,
                progress,
                session=_suiting(handed, options),
            )
        finally:
            if early is not None:  # the run ended before the probe was handed over
                early.close()
        return Outcome(report, settings)

    def _connected(self) -> docker.DockerClient:
        """The engine, connected (and cleared of orphaned probes) by the first run."""
        if self._client is None:
            with trace.span("engine connect"):
                client = connect(self.request.engine)
            with trace.span("reaper"):
                remove_probes(client)  # probes orphaned by a killed ddiag
            self._client = client
        return self._client

    def _start_early(self, client: docker.DockerClient) -> ProbeSession | None:
        """The shared probe and the anchors of the networks the target's guess names,
        starting while the engine is read and the compose file resolved; None where they
        could not be used as they are (isolated mode, or an image still to pull: pulling
        shows progress, later)."""
        image = self.settings.probe_image
        if self.settings.probe_mode != "shared":
            prelaunch.discard()  # asked for before the settings were known: a wrong guess
            return None
        session = prelaunch.adopt(client, self.request.engine, image, self._memory)
        if session is not None:  # asked for before the imports: the image is local
            self._local_images.add(image)
        elif image not in self._local_images:
            try:
                client.api.inspect_image(image)
            except ENGINE_ERRORS:
                return None
            self._local_images.add(image)
        adopted = session is not None
        if session is None:
            session = ProbeSession(client, image, self.settings.timeout, memory=self._memory)
        try:  # ours from here: Ctrl-C before run() holds it must not leave its probes
            if not adopted:
                session.prestart()
            session.prestart_anchors(self.request.target.guess()(client.api))
        except BaseException:
            session.close()
            raise
        return session

    def _read(self, client: docker.DockerClient) -> tuple[Topology, Target]:
        """The engine's topology and the target in it. The target's preparation (the compose
        file: a `docker compose config` subprocess) runs meanwhile."""
        with ThreadPoolExecutor(max_workers=1) as reading:
            engine_read = reading.submit(_traced_read, client, self.request.engine)
            if self._make_target is None:
                with trace.span("target prepared (compose: docker compose config)"):
                    self._make_target = self.request.target.prepare()
            topology = engine_read.result()
        with trace.span("target made"):
            return topology, self._make_target(topology)

    def _with_compose_settings(self, target: Target) -> tuple[Settings, list[Check]]:
        """The settings and checks once the compose file's own settings (x-ddiag) are known:
        they rank between the command line and ddiag.toml (diag.run.config)."""
        project = target.project
        x_ddiag = project.extensions.get("x-ddiag") if project is not None else None
        if project is None or not x_ddiag:
            return self.settings, self.checks
        settings = self._sources.resolve(x_ddiag, project.config_files)
        return settings, select_checks(settings)

    def _run_options(self, settings: Settings) -> RunOptions:
        return RunOptions(
            settings.probe_image,
            settings.timeout,
            settings.severity,
            deadline=settings.deadline,
            probe_mode=cast(ProbeMode, settings.probe_mode),  # diag.run.config validated it
            probe_memory=self._memory,
            egress=self._egress,
            egress_dns=self._egress_dns,
        )


def _traced_read(client: docker.DockerClient, engine: EngineChoice) -> Topology:
    with trace.span("engine read"):
        return read_topology(client, engine)


def _suiting(session: ProbeSession | None, options: RunOptions) -> ProbeSession | None:
    """`session` if the run may use it as it was started; otherwise it is closed, and the
    runner starts its own."""
    if session is None or session.suits(
        options.probe_image, options.probe_mode, options.probe_memory
    ):
        return session
    session.close()
    return None
