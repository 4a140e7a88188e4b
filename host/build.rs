//! Builds the built-in engine plugins for `wasm32-wasip2` with a nested cargo into its own
//! target directory, so a plain `cargo build` (or `cargo install --path host`) of the host
//! embeds fresh plugins without any extra step. The test-only plugins
//! (`tests/plugins/*`) are not built here: the tests build them on demand
//! (`host/tests/fixtures/mod.rs`), so normal builds and installs skip them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Built-in engines, embedded in the binary.
const BUILTINS: &[&str] = &["postgres", "mysql", "sqlserver", "redis", "mongodb"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    for dir in ["wit", "plugins", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }

    let target_dir = std::env::var_os("DBARENA_PLUGIN_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("plugins"));
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&root)
        .args(["build", "--target", "wasm32-wasip2", "--profile", "plugin"])
        .arg("--target-dir")
        .arg(&target_dir);
    for name in BUILTINS {
        cargo.args(["-p", &package(name)]);
    }
    // The outer build's flags target the host; the plugins must not inherit them.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_PROFILE_RELEASE_PANIC",
    ] {
        cargo.env_remove(var);
    }
    let status = cargo
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo for plugins: {e}"));
    if !status.success() {
        panic!(
            "building the engine plugins for wasm32-wasip2 failed (see above). \
             If the target is missing, run `rustup target add wasm32-wasip2`."
        );
    }

    let out = target_dir.join("wasm32-wasip2").join("plugin");
    let mut embedded = String::from(
        "/// Built-in plugins: (id, component bytes).\npub const BUILTIN_PLUGINS: &[(&str, &[u8])] = &[\n",
    );
    for name in BUILTINS {
        let wasm = wasm_path(&out, name);
        embedded.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            wasm.display().to_string()
        ));
    }
    embedded.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out_dir.join("builtin_plugins.rs"), embedded).unwrap();
    // Tests find the built-in components here, and build the test plugins into the same
    // target directory.
    println!("cargo:rustc-env=DBARENA_BUILT_PLUGIN_DIR={}", out.display());
    println!("cargo:rustc-env=DBARENA_PLUGIN_TARGET_DIR={}", target_dir.display());
}

fn package(name: &str) -> String {
    format!("dbarena-plugin-{name}")
}

fn wasm_path(out: &Path, name: &str) -> PathBuf {
    out.join(format!("{}.wasm", package(name).replace('-', "_")))
}
