#!/usr/bin/env bash
# A Docker Swarm of several engines on this one machine, for the swarm checks' tests (issue #9).
#
#   swarm-bed.sh up [N]     a fresh bed of N nodes (default 3, at most 7), images loaded, swarm joined
#   swarm-bed.sh down       remove everything the bed made (safe to repeat, whatever state it is in)
#   swarm-bed.sh env NODE   `export DOCKER_HOST=...` for node NODE (1, node1 or ddiag-node1)
#   swarm-bed.sh nodes      one line per node: NAME ADDRESS DOCKER_HOST (for tests/integration/swarm.py)
#   swarm-bed.sh status     the swarm's nodes, and the memory each node's engine uses
#   swarm-bed.sh check      create an overlay and a global service, ping task to task across
#                           nodes, read the service's logs from the manager, remove both; timed
#
# Node i is a network namespace `ddiag-node<i>` whose eth0 (10.213.180.(10+i)/24) is one end of a
# veth pair plugged into the host bridge `ddiagsw0` (10.213.180.1). In it runs a dockerd of its
# own: data root /var/lib/ddiag-swarm/node<i>, exec root (and so its own managed containerd)
# and socket under /run/ddiag-swarm, cgroup parent /ddiag-node<i>, hostname ddiag-node<i> (the
# name `docker node ls` shows). Node 1 is the manager; the others join as workers over
# 10.213.180.11:2377. Addresses, all inside 10.213.180.0-10.213.191.255, taken by no fixture:
#   10.213.180.0/24          the link between the nodes (ddiagsw0)
#   10.213.(180+i).0/25      node i's default bridge (docker0, inside its namespace)
#   10.213.(180+i).128/25    node i's pool for local networks (/27 each: docker_gwbridge, ...)
#   10.213.188.0/22          the swarm's pool for overlays (/26 each, ingress included)
# The engines' iptables rules live in the nodes' namespaces; the host gets a single rule
# (FORWARD: accept ddiagsw0 to ddiagsw0, which br_netfilter would otherwise hand to the main
# engine's DROP policy), removed by `down`. Nodes have no default route: they reach each other
# and the host's 10.213.180.1, nothing else (no registry either: images are copied from the
# main engine with `docker save | docker load`).
#
# What the kernel must have: VXLAN (overlays), veth, bridge. Without IP_VS (as in the sandbox
# this was written in) the engines log "Could not get ipvs family information" and a service's
# virtual IP and the ingress routing mesh answer nothing, while tasks.NAME, task addresses,
# --endpoint-mode dnsrr and mode=host published ports work. Without ESP (xfrm), encrypted
# overlays cannot carry traffic between nodes.
#
# Exit status 3: this machine cannot host the bed (not root, a command missing); tests skip.
set -euo pipefail

run_dir=/run/ddiag-swarm
data_dir=/var/lib/ddiag-swarm
bridge=ddiagsw0
link_net=10.213.180
max_nodes=7
overlay_pool=10.213.188.0/22
overlay_mask=26
images=(ddiag-test/busybox:latest ddiag-test/python3:bookworm)
start_timeout_s=60
ready_timeout_s=90
stop_grace_s=15
fw_rule=(-i "$bridge" -o "$bridge" -m comment --comment ddiag-swarm-bed -j ACCEPT)
self=$(readlink -f "$0")

say() { printf 'swarm-bed: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
cannot() { say "cannot run here: $*"; exit 3; }

now_us() { echo "${EPOCHREALTIME/./}"; }
# Seconds since a now_us timestamp, one decimal.
since() { local d=$(( $(now_us) - $1 )); printf '%d.%d' $((d / 1000000)) $((d % 1000000 / 100000)); }

netns() { echo "ddiag-node$1"; }
sock() { echo "$run_dir/node$1.sock"; }
address() { echo "$link_net.$((10 + $1))"; }
on() { local i=$1; shift; docker -H "unix://$(sock "$i")" "$@"; }
nodes_up() { cat "$run_dir/nodes" 2>/dev/null || echo 0; }

# NODE given as 2, node2 or ddiag-node2 -> 2
node_index() {
  local i=${1#ddiag-}
  i=${i#node}
  [[ $i =~ ^[1-9][0-9]*$ ]] && [ "$i" -le "$(nodes_up)" ] || die "no node '$1' in the bed (nodes: $(nodes_up))"
  echo "$i"
}

preflight() {
  [ "$(id -u)" = 0 ] || cannot "engines in network namespaces need root"
  local cmd
  for cmd in dockerd docker ip unshare iptables mount hostname; do
    command -v "$cmd" >/dev/null 2>&1 || cannot "no '$cmd' command"
  done
  docker image inspect "${images[@]}" >/dev/null 2>&1 || cannot "the main engine lacks ${images[*]} (run scripts/setup.sh)"
}

# --- inside a node -----------------------------------------------------------------------

# Runs as `ip netns exec NETNS unshare --uts swarm-bed.sh _exec I HOST_NETNS dockerd ...` and
# becomes the node's dockerd. `ip netns exec` gave us a mount namespace of our own (the engine's
# mounts stay in it and vanish with it) and remounted /sys for the netns, which dropped the
# cgroup hierarchies mounted below /sys/fs/cgroup: mount them again, as the host has them.
exec_in_node() {
  local i=$1 host_netns=$2
  shift 2
  # A dockerd on the host's netns would take over the main engine's docker0: never.
  [ "$(readlink /proc/self/ns/net)" != "$host_netns" ] || die "node $i: still in the host's network namespace"
  local fstype target opts
  while read -r fstype target opts; do
    case $fstype in
      tmpfs) mount -t tmpfs -o "$opts" tmpfs "$target" ;;
      cgroup | cgroup2) mkdir -p "$target" && mount -t "$fstype" -o "$opts" "$fstype" "$target" ;;
    esac
  done <"$run_dir/cgroup-mounts"
  hostname "$(netns "$i")"
  exec "$@"
}

# The cgroup file systems below /sys/fs/cgroup, in mount order: "FSTYPE TARGET SUPEROPTS".
cgroup_mounts() {
  awk '$5 ~ "^/sys/fs/cgroup" { for (f = 7; f < NF; f++) if ($f == "-") { print $(f + 1), $5, $(f + 3); break } }' /proc/self/mountinfo
}

# --- up ----------------------------------------------------------------------------------

make_link() {
  ip link add "$bridge" type bridge
  ip addr add "$link_net.1/24" dev "$bridge"
  ip link set "$bridge" up
  iptables -I FORWARD 1 "${fw_rule[@]}"
  local i ns
  for ((i = 1; i <= $1; i++)); do
    ns=$(netns "$i")
    ip netns add "$ns"
    ip link add "ddiagsw-n$i" type veth peer name eth0 netns "$ns"
    ip link set "ddiagsw-n$i" master "$bridge" up
    ip -n "$ns" addr add "$(address "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  done
}

start_engine() {
  local i=$1 host_netns own=10.213.$((180 + $1))
  host_netns=$(readlink /proc/self/ns/net)
  mkdir -p "$run_dir/node$i" "$data_dir/node$i"
  local argv=(
    dockerd
    --config-file "$run_dir/node$i/daemon.json"
    --data-root "$data_dir/node$i"
    --exec-root "$run_dir/node$i/exec"
    --pidfile "$run_dir/node$i/dockerd.pid"
    -H "unix://$(sock "$i")"
    --bip "$own.1/25"
    --default-address-pool "base=$own.128/25,size=27"
    --cgroup-parent "/$(netns "$i")"
  )
  # Its own identity key: by default every engine would read /etc/docker/key.json, the main
  # engine's, and report the same engine ID.
  printf '{"deprecated-key-path": "%s"}\n' "$run_dir/node$i/key.json" >"$run_dir/node$i/daemon.json"
  # setsid: the engine outlives this script and gets none of the caller's signals.
  setsid ip netns exec "$(netns "$i")" unshare --uts "$self" _exec "$i" "$host_netns" "${argv[@]}" \
    >"$run_dir/node$i/dockerd.log" 2>&1 </dev/null &
}

await_engine() {
  local i=$1 deadline=$((SECONDS + start_timeout_s))
  until on "$i" version --format '{{.Server.Version}}' >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 15 "$run_dir/node$i/dockerd.log" >&2
      die "node $i: its dockerd did not answer within ${start_timeout_s}s (log above)"
    fi
    sleep 0.2
  done
}

# `docker load` into node 1 only: unpacking the python3 image costs seconds per engine, and
# loads in parallel fight over two cores. The other nodes, before their engines start, get
# node 1's image store as hard links (`cp -al`): separate directories, shared inodes, which
# is safe because an engine never writes a layer once committed (a container's writes go to
# its own upper dir; `docker rmi` on one node unlinks that node's names only).
load_images() {
  docker save "${images[@]}" | on 1 load -q >/dev/null || die "node 1: docker load failed"
}

seed_images() {
  mkdir -p "$data_dir/node$1"
  cp -al "$data_dir/node1/image" "$data_dir/node1/overlay2" "$data_dir/node$1/"
}

form_swarm() {
  local n=$1 i token pids=()
  on 1 swarm init --advertise-addr "$(address 1)" --listen-addr "$(address 1):2377" \
    --default-addr-pool "$overlay_pool" --default-addr-pool-mask-length "$overlay_mask" >/dev/null
  token=$(on 1 swarm join-token -q worker)
  for ((i = 2; i <= n; i++)); do
    on "$i" swarm join --token "$token" --advertise-addr "$(address "$i")" \
      --listen-addr "$(address "$i"):2377" "$(address 1):2377" >/dev/null &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || die "node $((i + 2)): docker swarm join failed"
  done
  local deadline=$((SECONDS + ready_timeout_s))
  until [ "$(on 1 node ls --format '{{.Status}}' | grep -c '^Ready$')" -eq "$n" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { on 1 node ls >&2; die "not every node Ready after ${ready_timeout_s}s"; }
    sleep 0.5
  done
}

up() {
  local n=${1:-3}
  [[ $n =~ ^[1-9][0-9]*$ ]] && [ "$n" -le "$max_nodes" ] || die "N must be 1..$max_nodes, not '$n'"
  preflight
  down
  local t0 t i
  t0=$(now_us)
  mkdir -p "$run_dir" "$data_dir"
  cgroup_mounts >"$run_dir/cgroup-mounts"
  make_link "$n"
  start_engine 1
  await_engine 1
  say "node 1's engine answers after $(since "$t0")s"
  t=$(now_us)
  load_images
  say "images loaded into node 1 in $(since "$t")s"
  t=$(now_us)
  for ((i = 2; i <= n; i++)); do
    seed_images "$i"
    start_engine "$i"
  done
  for ((i = 2; i <= n; i++)); do await_engine "$i"; done
  [ "$n" -eq 1 ] || say "nodes 2-$n seeded and answering in $(since "$t")s"
  t=$(now_us)
  form_swarm "$n"
  echo "$n" >"$run_dir/nodes"
  say "swarm of $n formed in $(since "$t")s; bed up in $(since "$t0")s"
  on 1 node ls >&2
}

# --- down --------------------------------------------------------------------------------

# Pids of live processes (zombies are gone for our purpose) whose command line names the bed's
# directories: the dockerds, their containerds and shims.
bed_pids() {
  local f pid
  for f in $(grep -laE "$run_dir/node|$data_dir/node" /proc/[0-9]*/cmdline 2>/dev/null); do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    # (the grep itself matched, and is gone: no stat)
    case $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) in "" | Z) ;; *) echo "$pid" ;; esac
  done
  return 0
}

engine_pids() {
  local pid
  for pid in $(bed_pids); do
    ! grep -qa '^dockerd' "/proc/$pid/cmdline" 2>/dev/null || echo "$pid"
  done
}

bed_cgroups() { find /sys/fs/cgroup -maxdepth 2 -type d -name 'ddiag-node[0-9]*' 2>/dev/null; }

# The containers' processes (their own netns, no marker on their command lines): by cgroup.
container_pids() {
  local dir
  for dir in $(bed_cgroups); do find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null; done
}

bed_netns() { ip netns list 2>/dev/null | awk '$1 ~ /^ddiag-node[0-9]+$/ { print $1 }'; }

down() {
  local t0 ns pid deadline link
  t0=$(now_us)
  # The engines first, gracefully (each stops its containerd); the containers' processes are
  # killed outright meanwhile (a `sleep` as PID 1 ignores SIGTERM: each would cost 10s).
  for pid in $(engine_pids); do kill -TERM "$pid" 2>/dev/null || true; done
  deadline=$((SECONDS + stop_grace_s))
  while [ -n "$(engine_pids)" ] && [ "$SECONDS" -lt "$deadline" ]; do
    container_pids | xargs -r kill -KILL 2>/dev/null || true
    sleep 0.2
  done
  # Then whatever is left: in a node's netns, or named after the bed, or in its cgroups.
  deadline=$((SECONDS + stop_grace_s))
  while :; do
    local left
    left=$( { bed_pids; container_pids; for ns in $(bed_netns); do ip netns pids "$ns" 2>/dev/null; done; } | sort -u)
    [ -n "$left" ] || break
    [ "$SECONDS" -lt "$deadline" ] || die "processes of the bed would not die: $left"
    echo "$left" | xargs -r kill -KILL 2>/dev/null || true
    sleep 0.2
  done
  bed_cgroups | sort -r | while read -r dir; do find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true; done
  for ns in $(bed_netns); do ip netns del "$ns"; done
  # (the veths go with their netns; in case one did not)
  for link in $bridge $(ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^ddiagsw-n[0-9]+@/ { sub(/@.*/, "", $2); print $2 }'); do
    ip link del "$link" 2>/dev/null || true
  done
  while iptables -D FORWARD "${fw_rule[@]}" 2>/dev/null; do :; done
  # Mounts are made in the nodes' own mount namespaces, gone with them; in case one was not:
  awk -v a="$run_dir" -v b="$data_dir" 'index($5, a) == 1 || index($5, b) == 1 { print $5 }' /proc/self/mountinfo |
    sort -r | xargs -r -n 1 umount -l 2>/dev/null || true
  rm -rf "$run_dir" "$data_dir"
  say "down in $(since "$t0")s"
}

# --- check -------------------------------------------------------------------------------

# One task container of SERVICE on node I.
task_on() { on "$1" ps -q --filter "label=com.docker.swarm.service.name=$2" | head -n 1; }

check() {
  local n svc=ddiag-bedcheck net=ddiag-ov t i j c ip names
  n=$(nodes_up)
  [ "$n" -ge 1 ] || die "the bed is not up"
  t=$(now_us)
  on 1 network create -d overlay --attachable "$net" >/dev/null
  say "overlay $net created in $(since "$t")s: $(on 1 network inspect "$net" --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}')"
  t=$(now_us)
  # --detach: the CLI's own wait adds 5s of "verify that tasks are stable"
  on 1 service create -q --detach --no-resolve-image --mode global --name "$svc" --network "$net" \
    --hostname '{{.Node.Hostname}}' --stop-grace-period 1s \
    "${images[0]}" sh -c 'echo "task on $(hostname)"; exec sleep 600' >/dev/null
  local deadline=$((SECONDS + ready_timeout_s))
  until [ "$(on 1 service ps "$svc" --filter desired-state=running --format '{{.CurrentState}}' | grep -c '^Running')" -eq "$n" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { on 1 service ps "$svc" >&2; die "not one running task per node"; }
    sleep 0.2
  done
  say "global service running on all $n nodes in $(since "$t")s"
  for ((i = 1; i <= n; i++)); do
    j=$((i % n + 1))
    c=$(task_on "$i" "$svc")
    ip=$(on "$j" inspect "$(task_on "$j" "$svc")" --format "{{(index .NetworkSettings.Networks \"$net\").IPAddress}}")
    on "$i" exec "$c" ping -c 1 -W 2 "$ip" >/dev/null || die "node $i's task cannot ping node $j's ($ip) over $net"
    say "node $i's task pings node $j's task at $ip over $net"
  done
  # busybox nslookup: the server's "Address:" line first (127.0.0.11), then one per answer
  names=$(on 1 exec "$(task_on 1 "$svc")" nslookup "tasks.$svc" 2>/dev/null | grep -v 127.0.0.11 | grep -c '^Address' || true)
  [ "$names" -eq "$n" ] || die "tasks.$svc resolves to $names addresses, not $n"
  say "tasks.$svc resolves to the $n tasks' addresses"
  t=$(now_us)
  local logs
  logs=$(on 1 service logs --raw "$svc" 2>&1)
  for ((i = 1; i <= n; i++)); do
    grep -q "^task on $(netns "$i")$" <<<"$logs" || die "no log line from node $i's task in: $logs"
  done
  say "service logs from the manager show every node's task ($(since "$t")s)"
  t=$(now_us)
  on 1 service rm "$svc" >/dev/null
  for ((i = 1; i <= n; i++)); do
    until [ -z "$(on "$i" ps -aq --filter "label=com.docker.swarm.service.name=$svc")" ]; do sleep 0.2; done
  done
  say "service removed, its containers gone from every node, in $(since "$t")s"
  t=$(now_us)
  on 1 network rm "$net" >/dev/null
  say "overlay removed in $(since "$t")s"
}

status() {
  local n i pid kb total
  n=$(nodes_up)
  [ "$n" -ge 1 ] || die "the bed is not up"
  on 1 node ls
  for ((i = 1; i <= n; i++)); do
    total=0
    for pid in $(ip netns pids "$(netns "$i")"); do
      kb=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
      total=$((total + ${kb:-0}))
    done
    echo "node $i: dockerd, containerd and shims use $((total / 1024)) MiB (PSS)"
  done
}

case ${1:-} in
  up) up "${2:-3}" ;;
  down) [ "$(id -u)" = 0 ] || cannot "need root"; down ;;
  env)
    i=$(node_index "${2:?usage: swarm-bed.sh env NODE}")
    echo "export DOCKER_HOST=unix://$(sock "$i")"
    ;;
  nodes) for ((i = 1; i <= $(nodes_up); i++)); do echo "$(netns "$i") $(address "$i") unix://$(sock "$i")"; done ;;
  status) status ;;
  check) check ;;
  _exec) shift; exec_in_node "$@" ;;
  *) sed -n '2,10p' "$self" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
