"""`python -m diag` is the same program as the `ddiag` console script."""

from diag.cli.entry import main

main()
