#!/usr/bin/env bash
# Ensure a plain-HTTP Docker registry (Debian package `docker-registry`,
# github.com/docker/distribution v2) listens on 127.0.0.1:5000.
#
# Idempotent: once the packages are there, exits 0 when http://127.0.0.1:5000/v2/ answers.
# The registry binary is started directly in the background (no systemd),
# with a generated config: bind 127.0.0.1:5000, no auth, filesystem storage
# under $REGISTRY_DIR (default: a fresh mktemp dir), log in $REGISTRY_DIR/registry.log.
#
# dockerd treats 127.0.0.0/8 registries as insecure by default, so
# `docker push 127.0.0.1:5000/name:tag` works over HTTP without daemon config.
#
# Also installs `htpasswd` (apache2-utils): host/tests/conventions.rs starts a second
# registry with bcrypt htpasswd auth on 127.0.0.1:5001 for `images tags` with
# `docker login` credentials (and stops it itself).
set -euo pipefail

ADDR=${REGISTRY_ADDR:-127.0.0.1:5000}
URL="http://${ADDR}/v2/"
TIMEOUT=${REGISTRY_UP_TIMEOUT:-30}

log() { echo "registry-up: $*" >&2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO="sudo"
fi

need_pkgs=()
command -v docker-registry >/dev/null 2>&1 || need_pkgs+=(docker-registry)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v htpasswd >/dev/null 2>&1 || need_pkgs+=(apache2-utils)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d style guard is unnecessary: without systemd the package's
  # service simply isn't started.
  $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if curl -fsS -o /dev/null "$URL" 2>/dev/null; then
  log "registry already answering at $URL"
  exit 0
fi

REGISTRY_DIR=${REGISTRY_DIR:-$(mktemp -d /tmp/dbarena-registry.XXXXXX)}
mkdir -p "$REGISTRY_DIR/storage"
CONFIG="$REGISTRY_DIR/config.yml"
LOG="$REGISTRY_DIR/registry.log"

cat >"$CONFIG" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $REGISTRY_DIR/storage
  delete:
    enabled: true
http:
  addr: $ADDR
  headers:
    X-Content-Type-Options: [nosniff]
EOF

log "starting docker-registry on $ADDR (data: $REGISTRY_DIR, log: $LOG)"
# setsid + nohup: survive this script exiting.
setsid nohup docker-registry serve "$CONFIG" >>"$LOG" 2>&1 </dev/null &
pid=$!

deadline=$((SECONDS + TIMEOUT))
while [ $SECONDS -lt $deadline ]; do
  if curl -fsS -o /dev/null "$URL" 2>/dev/null; then
    log "registry is up (pid $pid) at $URL"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    break
  fi
  sleep 0.5
done

log "ERROR: registry did not answer at $URL. Last 30 lines of $LOG:"
tail -n 30 "$LOG" >&2 || true
kill "$pid" 2>/dev/null || true
exit 1
