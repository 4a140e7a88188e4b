#!/usr/bin/env bash
# Installs the real client drivers the driver-compatibility suite (host/tests/drivers.rs)
# connects with: Python (PyPI, into a venv), Node (npm, from the committed lock file) and
# Java JDBC (Debian's JDK and driver jars). Idempotent: a machine that has them spends
# a few seconds checking.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

# Java: the JDK and the JDBC drivers Debian packages (jars land in /usr/share/java).
missing=()
command -v javac >/dev/null || missing+=(default-jdk-headless)
[ -e /usr/share/java/postgresql.jar ] || missing+=(libpostgresql-jdbc-java)
[ -e /usr/share/java/mariadb-java-client.jar ] || missing+=(libmariadb-java)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python: a venv the suite finds at target/driver-venv (DBARENA_DRIVER_VENV overrides).
venv="${DBARENA_DRIVER_VENV:-target/driver-venv}"
requirements=tests/drivers/python/requirements.txt
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# Reinstalls only when the pinned requirements changed.
if ! cmp -s "$requirements" "$venv/.requirements"; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/.requirements"
fi

# Node: exactly the versions in the committed package-lock.json, from the npm registry.
node_dir=tests/drivers/node
# Reinstalls only when the lock file changed.
if ! cmp -s "$node_dir/package-lock.json" "$node_dir/node_modules/.dbarena-lock" 2>/dev/null; then
  npm ci --prefix "$node_dir" --no-audit --no-fund --loglevel=error
  cp "$node_dir/package-lock.json" "$node_dir/node_modules/.dbarena-lock"
fi
echo "drivers ready: $venv, $node_dir/node_modules, /usr/share/java"
