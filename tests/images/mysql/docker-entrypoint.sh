#!/usr/bin/env bash
# dbarena-test/mysql entrypoint: MariaDB 10.11 (Debian bookworm) behind the
# official mysql image's docker-entrypoint.sh contract.
#
# Contract (same as docker.io/library/mysql for the parts dbarena uses):
#   one of MYSQL_ROOT_PASSWORD / MYSQL_ALLOW_EMPTY_PASSWORD / MYSQL_RANDOM_ROOT_PASSWORD
#                             required on first init
#   MYSQL_ROOT_HOST           host for the extra root account (default '%')
#   MYSQL_DATABASE            database created on first init
#   MYSQL_USER/MYSQL_PASSWORD user@'%' with ALL on MYSQL_DATABASE
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz   run once on first init
#   DBARENA_TEST_INIT_DELAY   seconds to sleep while the socket-only temporary
#                             server is running on first init (default 3)
#
# First init reproduces the official image's "trap": a TEMPORARY server
# (--skip-networking, socket only) logs "ready for connections" (port: 0)
# before the real server listening on 0.0.0.0:3306 is started.
set -Eeo pipefail

log() { echo "$(date -u '+%F %T UTC') [Note] [Entrypoint]: $*"; }
warn() { echo >&2 "$(date -u '+%F %T UTC') [Warn] [Entrypoint]: $*"; }
error() {
  echo >&2 "$(date -u '+%F %T UTC') [ERROR] [Entrypoint]: $*"
  exit 1
}

# If the first arg looks like a flag, assume we want to run mysqld.
if [ "${1:0:1}" = '-' ]; then
  set -- mysqld "$@"
fi

want_help() {
  local arg
  for arg; do
    case "$arg" in
      -'?' | --help | --print-defaults | -V | --version) return 0 ;;
    esac
  done
  return 1
}

# Read a server variable as the server would resolve it (config files + args).
get_config() {
  local conf="$1"
  shift
  "$@" --verbose --help 2>/dev/null |
    awk -v conf="$conf" '$1 == conf && /^[^ \t]/ { sub(/^[^ \t]+[ \t]+/, ""); print; exit }'
}

# The official mariadb image reads MARIADB_* and accepts the MYSQL_* names too; this image
# serves both contracts (tags dbarena-test/mysql and dbarena-test/mariadb).
mariadb_aliases() {
  local name
  for name in ROOT_PASSWORD ALLOW_EMPTY_PASSWORD RANDOM_ROOT_PASSWORD ROOT_HOST DATABASE USER PASSWORD; do
    local maria="MARIADB_$name" mysql="MYSQL_$name"
    if [ -n "${!maria:-}" ] && [ -z "${!mysql:-}" ]; then
      export "$mysql=${!maria}"
    fi
  done
}

setup_env() {
  mariadb_aliases
  DATADIR="$(get_config datadir "$@")"
  SOCKET="$(get_config socket "$@")"
  DATADIR="${DATADIR%/}"
  : "${DATADIR:=/var/lib/mysql}"
  : "${SOCKET:=/run/mysqld/mysqld.sock}"
  : "${MYSQL_ROOT_HOST:=%}"
  DATABASE_ALREADY_EXISTS=
  if [ -d "$DATADIR/mysql" ]; then
    DATABASE_ALREADY_EXISTS=true
  fi
}

create_db_directories() {
  mkdir -p "$DATADIR" "$(dirname "$SOCKET")"
  if [ "$(id -u)" = '0' ]; then
    # the datadir may be an empty named/anonymous volume owned by root
    find "$DATADIR" \! -user mysql -exec chown mysql:mysql '{}' +
    chown mysql:mysql "$(dirname "$SOCKET")"
  fi
}

verify_minimum_env() {
  if [ -z "${MYSQL_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] && [ -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
    error $'Database is uninitialized and password option is not specified\n\tYou need to specify one of the following as an environment variable:\n\t- MYSQL_ROOT_PASSWORD\n\t- MYSQL_ALLOW_EMPTY_PASSWORD\n\t- MYSQL_RANDOM_ROOT_PASSWORD'
  fi
  if [ "${MYSQL_USER:-}" = 'root' ]; then
    error $'MYSQL_USER="root", MYSQL_USER and MYSQL_PASSWORD are for configuring a regular user and cannot be used for the root user\n\tRemove MYSQL_USER="root" and use one of the following to control the root user password:\n\t- MYSQL_ROOT_PASSWORD\n\t- MYSQL_ALLOW_EMPTY_PASSWORD\n\t- MYSQL_RANDOM_ROOT_PASSWORD'
  fi
  if [ -n "${MYSQL_USER:-}" ] && [ -z "${MYSQL_PASSWORD:-}" ]; then
    warn 'MYSQL_USER specified, but missing MYSQL_PASSWORD; MYSQL_USER will not be created'
  elif [ -z "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
    warn 'MYSQL_PASSWORD specified, but missing MYSQL_USER; MYSQL_PASSWORD will be ignored'
  fi
}

init_database_dir() {
  log "Initializing database files in $DATADIR"
  shift # drop "mysqld"; the rest are server options, passed through like the official images do
  # stdout is only the "PLEASE REMEMBER TO SET A PASSWORD" banner; show it on failure
  local out
  if ! out="$(mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve --skip-log-bin "$@" \
    --default-time-zone=SYSTEM --enforce-storage-engine= --expire-logs-days=0 \
    --loose-innodb_buffer_pool_load_at_startup=0 --loose-innodb_buffer_pool_dump_at_shutdown=0)"; then
    echo "$out"
    error "mariadb-install-db failed"
  fi
  log "Database files initialized"
}

# Client connection to the temporary server. Root has no password until
# setup_db's SQL runs, afterwards the password is passed via a defaults file.
process_sql() {
  # The process substitution must be in the mysql call itself: one stored in a variable
  # is closed before mysql opens it (as the official image does it).
  if [ -n "${MYSQL_ROOT_PASSWORD:-}" ] && [ -n "${_ROOT_PASSWORD_SET:-}" ]; then
    mysql --defaults-extra-file=<(printf '[client]\npassword="%s"\n' "${MYSQL_ROOT_PASSWORD//\"/\\\"}") \
      --protocol=socket -uroot -hlocalhost --socket="$SOCKET" --comments "$@"
  else
    mysql --protocol=socket -uroot -hlocalhost --socket="$SOCKET" --comments "$@"
  fi
}

temp_server_start() {
  log "Starting temporary server (socket only, --skip-networking)"
  "$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" --wsrep_on=OFF \
    --expire-logs-days=0 --loose-innodb_buffer_pool_load_at_startup=0 &
  MYSQLD_PID=$!
  local _
  for _ in $(seq 1 60); do
    if process_sql --database=mysql <<<'SELECT 1' >/dev/null 2>&1; then
      log "Temporary server started."
      return 0
    fi
    if ! kill -0 "$MYSQLD_PID" 2>/dev/null; then
      error "Unable to start server (temporary server exited)."
    fi
    sleep 1
  done
  error "Unable to start server (timed out waiting for the temporary server)."
}

temp_server_stop() {
  log "Stopping temporary server"
  kill "$MYSQLD_PID"
  wait "$MYSQLD_PID" || true
  log "Temporary server stopped"
}

sql_escape_string_literal() {
  local newline=$'\n'
  local escaped=${1//\\/\\\\}
  escaped="${escaped//$newline/\\n}"
  echo "${escaped//\'/\\\'}"
}

setup_db() {
  if [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
    MYSQL_ROOT_PASSWORD="$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 || true)"
    export MYSQL_ROOT_PASSWORD
    log "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
  fi

  local rootPasswordEscaped rootCreate=
  rootPasswordEscaped="$(sql_escape_string_literal "${MYSQL_ROOT_PASSWORD:-}")"
  if [ -n "$MYSQL_ROOT_HOST" ] && [ "$MYSQL_ROOT_HOST" != 'localhost' ]; then
    rootCreate="CREATE USER 'root'@'${MYSQL_ROOT_HOST}' IDENTIFIED BY '${rootPasswordEscaped}' ;
      GRANT ALL ON *.* TO 'root'@'${MYSQL_ROOT_HOST}' WITH GRANT OPTION ;
      GRANT PROXY ON ''@'%' TO 'root'@'${MYSQL_ROOT_HOST}' WITH GRANT OPTION ;"
  fi

  local createDatabase='' createUser='' userGrants=''
  if [ -n "${MYSQL_DATABASE:-}" ]; then
    log "Creating database ${MYSQL_DATABASE}"
    createDatabase="CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}\` ;"
  fi
  if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
    log "Creating user ${MYSQL_USER}"
    local userPasswordEscaped
    userPasswordEscaped="$(sql_escape_string_literal "$MYSQL_PASSWORD")"
    createUser="CREATE USER '${MYSQL_USER}'@'%' IDENTIFIED BY '${userPasswordEscaped}' ;"
    if [ -n "${MYSQL_DATABASE:-}" ]; then
      log "Giving user ${MYSQL_USER} access to schema ${MYSQL_DATABASE}"
      userGrants="GRANT ALL ON \`${MYSQL_DATABASE//_/\\_}\`.* TO '${MYSQL_USER}'@'%' ;"
    fi
  fi

  log "Securing system users and creating database/user"
  process_sql --database=mysql --binary-mode <<-EOSQL
	SET @orig_sql_log_bin= @@SESSION.SQL_LOG_BIN;
	SET @@SESSION.SQL_LOG_BIN=0;
	SET @@SESSION.SQL_MODE=REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
	DROP USER IF EXISTS root@'127.0.0.1', root@'::1';
	EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\'', @@hostname,'\'');
	DROP USER IF EXISTS ''@'localhost';
	EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS \'\'@\'', @@hostname,'\'');
	SET PASSWORD FOR 'root'@'localhost'= PASSWORD('${rootPasswordEscaped}') ;
	${rootCreate}
	DROP DATABASE IF EXISTS test ;
	SET @@SESSION.SQL_LOG_BIN=@orig_sql_log_bin;
	${createDatabase}
	${createUser}
	${userGrants}
	FLUSH PRIVILEGES ;
	EOSQL
  _ROOT_PASSWORD_SET=1
}

process_init_files() {
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case "$f" in
      *.sh)
        # shellcheck disable=SC1090
        if [ -x "$f" ]; then log "$0: running $f"; "$f"; else log "$0: sourcing $f"; . "$f"; fi ;;
      *.sql) log "$0: running $f"; process_sql ${MYSQL_DATABASE:+--database="$MYSQL_DATABASE"} <"$f" ;;
      *.sql.gz) log "$0: running $f"; gunzip -c "$f" | process_sql ${MYSQL_DATABASE:+--database="$MYSQL_DATABASE"} ;;
      *) log "$0: ignoring $f" ;;
    esac
  done
}

main() {
  if [ "$1" = 'mysqld' ] || [ "$1" = 'mariadbd' ]; then
    if ! want_help "$@"; then
      log "Entrypoint script for MariaDB (dbarena-test/mysql) started."
      setup_env "$@"
      create_db_directories
      if [ "$(id -u)" = '0' ]; then
        log "Switching to dedicated user 'mysql'"
        exec setpriv --reuid=mysql --regid=mysql --init-groups \
          env HOME=/var/lib/mysql USER=mysql "${BASH_SOURCE[0]}" "$@"
      fi

      if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
        verify_minimum_env
        # an empty/new volume may have a lost+found etc.; install-db copes
        init_database_dir "$@"
        temp_server_start "$@"
        setup_db
        process_init_files
        local delay="${DBARENA_TEST_INIT_DELAY:-3}"
        log "Temporary server still running; sleeping ${delay}s (DBARENA_TEST_INIT_DELAY)"
        sleep "$delay"
        echo 'dbarena-test: init complete, starting real server'
        temp_server_stop
        log "MariaDB init process done. Ready for start up."
      else
        log "Database directory $DATADIR already initialized; skipping initialization"
      fi
      # the real server: TCP on all interfaces, port 3306 (set before user args
      # so that explicit user options still win)
      # (--defaults-file & co. must stay first on the command line)
      local server="$1" pre=()
      shift
      while [ $# -gt 0 ]; do
        case "$1" in
          --no-defaults | --defaults-file=* | --defaults-extra-file=* | --defaults-group-suffix=*) pre+=("$1"); shift ;;
          *) break ;;
        esac
      done
      set -- "$server" "${pre[@]}" --bind-address=0.0.0.0 --port=3306 "$@"
    fi
  fi
  exec "$@"
}

main "$@"
