#!/usr/bin/env bash
# dbarena-test/postgres entrypoint: a trimmed-down copy of the official
# postgres image's docker-entrypoint.sh semantics (Debian bookworm packages).
#
# Contract (same as docker.io/library/postgres for the parts dbarena uses):
#   POSTGRES_PASSWORD        required on first init unless POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_USER            superuser created by initdb (default: postgres)
#   POSTGRES_DB              database created on first init (default: $POSTGRES_USER)
#   POSTGRES_INITDB_ARGS     extra initdb arguments
#   POSTGRES_HOST_AUTH_METHOD  auth for `host all all all` (default scram-sha-256)
#   PGDATA                   data directory (default /var/lib/postgresql/data)
#   /docker-entrypoint-initdb.d/*.sh|*.sql   run once on first init
#   DBARENA_TEST_INIT_DELAY  seconds to sleep while the socket-only temporary
#                            server is running on first init (default 3)
#
# First init reproduces the official image's "trap": a TEMPORARY server
# (unix socket only, listen_addresses='') logs "database system is ready to
# accept connections" before the real, TCP-listening server is started.
set -Eeo pipefail

log() { echo "$(date -u '+%F %T UTC') [entrypoint] $*"; }
err() { echo >&2 "$(date -u '+%F %T UTC') [entrypoint] ERROR: $*"; }

# If the first arg looks like a flag, assume we want to run the postgres server.
if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_HOST_AUTH_METHOD:=}"
: "${POSTGRES_INITDB_ARGS:=}"
export POSTGRES_USER POSTGRES_DB

create_db_directories() {
  local user
  user="$(id -u)"
  mkdir -p "$PGDATA"
  # ignore failure: PGDATA may be a mount we can't chmod (the server will complain)
  chmod 00700 "$PGDATA" || :
  mkdir -p /var/run/postgresql || :
  chmod 03775 /var/run/postgresql || :
  if [ "$user" = '0' ]; then
    # PGDATA may be an empty named volume, an anonymous volume or a tmpfs,
    # owned by root: hand it (and anything in it not owned yet) to postgres.
    find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
    find /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
  fi
}

verify_minimum_env() {
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
    cat >&2 <<-'EOE'
		Error: Database is uninitialized and superuser password is not specified.
		       You must specify POSTGRES_PASSWORD to a non-empty value for the
		       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

		       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
		       connections without a password. This is *not* recommended.

		       See PostgreSQL documentation about "trust":
		       https://www.postgresql.org/docs/current/auth-trust.html
	EOE
    exit 1
  fi
}

init_database_dir() {
  local auth_args=(--auth-local=trust)
  if [ "$POSTGRES_HOST_AUTH_METHOD" = 'trust' ]; then
    auth_args+=(--auth-host=trust)
  else
    auth_args+=(--auth-host="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}")
  fi
  log "initializing database in $PGDATA (superuser: $POSTGRES_USER)"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is intentionally word-split
  initdb --username="$POSTGRES_USER" \
    --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
    "${auth_args[@]}" \
    $POSTGRES_INITDB_ARGS
}

psql_cmd() {
  PGHOST='' PGHOSTADDR='' psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

temp_server_start() {
  if [ "$1" = 'postgres' ]; then
    shift
  fi
  # unix socket only: nothing answers on TCP while this server runs
  set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
  log "starting temporary server (unix socket only)"
  PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

temp_server_stop() {
  log "stopping temporary server"
  PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop
}

setup_db() {
  local exists
  exists="$(psql_cmd --dbname postgres --set db="$POSTGRES_DB" --tuples-only --no-align \
    <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")"
  if [ -z "$exists" ]; then
    log "creating database \"$POSTGRES_DB\""
    psql_cmd --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db" ;'
  fi
}

process_init_files() {
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case "$f" in
      *.sh)
        # shellcheck disable=SC1090
        if [ -x "$f" ]; then log "running $f"; "$f"; else log "sourcing $f"; . "$f"; fi ;;
      *.sql) log "running $f"; psql_cmd --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | psql_cmd --dbname "$POSTGRES_DB" ;;
      *) log "ignoring $f" ;;
    esac
  done
}

setup_hba_conf() {
  local method="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  printf '\nhost all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"
}

main() {
  if [ "$1" = 'postgres' ] && ! _pg_want_help "$@"; then
    create_db_directories
    if [ "$(id -u)" = '0' ]; then
      # re-exec this script as the postgres user
      exec setpriv --reuid=postgres --regid=postgres --init-groups \
        env HOME=/var/lib/postgresql USER=postgres "${BASH_SOURCE[0]}" "$@"
    fi

    if [ ! -s "$PGDATA/PG_VERSION" ]; then
      verify_minimum_env
      init_database_dir
      export PGPASSWORD="${PGPASSWORD:-${POSTGRES_PASSWORD:-}}"
      temp_server_start "$@"
      setup_db
      process_init_files
      local delay="${DBARENA_TEST_INIT_DELAY:-3}"
      log "temporary server still running; sleeping ${delay}s (DBARENA_TEST_INIT_DELAY)"
      sleep "$delay"
      echo 'dbarena-test: init complete, starting real server'
      temp_server_stop
      setup_hba_conf
      unset PGPASSWORD
      log "PostgreSQL init process complete; ready for start up."
    else
      log "PostgreSQL database directory appears to contain a database; skipping initialization"
    fi
  fi
  exec "$@"
}

_pg_want_help() {
  local arg
  for arg; do
    case "$arg" in
      -'?' | --help | --describe-config | -V | --version) return 0 ;;
    esac
  done
  return 1
}

main "$@"
