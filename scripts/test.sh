#!/usr/bin/env bash
# The test command (README, .ci/run): set everything up, lint and type-check, then unit and
# integration tests against the real engine. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export DDIAG_PROBE_IMAGE=${DDIAG_PROBE_IMAGE:-ddiag-test/python3:bookworm}
export DDIAG_PULL=${DDIAG_PULL:-never}
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # files and settings: [tool.mypy] in pyproject.toml
# the composite action and the CI examples of README.md, against the schemas check-jsonschema
# ships (no download)
.venv/bin/check-jsonschema --builtin-schema vendor.github-actions action.yml
.venv/bin/check-jsonschema --builtin-schema vendor.github-workflows \
  docs/examples/github-workflow.yml docs/examples/github-action-workflow.yml
.venv/bin/check-jsonschema --builtin-schema vendor.gitlab-ci docs/examples/gitlab-ci.yml
exec .venv/bin/python -m pytest -v "$@"
