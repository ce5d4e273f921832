"""Find the check modules and give them one uniform, typed face for the runner and the CLI.

A check module declares `ID`, `SEVERITY`, `TITLE`, `evaluate(ctx)` and optionally
`plan(ctx)`; one that explains symptoms declares `EXPLAINS` (checks/_arbiter.py), a policy
pass declares `POLICY`, and one that needs the host's firewall read says so with
`NEEDS_HOST_FIREWALL = True`. The run reaches checks only through this module.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from diag import checks
from diag.checks import _matrix, _netview
from diag.checks._arbiter import verdicts
from diag.checks._edges import states
from diag.checks.port._sockets import listening, listening_texts
from diag.model.context import CheckContext
from diag.model.edges import Edge, EdgeStatus
from diag.model.findings import Finding, Severity
from diag.model.tasks import Planned

if TYPE_CHECKING:
    from diag.checks._arbiter import Explainer, Policy


@dataclass(frozen=True)
class Check:
    id: str
    severity: Severity
    title: str
    module: ModuleType

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def explainer(self) -> Explainer | None:
        return getattr(self.module, "EXPLAINS", None)

    @property
    def needs_host_firewall(self) -> bool:
        return bool(getattr(self.module, "NEEDS_HOST_FIREWALL", False))

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.module.__doc__ or "")

    def plan(self, ctx: CheckContext) -> Sequence[Planned]:
        """The module's plan as it returns it: checks that share a memoized plan return the
        same list, which the runner then takes once (not a copy per check)."""
        planner = getattr(self.module, "plan", None)
        return planner(ctx) if planner else []

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        for result in self.module.evaluate(ctx):
            yield Finding(
                check=self.id,
                severity=result.severity or self.severity,
                title=self.title,
                subjects=result.subjects,
                summary=result.summary,
                evidence=result.evidence,
                fix=result.fix,
            )


def _check_modules() -> Iterator[ModuleType]:
    for info in pkgutil.walk_packages(checks.__path__, prefix="diag.checks."):
        if info.name.rsplit(".", 1)[-1].startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(info.name)
        if hasattr(module, "ID"):
            yield module


@functools.cache
def _catalog() -> tuple[Check, ...]:
    found = [
        Check(module.ID, Severity(module.SEVERITY), module.TITLE, module)
        for module in _check_modules()
    ]
    return tuple(sorted(found, key=lambda check: check.id))


def all_checks() -> list[Check]:
    return list(_catalog())


def explainers() -> list[tuple[str, Explainer]]:
    """Every check that explains symptoms, most specific (lowest rank) first. All of them,
    selected or not: a deselected check still owns what it explains, so that `--select
    port.refused` does not turn a loopback-only listener into a refusal."""
    found = [(c.id, c.explainer) for c in _catalog() if c.explainer is not None]
    return sorted(found, key=lambda pair: pair[1].rank)


def policies() -> list[Policy]:
    """The policy passes over the verdicts, in their declared order."""
    found = [getattr(c.module, "POLICY", None) for c in _catalog()]
    return sorted((p for p in found if p is not None), key=lambda policy: policy.order)


def matches(check_id: str, pattern: str) -> bool:
    """`port` and `port.` select the family; `port.refused` selects one check."""
    pattern = pattern.rstrip(".")
    return check_id == pattern or check_id.startswith(pattern + ".")


def select(
    catalog: Iterable[Check], selected: Sequence[str], ignored: Sequence[str]
) -> list[Check]:
    return [
        check
        for check in catalog
        if (not selected or any(matches(check.id, p) for p in selected))
        and not any(matches(check.id, p) for p in ignored)
    ]


def find(check_id: str) -> Check | None:
    return next((check for check in all_checks() if check.id == check_id), None)


# What the run shows besides findings (the edges, the matrix, each netns), computed by the
# checks' shared core: the run asks for them here, never from the core modules themselves.


def view_planners() -> list[Callable[[CheckContext], Sequence[Planned]]]:
    """What the report's views need observed beyond the checks' own plans (the matrix
    plans nothing unless the target asks for it)."""
    return [_matrix.plan, _netview.plan]


@dataclass(frozen=True)
class EdgeView:
    """A dependency edge as the report lists it: with the port it was tried on (inferred
    when none is configured: `edge.port_from`), observed at all, which check explains its
    failure (None: none does), and its status with the reason when it is not checked."""

    edge: Edge
    observed: bool
    check: str | None
    status: EdgeStatus
    reason: str


def edge_views(ctx: CheckContext) -> list[EdgeView]:
    explained = {v.state.edge: v.check_id for v in verdicts(ctx) if v.symptom.edge is not None}
    views = []
    for state in states(ctx):
        check = explained.get(state.edge)
        views.append(EdgeView(state.edge, state.netns.running, check, *state.status(check)))
    return views


def listening_view(ctx: CheckContext) -> dict[str, list[str]]:
    """Container id → its listening sockets as text, for every netns that was read."""
    view = {}
    for container in ctx.topology.containers:
        sockets = listening(ctx, container)
        if sockets is not None:
            view[container.id] = listening_texts(sockets)
    return view


def matrix_cells(ctx: CheckContext) -> list[_matrix.Cell]:
    return _matrix.cells(ctx)


def netns_view(ctx: CheckContext) -> list[dict[str, Any]]:
    return _netview.view(ctx)
