#!/usr/bin/env bash
# The built-in plugin components that the packaged `dbarena` crate embeds instead of the
# plugin workspace it cannot carry (see host/build.rs): host/bundle/components/, committed,
# so `cargo package -p dbarena` finds a clean tree and installing the published crate needs
# neither the wasm target nor a plugin build. (The text files it embeds are symbolic links
# under host/bundle/: cargo packages a link's target.)
#
#   bash .ci/bundle.sh          copy the components of this checkout's build into the bundle;
#                               commit them with the plugin change
#   bash .ci/bundle.sh --check  fail when the committed components differ from this
#                               checkout's build (CI: the package carries today's plugins)
#
# The components come from the host's own build (build.rs builds them reproducibly: pinned
# toolchain, Cargo.lock, machine paths remapped), into $DBARENA_PLUGIN_TARGET_DIR (default
# target/plugins): when the host was built with the same directory nothing is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: bash .ci/bundle.sh [--check]" >&2; exit 2 ;;
esac

builtins=(postgres mysql sqlserver redis mongodb)
target=$(realpath -m "${DBARENA_PLUGIN_TARGET_DIR:-target/plugins}")
DBARENA_PLUGIN_TARGET_DIR=$target cargo build -q --release --locked -p dbarena
built=$target/wasm32-wasip2/plugin
dest=host/bundle/components
if $check; then
  stale=()
  for b in "${builtins[@]}"; do
    f=dbarena_plugin_$b.wasm
    cmp -s "$built/$f" "$dest/$f" || stale+=("$f")
  done
  if [ ${#stale[@]} -gt 0 ]; then
    echo "bundle: $dest differs from the plugin sources (${stale[*]}): run 'bash .ci/bundle.sh' and commit it" >&2
    exit 1
  fi
  echo "bundle: $dest matches the plugin sources"
else
  mkdir -p "$dest"
  for b in "${builtins[@]}"; do cp "$built/dbarena_plugin_$b.wasm" "$dest/"; done
  echo "bundle: $(ls "$dest" | wc -l) components in $dest ($(du -sh "$dest" | cut -f1))"
fi
