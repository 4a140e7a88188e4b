#!/usr/bin/env bash
# Ensure Podman's Docker-compatible API answers on /run/podman/podman.sock (rootful), with
# the test images loaded, for host/tests/remote.rs.
#
# Idempotent: installs podman only when missing, starts `podman system service` only
# when the socket does not answer, and loads an image only when its id differs from the
# one in Docker. This machine has no systemd, so Podman uses cgroupfs, file events and
# k8s-file logs (our own containers.conf, passed by CONTAINERS_CONF to every call).
set -euo pipefail

SOCK=/run/podman/podman.sock
CONF_DIR=/etc/dbarena-podman
LOG=${PODMAN_LOG:-/tmp/podman-service.log}
TIMEOUT=${PODMAN_UP_TIMEOUT:-60}
IMAGES=(${PODMAN_TEST_IMAGES:-dbarena-test/postgres:15 dbarena-test/redis:7})
export CONTAINERS_CONF=$CONF_DIR/containers.conf

log() { echo "podman-up: $*" >&2; }

if ! command -v podman >/dev/null 2>&1; then
  log "installing podman"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends podman >/dev/null
fi

mkdir -p "$CONF_DIR" /run/podman
# Podman raises a root container's open-files and process limits above what this
# sandbox allows (runc then fails with "error setting rlimit type 7"): use the limits we have.
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
# Podman's own processes (and so runc) run with at most 32768 processes here.
nproc=$(ulimit -Hu)
if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
cat >"$CONF_DIR/containers.conf.new" <<CONF
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
PIDFILE=/run/podman/dbarena-service.pid
if ! cmp -s "$CONF_DIR/containers.conf.new" "$CONF_DIR/containers.conf" 2>/dev/null; then
  mv "$CONF_DIR/containers.conf.new" "$CONF_DIR/containers.conf"
  # A service started by this script with an older config: restart it with the new one.
  if [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null; then
    log "config changed: restarting the podman service"
    sleep 1
  fi
else
  rm -f "$CONF_DIR/containers.conf.new"
fi

answers() { timeout 10 docker -H "unix://$SOCK" version >/dev/null 2>&1; }

if answers; then
  log "podman service already answering on $SOCK"
else
  rm -f "$SOCK"
  log "starting podman system service on $SOCK (log: $LOG)"
  # setsid + nohup: the service outlives this script and the CI step.
  setsid nohup podman system service --time=0 "unix://$SOCK" >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  deadline=$((SECONDS + TIMEOUT))
  until answers; do
    if [ $SECONDS -ge $deadline ]; then
      log "ERROR: podman service did not answer within ${TIMEOUT}s; last lines of $LOG:"
      tail -n 40 "$LOG" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
fi
log "podman $(podman version --format '{{.Client.Version}}')"

# Podman stores short names from a docker archive as docker.io/<name>, which is also how
# its compatible API resolves the short names dbarena asks for.
for image in "${IMAGES[@]}"; do
  want=$(docker image inspect --format '{{.Id}}' "$image")
  have=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  if [ "sha256:${have#sha256:}" = "$want" ]; then
    log "$image already loaded"
  else
    log "loading $image"
    docker save "$image" | podman load -q >/dev/null
  fi
done
log "ready: DOCKER_HOST=unix://$SOCK"
