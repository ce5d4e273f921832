"""The check catalog: one module per check, grouped by family (dns, port, container, ...).

A check module's docstring is its user documentation (`ddiag explain ID` prints it); it
defines `ID`, `SEVERITY`, `TITLE`, an optional `plan(ctx)` returning the observations it
needs as `(Placement, Task)` pairs, and an `evaluate(ctx)` generator of `Result`s. Modules
whose names start with `_` are helpers shared inside a family, not checks.
"""
