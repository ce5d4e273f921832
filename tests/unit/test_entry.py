"""The console script's exit (diag.cli.entry.leave): the status and the output of
`sys.exit`, without the interpreter's teardown. Run in a child interpreter: it ends the
process it runs in."""

from __future__ import annotations

import subprocess
import sys

import pytest

LEAVING = "import sys; from diag.cli.entry import leave; print('report', end=''); leave({})"


@pytest.mark.parametrize(("code", "status"), [("0", 0), ("None", 0), ("1", 1), ("2", 2)])
def test_leave_exits_with_the_status_and_keeps_what_was_printed(code: str, status: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LEAVING.format(code)], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (status, "report", "")


def test_leave_with_a_message_prints_it_and_exits_1_as_sys_exit_does() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LEAVING.format("'bad option'")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (1, "report", "bad option\n")
