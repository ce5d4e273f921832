#!/usr/bin/env bash
# The body of the composite GitHub Action (action.yml at the repository root), kept in a
# script so that tests/unit/test_github_action.py can run it without GitHub.
#
#   github-action.sh install   install ddiag from the action's own checkout ($GITHUB_ACTION_PATH)
#                              with pipx, or with pip into a virtualenv where pipx is missing,
#                              and put it on the PATH of the steps that follow
#   github-action.sh run       diagnose once to JSON, render the other reports from that file,
#                              write the step's outputs, exit with the diagnosis' exit code
#
# Inputs come as environment variables (never expanded into the script: an input is data):
# DDIAG_PYTHON, DDIAG_COMMAND, DDIAG_ARGS (split at spaces, no quoting, no globbing),
# DDIAG_FAIL_ON (empty: the settings files decide), DDIAG_JSON, DDIAG_SARIF, DDIAG_JUNIT
# (empty: not written), DDIAG_SUMMARY and DDIAG_ANNOTATIONS (true or false).
set -euo pipefail

fail_on=() # --fail-on VALUE for every ddiag call, when DDIAG_FAIL_ON is given

install() {
  local python=${DDIAG_PYTHON:-python3} bin="$RUNNER_TEMP/ddiag-bin"
  if command -v pipx >/dev/null 2>&1; then
    PIPX_HOME="$RUNNER_TEMP/ddiag-pipx" PIPX_BIN_DIR="$bin" \
      pipx install --force --python "$python" "$GITHUB_ACTION_PATH"
  else
    "$python" -m venv "$RUNNER_TEMP/ddiag-venv"
    "$RUNNER_TEMP/ddiag-venv/bin/python" -m pip install --quiet "$GITHUB_ACTION_PATH"
    mkdir -p "$bin"
    ln -sf "$RUNNER_TEMP/ddiag-venv/bin/ddiag" "$bin/ddiag"
  fi
  echo "$bin" >>"$GITHUB_PATH"
}

output() { # NAME VALUE: a step output
  printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
}

render() { # FORMAT [FILE]: the saved run in FORMAT, to FILE or stdout
  local to=()
  if [ -n "${2:-}" ]; then to=(-o "$2"); fi
  # exit 1 only repeats the run's verdict (a finding reached --fail-on); 2 is a real error
  ddiag report "$DDIAG_JSON" --format "$1" "${to[@]}" "${fail_on[@]}" || [ $? -eq 1 ]
}

run() {
  local args=() code=0
  set -f
  read -r -a args <<<"${DDIAG_ARGS:-}"
  set +f
  if [ -n "${DDIAG_FAIL_ON:-}" ]; then fail_on=(--fail-on "$DDIAG_FAIL_ON"); fi
  DDIAG_JSON=${DDIAG_JSON:-ddiag.json}

  ddiag "${DDIAG_COMMAND:-compose}" "${args[@]}" --format json -o "$DDIAG_JSON" "${fail_on[@]}" ||
    code=$?
  output exit-code "$code"
  if [ ! -f "$DDIAG_JSON" ]; then
    echo "::error title=ddiag::the diagnosis wrote no report (exit code $code); see the log above"
    exit "$code"
  fi
  output json "$DDIAG_JSON"

  if [ -n "${DDIAG_JUNIT:-}" ]; then render junit "$DDIAG_JUNIT" && output junit "$DDIAG_JUNIT"; fi
  if [ -n "${DDIAG_SARIF:-}" ]; then render sarif "$DDIAG_SARIF" && output sarif "$DDIAG_SARIF"; fi
  if [ "${DDIAG_SUMMARY:-true}" = true ]; then render markdown "$GITHUB_STEP_SUMMARY"; fi
  if [ "${DDIAG_ANNOTATIONS:-true}" = true ]; then render github; fi
  "${DDIAG_PYTHON:-python3}" - "$DDIAG_JSON" >>"$GITHUB_OUTPUT" <<'EOF'
import json, sys
summary = json.load(open(sys.argv[1], encoding="utf-8"))["summary"]
print(f"errors={summary['error']}\nwarnings={summary['warning']}\ninfos={summary['info']}")
EOF
  exit "$code"
}

case "${1:-}" in
install) install ;;
run) run ;;
*)
  echo "usage: $0 install|run" >&2
  exit 2
  ;;
esac
