//! Shared set-up for tests that need a real Docker engine and the local test images.
//!
//! These tests never skip silently: without Docker they fail, unless the explicit opt-out
//! `DBARENA_SKIP_DOCKER_TESTS=1` is set (CI never sets it), which prints what was skipped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// True when Docker tests should run; prints a notice and returns false only on opt-out.
pub fn docker_available(test: &str) -> bool {
    if std::env::var("DBARENA_SKIP_DOCKER_TESTS").as_deref() == Ok("1") {
        eprintln!("SKIPPED {test}: DBARENA_SKIP_DOCKER_TESTS=1");
        return false;
    }
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let info = std::process::Command::new("docker").arg("info").output();
        match info {
            Ok(out) if out.status.success() => {}
            Ok(out) => return Err(String::from_utf8_lossy(&out.stderr).into_owned()),
            Err(e) => return Err(e.to_string()),
        }
        // Builds the images once; a no-op while their recipe is unchanged.
        let build = std::process::Command::new("bash")
            .arg(repo_root().join("tests/images/build.sh"))
            .output();
        match build {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "tests/images/build.sh failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(e) => Err(e.to_string()),
        }
    });
    if let Err(e) = ready {
        panic!(
            "{test} needs a running Docker engine and the test images ({e}).\n\
             Start Docker (`bash .ci/docker-up.sh`) or set DBARENA_SKIP_DOCKER_TESTS=1 to opt out explicitly."
        );
    }
    true
}

/// Runs `docker` with `args` and returns its output.
pub fn docker(args: &[&str]) -> Output {
    std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The config that points every engine at the local test images.
pub const TEST_CONFIG: &str = r#"
[engines.postgres]
image = "dbarena-test/postgres"
version = "15"

[engines.mysql]
image = "dbarena-test/mysql:mariadb-10.11"

[engines.redis]
image = "dbarena-test/redis"
version = "7"

[engines.mariadb]
image = "dbarena-test/mariadb"
version = "10.11"
"#;

/// An isolated dbarena environment: its own config and plugin directory, and every
/// instance it names destroyed (volumes too) when dropped.
pub struct Arena {
    dir: tempfile::TempDir,
    names: std::sync::Mutex<Vec<String>>,
}

impl Arena {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), TEST_CONFIG).unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        Self {
            dir,
            names: Default::default(),
        }
    }

    pub fn plugin_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// A unique instance name this arena cleans up.
    pub fn name(&self, base: &str) -> String {
        let name = format!("dbt-{base}-{}-{:04x}", std::process::id(), rand_suffix());
        self.track(&name);
        name
    }

    pub fn track(&self, name: &str) {
        self.names.lock().unwrap().push(name.to_string());
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbarena"));
        cmd.env("DBARENA_CONFIG", self.config_path())
            .env("DBARENA_PLUGIN_DIR", self.plugin_dir())
            .env("DBARENA_CACHE_DIR", repo_root().join("target/test-component-cache"))
            .env_remove("RUST_LOG");
        cmd
    }

    /// Runs dbarena with `args`, asserting success, and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "dbarena {args:?} failed:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs dbarena with `args`, asserting failure, and returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            !out.status.success(),
            "dbarena {args:?} should have failed:\n{}",
            stdout(&out)
        );
        stderr(&out)
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        for name in self.names.lock().unwrap().iter() {
            let _ = docker(&["rm", "-fv", name]);
            for volume in [format!("{name}-data"), format!("{name}-data-1")] {
                let _ = docker(&["volume", "rm", &volume]);
            }
        }
    }
}

fn rand_suffix() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (nanos as u16).wrapping_add(NEXT.fetch_add(7919, Ordering::Relaxed))
}

/// Runs a host command and returns trimmed stdout, asserting success.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out).trim().to_string()
}

/// `SELECT 40 + 2` through psql and the instance's URL.
pub fn psql(url: &str, sql: &str) -> String {
    run("psql", &[url, "-XtAc", sql])
}

/// Runs SQL with the mysql client against an instance's JSON description.
pub fn mysql(i: &serde_json::Value, sql: &str) -> String {
    let port = i["port"].as_u64().unwrap().to_string();
    let password = format!("-p{}", i["password"].as_str().unwrap());
    run(
        "mysql",
        &[
            "-h",
            "127.0.0.1",
            "-P",
            &port,
            "-u",
            i["user"].as_str().unwrap(),
            &password,
            "-N",
            "-B",
            i["database"].as_str().unwrap(),
            "-e",
            sql,
        ],
    )
}

/// Runs a Redis command with redis-cli against an instance's URL.
pub fn redis(url: &str, args: &[&str]) -> String {
    let mut all = vec!["-u", url, "--no-auth-warning"];
    all.extend_from_slice(args);
    run("redis-cli", &all)
}

/// Builds the plugin crate at `dir` for wasm32-wasip2 and returns its component.
pub fn build_plugin(dir: &Path, target_dir: &str) -> PathBuf {
    let out = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .current_dir(dir)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .env("CARGO_TARGET_DIR", repo_root().join("target").join(target_dir))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building {} failed:\n{}",
        dir.display(),
        stderr(&out)
    );
    let name = dir.file_name().unwrap().to_string_lossy().replace('-', "_");
    repo_root()
        .join("target")
        .join(target_dir)
        .join(format!("wasm32-wasip2/release/dbarena_plugin_{name}.wasm"))
}
