"""diag.engine.compose_cli: a `docker compose config` started early (diag.run.prelaunch) is
used only by a run asking for the same command line, and ended if nobody asks (issue 19).
The command here is this interpreter counting its own runs, not the compose CLI."""

from __future__ import annotations

import sys
from pathlib import Path

from diag.engine import compose_cli


def _counting(tmp_path: Path) -> list[str]:
    counter = tmp_path / "runs"
    script = (
        "import pathlib, sys; p = pathlib.Path(sys.argv[1]); "
        "p.write_text(str(int(p.read_text() or 0) + 1) if p.exists() else '1'); print('model')"
    )
    return [sys.executable, "-c", script, str(counter)]


def test_the_early_run_is_taken_by_the_same_command_line_and_not_run_again(
    tmp_path: Path,
) -> None:
    command = _counting(tmp_path)
    compose_cli.start_early(command)
    done = compose_cli._run(command)
    assert (done.returncode, done.stdout) == (0, "model\n")
    assert (tmp_path / "runs").read_text() == "1"
    compose_cli._run(command)  # taken once: a second run is a run of its own
    assert (tmp_path / "runs").read_text() == "2"


def test_another_command_line_runs_its_own_and_the_early_one_is_ended(tmp_path: Path) -> None:
    early = _counting(tmp_path)
    compose_cli.start_early([*early, "--other"])
    done = compose_cli._run(early)
    assert done.stdout == "model\n"
    compose_cli.stop_early()
    assert compose_cli._early == {}
