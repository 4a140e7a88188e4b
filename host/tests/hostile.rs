//! The plugin trust chain under attack: the compiled-component cache (native code on disk),
//! `plugins.lock` and its pins, built-in overrides, lazy loading, panics and terminal escapes.

mod fixtures;

use dbarena::plugin::{PluginRuntime, PluginSource};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

fn wasm(name: &str) -> Vec<u8> {
    let path = match name {
        "hostile" => fixtures::test_plugin(name),
        _ => fixtures::builtin_plugin(name),
    };
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cache entries (compiled artifacts) in `dir`, sorted.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut all: Vec<PathBuf> = read
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    all.sort();
    all
}

/// The one entry whose name starts with the sha256 of `wasm`.
fn entry_of(dir: &Path, wasm: &[u8]) -> PathBuf {
    let sha = dbarena::plugin::sha256_hex(wasm);
    entries(dir)
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&sha))
        .expect("an entry for the plugin")
}

fn load_id(rt: &PluginRuntime, wasm: &[u8]) -> String {
    rt.load("p", wasm, PluginSource::Builtin).unwrap().id().to_string()
}

fn cache() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("components");
    (root, dir)
}

#[test]
fn a_patched_cache_entry_is_never_deserialised() {
    let (_root, dir) = cache();
    let redis = wasm("redis");
    let rt = PluginRuntime::new(Some(dir.clone())).unwrap();
    load_id(&rt, &redis);
    let entry = entry_of(&dir, &redis);
    let original = std::fs::read(&entry).unwrap();
    // A one-byte change in the middle of the native code (and one in the MAC trailer).
    for at in [original.len() / 2, original.len() - 1] {
        let mut patched = original.clone();
        patched[at] ^= 0x01;
        std::fs::write(&entry, &patched).unwrap();
        let rt = PluginRuntime::new(Some(dir.clone())).unwrap();
        assert_eq!(load_id(&rt, &redis), "redis");
        // Authentication failed, so it was recompiled and stored again, not loaded.
        assert_eq!(std::fs::read(&entry).unwrap(), original, "patch at {at} was kept");
    }
}

#[test]
fn an_artifact_of_another_plugin_renamed_to_a_builtins_key_is_refused() {
    let (_root, dir) = cache();
    let (redis, hostile) = (wasm("redis"), wasm("hostile"));
    let rt = PluginRuntime::new(Some(dir.clone())).unwrap();
    load_id(&rt, &redis);
    load_id(&rt, &hostile);
    let (redis_entry, hostile_entry) = (entry_of(&dir, &redis), entry_of(&dir, &hostile));
    std::fs::copy(&hostile_entry, &redis_entry).unwrap();
    let rt = PluginRuntime::new(Some(dir.clone())).unwrap();
    assert_eq!(load_id(&rt, &redis), "redis", "the hostile artifact ran as redis");
    assert_ne!(
        std::fs::read(&redis_entry).unwrap(),
        std::fs::read(&hostile_entry).unwrap()
    );
}

#[test]
fn a_symlinked_entry_is_not_followed() {
    let (root, dir) = cache();
    let redis = wasm("redis");
    load_id(&PluginRuntime::new(Some(dir.clone())).unwrap(), &redis);
    let entry = entry_of(&dir, &redis);
    // A valid entry, reached through a symlink: following it would load it and keep the link.
    let elsewhere = root.path().join("elsewhere.cwasm");
    std::fs::rename(&entry, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
    load_id(&PluginRuntime::new(Some(dir.clone())).unwrap(), &redis);
    let meta = std::fs::symlink_metadata(&entry).unwrap();
    assert!(meta.file_type().is_file(), "the symlink was used, not replaced");
}

#[test]
fn a_fifo_entry_cannot_hang_a_load() {
    let (_root, dir) = cache();
    let redis = wasm("redis");
    load_id(&PluginRuntime::new(Some(dir.clone())).unwrap(), &redis);
    let entry = entry_of(&dir, &redis);
    std::fs::remove_file(&entry).unwrap();
    let status = Command::new("mkfifo").arg(&entry).status().unwrap();
    assert!(status.success());
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = PluginRuntime::new(Some(dir)).unwrap();
        tx.send(load_id(&rt, &redis)).unwrap();
    });
    let id = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("loading with a FIFO in the cache hung");
    assert_eq!(id, "redis");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(std::fs::symlink_metadata(&entry).unwrap().file_type().is_file());
}

#[test]
fn an_entry_owned_by_another_user_is_discarded() {
    if !is_root() {
        eprintln!("skipped: needs root to chown");
        return;
    }
    let (_root, dir) = cache();
    let redis = wasm("redis");
    load_id(&PluginRuntime::new(Some(dir.clone())).unwrap(), &redis);
    let entry = entry_of(&dir, &redis);
    std::os::unix::fs::chown(&entry, Some(NOBODY), Some(NOBODY)).unwrap();
    load_id(&PluginRuntime::new(Some(dir.clone())).unwrap(), &redis);
    assert_eq!(
        std::fs::metadata(&entry).unwrap().uid(),
        0,
        "the foreign entry was kept"
    );
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// Whether a runtime on `dir` stores what it compiles (false: the cache is bypassed).
fn caches(dir: &Path) -> bool {
    let hostile = wasm("hostile");
    let before = entries(dir).len();
    load_id(&PluginRuntime::new(Some(dir.to_path_buf())).unwrap(), &hostile);
    let stored = entries(dir).len() > before;
    for e in entries(dir) {
        let _ = std::fs::remove_file(e);
    }
    stored
}

#[test]
fn an_unsafe_cache_directory_or_key_bypasses_the_cache() {
    let (_root, dir) = cache();
    assert!(caches(&dir), "a fresh private cache is used");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("cache.key")), 0o600);

    for bad in [0o777, 0o770, 0o702] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(bad)).unwrap();
        assert!(!caches(&dir), "a directory with mode {bad:o} was used");
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(caches(&dir));

    std::fs::set_permissions(dir.join("cache.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(!caches(&dir), "a key readable by others was used");
    std::fs::set_permissions(dir.join("cache.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(caches(&dir));

    if is_root() {
        std::os::unix::fs::chown(dir.join("cache.key"), Some(NOBODY), None).unwrap();
        assert!(!caches(&dir), "a key owned by another user was used");
        std::os::unix::fs::chown(dir.join("cache.key"), Some(0), None).unwrap();
        std::os::unix::fs::chown(&dir, Some(NOBODY), None).unwrap();
        assert!(!caches(&dir), "a directory owned by another user was used");
    }
}

#[test]
fn a_parent_created_by_dbarena_is_private_and_checked() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("dbarena/components");
    assert!(caches(&dir));
    let parent = root.path().join("dbarena");
    assert_eq!(std::fs::metadata(&parent).unwrap().permissions().mode() & 0o777, 0o700);
}

/// dbarena with its own plugin dir and cache.
struct Env {
    root: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("plugins")).unwrap();
        Self { root }
    }
    fn plugins(&self) -> PathBuf {
        self.root.path().join("plugins")
    }
    fn cache(&self) -> PathBuf {
        self.root.path().join("cache")
    }
    fn run(&self, args: &[&str]) -> Output {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_dbarena"))
            .args(args)
            .env("DBARENA_PLUGIN_DIR", self.plugins())
            .env("DBARENA_CACHE_DIR", self.cache())
            .env_remove("DBARENA_REGISTRY")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(60), "{args:?} took too long");
        out
    }
    /// stdout and stderr of a command that must succeed.
    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let (o, e) = texts(&out);
        assert!(out.status.success(), "dbarena {args:?} failed:\n{o}{e}");
        (o, e)
    }
    /// stdout + stderr of a command that must fail.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let (o, e) = texts(&out);
        assert!(!out.status.success(), "dbarena {args:?} should fail:\n{o}{e}");
        o + &e
    }
    fn copy_in(&self, name: &str, file: &str) -> PathBuf {
        let to = self.plugins().join(file);
        std::fs::write(&to, wasm(name)).unwrap();
        to
    }
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn engine_source(env: &Env, id: &str) -> String {
    let (out, _) = env.ok(&["engines", id, "--json"]);
    let detail: serde_json::Value = serde_json::from_str(&out).unwrap();
    detail["engine"]["source"].as_str().unwrap().to_string()
}

#[test]
fn the_cache_warning_is_one_line_and_the_command_still_works() {
    let env = Env::new();
    env.ok(&["engines"]);
    std::fs::set_permissions(env.cache(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (out, err) = env.ok(&["engines"]);
    assert!(out.contains("postgres"), "{out}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("plugin cache")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("mode 777"), "{err}");
}

#[test]
fn a_crafted_lock_cannot_make_remove_delete_outside_the_plugin_directory() {
    let env = Env::new();
    let victim = env.root.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let outside = env.root.path().join("x.wasm");
    std::fs::write(&outside, "keep me too").unwrap();

    let err = env.fails(&["plugin", "remove", "../x"]);
    assert!(err.contains("not an engine id"), "{err}");
    assert!(outside.exists());

    std::fs::write(
        env.plugins().join("plugins.lock"),
        "[[plugin]]\nid = \"evil\"\nfile = \"../victim.txt\"\nversion = \"1.0.0\"\napi_version = \"0.3.0\"\n\
         source = \"x\"\nsha256 = \"00\"\ninstalled_at = \"now\"\n",
    )
    .unwrap();
    // The lock is refused as a whole; built-ins still work, with a clear warning.
    let (out, err) = env.ok(&["engines"]);
    assert!(out.contains("postgres"), "{out}");
    assert!(
        err.contains("corrupt plugin lock file") && err.contains("../victim.txt"),
        "{err}"
    );
    let verify = env.fails(&["plugin", "verify"]);
    assert!(
        verify.contains("FAIL") && verify.contains("corrupt plugin lock file"),
        "{verify}"
    );
    env.ok(&["plugin", "list"]);
    // The way out: removing the bad entry fixes the lock without touching the victim.
    env.ok(&["plugin", "remove", "evil"]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    let (_, err) = env.ok(&["engines"]);
    assert!(!err.contains("corrupt"), "{err}");
    env.ok(&["plugin", "verify"]);
}

#[test]
fn a_garbage_lock_leaves_builtins_working() {
    let env = Env::new();
    env.copy_in("redis", "my-redis.wasm");
    std::fs::write(env.plugins().join("plugins.lock"), "this is [not toml").unwrap();
    let (_, err) = env.ok(&["engines", "redis", "--json"]);
    assert!(err.contains("corrupt plugin lock file"), "{err}");
    assert_eq!(engine_source(&env, "redis"), "builtin");
    let err = env.fails(&["engines", "nosuchdb"]);
    assert!(
        err.contains("unknown engine 'nosuchdb'") && err.contains("corrupt"),
        "{err}"
    );
}

#[test]
fn a_pin_naming_another_plugins_id_is_refused() {
    let env = Env::new();
    let file = env.copy_in("redis", "other.wasm");
    let sha = dbarena::plugin::sha256_hex(&std::fs::read(&file).unwrap());
    std::fs::write(
        env.plugins().join("plugins.lock"),
        format!(
            "[[plugin]]\nid = \"other\"\nfile = \"other.wasm\"\nversion = \"0.1.0\"\napi_version = \"0.3.0\"\n\
             source = \"x\"\nsha256 = \"{sha}\"\ninstalled_at = \"now\"\n"
        ),
    )
    .unwrap();
    let verify = env.fails(&["plugin", "verify"]);
    assert!(
        verify.contains("FAIL  other") && verify.contains("declares 'redis'"),
        "{verify}"
    );
    let err = env.fails(&["engines", "other"]);
    assert!(err.contains("declares 'redis'"), "{err}");
    // Nor does it shadow the built-in redis.
    assert_eq!(engine_source(&env, "redis"), "builtin");
}

#[test]
fn a_dropped_in_file_cannot_replace_a_builtin_but_an_installed_one_can() {
    let env = Env::new();
    let dropped = env.copy_in("postgres", "postgres.wasm");
    let out = env.run(&["engines", "postgres", "--json"]);
    let (_, err) = texts(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(engine_source(&env, "postgres"), "builtin");
    assert!(
        err.contains("built-in engine id 'postgres'") && err.contains("plugin install") && err.contains("--force"),
        "{err}"
    );

    let path = dropped.to_str().unwrap();
    let refused = env.fails(&["plugin", "install", path]);
    assert!(
        refused.contains("built-in engine") && refused.contains("--force"),
        "{refused}"
    );
    let (out, _) = env.ok(&["plugin", "install", path, "--force"]);
    assert!(out.contains("replaces the built-in"), "{out}");
    assert_eq!(engine_source(&env, "postgres"), dropped.display().to_string());
    for args in [&["engines", "postgres"][..], &["engines"]] {
        let (_, err) = env.ok(args);
        let said: Vec<&str> = err.lines().filter(|l| l.contains("replaces the built-in")).collect();
        assert_eq!(said.len(), 1, "{args:?}: {err}");
    }
    // Engines that do not use it say nothing about it.
    let (_, err) = env.ok(&["engines", "redis"]);
    assert!(!err.contains("postgres"), "{err}");
}

#[test]
fn a_tampered_pin_blocks_only_its_engine_and_the_way_out_works() {
    let env = Env::new();
    let source = env.root.path().join("redis-build.wasm");
    std::fs::write(&source, wasm("redis")).unwrap();
    env.ok(&["plugin", "install", source.to_str().unwrap(), "--force"]);
    let installed = env.plugins().join("redis.wasm");
    let mut bytes = std::fs::read(&installed).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&installed, bytes).unwrap();

    // The engine that needs it fails closed: never the built-in in its place.
    let err = env.fails(&["engines", "redis"]);
    assert!(
        err.contains("fails its hash check") && err.contains("plugin remove redis"),
        "{err}"
    );
    // Others work; the listing warns and leaves redis out.
    env.ok(&["engines", "postgres"]);
    let (out, err) = env.ok(&["engines", "--json"]);
    assert!(err.contains("fails its hash check"), "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["mongodb", "mysql", "postgres", "sqlserver"]);
    let (out, _) = env.ok(&["plugin", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        rows[0]["problem"].as_str().unwrap().contains("fails its hash check"),
        "{rows}"
    );
    let verify = env.fails(&["plugin", "verify"]);
    assert!(verify.contains("FAIL  redis"), "{verify}");

    env.ok(&["plugin", "remove", "redis"]);
    assert!(!installed.exists());
    assert_eq!(engine_source(&env, "redis"), "builtin");
}

#[test]
fn only_the_plugins_a_command_needs_are_loaded() {
    let env = Env::new();
    std::fs::write(env.plugins().join("junk.wasm"), b"not wasm").unwrap();
    let fifo = env.plugins().join("fifo.wasm");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // A built-in needs neither unpinned file loaded.
    let (_, err) = env.ok(&["engines", "redis"]);
    assert!(!err.contains("junk.wasm"), "{err}");
    // A listing loads them all: the FIFO cannot hang it.
    let (_, err) = env.ok(&["engines"]);
    assert!(
        err.contains("junk.wasm") && err.contains("not a valid WASM component"),
        "{err}"
    );
    assert!(err.contains("fifo.wasm") && err.contains("not a regular file"), "{err}");
}

/// The hostile plugin with its `info` made to panic (see tests/plugins/hostile).
fn panicking_plugin() -> Vec<u8> {
    let mut bytes = wasm("hostile");
    let (from, to) = (b"info-mode:calm.", b"info-mode:panic");
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("marker in the hostile plugin");
    bytes[at..at + from.len()].copy_from_slice(to);
    bytes
}

#[test]
fn a_panicking_plugin_costs_one_escaped_line() {
    let env = Env::new();
    std::fs::write(env.plugins().join("panicky.wasm"), panicking_plugin()).unwrap();
    let (_, err) = env.ok(&["engines"]);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("panicky.wasm") && lines[0].contains("panicked in info"),
        "{err}"
    );
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "raw escapes: {err:?}");
    assert!(err.contains("\\u{1b}]0;pwned"), "{err}");
    // The backtrace is there for those who ask.
    let (_, verbose) = env.ok(&["-vv", "engines"]);
    assert!(verbose.contains("backtrace"), "{verbose}");
    assert!(!verbose.contains("\x1b]0;pwned"), "raw escapes at -vv: {verbose:?}");
}

#[test]
fn plugin_text_in_plugin_command_output_is_escaped() {
    let env = Env::new();
    let panicky = env.root.path().join("panicky.wasm");
    std::fs::write(&panicky, panicking_plugin()).unwrap();
    let out = env.run(&["plugin", "test", panicky.to_str().unwrap()]);
    let (o, e) = texts(&out);
    assert!(!out.status.success());
    assert!(o.contains("panicked in info"), "{o}");
    assert!(!o.contains('\x1b') && !e.contains('\x1b'), "raw escapes: {o:?} {e:?}");
    let out = env.run(&["plugin", "test", panicky.to_str().unwrap(), "--json"]);
    // JSON stays faithful (escaped by JSON itself, not altered).
    assert!(String::from_utf8_lossy(&out.stdout).contains("\\u001b]0;pwned"));
}

/// The hostile plugin with its `connection`/`client` attack `mode` patched in (see
/// tests/plugins/hostile: `client-mode:` and the mode padded with '_' to 36 bytes).
fn client_attack_plugin(mode: &str) -> Vec<u8> {
    let mut bytes = wasm("hostile");
    let from = b"client-mode:calm____________________";
    let to = format!("client-mode:{mode:_<24}");
    assert_eq!(to.len(), from.len(), "mode {mode} is too long");
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("client marker in the hostile plugin");
    bytes[at..at + from.len()].copy_from_slice(to.as_bytes());
    bytes
}

/// What every host-shell attack of the fixture tries to create.
const PWNED: &str = "/tmp/dbarena-hostile-pwned";

const HOST_SHELL_ATTACKS: &[&str] = &[
    "abs-sh",
    "sh",
    "dotdot-sh",
    "env-wrapper",
    "bash",
    "python",
    "psql-command",
    "psql-prompt",
    "mysql-pager",
    "mongosh-eval",
];
const ENV_ATTACKS: &[&str] = &[
    "bash-env",
    "ld-preload",
    "prompt-command",
    "path",
    "pip-index",
    "form-bash-env",
];

fn endpoint() -> dbarena::plugin::bindings::Endpoint {
    dbarena::plugin::bindings::Endpoint {
        host: "127.0.0.1".into(),
        port: 4242,
        credentials: dbarena::plugin::bindings::Credentials {
            user: "u".into(),
            password: "p".into(),
            database: "d".into(),
        },
    }
}

/// `dbarena plugin test` of `wasm`: the text report and the JSON one's checks.
fn conformance(env: &Env, file: &str, wasm: &[u8]) -> (String, Vec<serde_json::Value>) {
    let path = env.root.path().join(file);
    std::fs::write(&path, wasm).unwrap();
    let path = path.to_str().unwrap();
    let out = env.run(&["plugin", "test", path]);
    let (text, err) = texts(&out);
    let json = env.run(&["plugin", "test", path, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| panic!("{e}: {json:?}"));
    let checks = report["checks"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{report}"));
    (text + &err, checks)
}

fn check<'a>(checks: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    checks
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {checks:?}"))
}

const HOST_SHELL_CHECK: &str = "the host shell is a database client with connection arguments only";
const ENV_CHECK: &str = "only connection variables are exported";

#[test]
fn the_calm_fixture_passes_the_host_process_checks() {
    let env = Env::new();
    let (text, checks) = conformance(&env, "calm.wasm", &client_attack_plugin("calm"));
    assert_eq!(check(&checks, HOST_SHELL_CHECK)["passed"], true, "{text}");
    assert_eq!(check(&checks, ENV_CHECK)["passed"], true, "{text}");
    assert!(
        text.contains(&format!("ok   {ENV_CHECK}: HOSTILE_URL, HOSTILE_FORM_URL")),
        "{text}"
    );
}

/// A plugin's `host-shell` naming a shell, a path, a wrapper, an interpreter, or a real
/// client with an option that runs commands: refused where the host receives it (so
/// `dbarena shell` can never run it) and failed by conformance, in text and JSON.
#[test]
fn a_plugin_cannot_choose_what_runs_on_the_host() {
    let _ = std::fs::remove_file(PWNED);
    let env = Env::new();
    let rt = PluginRuntime::new(None).unwrap();
    for mode in HOST_SHELL_ATTACKS {
        let wasm = client_attack_plugin(mode);
        let plugin = rt.load("p", &wasm, PluginSource::Builtin).unwrap();
        let err = plugin.client(&endpoint()).expect_err(mode).to_string();
        assert!(
            err.contains("invalid client commands") && err.contains("host shell"),
            "{mode}: {err}"
        );

        let (text, checks) = conformance(&env, &format!("{mode}.wasm"), &wasm);
        let c = check(&checks, HOST_SHELL_CHECK);
        assert_eq!(c["passed"], false, "{mode}: {c}");
        assert!(text.contains(&format!("FAIL {HOST_SHELL_CHECK}")), "{mode}: {text}");
        assert!(!text.contains("host shell: yes"), "{mode}: {text}");
    }
    assert!(!Path::new(PWNED).exists(), "an attack ran on the host");
}

/// A plugin exporting `BASH_ENV`, `LD_PRELOAD`, `PROMPT_COMMAND`, `PATH` or
/// `PIP_INDEX_URL` (in its connection env or as a connection form's variable): refused at
/// the boundary, so neither `env`, `run -- CMD` nor the host client ever gets it.
#[test]
fn a_plugin_cannot_export_variables_other_than_connection_ones() {
    let env = Env::new();
    let rt = PluginRuntime::new(None).unwrap();
    for mode in ENV_ATTACKS {
        let wasm = client_attack_plugin(mode);
        let plugin = rt.load("p", &wasm, PluginSource::Builtin).unwrap();
        let err = match *mode {
            "form-bash-env" => plugin.connection_forms(&endpoint()).map(drop),
            _ => plugin.connection(&endpoint()).map(drop),
        }
        .expect_err(mode)
        .to_string();
        assert!(err.contains("environment variable name"), "{mode}: {err}");

        let (text, checks) = conformance(&env, &format!("{mode}.wasm"), &wasm);
        assert_eq!(check(&checks, ENV_CHECK)["passed"], false, "{mode}: {text}");
        assert!(text.contains(&format!("FAIL {ENV_CHECK}")), "{mode}: {text}");
    }
}

/// A plugin directory (or lock, or plugin file) that someone else could write to is not
/// used: its plugins are unavailable with a message naming the path and the fix, and the
/// built-ins keep working.
#[test]
fn a_plugin_directory_or_file_others_can_write_is_refused() {
    let env = Env::new();
    let file = env.copy_in("hostile", "hostile.wasm");
    let set_mode = |p: &Path, mode: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    set_mode(&env.plugins(), 0o755);
    set_mode(&file, 0o644);
    env.ok(&["engines", "hostile"]);

    for mode in [0o777, 0o775, 0o757] {
        set_mode(&env.plugins(), mode);
        let err = env.fails(&["engines", "hostile"]);
        assert!(
            err.contains(&env.plugins().display().to_string())
                && err.contains(&format!("mode {mode:o}"))
                && err.contains("chmod go-w"),
            "{mode:o}: {err}"
        );
        let (out, warn) = env.ok(&["engines"]);
        assert!(out.contains("postgres") && !out.contains("hostile"), "{out}");
        assert!(warn.contains("not loading the plugins in"), "{warn}");
    }
    set_mode(&env.plugins(), 0o755);
    env.ok(&["engines", "hostile"]);

    set_mode(&file, 0o666);
    let err = env.fails(&["engines", "hostile"]);
    assert!(
        err.contains("hostile.wasm") && err.contains("mode 666") && err.contains("chmod go-w"),
        "{err}"
    );
    set_mode(&file, 0o644);

    let lock = env.plugins().join("plugins.lock");
    std::fs::write(&lock, "").unwrap();
    set_mode(&lock, 0o666);
    let err = env.fails(&["engines", "hostile"]);
    assert!(err.contains("plugins.lock") && err.contains("mode 666"), "{err}");
    std::fs::remove_file(&lock).unwrap();
    env.ok(&["engines", "hostile"]);

    if is_root() {
        std::os::unix::fs::chown(&file, Some(NOBODY), Some(NOBODY)).unwrap();
        let err = env.fails(&["engines", "hostile"]);
        assert!(err.contains("owned by uid 65534"), "{err}");
        std::os::unix::fs::chown(&file, Some(0), Some(0)).unwrap();
        std::os::unix::fs::chown(env.plugins(), Some(NOBODY), Some(NOBODY)).unwrap();
        let err = env.fails(&["engines", "hostile"]);
        assert!(err.contains("owned by uid 65534"), "{err}");
    }
}
