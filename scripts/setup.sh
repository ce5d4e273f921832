#!/usr/bin/env bash
# Everything the demo and the tests need, on a fresh Debian machine as root or on a laptop
# that already has Docker: a virtualenv with ddiag in it (.venv), then the test bed
# (engine, compose plugin, local test images; see testbed.sh). Idempotent and quiet.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON_FOR_VENV:-python3}
if ! command -v "$python" >/dev/null 2>&1 || ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "setup: installing python3 and venv support" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
  python=python3
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.ddiag-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing ddiag and its test tools into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
PYTHON=.venv/bin/python bash scripts/testbed.sh
