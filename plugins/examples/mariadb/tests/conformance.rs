//! Runs dbarena's plugin conformance suite (the checks every engine plugin must pass)
//! against this crate's WASM component.
//!
//! Needs the `wasm32-wasip2` target (`rustup target add wasm32-wasip2`) and the `dbarena`
//! binary on PATH, or `DBARENA=/path/to/dbarena`.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_component_passes_dbarena_conformance() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let built = Command::new(&cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .current_dir(&manifest_dir)
        .status()
        .expect("run cargo");
    assert!(built.success(), "building the component failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| manifest_dir.join("target"));
    let wasm = target.join("wasm32-wasip2/release/dbarena_plugin_mariadb.wasm");
    let dbarena = std::env::var("DBARENA").unwrap_or_else(|_| "dbarena".into());
    let out = Command::new(&dbarena)
        .args(["plugin", "test"])
        .arg(&wasm)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {dbarena} ({e}): install dbarena or set DBARENA=/path/to/dbarena"));
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(out.status.success(), "the conformance suite failed:\n{report}{}", String::from_utf8_lossy(&out.stderr));
}
