"""policy checks: declared reachability (x-ddiag expect, --expect)."""
