"""The agent: the code that runs *inside* a probe container.

It imports only the standard library and dnspython (scapy for packet tasks), never docker,
typer or rich, because it is copied into images that have nothing but python3. Imports
inside this package are relative so it works both as `diag.agent` and as `ddiag_agent`.
"""

AGENT_PACKAGE = "ddiag_agent"
# What ddiag and the agent share of the protocol (see __main__): here, not in __main__, so
# that ddiag reads them without importing the agent itself (asyncio and all: 12 ms of every
# run, before the probes are asked for).
EXIT_OLD_PYTHON = 3  # the agent's exit code on a python3 older than it needs
BATCH_ENV = "DDIAG_BATCH"  # batch mode's request
BATCH_MARK = "DDIAG "  # before each of batch mode's lines in the log
