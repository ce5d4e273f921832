"""The closed options' values, as enums: typer shows them in --help, refuses any other value
(exit 2, naming the option and the values it takes) and completes them in the shell, all
from one declaration.

Each enum is made from the place that owns its values, never from a list written here
again: the report formats from the `FORMATS` registry (a format added there is a choice at
once), the diff formats from `DIFF_FORMATS`, --fail-on from `FAIL_ON`, --probe-mode from the
settings' `PROBE_MODES` (ddiag.toml and x-ddiag take the same values). Only --pull's
policies belong to the command line alone, and are declared here.

Commands take a member and pass on its `.value`: `f"{member}"` would print `Format.rich`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from diag.model.findings import DEFAULT_FAIL_ON, FAIL_ON
from diag.report import FORMATS
from diag.report.diff_render import DIFF_FORMATS
from diag.run.config import PROBE_MODES

PULL_POLICIES = ("missing", "never")


class Choice(str, enum.Enum):
    """A value of a closed option. The enums below are made from it at run time."""


def choices(name: str, values: Iterable[str]) -> type[Choice]:
    """An enum named `name` whose members' names and values are `values`, in their order."""
    return cast(type[Choice], enum.Enum(name, {value: value for value in values}, type=Choice))


if TYPE_CHECKING:  # members made at run time: the type checker knows them as Choice members
    Format = Choice
    DiffFormat = Choice
    FailOn = Choice
    ProbeMode = Choice
    Pull = Choice
else:
    Format = choices("Format", FORMATS)
    DiffFormat = choices("DiffFormat", DIFF_FORMATS)
    FailOn = choices("FailOn", FAIL_ON)
    ProbeMode = choices("ProbeMode", PROBE_MODES)
    Pull = choices("Pull", PULL_POLICIES)

# The defaults, made once (a signature's defaults are evaluated once anyway; ruff wants it said)
RICH = Format("rich")
RICH_DIFF = DiffFormat("rich")
FAIL_ON_ERROR = FailOn(DEFAULT_FAIL_ON)
PULL_MISSING = Pull("missing")


def value(choice: Choice | None) -> str | None:
    """The option's value as the layers below take it (None: not given)."""
    return None if choice is None else choice.value
