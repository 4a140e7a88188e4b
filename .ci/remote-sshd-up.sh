#!/usr/bin/env bash
# An sshd inside the remote namespace (.ci/remote-docker-up.sh first), so that
# `DOCKER_HOST=ssh://dbarena-remote-ssh` reaches the remote dockerd the way `docker -H ssh://`
# does: `ssh` runs `docker system dial-stdio` there, which talks to that daemon's socket
# (DOCKER_HOST set by the authorized key's environment= option).
#
# Key authentication only; the host key is pinned. The client side is one `Host` block in
# /etc/ssh/ssh_config.d (which Debian's ssh_config includes): the alias, its HostName
# 10.214.0.2, the key and the known_hosts file, nothing for any other host.
# Idempotent: keys are made once, sshd started only when a login does not work.
set -euo pipefail

NS=${REMOTE_NS:-dbarena-remote}
ADDR=10.214.0.2
ALIAS=dbarena-remote-ssh
DIR=/run/dbarena-remote/ssh
REMOTE_SOCK=unix:///run/dbarena-remote/docker.sock
LOG=${REMOTE_SSHD_LOG:-/tmp/sshd-remote.log}

log() { echo "remote-sshd-up: $*" >&2; }

if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; then
  log "installing openssh-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null
fi

mkdir -p "$DIR" /run/sshd
chmod 700 "$DIR"
[ -f "$DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "$ALIAS host" -f "$DIR/host_ed25519"
[ -f "$DIR/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "dbarena tests" -f "$DIR/client_ed25519"
echo "restrict,environment=\"DOCKER_HOST=$REMOTE_SOCK\" $(cat "$DIR/client_ed25519.pub")" >"$DIR/authorized_keys"
echo "$ALIAS $(cut -d' ' -f1,2 "$DIR/host_ed25519.pub")" >"$DIR/known_hosts"

cat >"$DIR/sshd_config" <<CONF
ListenAddress $ADDR
Port 22
HostKey $DIR/host_ed25519
AuthorizedKeysFile $DIR/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitUserEnvironment DOCKER_HOST
UsePAM no
PidFile $DIR/sshd.pid
CONF

mkdir -p /etc/ssh/ssh_config.d
cat >/etc/ssh/ssh_config.d/dbarena-remote.conf <<CONF
# Written by dbarena's .ci/remote-sshd-up.sh for its tests.
Host $ALIAS
  HostName $ADDR
  User root
  IdentityFile $DIR/client_ed25519
  IdentitiesOnly yes
  HostKeyAlias $ALIAS
  UserKnownHostsFile $DIR/known_hosts
  StrictHostKeyChecking yes
CONF

login() { ssh -o BatchMode=yes -o ConnectTimeout=5 "$ALIAS" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if login; then
  log "sshd already answering"
else
  if [ -f "$DIR/sshd.pid" ] && kill -0 "$(cat "$DIR/sshd.pid")" 2>/dev/null; then
    kill "$(cat "$DIR/sshd.pid")" || true
    sleep 0.5
  fi
  log "starting sshd in netns $NS on $ADDR:22 (log: $LOG)"
  # sshd daemonizes itself; -E keeps its log out of syslog (there is none).
  nsenter --net="/run/netns/$NS" /usr/sbin/sshd -f "$DIR/sshd_config" -E "$LOG"
  for _ in $(seq 1 20); do
    login && break
    sleep 0.5
  done
  if ! login; then
    log "ERROR: cannot run docker over ssh://$ALIAS; last lines of $LOG:"
    tail -n 20 "$LOG" >&2 || true
    ssh -o BatchMode=yes -o ConnectTimeout=5 "$ALIAS" docker version >&2 || true
    exit 1
  fi
fi
log "ready: DOCKER_HOST=ssh://$ALIAS"
