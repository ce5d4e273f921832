"""The closed options (diag.cli.choices): their values come from where they are owned, typer
shows, checks and completes them; check ids and families complete for the options that
take them."""

from __future__ import annotations

from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from diag.checks.registry import all_checks
from diag.cli import completion
from diag.cli.app import app
from diag.cli.choices import DiffFormat, FailOn, Format, ProbeMode, Pull
from diag.model.findings import FAIL_ON, Severity
from diag.report import FORMATS
from diag.report.diff_render import DIFF_FORMATS
from diag.run.config import PROBE_MODES

from .test_everyday import _complete

runner = CliRunner()
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent.sock"}


def test_each_choice_is_made_from_the_values_its_owner_declares() -> None:
    assert [f.value for f in Format] == list(FORMATS)  # a format registered is a choice
    assert [f.value for f in DiffFormat] == list(DIFF_FORMATS)
    assert [f.value for f in FailOn] == list(FAIL_ON) == [*(s.value for s in Severity), "never"]
    assert [m.value for m in ProbeMode] == list(PROBE_MODES)
    assert [p.value for p in Pull] == ["missing", "never"]


def _choices_of(command: str) -> dict[str, list[str]]:
    params = get_command(app).commands[command].params  # type: ignore[attr-defined]
    found: dict[str, Any] = {}
    for param in params:
        options = [o for o in param.opts if o.startswith("--")]
        if options and hasattr(param.type, "choices"):
            found[options[0]] = list(param.type.choices)
    return found


@pytest.mark.parametrize("command", ["network", "compose", "container"])
def test_the_diagnosing_commands_closed_options_are_choices(command: str) -> None:
    assert _choices_of(command) == {
        "--format": list(FORMATS),
        "--fail-on": list(FAIL_ON),
        "--pull": ["missing", "never"],
        "--probe-mode": list(PROBE_MODES),
    }


def test_report_diff_and_shell_take_the_same_choices() -> None:
    assert _choices_of("report") == {"--format": list(FORMATS), "--fail-on": list(FAIL_ON)}
    assert _choices_of("diff") == {"--format": list(DIFF_FORMATS), "--fail-on": list(FAIL_ON)}
    assert _choices_of("shell") == {"--pull": ["missing", "never"]}


@pytest.mark.parametrize(
    ("args", "env", "option"),
    [
        (["--format", "xml"], {}, "'--format'"),
        (["--fail-on", "sometimes"], {}, "'--fail-on'"),
        (["--probe-mode", "both"], {}, "'--probe-mode'"),
        ([], {"DDIAG_PROBE_MODE": "both"}, "DDIAG_PROBE_MODE"),
        (["--pull", "always"], {}, "'--pull'"),
    ],
)
def test_a_value_not_among_the_choices_exits_2_naming_the_option(
    args: list[str], env: dict[str, str], option: str
) -> None:
    result = runner.invoke(app, ["network", "n", *args], env={**NO_ENGINE, **env})
    assert result.exit_code == 2, result.output
    assert "Invalid value for" in result.output and option in result.output
    assert "Traceback" not in result.output and "Cannot reach" not in result.output


def test_closed_options_complete_their_values() -> None:
    assert _complete("ddiag network x --format j") == ["json", "junit"]
    assert _complete("ddiag compose --fail-on w") == ["warning"]
    assert _complete("ddiag container c --probe-mode ") == list(PROBE_MODES)
    assert _complete("ddiag diff a b --format ") == list(DIFF_FORMATS)


def test_check_ids_and_families_complete() -> None:
    ids = [check.id for check in all_checks()]
    dns = [check_id for check_id in ids if check_id.startswith("dns.")]
    assert _complete("ddiag network x --select dn") == ["dns", *dns]  # the family, its ids
    assert _complete("ddiag network x --ignore dns.nd") == ["dns.ndots"]
    assert _complete("ddiag explain port.app") == ["port.app-loopback"]
    assert completion.check_ids("") == ids  # explain takes ids, not families
    assert {"dns", "port", "net", *ids} <= set(completion.check_patterns(""))


def test_severity_overrides_complete_pattern_then_level() -> None:
    levels = [s.value for s in Severity]
    assert _complete("ddiag compose --severity dns.nd") == [f"dns.ndots={lv}" for lv in levels]
    assert _complete("ddiag compose --severity dns.ndots=w") == ["dns.ndots=warning"]
    assert completion.severity_overrides("port=") == [f"port={lv}" for lv in levels]
    assert completion.severity_overrides("nope") == []
