#!/bin/sh
# dbarena-test/pgbouncer entrypoint: Debian bookworm's pgbouncer behind the contract of
# edoburu/pgbouncer when its config file is given: `pgbouncer /etc/pgbouncer/pgbouncer.ini`
# runs in the foreground as PID 1 (so SIGHUP reloads it), logging to stderr.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.ini}" != "$1" ]; then
  set -- pgbouncer "$@"
fi
if [ "$1" = pgbouncer ] && [ ! -f "${2:-/etc/pgbouncer/pgbouncer.ini}" ]; then
  echo "pgbouncer: no config file ${2:-/etc/pgbouncer/pgbouncer.ini}; write it before starting" >&2
  exit 1
fi
exec "$@"
