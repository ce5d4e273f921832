"""Recorded inspect data and recorded agent observations, as the unit tests load them.

Nothing here talks to an engine: `tests/data/` holds what a real one said (see its READMEs).
Recorded answers are the agent's JSON; they reach the checks through the same `parse` as
a live probe's answers do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from diag.checks.registry import find
from diag.model.context import CheckContext
from diag.model.findings import Finding
from diag.model.observations import Answer, parse
from diag.model.tasks import Observations, Placement, Planned, Task

DATA = Path(__file__).resolve().parent.parent / "data"
PROJECT = "ddiag-unitrec"
BACK = "ddiag-unitrec_back"


def load_json(relative: str) -> Any:
    return json.loads((DATA / relative).read_text(encoding="utf-8"))


def load_inspect(shape: str) -> tuple[dict, list[dict], list[dict]]:
    """(version, networks, container inspects) of one recording directory."""
    directory = DATA / shape
    containers = [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("container-*.json"))
    ]
    return load_json(f"{shape}/version.json"), load_json(f"{shape}/networks.json"), containers


def recorded_observations() -> Observations:
    """The agent's answers recorded on the api141 stack, keyed as the runner keys them."""
    observations = Observations()
    for item in load_json("agent/observations-api141.json"):
        placement = Placement(**item["placement"])
        record(observations, placement, Task(**item["task"]), item["result"])
    return observations


def record(observations: Observations, placement: Placement, task: Task, raw: Any) -> None:
    """Store the agent's answer `raw` (its JSON) to `task` as a probe's answer is stored."""
    observations.results[(placement, task)] = parse(task, raw)


def parsed(answers: Mapping[Planned, Any]) -> dict[Planned, Answer]:
    """Agent answers (JSON) by planned pair, parsed as a probe's answers are."""
    return {(placement, task): parse(task, raw) for (placement, task), raw in answers.items()}


def evaluate(check_id: str, ctx: CheckContext) -> list[Finding]:
    """The findings of one check, by id, on `ctx` (the check must exist)."""
    found = find(check_id)
    assert found is not None, check_id
    return list(found.evaluate(ctx))


def plan(check_id: str, ctx: CheckContext) -> list[Planned]:
    """What one check, by id, asks to observe on `ctx`."""
    found = find(check_id)
    assert found is not None, check_id
    return found.plan(ctx)
