"""The benchmark harness of issue 8: generated stacks, timed runs, plot and BENCHMARKS.md.

Not part of the installed package: it is run from a checkout (`bash bench/run.sh`).
"""
