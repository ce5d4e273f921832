"""The agent: the code that runs *inside* a probe container.

It imports only the standard library and dnspython (scapy for packet tasks), never docker,
typer or rich, because it is copied into images that have nothing but python3. Imports
inside this package are relative so it works both as `diag.agent` and as `ddiag_agent`.
"""

AGENT_PACKAGE = "ddiag_agent"
