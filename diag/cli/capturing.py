"""What `ddiag capture` does once its options are parsed: plan from the topology, capture
in the probes, decode and explain (scapy is imported only on this path: diag.capture.decode),
write the pcapng, print the report. Exit 1 when a finding is an error, 0 otherwise."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from diag.capture import pcap
from diag.capture.facts import Facts
from diag.capture.plan import plan_capture
from diag.capture.report import document, render
from diag.capture.run import Settings, run_capture
from diag.cli import console
from diag.engine.client import connect, read_topology
from diag.engine.endpoint import EngineChoice
from diag.probes.probe import ensure_image, remove_probes
from diag.probes.session import ProbeMode
from diag.report.redact import Redactor, secret_values
from diag.run.config import Sources, command_line_layer


@dataclass(frozen=True)
class CaptureRequest:
    source: str
    target: str
    settings: Settings
    pcap: Path | None
    json_output: bool
    probe_image: str | None
    probe_mode: str | None
    pull: bool
    quiet: bool
    engine: EngineChoice


def capture_command(request: CaptureRequest, timeout: float | None) -> int:
    """`timeout`: --timeout when given (else the settings' default, ddiag.toml's included)."""
    layer = command_line_layer(
        timeout=timeout, probe_image=request.probe_image, probe_mode=request.probe_mode
    )
    sources = Sources(layer, None)
    resolved = sources.resolve()
    client = connect(request.engine)
    remove_probes(client)  # probes orphaned by a killed ddiag
    topology = read_topology(client, request.engine)
    plan = plan_capture(topology, request.source, request.target)
    settings = replace(request.settings, timeout=resolved.timeout)
    with console.progress(request.quiet) as progress:
        progress("Preparing the probe image")
        ensure_image(client, resolved.probe_image, progress, pull=request.pull)
        what = "Watching" if settings.passive else "Capturing"
        progress(f"{what} {plan.source.name} → {plan.name}:{plan.port}")
        captured = run_capture(
            client, resolved.probe_image, plan, settings, cast(ProbeMode, resolved.probe_mode)
        )
    from diag.capture.decode import from_frames
    from diag.capture.explain import explain

    facts = Facts(
        source=plan.source.name,
        target=plan.name,
        port=plan.port,
        source_subjects=plan.source.subjects,
        target_container=plan.target.name if plan.target else "",
        target_subjects=plan.target.subjects if plan.target else (),
        target_captured=captured.target_captured,
        listeners=captured.listeners,
        shared_networks=plan.shared_networks(),
        passive=settings.passive,
        dns_why=plan.dns_why,
        attempts=captured.answer.attempts,
    )
    answer = captured.answer
    if request.pcap is not None:
        describe = {"source": f"netns of {plan.source.name}"}
        if plan.target is not None:
            describe["target"] = f"netns of {plan.target.name}"
        pcap.write(request.pcap, answer.frames, describe, answer.snaplen)
    notes = [*answer.not_captured]
    if answer.stopped:
        notes.append(f"the capture {answer.stopped} (--max-packets / --max-bytes)")
    if answer.kernel_dropped:
        notes.append(f"the kernel dropped {answer.kernel_dropped} frame(s) for want of buffer")
    if plan.target is not None and not captured.target_captured:
        notes.append(f"only the source side was captured ({captured.mode} probes)")
    explanation = explain(facts, from_frames(answer.frames))
    redactor = Redactor(secret_values(c.env for c in topology.containers))
    doc = document(facts, explanation, notes, len(answer.frames), str(request.pcap or ""), redactor)
    if request.json_output:
        console.write(json.dumps(doc, indent=2) + "\n", None)
    else:
        console.write(render(doc), None)
    return 1 if any(f["severity"] == "error" for f in doc["findings"]) else 0
