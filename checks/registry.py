"""Find the check modules and give them one uniform, typed face for the runner and the CLI."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType

import checks
from diag.model.context import CheckContext
from diag.model.findings import Finding, Severity
from diag.model.tasks import Planned


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
    for info in pkgutil.walk_packages(checks.__path__, prefix="checks."):
        if info.name.rsplit(".", 1)[-1].startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(info.name)
        if hasattr(module, "ID"):
            yield module


def all_checks() -> list[Check]:
    found = [
        Check(module.ID, Severity(module.SEVERITY), module.TITLE, module)
        for module in _check_modules()
    ]
    return sorted(found, key=lambda check: check.id)


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
