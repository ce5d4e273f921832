"""The `ddiag` command line: options, commands, completion, exit codes. It only builds
settings, calls the run (diag.run) and renders the report (diag.report)."""
