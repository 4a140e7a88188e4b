#!/usr/bin/env bash
# Ensure a Docker daemon is running and reachable via `docker info`.
#
# Idempotent: exits 0 immediately when `docker info` already answers.
# Otherwise installs docker.io (and debootstrap, needed by tests/images/build.sh)
# if missing, then starts dockerd in the background (log: /tmp/dockerd.log).
#
# Sandboxes differ in what dockerd can do, so we try a sequence of flag sets
# and keep the first one that comes up:
#   1. defaults                                  (overlay2, iptables, bridge)
#   2. --storage-driver=vfs                      (no overlayfs in the sandbox)
#   3. --iptables=false --ip-masq=false          (no netfilter permissions)
#   4. vfs + --iptables=false --ip-masq=false
# Set DOCKERD_EXTRA_FLAGS to force specific flags (skips the fallback ladder).
# Set DOCKER_UP_TIMEOUT (seconds, default 60) to change the wait per attempt.
set -euo pipefail

LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
TIMEOUT=${DOCKER_UP_TIMEOUT:-60}

log() { echo "docker-up: $*" >&2; }

if docker info >/dev/null 2>&1; then
  log "docker daemon already running"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO="sudo"
fi

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v docker >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  # de-duplicate
  mapfile -t need_pkgs < <(printf '%s\n' "${need_pkgs[@]}" | sort -u)
  log "installing: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# containerd: dockerd starts its own managed containerd when none is running
# at /run/containerd/containerd.sock, so nothing to do here.

dockerd_pid=""

stop_attempt() {
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    $SUDO kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 20); do
      kill -0 "$dockerd_pid" 2>/dev/null || break
      sleep 0.5
    done
    $SUDO kill -9 "$dockerd_pid" 2>/dev/null || true
  fi
  dockerd_pid=""
  $SUDO rm -f /var/run/docker.pid
}

try_start() {
  # $@: extra dockerd flags
  log "starting dockerd ${*:-(default flags)}"
  {
    echo "===== $(date -u +%FT%TZ) dockerd $* ====="
  } >>"$LOG"
  # setsid + nohup: detach from this script's session so dockerd survives
  # the script (and the CI step) exiting.
  $SUDO setsid nohup dockerd "$@" >>"$LOG" 2>&1 </dev/null &
  dockerd_pid=$!
  local deadline=$((SECONDS + TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    if docker info >/dev/null 2>&1; then
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

if [ -n "${DOCKERD_EXTRA_FLAGS:-}" ]; then
  # shellcheck disable=SC2086
  attempts=("$DOCKERD_EXTRA_FLAGS")
else
  attempts=(
    ""
    "--storage-driver=vfs"
    "--iptables=false --ip-masq=false"
    "--storage-driver=vfs --iptables=false --ip-masq=false"
  )
fi

for flags in "${attempts[@]}"; do
  # shellcheck disable=SC2086
  if try_start $flags; then
    docker info --format 'docker-up: server {{.ServerVersion}}, storage driver {{.Driver}}' >&2 || true
    exit 0
  fi
  stop_attempt
done

log "ERROR: could not start dockerd with any flag set. Last 40 lines of $LOG:"
tail -n 40 "$LOG" >&2 || true
exit 1
