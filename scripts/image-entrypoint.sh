#!/bin/sh
# The ddiag image's entry point: run ddiag as an unprivileged user wherever the engine's
# socket allows it, and as root only where it does not.
#
# The socket (`-v /var/run/docker.sock:...`) belongs to root and to a group (`docker` on
# the host, whose id the image cannot know in advance). When that group is not root's,
# ddiag runs with that group as its only supplementary group, and as the user who owns the
# working directory (`-v "$PWD:$PWD" -w "$PWD"`), so that `-o report.json` belongs to
# whoever ran the command; when the directory is root's, as the image's `ddiag` user
# (uid 10001). A socket of group root (Docker Desktop, rootless engines mapped to root)
# leaves no unprivileged way in: ddiag then stays root, as it would be with `--user 0`.
# Talking to the socket is all ddiag needs: the probes get their privileges from the
# engine, not from ddiag.
set -eu

socket=/var/run/docker.sock
case "${DOCKER_HOST:-}" in
  unix://*) socket=${DOCKER_HOST#unix://} ;;
esac

if [ "$(id -u)" = 0 ] && [ -S "$socket" ]; then
  group=$(stat -c %g "$socket")
  if [ "$group" != 0 ]; then
    owner=$(stat -c %u .)
    [ "$owner" != 0 ] || owner=10001
    export HOME=/tmp
    exec setpriv --reuid="$owner" --regid="$group" --groups="$group" --inh-caps=-all \
      python3 -m diag "$@"
  fi
fi
exec python3 -m diag "$@"
