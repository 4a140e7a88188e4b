//! Plugin authors' path, for real: `plugin new` → cargo build for wasm32-wasip2 →
//! `plugin test` → `plugin install` → `engines`, and the pinning that fails closed.

mod common;
mod fixtures;

use common::{build_plugin, repo_root, stderr, stdout};
use std::path::PathBuf;
use std::process::{Command, Output};

/// dbarena with its own plugin dir and cache.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        Self { dir }
    }
    fn plugins(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_dbarena"))
            .args(args)
            .env("DBARENA_PLUGIN_DIR", self.plugins())
            .env("DBARENA_CACHE_DIR", repo_root().join("target/test-component-cache"))
            .env_remove("DBARENA_REGISTRY")
            .output()
            .unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "dbarena {args:?} failed:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "dbarena {args:?} should fail:\n{}", stdout(&out));
        stdout(&out) + &stderr(&out)
    }
}

#[test]
fn a_new_plugin_builds_passes_conformance_installs_and_is_pinned() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let created = env.ok(&["plugin", "new", "acme-db", "--dir", work.path().to_str().unwrap()]);
    assert!(created.contains("created plugin crate"), "{created}");
    let crate_dir = work.path().join("acme-db");
    assert!(
        crate_dir.join("vendor/dbarena-plugin-sdk/wit/engine.wit").is_file(),
        "the SDK is vendored"
    );

    let wasm = build_plugin(&crate_dir, "plugin-authoring");
    let wasm_arg = wasm.to_str().unwrap();
    // The crate's own tests: native unit tests and its conformance test, which builds the
    // component and runs `dbarena plugin test` on it.
    let tested = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .current_dir(&crate_dir)
        .arg("test")
        .env("CARGO_TARGET_DIR", repo_root().join("target/plugin-authoring"))
        .env("DBARENA", env!("CARGO_BIN_EXE_dbarena"))
        .env("DBARENA_CACHE_DIR", repo_root().join("target/test-component-cache"))
        .output()
        .unwrap();
    let test_log = stdout(&tested) + &stderr(&tested);
    assert!(
        tested.status.success(),
        "cargo test of the new crate failed:\n{test_log}"
    );
    assert!(
        test_log.contains("the_component_passes_dbarena_conformance ... ok"),
        "{test_log}"
    );
    let report = env.ok(&["plugin", "test", wasm_arg]);
    assert!(report.contains(" passed, 0 failed"), "{report}");

    let installed = env.ok(&["plugin", "install", wasm_arg]);
    assert!(installed.contains("installed acme-db 0.1.0 (api 0.3.0)"), "{installed}");
    let engines: serde_json::Value = serde_json::from_str(&env.ok(&["engines", "--json"])).unwrap();
    let acme = engines
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "acme-db")
        .expect("acme-db listed");
    assert_eq!(acme["source"], env.plugins().join("acme-db.wasm").display().to_string());
    let listed: serde_json::Value = serde_json::from_str(&env.ok(&["plugin", "list", "--json"])).unwrap();
    assert_eq!(listed[0]["id"], "acme-db");
    assert_eq!(listed[0]["pinned"], true);
    assert!(env.ok(&["plugin", "verify"]).contains("1 verified, 0 failed"));
    let again = env.fails(&["plugin", "install", wasm_arg]);
    assert!(
        again.contains("already installed") && again.contains("--force"),
        "{again}"
    );
    env.ok(&["plugin", "install", wasm_arg, "--force"]);

    // Tampering with the installed bytes: the engine fails closed, the others keep working.
    let installed_file = env.plugins().join("acme-db.wasm");
    let mut bytes = std::fs::read(&installed_file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&installed_file, bytes).unwrap();
    let err = env.fails(&["engines", "acme-db"]);
    assert!(err.contains("fails its hash check") && err.contains("acme-db"), "{err}");
    for args in [&["engines"][..], &["engines", "--json"], &["plugin", "list"]] {
        let out = env.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("fails its hash check") || stdout(&out).contains("UNAVAILABLE"),
            "{args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(!stdout(&out).contains("acme-db") || args[0] == "plugin", "{args:?}");
    }
    env.ok(&["engines", "redis"]);
    let verify = env.fails(&["plugin", "verify"]);
    assert!(
        verify.contains("FAIL  acme-db") && verify.contains("fails its hash check"),
        "{verify}"
    );

    env.ok(&["plugin", "remove", "acme-db"]);
    assert!(!installed_file.exists());
    assert!(!env.ok(&["engines"]).contains("acme-db"));

    // A dropped-in file still works, shown as unpinned.
    std::fs::copy(&wasm, env.plugins().join("dropped.wasm")).unwrap();
    let listed: serde_json::Value = serde_json::from_str(&env.ok(&["plugin", "list", "--json"])).unwrap();
    assert_eq!(listed[0]["pinned"], false);
    assert!(listed[0]["source"].as_str().unwrap().contains("unpinned"));
}

#[test]
fn install_refuses_what_it_cannot_trust() {
    let env = Env::new();
    let redis = fixtures::builtin_plugin("redis");
    let redis_arg = redis.to_str().unwrap();

    assert!(
        env.fails(&["plugin", "install", "http://example.invalid/x.wasm"])
            .contains("refusing plain http://")
    );
    let wrong = "0".repeat(64);
    let err = env.fails(&["plugin", "install", redis_arg, "--sha256", &wrong]);
    assert!(
        err.contains("sha256 mismatch") && err.contains("not installed"),
        "{err}"
    );
    assert!(
        std::fs::read_dir(env.plugins()).unwrap().next().is_none(),
        "nothing may be written"
    );

    let err = env.fails(&["plugin", "install", "https://127.0.0.1:1/plugin.wasm"]);
    assert!(err.contains("downloading https://127.0.0.1:1/plugin.wasm"), "{err}");
    assert!(
        env.fails(&["plugin", "install", "postgres"])
            .contains("built into dbarena")
    );
    assert!(
        env.fails(&["plugin", "install", "no-such-plugin"])
            .contains("not a file, an https:// URL, or a plugin in the registry")
    );

    // A plugin that fails conformance is not installed.
    let err = env.fails(&["plugin", "install", fixtures::test_plugin("hostile").to_str().unwrap()]);
    assert!(err.contains("fails the conformance suite"), "{err}");

    // Resolution through a registry index, pinned by its sha256.
    let sha = dbarena::plugin::sha256_hex(&std::fs::read(&redis).unwrap());
    let index = env.dir.path().join("registry.toml");
    let entry = |sha: &str| {
        format!(
            "[[plugin]]\nid = \"fast-redis\"\nversion = \"0.1.0\"\napi_version = \"0.1.0\"\nsource = \"{redis_arg}\"\nsha256 = \"{sha}\"\ndescription = \"d\"\n"
        )
    };
    std::fs::write(&index, entry(&wrong)).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dbarena"))
            .args(args)
            .env("DBARENA_PLUGIN_DIR", env.plugins())
            .env("DBARENA_REGISTRY", &index)
            .output()
            .unwrap()
    };
    let out = run(&["plugin", "install", "fast-redis"]);
    assert!(
        !out.status.success() && stderr(&out).contains("the registry expects"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&index, entry(&sha)).unwrap();
    let out = run(&["plugin", "install", "fast-redis"]);
    assert!(
        !out.status.success() && stderr(&out).contains("built-in engine"),
        "its id is redis: replacing a built-in takes --force: {}",
        stderr(&out)
    );
    let out = run(&["plugin", "install", "fast-redis", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lock = std::fs::read_to_string(env.plugins().join("plugins.lock")).unwrap();
    assert!(lock.contains(&sha) && lock.contains("registry:fast-redis"), "{lock}");
}

#[test]
fn plugin_test_reports_which_check_failed() {
    let env = Env::new();
    let out = env.run(&["plugin", "test", fixtures::test_plugin("hostile").to_str().unwrap()]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("FAIL readiness starts with a handshake through a published port"),
        "{text}"
    );
    assert!(text.contains("failed"), "{text}");
    let out = env.run(&["plugin", "test", fixtures::test_plugin("fs-importer").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stdout(&out).contains("wasi:filesystem"), "{}", stdout(&out));
}
