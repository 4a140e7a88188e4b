#!/usr/bin/env bash
# Fills host/bundle/ with what the packaged `dbarena` crate embeds instead of the
# workspace it cannot carry (see host/build.rs): the built-in plugin components, built
# here for wasm32-wasip2, and the text files `plugin new` and the registry index embed.
# Run before `cargo package -p dbarena` / `cargo publish -p dbarena`; host/bundle/ is
# git-ignored (generated), and listed in the crate's `include`.
#
# DBARENA_PLUGIN_TARGET_DIR: where to build the plugins (default target/plugins), so CI
# reuses the components the host build already made.
set -euo pipefail
cd "$(dirname "$0")/.."

builtins=(postgres mysql sqlserver redis mongodb)
target=${DBARENA_PLUGIN_TARGET_DIR:-target/plugins}
packages=()
for b in "${builtins[@]}"; do packages+=(-p "dbarena-plugin-$b"); done
env -u CARGO_TARGET_DIR -u RUSTFLAGS -u CARGO_BUILD_TARGET \
  cargo build -q --target wasm32-wasip2 --profile plugin --target-dir "$target" "${packages[@]}"

rm -rf host/bundle
mkdir -p host/bundle/components
for b in "${builtins[@]}"; do
  cp "$target/wasm32-wasip2/plugin/dbarena_plugin_$b.wasm" host/bundle/components/
done
# The same paths as in the workspace (build.rs's ASSETS reads them from either root).
cp --parents plugins/templates/*.tmpl wit/v0.3.0/engine.wit registry.toml host/bundle/
find plugins/sdk/src -type f -exec cp --parents {} host/bundle/ \;
echo "bundle: $(find host/bundle -type f | wc -l) files in host/bundle"
