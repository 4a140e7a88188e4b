//! Shared set-up for tests that need a real Docker engine and the local test images.
//!
//! These tests never skip silently: without Docker they fail, unless the explicit opt-out
//! `DBARENA_SKIP_DOCKER_TESTS=1` is set (CI never sets it), which prints what was skipped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// True when tests that need only the Docker engine should run: prints a notice and
/// returns false on the explicit opt-out, panics when the engine does not answer.
pub fn docker_engine_available(test: &str) -> bool {
    if std::env::var("DBARENA_SKIP_DOCKER_TESTS").as_deref() == Ok("1") {
        // Straight to stderr: libtest captures `eprintln!` of passing tests, and a skip
        // must be seen.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: DBARENA_SKIP_DOCKER_TESTS=1");
        return false;
    }
    static ENGINE: OnceLock<Result<(), String>> = OnceLock::new();
    let engine = ENGINE.get_or_init(|| match Command::new("docker").arg("info").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        Err(e) => Err(e.to_string()),
    });
    if let Err(e) = engine {
        panic!(
            "{test} needs a running Docker engine ({e}).\n\
             Start Docker (`bash .ci/docker-up.sh`) or set DBARENA_SKIP_DOCKER_TESTS=1 to opt out explicitly."
        );
    }
    true
}

/// True when Docker tests should run; prints a notice and returns false only on opt-out.
/// Besides the engine they need the local test images, built here once.
pub fn docker_available(test: &str) -> bool {
    if !docker_engine_available(test) {
        return false;
    }
    static IMAGES: OnceLock<Result<(), String>> = OnceLock::new();
    // Builds the images once; a no-op while their recipe is unchanged.
    let images = IMAGES.get_or_init(|| {
        match Command::new("bash")
            .arg(repo_root().join("tests/images/build.sh"))
            .output()
        {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "tests/images/build.sh failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(e) => Err(e.to_string()),
        }
    });
    if let Err(e) = images {
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

/// Runs `docker` with `args`: its stdout on success, else stdout and stderr.
pub fn docker_ok(args: &[&str]) -> Result<String, String> {
    let out = docker(args);
    if out.status.success() {
        Ok(stdout(&out))
    } else {
        Err(format!("docker {args:?}: {}{}", stdout(&out), stderr(&out)))
    }
}

/// The instance of `engine` in a `create --json` array.
pub fn by_engine<'a>(instances: &'a serde_json::Value, engine: &str) -> &'a serde_json::Value {
    instances
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["engine"] == engine)
        .unwrap_or_else(|| panic!("no {engine} in {instances}"))
}

/// Polls `ready` until it holds, failing the test when `within` passes first.
pub fn wait_until(what: &str, within: std::time::Duration, ready: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub fn container_exists(name: &str) -> bool {
    docker(&["container", "inspect", name]).status.success()
}

pub fn volume_exists(name: &str) -> bool {
    docker(&["volume", "inspect", name]).status.success()
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
    cleanup: Cleanup,
}

impl Arena {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), TEST_CONFIG).unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        Self {
            dir,
            cleanup: Cleanup::default(),
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

    /// Removes the instance `name` and its data volumes when the arena is dropped.
    pub fn track(&self, name: &str) {
        self.cleanup.container(name);
        self.cleanup.volume(&format!("{name}-data"));
        self.cleanup.volume(&format!("{name}-data-1"));
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbarena"));
        cmd.env("DBARENA_CONFIG", self.config_path())
            .env("DBARENA_PLUGIN_DIR", self.plugin_dir())
            .env("DBARENA_CACHE_DIR", repo_root().join("target/test-component-cache"))
            // dbarena's own state (e.g. which images it pulled) stays in the arena.
            .env("DBARENA_DATA_DIR", self.dir.path().join("data"))
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

/// Removes the Docker objects a test made, even when it panics: containers (with their
/// anonymous volumes) first, then volumes, then images.
#[derive(Default)]
pub struct Cleanup {
    containers: Mutex<Vec<String>>,
    volumes: Mutex<Vec<String>>,
    images: Mutex<Vec<String>>,
}

impl Cleanup {
    pub fn container(&self, name: &str) {
        self.containers.lock().unwrap().push(name.to_string());
    }
    pub fn volume(&self, name: &str) {
        self.volumes.lock().unwrap().push(name.to_string());
    }
    pub fn image(&self, name: &str) {
        self.images.lock().unwrap().push(name.to_string());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let take = |list: &mut Mutex<Vec<String>>| std::mem::take(list.get_mut().unwrap_or_else(|e| e.into_inner()));
        for c in take(&mut self.containers) {
            let _ = docker(&["rm", "-fv", &c]);
            // Snapshots of the instance (e.g. the `created` one of an `--init` create),
            // which `dbarena destroy` removes but a plain `docker rm` does not.
            let label = format!("label=io.dbarena.snapshot.of={c}");
            if let Ok(ids) = docker_ok(&["images", "-q", "--filter", &label]) {
                for id in ids.split_whitespace() {
                    let _ = docker(&["rmi", "-f", id]);
                }
            }
        }
        for v in take(&mut self.volumes) {
            let _ = docker(&["volume", "rm", "-f", &v]);
        }
        for i in take(&mut self.images) {
            let _ = docker(&["rmi", "-f", &i]);
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

/// A static busybox image (`VOLUME /data`), imported from the host's busybox on first use.
pub const BUSYBOX_IMAGE: &str = "dbarena-test/busybox:1";

fn find_busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Imports `dbarena-test/busybox:1` (a static busybox, `VOLUME /data`) unless present.
pub fn ensure_busybox_image() -> Result<(), String> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT.get_or_init(build_busybox_image).clone()
}

fn build_busybox_image() -> Result<(), String> {
    if docker_ok(&["image", "inspect", BUSYBOX_IMAGE]).is_ok() {
        return Ok(());
    }
    let busybox = match find_busybox() {
        Some(p) => p,
        None => {
            eprintln!("installing busybox-static for {BUSYBOX_IMAGE}");
            let ok = |args: &[&str]| {
                Command::new("apt-get")
                    .args(args)
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if !ok(&["install", "-y", "-qq", "busybox-static"]) {
                ok(&["update", "-qq"]);
                ok(&["install", "-y", "-qq", "busybox-static"]);
            }
            find_busybox().ok_or("no busybox binary (apt-get install busybox-static)")?
        }
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = dir.path().join("rootfs");
    for d in ["bin", "tmp", "data", "etc", "proc", "sys", "dev"] {
        std::fs::create_dir_all(root.join(d)).map_err(|e| e.to_string())?;
    }
    std::fs::copy(&busybox, root.join("bin/busybox")).map_err(|e| e.to_string())?;
    for applet in [
        "sh", "echo", "sleep", "cat", "ls", "env", "printf", "true", "false", "grep", "mkdir", "touch", "rm", "id",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).map_err(|e| e.to_string())?;
    }
    import_rootfs(&root, BUSYBOX_IMAGE, &["CMD [\"/bin/sh\"]", "VOLUME /data"])
}

/// `tar -C root -c . | docker import --change ... - tag`.
pub fn import_rootfs(root: &Path, tag: &str, changes: &[&str]) -> Result<(), String> {
    let tarball = root.with_extension("tar");
    let tar = Command::new("tar")
        .arg("-C")
        .arg(root)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .map_err(|e| e.to_string())?;
    if !tar.success() {
        return Err("tar failed".into());
    }
    let tarball = tarball.to_string_lossy().into_owned();
    let mut args = vec!["import"];
    for c in changes {
        args.extend(["--change", c]);
    }
    args.extend([tarball.as_str(), tag]);
    docker_ok(&args).map(drop)
}

/// The second Docker daemon `.ci/remote-docker-up.sh` runs in its own network namespace.
pub const REMOTE_DOCKER_HOST: &str = "tcp://10.214.0.2:2375";
/// The same daemon through its Unix socket (a "local" endpoint to the client).
pub const REMOTE_DOCKER_SOCKET: &str = "unix:///run/dbarena-remote/docker.sock";
/// Podman's Docker-compatible API, started by `.ci/podman-up.sh`.
pub const PODMAN_DOCKER_HOST: &str = "unix:///run/podman/podman.sock";

/// True when tests needing the engine at `docker_host` should run: prints a notice and
/// returns false on the explicit opt-out `skip_var=1`, panics when the engine does not
/// answer (as [`docker_engine_available`] does for the local one). `setup` names the
/// script that starts it.
pub fn engine_available(test: &str, docker_host: &str, skip_var: &str, setup: &str) -> bool {
    if std::env::var(skip_var).as_deref() == Ok("1") {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {skip_var}=1");
        return false;
    }
    let out = Command::new("docker").args(["-H", docker_host, "info"]).output();
    match out {
        Ok(out) if out.status.success() => true,
        Ok(out) => panic!(
            "{test} needs the engine at {docker_host} ({}).\nStart it (`bash {setup}`) or set {skip_var}=1 to opt out explicitly.",
            stderr(&out).trim()
        ),
        Err(e) => panic!("{test} needs the docker CLI ({e})"),
    }
}

/// Runs `docker -H docker_host` with `args`.
pub fn docker_at(docker_host: &str, args: &[&str]) -> Output {
    let mut all = vec!["-H", docker_host];
    all.extend_from_slice(args);
    docker(&all)
}
