"""The `ddiag` console script: decides what docker-py need not import, then runs the CLI.

docker-py imports its ssh transport, and with it paramiko, cryptography and invoke, when
it is itself imported, whatever the engine's address: a quarter of a second of every run
on a 2-core machine, for a transport that only `ssh://` engines use. When the engine the
docker CLI would use (diag.engine.endpoint, read from the environment and CLI config files only)
is not behind ssh, paramiko is marked absent before anything imports docker-py, which then
simply goes without its ssh transport, as it does where paramiko is not installed.
"""

from __future__ import annotations

import os
import sys

from diag.engine.endpoint import resolve_endpoint
from diag.errors import DiagError


def skip_unused_transports() -> None:
    try:
        host = resolve_endpoint(os.environ).host or ""
    except DiagError:
        return  # the CLI says what is wrong with the endpoint; import as usual until then
    if not host.startswith("ssh://"):
        sys.modules.setdefault("paramiko", None)  # type: ignore[arg-type]


def main() -> None:
    skip_unused_transports()
    from diag.cli.app import main as cli_main  # after the decision: it imports docker-py

    cli_main()
