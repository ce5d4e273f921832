#!/usr/bin/env bash
# Regenerate docs/report.svg, the README's picture of the Rich report: bring up the demo
# stack (compose-fixtures/shop), diagnose it with `ddiag compose`, save the JSON report, and
# render it with the rich format into an SVG (scripts/report_svg.py). Takes the stack down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DDIAG_PROBE_IMAGE=${DDIAG_PROBE_IMAGE:-ddiag-test/python3:bookworm}
export DDIAG_PULL=${DDIAG_PULL:-never}
project=shop
compose=(docker compose -p "$project" -f compose-fixtures/shop/compose.yaml)
run=$(mktemp --suffix=.json)
trap '"${compose[@]}" down -v -t 0 >/dev/null 2>&1 || true; rm -f "$run"' EXIT
"${compose[@]}" up -d --quiet-pull 2>&1 | tail -n 3
sleep 1
.venv/bin/ddiag compose -p "$project" --format json -o "$run" --quiet || true  # exit 1: findings
.venv/bin/python scripts/report_svg.py "$run" docs/report.svg "ddiag compose -p $project"
echo "wrote docs/report.svg"
