#!/usr/bin/env bash
# Smoke run of a dbarena binary (the static musl one in CI): it is static, and a redis
# instance it creates answers with the printed credentials, then is destroyed.
set -euo pipefail
bin=$1
file "$bin" | grep -Eq 'static(-pie)? linked|statically linked' || { file "$bin"; echo "not static" >&2; exit 1; }
work=$(mktemp -d)
name="ci-musl-smoke-$$"
trap '"$bin" destroy "$name" -y >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
printf '[engines.redis]\nimage = "dbarena-test/redis"\nversion = "7"\n' > "$work/config.toml"
export DBARENA_CONFIG="$work/config.toml" DBARENA_PLUGIN_DIR="$work/plugins" DBARENA_CACHE_DIR="$work/cache"
"$bin" --version
"$bin" create redis --name "$name" --json > "$work/created.json"
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["url"])' "$work/created.json")
[ "$(redis-cli -u "$url" --no-auth-warning ping)" = PONG ]
"$bin" destroy "$name" -y
! docker inspect "$name" >/dev/null 2>&1
echo "musl smoke: ok"
