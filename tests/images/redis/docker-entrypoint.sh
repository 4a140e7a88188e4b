#!/usr/bin/env bash
# dbarena-test/redis entrypoint: Debian bookworm's redis-server behind the
# official redis image's docker-entrypoint.sh contract.
#
#   - first arg starting with '-' or ending in '.conf' => prepend redis-server
#   - runs as user redis, chowning the working dir (/data) first
#   - without a config file the server listens on all interfaces with
#     protected mode off (the official image patches protected-mode's default;
#     we pass --protected-mode no ahead of the user's args so they can still
#     override it). Passwords are given as arguments: --requirepass <pw>.
set -e

# first arg is `-f` or `--some-option`, or a config file
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ]; then
  if [ "$(id -u)" = '0' ]; then
    find . \! -user redis -exec chown redis:redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups \
      env HOME=/data USER=redis "${BASH_SOURCE[0]}" "$@"
  fi

  # A config file, if any, must be the first argument to redis-server.
  # Debian's /etc/redis/redis.conf (bind 127.0.0.1, daemonize...) is only used
  # when passed explicitly; with no config file redis binds to all interfaces.
  if [ -z "${2:-}" ] || { [ "${2%.conf}" = "$2" ] && [ "$2" != '-' ]; }; then
    shift
    set -- redis-server --protected-mode no "$@"
  fi

  # default umask of the official image: files readable by redis only
  um="$(umask)"
  if [ "$um" = '0022' ]; then
    umask 0077
  fi
fi

exec "$@"
