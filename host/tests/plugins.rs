//! The plugin runtime against real components: the built-ins, drop-in plugin files, and
//! hostile plugins that must fail cleanly in bounded time.

use dbarena::plugin::bindings::{Credentials, HandshakeContext, HandshakeOutcome, HandshakeSecrets, Mode, Options};
use dbarena::plugin::{BUILTIN_PLUGINS, Plugin, PluginFailure, PluginRuntime, PluginSource, conformance};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

mod fixtures;

/// A built-in's component, or a test plugin's (built on first use).
fn built(name: &str) -> PathBuf {
    match name {
        "hostile" | "fs-importer" => fixtures::test_plugin(name),
        _ => fixtures::builtin_plugin(name),
    }
}

fn runtime() -> PluginRuntime {
    PluginRuntime::new(None).unwrap()
}

fn load_file(rt: &PluginRuntime, name: &str) -> Result<Plugin, PluginFailure> {
    let path = built(name);
    let wasm = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    rt.load(name, &wasm, PluginSource::File(path))
}

fn options(extra: &[(&str, &str)]) -> Options {
    Options {
        version: String::new(),
        user: None,
        password: "pw".into(),
        database: None,
        mode: Mode::Fast,
        persistent: false,
        memory_limit_bytes: None,
        extra: extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

fn dbarena(plugin_dir: &std::path::Path, cache: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbarena"));
    cmd.env("DBARENA_PLUGIN_DIR", plugin_dir)
        .env("DBARENA_CACHE_DIR", cache);
    cmd
}

#[test]
fn every_builtin_passes_the_conformance_suite() {
    let rt = runtime();
    let ids: Vec<&str> = BUILTIN_PLUGINS.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, ["postgres", "mysql", "sqlserver", "redis", "mongodb"]);
    for (id, wasm) in BUILTIN_PLUGINS {
        let plugin = rt
            .load(id, wasm, PluginSource::Builtin)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plugin.id(), *id);
        let report = conformance::run(&plugin);
        println!("{report}");
        assert!(report.passed(), "{report}");
    }
}

#[test]
fn conformance_catches_a_plugin_that_breaks_the_contract() {
    // The hostile fixture's spec is valid but it judges every reply ready and uses a
    // log-line probe only: the suite must flag both.
    let rt = runtime();
    let report = conformance::run(&load_file(&rt, "hostile").unwrap());
    let failed: Vec<&str> = report.failures().map(|c| c.name).collect();
    assert!(
        failed.contains(&"readiness starts with a handshake through a published port"),
        "{report}"
    );
    assert!(failed.contains(&"no reply is never ready"), "{report}");
}

#[test]
fn engines_json_lists_builtins_and_a_dropped_in_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let out = dbarena(dir.path(), cache.path())
        .args(["engines", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let engines: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = engines
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["mongodb", "mysql", "postgres", "redis", "sqlserver"]);
    for e in engines.as_array().unwrap() {
        assert_eq!(e["source"], "builtin");
        assert_eq!(e["api_version"], "0.3.0");
        assert!(!e["versions"].as_array().unwrap().is_empty());
    }

    // A new engine dropped in without rebuilding dbarena; a file with a built-in's id is
    // ignored (replacing a built-in takes `plugin install --force`).
    let hostile = dir.path().join("hostile.wasm");
    let redis = dir.path().join("my-redis.wasm");
    std::fs::copy(built("hostile"), &hostile).unwrap();
    std::fs::copy(built("redis"), &redis).unwrap();
    let out = dbarena(dir.path(), cache.path())
        .args(["engines", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let engines: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let find = |id: &str| {
        engines
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(find("hostile")["source"], hostile.display().to_string());
    assert_eq!(find("redis")["source"], "builtin");
    assert_eq!(find("redis")["overrides_builtin"], false);
    assert_eq!(find("postgres")["source"], "builtin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("my-redis.wasm") && stderr.contains("plugin install") && stderr.contains("--force"),
        "{stderr}"
    );

    let table = dbarena(dir.path(), cache.path()).arg("engines").output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("hostile") && !text.contains("(overrides built-in)"),
        "{text}"
    );
}

#[test]
fn a_broken_plugin_file_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.wasm"), b"not wasm at all").unwrap();
    std::fs::copy(built("fs-importer"), dir.path().join("fs.wasm")).unwrap();
    let out = dbarena(dir.path(), cache.path())
        .args(["engines", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("junk.wasm") && stderr.contains("not a valid WASM component"),
        "{stderr}"
    );
    assert!(
        stderr.contains("fs.wasm") && stderr.contains("wasi:filesystem"),
        "{stderr}"
    );
}

#[test]
fn engine_detail_shows_the_spec_it_would_run() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let out = dbarena(dir.path(), cache.path())
        .args(["engines", "redis@7", "--json", "--password", "p@ss word", "--durable"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let detail: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(detail["engine"]["id"], "redis");
    assert_eq!(detail["spec"]["image"], "redis:7");
    assert_eq!(detail["spec"]["credentials"]["password"], "p@ss word");
    assert!(
        detail["settings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "REDIS_MAXMEMORY_POLICY")
    );
    assert_eq!(
        detail["connection"]["url"],
        "redis://default:p%40ss%20word@127.0.0.1:6379/0"
    );

    let bad = dbarena(dir.path(), cache.path())
        .args(["engines", "redis@1"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("no version '1'") && stderr.contains("available: 7, 7.2, 8"),
        "{stderr}"
    );

    let unknown = dbarena(dir.path(), cache.path())
        .args(["engines", "nosuchdb"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown engine 'nosuchdb'"));
}

/// Runs one hostile behaviour and returns the error and how long it took.
fn hostile(behaviour: &str) -> (PluginFailure, Duration) {
    let rt = runtime();
    let plugin = load_file(&rt, "hostile").unwrap();
    let start = Instant::now();
    let err = plugin
        .container_spec(&options(&[("HOSTILE", behaviour)]))
        .expect_err(behaviour);
    (err, start.elapsed())
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let (err, took) = hostile("loop");
    assert!(matches!(err, PluginFailure::OutOfFuel { .. }), "{err}");
    assert!(err.to_string().contains("plugin hostile"), "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let (err, took) = hostile("memory");
    assert!(matches!(err, PluginFailure::OutOfMemory { .. }), "{err}");
    assert!(err.to_string().contains("memory limit (64 MiB)"), "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_panic_is_reported_with_its_message() {
    let (err, _) = hostile("panic");
    assert!(matches!(err, PluginFailure::Crashed { .. }), "{err}");
    assert!(err.to_string().contains("hostile plugin panicked on purpose"), "{err}");
}

#[test]
fn a_panic_inside_a_tokio_runtime_is_reported_on_the_calling_thread() {
    // wasmtime-wasi's synchronous stdio blocks on Tokio and panics inside a runtime; the
    // async bindings must let the plugin's panic message through on either runtime flavour,
    // without a helper thread.
    let caller = std::thread::current().id();
    for rt in [
        tokio::runtime::Builder::new_current_thread().build().unwrap(),
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap(),
    ] {
        let (err, on) = rt.block_on(async { (hostile("panic").0, std::thread::current().id()) });
        assert!(err.to_string().contains("hostile plugin panicked on purpose"), "{err}");
        assert_eq!(on, caller, "block_on runs the future on the calling thread");
    }
}

fn ctx(user: &str, password: &str, database: &str, port: u16) -> HandshakeContext {
    HandshakeContext {
        credentials: Credentials {
            user: user.into(),
            password: password.into(),
            database: database.into(),
        },
        container_port: port,
        step: 1,
    }
}

/// A PostgreSQL backend message: type, big-endian length (itself included), body.
fn pg_message(kind: u8, body: &[u8]) -> Vec<u8> {
    [&[kind][..], &(body.len() as u32 + 4).to_be_bytes(), body].concat()
}

#[test]
fn the_scram_proof_fits_the_fuel_budget() {
    // The step that computes PBKDF2 at PostgreSQL's default 4096 iterations, and at the
    // largest count the plugin accepts, inside the sandbox.
    let postgres = load_file(&runtime(), "postgres").unwrap();
    let secrets = HandshakeSecrets { nonce: vec![7; 32] };
    let nonce = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    let mut fuel = Vec::new();
    for iterations in [4096, 100_000] {
        let server_first = format!("r={nonce}server,s=W22ZaJ0SNY7soEsUEjb6gQ==,i={iterations}");
        // (The SDK refuses counts above 100 000 before hashing; see scram::MAX_ITERATIONS.)
        let continue_ = pg_message(b'R', &[&11u32.to_be_bytes()[..], server_first.as_bytes()].concat());
        let started = Instant::now();
        let outcome = postgres.handshake_step(&ctx("app", "pw", "app", 5432), &secrets, &continue_);
        println!(
            "{iterations}: {} fuel in {:?}",
            postgres.last_fuel_used(),
            started.elapsed()
        );
        let outcome = outcome.unwrap();
        assert!(
            matches!(&outcome, HandshakeOutcome::Send(b) if b.windows(2).any(|w| w == b"p=")),
            "{outcome:?}"
        );
        fuel.push(postgres.last_fuel_used());
    }
    println!(
        "SCRAM step fuel: 4096 iterations {}, 100000 iterations {}",
        fuel[0], fuel[1]
    );
    let budget = dbarena::plugin::HANDSHAKE_FUEL_PER_CALL;
    assert!(fuel[0] < budget / 10, "4096 iterations used {} fuel", fuel[0]);
    assert!(fuel[1] < budget * 9 / 10, "100000 iterations used {} fuel", fuel[1]);
}

#[test]
fn old_plugins_ready_is_unauthenticated_with_a_note() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/redis-api-0.1.0.wasm");
    let wasm = std::fs::read(&path).unwrap();
    let plugin = runtime().load("old", &wasm, PluginSource::File(path)).unwrap();
    let secrets = HandshakeSecrets { nonce: vec![1; 32] };
    let outcome = plugin
        .handshake_step(&ctx("default", "pw", "0", 6379), &secrets, b"+OK\r\n+PONG\r\n")
        .unwrap();
    let HandshakeOutcome::Ready(info) = outcome else {
        panic!("{outcome:?}");
    };
    assert!(!info.authenticated);
    assert_eq!(
        info.note.as_deref(),
        Some("plugin built for engine API 0.1.0 does not check credentials")
    );
    // The functions 0.3.0 added answer "unsupported" for it.
    assert!(plugin.init_support().unwrap().is_none());
    assert!(
        plugin
            .apply_credentials(&ctx("a", "b", "c", 1).credentials, &ctx("a", "b", "c", 1).credentials)
            .is_err()
    );
    let at = dbarena::plugin::bindings::Endpoint {
        host: "127.0.0.1".into(),
        port: 6379,
        credentials: ctx("default", "pw", "0", 6379).credentials,
    };
    assert_eq!(plugin.client(&at).unwrap().container_shell.command[0], "redis-cli");
}

#[test]
fn per_call_cost() {
    // Not a benchmark gate: prints the cost of one plugin call (fresh store, instance and
    // call) so changes to the call path can be compared. Bounded loosely to catch a
    // pathological regression such as a thread or compilation per call.
    let redis = load_file(&runtime(), "redis").unwrap();
    let secrets = HandshakeSecrets { nonce: vec![1; 32] };
    let c = ctx("default", "pw", "0", 6379);
    for _ in 0..20 {
        redis.handshake_step(&c, &secrets, b"+OK\r\n").unwrap();
    }
    let n = 500;
    let start = Instant::now();
    for _ in 0..n {
        redis.handshake_step(&c, &secrets, b"+OK\r\n").unwrap();
    }
    let per_call = start.elapsed() / n;
    println!("per-call cost: {per_call:?}");
    assert!(per_call < Duration::from_millis(5), "{per_call:?}");
}

#[test]
fn lies_in_the_spec_are_rejected_by_validation() {
    for (behaviour, expected) in [
        ("giant-string", "image"),
        ("bad-env", "environment variable name"),
        ("relative-path", "not an absolute path"),
        ("bad-port", "not a valid port"),
    ] {
        let (err, _) = hostile(behaviour);
        assert!(matches!(err, PluginFailure::Invalid { .. }), "{behaviour}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("plugin hostile returned an invalid container spec"),
            "{text}"
        );
        assert!(text.contains(expected), "{behaviour}: {text}");
        assert!(text.len() < 400, "error text should be bounded: {} bytes", text.len());
    }
}

#[test]
fn readiness_needs_a_handshake_on_the_client_port_unless_there_is_no_network() {
    for behaviour in ["no-handshake", "handshake-off-port"] {
        let (err, _) = hostile(behaviour);
        assert!(matches!(err, PluginFailure::Invalid { .. }), "{behaviour}: {err}");
        assert!(
            err.to_string().contains("no handshake probe on the client port"),
            "{behaviour}: {err}"
        );
    }
    // No ports: an engine without a network protocol; its readiness is unverified.
    let plugin = load_file(&runtime(), "hostile").unwrap();
    let spec = plugin.container_spec(&options(&[("HOSTILE", "no-network")])).unwrap();
    assert!(spec.ports.is_empty());
}

#[test]
fn a_plugin_importing_the_filesystem_is_refused_at_load() {
    let err = load_file(&runtime(), "fs-importer").err().expect("must be refused");
    assert!(matches!(err, PluginFailure::ForbiddenImports { .. }), "{err}");
    assert!(err.to_string().contains("wasi:filesystem"), "{err}");
}

#[test]
fn a_non_component_is_refused_with_the_plugin_named() {
    let err = runtime()
        .load("junk.wasm", b"\0asm\x01\0\0\0", PluginSource::Builtin)
        .err()
        .unwrap();
    assert!(err.to_string().starts_with("plugin junk.wasm: cannot load"), "{err}");
}

#[test]
fn compiled_components_are_cached_and_a_corrupt_entry_is_replaced() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(built("redis")).unwrap();
    let rt = PluginRuntime::new(Some(cache.path().to_path_buf())).unwrap();
    rt.load("redis", &wasm, PluginSource::Builtin).unwrap();
    let entries: Vec<PathBuf> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(
        entries[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&dbarena::plugin::sha256_hex(&wasm))
    );

    std::fs::write(&entries[0], b"garbage").unwrap();
    let plugin = rt.load("redis", &wasm, PluginSource::Builtin).unwrap();
    assert_eq!(plugin.id(), "redis");
    assert!(
        std::fs::read(&entries[0]).unwrap().len() > 1000,
        "corrupt entry was rewritten"
    );
}

/// Replaces every occurrence of `from` by `to` (same length) in a component's bytes.
fn patch(mut bytes: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut found = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            found += 1;
        }
        i += 1;
    }
    assert!(found > 0, "{} not found", String::from_utf8_lossy(from));
    bytes
}

#[test]
fn a_plugin_for_an_unsupported_api_version_names_both_versions() {
    // The same component, re-labelled as built against a future contract 9.1.0.
    let wasm = std::fs::read(built("redis")).unwrap();
    let wasm = patch(wasm, b"dbarena:engine/plugin@0.3.0", b"dbarena:engine/plugin@9.1.0");
    let wasm = patch(wasm, b"dbarena:engine/types@0.3.0", b"dbarena:engine/types@9.1.0");
    let err = runtime()
        .load("future.wasm", &wasm, PluginSource::Builtin)
        .err()
        .expect("refused");
    assert!(matches!(err, PluginFailure::UnsupportedApi { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("future.wasm") && text.contains("9.1.0") && text.contains("supports 0.3.0, 0.2.0, 0.1.0"),
        "{text}"
    );
}

#[test]
fn a_frozen_plugin_built_against_api_0_1_0_still_loads_and_conforms() {
    // tests/fixtures/redis-api-0.1.0.wasm is a copy of the redis plugin as built against
    // engine API 0.1.0, kept unchanged as the contract grows (see wit/README.md).
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/redis-api-0.1.0.wasm");
    let wasm = std::fs::read(&path).unwrap();
    let plugin = runtime()
        .load("redis-api-0.1.0.wasm", &wasm, PluginSource::File(path))
        .unwrap();
    assert_eq!(plugin.api_version, "0.1.0");
    let report = conformance::run(&plugin);
    assert!(report.passed(), "{report}");
    // What 0.2.0 added is absent from a 0.1.0 plugin and defaults to nothing.
    assert!(plugin.settings().unwrap().is_empty());

    // The same engine built today targets the grown contract and has its settings.
    let current = load_file(&runtime(), "redis").unwrap();
    assert_eq!(current.api_version, "0.3.0");
    let settings = current.settings().unwrap();
    assert!(
        settings.iter().any(|s| s.name == "REDIS_MAXMEMORY_POLICY"),
        "{settings:?}"
    );
    // Both give the same container for the same options.
    let opts = options(&[]);
    assert_eq!(
        plugin.container_spec(&opts).unwrap().image,
        current.container_spec(&opts).unwrap().image
    );
}
