#!/usr/bin/env bash
# A second, "remote" Docker daemon for host/tests/remote.rs: it runs in its own network
# namespace (10.214.0.2, reached from here over a veth pair whose host side is
# 10.214.0.1) and listens on tcp://10.214.0.2:2375 and unix:///run/dbarena-remote/docker.sock.
# Its published ports are therefore on another network stack, as on another machine: a
# probe that wrongly goes to 127.0.0.1 here cannot reach them.
#
# Idempotent: keeps the namespace, link and daemon when they are already there, and loads
# a test image only when its id differs from the one in the local Docker.
#
# It has its own --data-root, --exec-root, --pidfile and (managed by dockerd under its
# exec-root) containerd; its docker0 belongs to its namespace. Never `--bridge none`:
# that deletes the main daemon's docker0. dockerd is started with `nsenter --net` rather
# than `ip netns exec`, which remounts /sys and hides the cgroup mounts.
set -euo pipefail

NS=${REMOTE_NS:-dbarena-remote}
HOST_IF=dbr-host
NS_IF=dbr-ns
HOST_ADDR=10.214.0.1
NS_ADDR=10.214.0.2
STATE=/run/dbarena-remote
SOCK=$STATE/docker.sock
DATA=/var/lib/dbarena-remote/docker
LOG=${REMOTE_DOCKERD_LOG:-/tmp/dockerd-remote.log}
TIMEOUT=${DOCKER_UP_TIMEOUT:-60}
IMAGES=(${REMOTE_TEST_IMAGES:-dbarena-test/postgres:15 dbarena-test/redis:7})

log() { echo "remote-docker-up: $*" >&2; }
remote() { docker -H "unix://$SOCK" "$@"; }

# --- network namespace and veth pair --------------------------------------------------
[ -e "/run/netns/$NS" ] || ip netns add "$NS"
# The pair must end in *this* namespace: after `ip netns del` the old one lives on (with
# its end of the pair) until its last process exits.
if ! ip -n "$NS" link show "$NS_IF" >/dev/null 2>&1; then
  ip link del "$HOST_IF" 2>/dev/null || true
  ip link add "$HOST_IF" type veth peer name "$NS_IF"
  ip link set "$NS_IF" netns "$NS"
fi
ip addr replace "$HOST_ADDR/24" dev "$HOST_IF"
ip link set "$HOST_IF" up
ip -n "$NS" addr replace "$NS_ADDR/24" dev "$NS_IF"
ip -n "$NS" link set "$NS_IF" up
ip -n "$NS" link set lo up
# No default route: the namespace reaches nothing but 10.214.0.0/24 (the client is
# 10.214.0.1); the test images are loaded, never pulled.

# --- the daemon ---------------------------------------------------------------------------
mkdir -p "$STATE" "$DATA"
dockerd_pid=""

stop_attempt() {
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 20); do
      kill -0 "$dockerd_pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -9 "$dockerd_pid" 2>/dev/null || true
  fi
  dockerd_pid=""
  rm -f "$STATE/docker.pid"
}

try_start() {
  log "starting dockerd in netns $NS ${*:-(default flags)}"
  echo "===== $(date -u +%FT%TZ) dockerd $* =====" >>"$LOG"
  # setsid + nohup: the daemon outlives this script and the CI step.
  setsid nohup nsenter --net="/run/netns/$NS" dockerd \
    --data-root "$DATA" --exec-root "$STATE/exec" --pidfile "$STATE/docker.pid" \
    -H "unix://$SOCK" -H "tcp://$NS_ADDR:2375" "$@" >>"$LOG" 2>&1 </dev/null &
  dockerd_pid=$!
  local deadline=$((SECONDS + TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    if remote info >/dev/null 2>&1; then
      log "dockerd is up (pid $dockerd_pid, flags: ${*:-none})"
      return 0
    fi
    if ! kill -0 "$dockerd_pid" 2>/dev/null; then
      log "dockerd exited during startup"
      return 1
    fi
    sleep 1
  done
  log "dockerd did not answer within ${TIMEOUT}s"
  return 1
}

# A daemon killed with SIGKILL (host/tests/faults.rs does) can leave containers running
# under their shims that the next daemon no longer knows: their addresses and ports would
# answer for its new containers. A restarted daemon (no live-restore) stops its old
# containers anyway, so these go first.
reap_orphans() {
  local shims
  shims=$(pgrep -f -- "containerd-shim.* -address $STATE/exec/" || true)
  [ -n "$shims" ] || return 0
  log "stopping containers the previous daemon left running (shims: $(echo $shims))"
  for shim in $shims; do pkill -KILL -P "$shim" || true; done
  sleep 0.5
  for shim in $shims; do kill -KILL "$shim" 2>/dev/null || true; done
}

if remote info >/dev/null 2>&1; then
  log "remote dockerd already running"
else
  reap_orphans
  # A daemon that died leaves its pidfile behind, and dockerd refuses to start over it.
  if [ -f "$STATE/docker.pid" ] && ! kill -0 "$(cat "$STATE/docker.pid")" 2>/dev/null; then
    rm -f "$STATE/docker.pid"
  fi
  # The same fallback ladder as .ci/docker-up.sh.
  attempts=(
    ""
    "--storage-driver=vfs"
    "--iptables=false --ip-masq=false"
    "--storage-driver=vfs --iptables=false --ip-masq=false"
  )
  up=false
  for flags in "${attempts[@]}"; do
    # shellcheck disable=SC2086
    if try_start $flags; then
      up=true
      break
    fi
    stop_attempt
  done
  if ! $up; then
    log "ERROR: could not start the remote dockerd. Last 40 lines of $LOG:"
    tail -n 40 "$LOG" >&2 || true
    exit 1
  fi
fi
if ! docker -H "tcp://$NS_ADDR:2375" version --format '{{.Server.Version}}' >/dev/null; then
  log "ERROR: the remote dockerd does not answer on tcp://$NS_ADDR:2375"
  exit 1
fi

# --- test images --------------------------------------------------------------------------
for image in "${IMAGES[@]}"; do
  want=$(docker image inspect --format '{{.Id}}' "$image")
  have=$(remote image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  if [ "$have" = "$want" ]; then
    log "$image already loaded"
  else
    log "loading $image"
    docker save "$image" | remote load -q >/dev/null
  fi
done
log "ready: DOCKER_HOST=tcp://$NS_ADDR:2375"
