#!/usr/bin/env bash
# Regenerate everything of issues 8 and 19 with one command: measure
# (bench/results/latest.json), plot (docs/bench.png, docs/bench-healthy.png), report
# (BENCHMARKS.md). Arguments go to `python -m bench.run`,
# e.g. `bash bench/run.sh --sizes 10,50 --repeat 3`. The plot and the report are written
# even when a run had problems (BENCHMARKS.md lists them); the exit code is the harness's.
# With --smoke (CI) only the harness runs: a smoke run makes no timing claim to publish.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
export DDIAG_PROBE_IMAGE=${DDIAG_PROBE_IMAGE:-ddiag-test/python3:bookworm}
export DDIAG_PULL=${DDIAG_PULL:-never}

# 200 containers and the probes' connects from their namespaces need more ARP entries than
# the kernel's default neighbour table holds (gc_thresh3 = 1024, shared by every netns):
# past it the kernel drops packets ("neighbor table overflow" in dmesg), and connects time
# out as if filtered. Measured here: 281 false port.filtered at N = 200 with the default,
# none with 8192. Say so rather than publish figures of an overflowing table.
thresh=$(cat /proc/sys/net/ipv4/neigh/default/gc_thresh3 2>/dev/null || echo 0)
if [ "$thresh" -lt 4096 ]; then
    echo "bench: net.ipv4.neigh.default.gc_thresh3 is $thresh; at N = 200 the neighbour" \
        "table overflows. Raise it first: sysctl -w net.ipv4.neigh.default.gc_thresh1=1024" \
        "net.ipv4.neigh.default.gc_thresh2=4096 net.ipv4.neigh.default.gc_thresh3=8192" >&2
fi

results=bench/results/latest.json
smoke=0
previous=
for arg in "$@"; do
    case "$arg" in
        --smoke) smoke=1 ;;
        --output=*) results=${arg#--output=} ;;
    esac
    [ "$previous" = --output ] && results=$arg
    previous=$arg
done

"$PYTHON" -m bench.run "$@"
status=$?
if [ "$smoke" = 0 ] && [ -f "$results" ]; then
    "$PYTHON" -c 'import matplotlib' 2>/dev/null || "$PYTHON" -m pip install -q 'matplotlib>=3.5'
    "$PYTHON" -m bench.plot "$results" || status=1
    "$PYTHON" -m bench.report "$results" || status=1
fi
exit "$status"
