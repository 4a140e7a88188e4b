//! Embeds the built-in engine plugins and the files `plugin new` vendors, writing only
//! inside `OUT_DIR`.
//!
//! Two sources of the plugin components, so both a checkout and the packaged crate build:
//! - In the workspace (a clone, `cargo install --path host`, `cargo install --git`): the
//!   plugins are built for `wasm32-wasip2` from `plugins/*` with a nested cargo, into
//!   `$DBARENA_PLUGIN_TARGET_DIR` if set (CI and tests share one) else `OUT_DIR`.
//! - In the packaged crate (`cargo package`, crates.io), which cannot carry the plugin
//!   workspace (cargo drops every directory that holds a `Cargo.toml`): the committed
//!   components in `host/bundle/components` (`.ci/bundle.sh` builds them; CI checks they
//!   match the sources), so installing needs neither the wasm target nor a plugin build.
//!
//! The text files come from `host/bundle/` in both: symbolic links into the workspace,
//! which cargo packages as the files they point to.
//!
//! The test-only plugins (`tests/plugins/*`) are built by the tests on demand.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Built-in engines, embedded in the binary.
const BUILTINS: &[&str] = &["postgres", "mysql", "sqlserver", "redis", "mongodb"];

/// Text files the binary embeds, by path in the workspace (linked under `host/bundle/`).
const ASSETS: &[&str] = &[
    "plugins/templates/Cargo.toml.tmpl",
    "plugins/templates/lib.rs.tmpl",
    "plugins/templates/README.md.tmpl",
    "plugins/templates/gitignore.tmpl",
    "plugins/templates/conformance.rs.tmpl",
    "plugins/templates/sdk.Cargo.toml.tmpl",
    "plugins/sdk/src/lib.rs",
    "plugins/sdk/src/bytes.rs",
    "plugins/sdk/src/env.rs",
    "plugins/sdk/src/testing.rs",
    "plugins/sdk/src/url.rs",
    "plugins/sdk/src/versions.rs",
    "plugins/sdk/src/protocols/mod.rs",
    "plugins/sdk/src/protocols/mysql.rs",
    "plugins/sdk/src/protocols/scram.rs",
    "wit/v0.3.0/engine.wit",
    "registry.toml",
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let workspace = root.join("plugins/sdk/Cargo.toml").is_file() && root.join("wit").is_dir();
    let bundle = manifest_dir.join("bundle");

    for asset in ASSETS {
        let from = bundle.join(asset);
        println!("cargo:rerun-if-changed={}", from.display());
        let to = out_dir.join("assets").join(asset);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("cannot copy {}: {e}", from.display()));
    }

    let components = out_dir.join("components");
    std::fs::create_dir_all(&components).unwrap();
    let built = if workspace {
        for dir in ["wit", "plugins", "Cargo.toml", "Cargo.lock"] {
            println!("cargo:rerun-if-changed={}", root.join(dir).display());
        }
        println!("cargo:rerun-if-env-changed=DBARENA_PLUGIN_TARGET_DIR");
        let target_dir = std::env::var_os("DBARENA_PLUGIN_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| out_dir.join("plugin-target"));
        build_plugins(&root, &target_dir);
        // Tests build the test plugins into the same target directory.
        println!("cargo:rustc-env=DBARENA_PLUGIN_TARGET_DIR={}", target_dir.display());
        target_dir.join("wasm32-wasip2").join("plugin")
    } else {
        let components = bundle.join("components");
        println!("cargo:rerun-if-changed={}", components.display());
        let target_dir = out_dir.join("plugin-target");
        println!("cargo:rustc-env=DBARENA_PLUGIN_TARGET_DIR={}", target_dir.display());
        components
    };

    let mut embedded = String::from(
        "/// Built-in plugins: (id, component bytes).\npub const BUILTIN_PLUGINS: &[(&str, &[u8])] = &[\n",
    );
    for name in BUILTINS {
        let file = wasm_name(name);
        let from = built.join(&file);
        // Copied so the binary embeds nothing from outside OUT_DIR.
        std::fs::copy(&from, components.join(&file)).unwrap_or_else(|e| {
            panic!(
                "missing built-in plugin {}: {e}{}",
                from.display(),
                if workspace {
                    ""
                } else {
                    " (the crate was packaged without host/bundle/components)"
                }
            )
        });
        embedded.push_str(&format!(
            "    ({name:?}, include_bytes!(concat!(env!(\"OUT_DIR\"), \"/components/{file}\"))),\n"
        ));
    }
    embedded.push_str("];\n");
    std::fs::write(out_dir.join("builtin_plugins.rs"), embedded).unwrap();
    // Tests find the built-in components here.
    println!("cargo:rustc-env=DBARENA_BUILT_PLUGIN_DIR={}", components.display());
}

/// Builds the built-in plugins with a nested cargo into `target_dir`, reproducibly: the
/// machine-specific paths that reach the components (cargo's home, this checkout) are
/// remapped, so `.ci/bundle.sh --check` can compare a build with the committed bundle.
fn build_plugins(root: &Path, target_dir: &Path) {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(root)
        .args(["build", "--locked", "--target", "wasm32-wasip2", "--profile", "plugin"])
        .arg("--target-dir")
        .arg(target_dir);
    for name in BUILTINS {
        cargo.args(["-p", &format!("dbarena-plugin-{name}")]);
    }
    // The outer build's flags target the host; the plugins must not inherit them, nor a
    // wrapper (`cargo clippy` sets one: its components differ from a build's).
    for var in [
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_PROFILE_RELEASE_PANIC",
    ] {
        cargo.env_remove(var);
    }
    let mut remaps = vec![(root.to_path_buf(), "/dbarena")];
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    remaps.extend(cargo_home.map(|home| (home, "/cargo")));
    // Last: a target directory inside the checkout maps to the same name wherever it is.
    remaps.push((target_dir.to_path_buf(), "/target"));
    let flags: Vec<String> = remaps
        .iter()
        .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
        .collect();
    cargo.env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"));
    let status = cargo
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo for plugins: {e}"));
    if !status.success() {
        panic!(
            "building the engine plugins for wasm32-wasip2 failed (see above). \
             If the target is missing, run `rustup target add wasm32-wasip2`."
        );
    }
}

fn wasm_name(name: &str) -> String {
    format!("dbarena_plugin_{name}.wasm")
}
