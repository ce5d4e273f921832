#!/usr/bin/env bash
# The demo: bring up the sample "shop" stack (compose-fixtures/shop), diagnose it service to
# service with `ddiag compose`, show the report, and take the stack down again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DDIAG_PROBE_IMAGE=${DDIAG_PROBE_IMAGE:-ddiag-test/python3:bookworm}
export DDIAG_PULL=${DDIAG_PULL:-never}
project=ddiag-demo
compose=(docker compose -p "$project" -f compose-fixtures/shop/compose.yaml)
trap '"${compose[@]}" down -v -t 0 >/dev/null 2>&1 || true' EXIT
"${compose[@]}" up -d --quiet-pull 2>&1 | tail -n 3
sleep 1
echo "\$ ddiag compose -p $project -f compose-fixtures/shop/compose.yaml"
status=0
.venv/bin/ddiag compose -p "$project" -f compose-fixtures/shop/compose.yaml || status=$?
echo "(ddiag exited with $status: 1 means findings at or above --fail-on)"
