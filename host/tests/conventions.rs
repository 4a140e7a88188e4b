//! Everyday conventions through the real binary: shell completions (static scripts and the
//! dynamic call-back completing a real instance name), man pages, aliases, `config
//! show|check`, `images tags` against the local registry (and, with `docker login`
//! credentials, against a second one with htpasswd auth), `images pull` without names and
//! the scope of `images prune`.

mod common;

use common::*;
use std::process::Output;

/// The local registry CI runs (`.ci/registry-up.sh`).
const REGISTRY: &str = "127.0.0.1:5000";
/// This suite's repositories there (fixed names: pushing again is idempotent).
const TAGS_REPO: &str = "127.0.0.1:5000/dbarena-conventions/postgres";
const PULL_REPO: &str = "127.0.0.1:5000/dbarena-conventions/redis";

fn run_with(arena: &Arena, envs: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = arena.cmd();
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.args(args).output().unwrap()
}

#[test]
fn completion_scripts_man_pages_and_aliases() {
    let arena = Arena::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let dynamic = arena.ok(&["completions", shell]);
        // The dynamic script calls back into dbarena with COMPLETE=<shell>.
        assert!(
            dynamic.contains("COMPLETE") && dynamic.contains("dbarena"),
            "{shell}: {dynamic}"
        );
        let fixed = arena.ok(&["completions", shell, "--static"]);
        assert!(
            fixed.contains("destroy") && fixed.contains("--remove-volume"),
            "{shell} static"
        );
    }
    assert!(arena.fails(&["completions", "tcsh"]).contains("possible values"));
    let man = arena.ok(&["man"]);
    assert!(man.starts_with(".ie") && man.contains(".TH dbarena 1"), "{man}");
    let dir = tempfile::tempdir().unwrap();
    arena.ok(&["man", "--dir", dir.path().to_str().unwrap()]);
    for page in [
        "dbarena.1",
        "dbarena-create.1",
        "dbarena-images-tags.1",
        "dbarena-config-check.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page} missing");
    }
    // Docker-style aliases, shown in --help; examples in the main commands' help.
    let help = arena.ok(&["--help"]);
    assert!(
        help.contains("[aliases: ls, ps]") || help.contains("[alias: ps]"),
        "{help}"
    );
    assert!(help.contains("[alias: rm]"), "{help}");
    assert!(arena.ok(&["create", "--help"]).contains("Examples:"));
    assert!(arena.ok(&["rm", "--help"]).contains("--remove-volume"));
}

#[test]
fn dynamic_completion_offers_engines_and_real_instance_names() {
    let arena = Arena::new();
    // Engines and versions come from the plugin registry (no Docker needed).
    let out = run_with(&arena, &[("COMPLETE", "fish")], &["--", "dbarena", "create", "re"]);
    let engines = stdout(&out);
    assert!(
        out.status.success() && engines.lines().any(|l| l.starts_with("redis\t")),
        "{engines}"
    );
    assert!(engines.lines().any(|l| l == "redis@7"), "{engines}");
    assert!(!engines.contains("postgres"), "filtered by the prefix: {engines}");
    if !docker_available("dynamic_completion_offers_engines_and_real_instance_names") {
        return;
    }
    let name = arena.name("compl");
    arena.ok(&["create", "redis", "--name", &name, "--json"]);
    for sub in ["destroy", "rm", "stop", "url"] {
        let out = run_with(&arena, &[("COMPLETE", "fish")], &["--", "dbarena", sub, "dbt-compl"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let names = stdout(&out);
        assert!(names.lines().any(|l| l == name), "{sub}: {name} not in {names:?}");
    }
    // Bash's protocol, as the registered script calls it.
    let out = run_with(
        &arena,
        &[
            ("COMPLETE", "bash"),
            ("_CLAP_COMPLETE_INDEX", "2"),
            ("_CLAP_COMPLETE_COMP_TYPE", "9"),
            ("_CLAP_COMPLETE_SPACE", "true"),
            ("_CLAP_IFS", "\n"),
        ],
        &["--", "dbarena", "inspect", "dbt-compl"],
    );
    assert!(stdout(&out).lines().any(|l| l == name), "bash: {}", stdout(&out));
    // No engine reachable: no names and no noise, quickly.
    let started = std::time::Instant::now();
    let out = run_with(
        &arena,
        &[("COMPLETE", "fish"), ("DOCKER_HOST", "unix:///nonexistent.sock")],
        &["--", "dbarena", "destroy", ""],
    );
    assert!(out.status.success() && stderr(&out).is_empty(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("dbt-"), "{}", stdout(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn config_show_names_where_each_value_came_from() {
    let arena = Arena::new();
    std::fs::write(
        arena.config_path(),
        "[defaults]\ntimeout = 30\n[engines.postgres]\nimage = \"mirror.local/pg\"\nversion = \"16\"\n",
    )
    .unwrap();
    let path = arena.config_path().display().to_string();
    let rows = arena.json(&["config", "show", "--json"]);
    let row = |key: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("{key} missing: {rows}"))
            .clone()
    };
    assert_eq!(row("config-file")["source"], "$DBARENA_CONFIG");
    assert_eq!(row("engines.postgres.image")["value"], "mirror.local/pg:16");
    assert_eq!(
        row("engines.postgres.image")["source"],
        format!("{path} [engines.postgres] image")
    );
    assert_eq!(row("engines.postgres.version")["value"], "16");
    assert_eq!(row("engines.redis.version")["source"], "plugin redis");
    assert_eq!(
        row("engines.redis.timeout")["source"],
        format!("{path} [defaults] timeout")
    );
    assert_eq!(row("defaults.durable")["source"], "default");
    let out = run_with(&arena, &[], &["--client-host", "10.9.8.7", "config", "show", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ch = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "client-host")
        .unwrap();
    assert_eq!(
        (ch["value"].as_str(), ch["source"].as_str()),
        (Some("10.9.8.7"), Some("--client-host"))
    );
    // Text: one `key = value  # source` line each.
    let text = arena.ok(&["config", "show"]);
    assert!(
        text.lines()
            .any(|l| l.starts_with("engines.postgres.image") && l.contains("# ")),
        "{text}"
    );
}

#[test]
fn config_check_reports_every_problem_with_file_and_key() {
    let arena = Arena::new();
    let path = arena.config_path().display().to_string();
    std::fs::write(
        arena.config_path(),
        "[defaults]\ntimeout = 30\n[engines.postgres]\nimage = \"mirror.local/pg\"\nversion = \"16\"\n",
    )
    .unwrap();
    assert_eq!(arena.ok(&["config", "check"]).trim(), format!("{path}: ok"));

    std::fs::write(
        arena.config_path(),
        "[defaults]\ntimout = 5\nmemory = \"10x\"\n[engines.postgres]\nimgae = \"x\"\nversion = \"99\"\n\
         [engines.redis]\nimage = \"Bad Ref\"\n[engines.postgress]\n",
    )
    .unwrap();
    let err = arena.fails(&["config", "check"]);
    for expected in [
        "unknown key `defaults.timout`; did you mean `timeout`?",
        "unknown key `engines.postgres.imgae`; did you mean `image`?",
        "invalid [defaults] memory '10x'",
        "[engines.postgres] version: postgres has no version '99'",
        "[engines.redis] image: invalid image reference",
        "[engines.postgress] names no available engine; did you mean [engines.postgres]?",
        "6 problem(s)",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(
        err.lines()
            .filter(|l| l.starts_with("error: "))
            .all(|l| l.contains(&path)),
        "{err}"
    );
    // Wrong types name the key and the line.
    std::fs::write(arena.config_path(), "[defaults]\ntimeout = \"soon\"\n").unwrap();
    let err = arena.fails(&["config", "check"]);
    assert!(err.contains("timeout") && err.contains("line 2"), "{err}");
    std::fs::write(arena.config_path(), "[defaults\n").unwrap();
    assert!(arena.fails(&["config", "check"]).contains("not valid TOML"));
}

/// Starts the local registry unless it answers (as the docker_backend suite does).
fn registry_up() {
    let answers = std::process::Command::new("curl")
        .args(["-fsS", "-o", "/dev/null", &format!("http://{REGISTRY}/v2/")])
        .status()
        .is_ok_and(|s| s.success());
    if !answers {
        run("bash", &[repo_root().join(".ci/registry-up.sh").to_str().unwrap()]);
    }
}

/// Pushes the small busybox test image to `repo` under each tag, removing the local tags after.
fn push_tags(repo: &str, tags: &[&str]) {
    ensure_busybox_image().unwrap();
    for tag in tags {
        let image = format!("{repo}:{tag}");
        docker_ok(&["tag", "dbarena-test/busybox:1", &image]).unwrap();
        docker_ok(&["push", &image]).unwrap();
        docker_ok(&["rmi", &image]).unwrap();
    }
}

#[test]
fn images_tags_lists_the_registry_and_marks_known_versions() {
    if !docker_available("images_tags_lists_the_registry_and_marks_known_versions") {
        return;
    }
    registry_up();
    push_tags(TAGS_REPO, &["15", "16", "16.4-custom"]);
    let arena = Arena::new();
    std::fs::write(
        arena.config_path(),
        format!("[engines.postgres]\nimage = \"{TAGS_REPO}\"\n"),
    )
    .unwrap();
    let rows = arena.json(&["images", "tags", "postgres", "--json"]);
    let tag = |t: &str| rows.as_array().unwrap().iter().find(|r| r["tag"] == t).cloned();
    assert_eq!(tag("15").unwrap()["known_version"], "15", "{rows}");
    assert_eq!(tag("16").unwrap()["known_version"], "16", "{rows}");
    assert!(tag("16.4-custom").unwrap()["known_version"].is_null(), "{rows}");
    let filtered = arena.json(&["images", "tags", "postgres", "--filter", "16*", "--json"]);
    let tags: Vec<&str> = filtered
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tag"].as_str().unwrap())
        .collect();
    assert!(
        tags.contains(&"16") && tags.contains(&"16.4-custom") && !tags.contains(&"15"),
        "{tags:?}"
    );
    // The registry API only: no container engine needed.
    let out = run_with(
        &arena,
        &[("DOCKER_HOST", "unix:///nonexistent.sock")],
        &["images", "tags", "postgres", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = arena.ok(&["images", "tags", "postgres", "--filter", "16*"]);
    assert!(text.contains("postgres@16") && text.contains(TAGS_REPO), "{text}");
    // A repository the registry does not have, and a bad filter, are clear errors.
    std::fs::write(
        arena.config_path(),
        format!("[engines.redis]\nimage = \"{REGISTRY}/dbarena-conventions/none\"\n"),
    )
    .unwrap();
    assert!(arena.fails(&["images", "tags", "redis"]).contains("no such repository"));
    assert!(
        arena
            .fails(&["images", "tags", "postgres", "--filter", "[", "--json"])
            .contains("--filter")
    );
}

/// The registry with htpasswd auth this suite starts (and stops) itself.
const AUTH_REGISTRY: &str = "127.0.0.1:5001";
const AUTH_REPO: &str = "127.0.0.1:5001/dbarena-conventions/private";
const AUTH_USER: &str = "dbarena";
const AUTH_PASSWORD: &str = "conventions-s3cret";

/// A `docker-registry` on [`AUTH_REGISTRY`] that wants [`AUTH_USER`]'s password (bcrypt
/// htpasswd), its storage in a temporary directory; killed and removed when dropped.
struct AuthRegistry {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl AuthRegistry {
    fn start() -> Self {
        let url = format!("http://{AUTH_REGISTRY}/v2/");
        // The HTTP status of /v2/ ("000": nothing answers).
        let status = || {
            std::process::Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url])
                .output()
                .map(|out| stdout(&out))
                .unwrap_or_default()
        };
        assert_eq!(status(), "000", "{AUTH_REGISTRY} is already in use");
        // htpasswd (apache2-utils) and docker-registry: installed by .ci/registry-up.sh.
        let has_htpasswd = std::process::Command::new("htpasswd").arg("-h").output().is_ok();
        if !has_htpasswd {
            run("bash", &[repo_root().join(".ci/registry-up.sh").to_str().unwrap()]);
        }
        let dir = tempfile::tempdir().unwrap();
        let htpasswd = run("htpasswd", &["-Bbn", AUTH_USER, AUTH_PASSWORD]);
        std::fs::write(dir.path().join("htpasswd"), htpasswd).unwrap();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}/storage\n\
                 http:\n  addr: {AUTH_REGISTRY}\nauth:\n  htpasswd:\n    realm: dbarena-test\n    path: {root}/htpasswd\n",
                root = dir.path().display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("run docker-registry (bash .ci/registry-up.sh installs it)");
        let registry = Self { child, dir };
        wait_until(
            "the htpasswd registry answers 401",
            std::time::Duration::from_secs(30),
            || status() == "401",
        );
        registry
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn images_tags_uses_docker_login_credentials() {
    if !docker_available("images_tags_uses_docker_login_credentials") {
        return;
    }
    let registry = AuthRegistry::start();
    // `docker login` and push with a Docker config of the test's own (~/.docker untouched).
    let login = tempfile::tempdir().unwrap();
    let login_dir = login.path().to_str().unwrap();
    let out = std::process::Command::new("docker")
        .args([
            "--config",
            login_dir,
            "login",
            AUTH_REGISTRY,
            "-u",
            AUTH_USER,
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(AUTH_PASSWORD.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "docker login: {}\n{}",
        stderr(&out),
        registry.log()
    );
    ensure_busybox_image().unwrap();
    let image = format!("{AUTH_REPO}:16");
    docker_ok(&["tag", "dbarena-test/busybox:1", &image]).unwrap();
    let pushed = docker_ok(&["--config", login_dir, "push", &image]);
    let _ = docker(&["rmi", &image]);
    pushed.unwrap_or_else(|e| panic!("{e}\n{}", registry.log()));

    let arena = Arena::new();
    std::fs::write(
        arena.config_path(),
        format!("[engines.postgres]\nimage = \"{AUTH_REPO}\"\n"),
    )
    .unwrap();
    // With the login's config: the tag, and the secret in no log line even at -vvv.
    let out = run_with(
        &arena,
        &[("DOCKER_CONFIG", login_dir)],
        &["-vvv", "images", "tags", "postgres", "--json"],
    );
    assert!(out.status.success(), "{}\n{}", stderr(&out), registry.log());
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["tag"], "16", "{rows}");
    assert_eq!(rows[0]["known_version"], "16", "{rows}");
    let encoded = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{AUTH_USER}:{AUTH_PASSWORD}"))
    };
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !all.contains(AUTH_PASSWORD) && !all.contains(&encoded),
        "the secret leaked: {all}"
    );
    // Nor with every crate's trace on: the HTTP client logs the bytes it sends as hex
    // rows of 16 characters, so no 8-character piece of the header may show.
    let out = run_with(
        &arena,
        &[("DOCKER_CONFIG", login_dir), ("RUST_LOG", "trace")],
        &["images", "tags", "postgres", "--json"],
    );
    assert!(out.status.success(), "{}\n{}", stderr(&out), registry.log());
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !all.contains(AUTH_PASSWORD),
        "the password leaked at RUST_LOG=trace: {all}"
    );
    for window in encoded.as_bytes().windows(8) {
        let window = std::str::from_utf8(window).unwrap();
        assert!(
            !all.contains(window),
            "the credentials leaked at RUST_LOG=trace ({window}): {all}"
        );
    }

    // A Docker config without credentials for the registry: the docker login hint.
    let other = tempfile::tempdir().unwrap();
    let other_config = other.path().join("config.json");
    std::fs::write(&other_config, r#"{"auths":{"127.0.0.1:5000":{}}}"#).unwrap();
    let out = run_with(
        &arena,
        &[("DOCKER_CONFIG", other.path().to_str().unwrap())],
        &["images", "tags", "postgres"],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&format!("run `docker login {AUTH_REGISTRY}`")), "{err}");
    assert!(
        err.contains(&format!(
            "dbarena read {} and found no credentials for {AUTH_REGISTRY}",
            other_config.display()
        )),
        "{err}"
    );
    // A broken config: a warning naming it, then the same anonymous failure.
    std::fs::write(&other_config, "{ not json").unwrap();
    let out = run_with(
        &arena,
        &[("DOCKER_CONFIG", other.path().to_str().unwrap())],
        &["images", "tags", "postgres"],
    );
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("warning: ") && err.contains(&format!("{} is not valid", other_config.display())),
        "{err}"
    );
    assert!(err.contains(&format!("docker login {AUTH_REGISTRY}")), "{err}");
    drop(registry);
}

#[test]
fn images_pull_without_names_pulls_the_configured_engines_and_prune_removes_only_those() {
    if !docker_available("images_pull_without_names_pulls_the_configured_engines_and_prune_removes_only_those") {
        return;
    }
    let arena = Arena::new();
    let data = tempfile::tempdir().unwrap();
    let data_env = [("DBARENA_DATA_DIR", data.path().to_str().unwrap())];
    // Nothing configured: no pulling of every engine (SQL Server is ~1.5 GB); a clear ask.
    std::fs::write(arena.config_path(), "").unwrap();
    let out = run_with(&arena, &data_env, &["images", "pull"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("name the engines to pull"), "{}", stderr(&out));

    registry_up();
    push_tags(PULL_REPO, &["7"]);
    let cleanup = Cleanup::default();
    cleanup.image(&format!("{PULL_REPO}:7"));
    let _ = docker(&["rmi", &format!("{PULL_REPO}:7")]);
    // redis from the local registry; postgres at an image the user has (not pulled by dbarena).
    std::fs::write(
        arena.config_path(),
        format!(
            "[engines.redis]\nimage = \"{PULL_REPO}\"\nversion = \"7\"\n\
             [engines.postgres]\nimage = \"dbarena-test/postgres\"\nversion = \"15\"\n"
        ),
    )
    .unwrap();
    let out = run_with(&arena, &data_env, &["images", "pull", "redis"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("pulled {PULL_REPO}:7")),
        "{}",
        stdout(&out)
    );
    // With no names: the configured engines, nothing else.
    std::fs::write(
        arena.config_path(),
        format!("[engines.redis]\nimage = \"{PULL_REPO}\"\nversion = \"7\"\n"),
    )
    .unwrap();
    let out = run_with(&arena, &data_env, &["images", "pull"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pulled: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| l.starts_with("pulled "))
        .map(str::to_string)
        .collect();
    assert_eq!(pulled, [format!("pulled {PULL_REPO}:7")]);

    // Prune: only what dbarena pulled; dbarena-test/postgres:15 (the user's) stays.
    std::fs::write(
        arena.config_path(),
        format!("[engines.redis]\nimage = \"{PULL_REPO}\"\n[engines.postgres]\nimage = \"dbarena-test/postgres\"\n"),
    )
    .unwrap();
    let out = run_with(&arena, &data_env, &["images", "prune", "-y"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Besides ours, only warm-start templates (image ids) no container runs may go: other
    // suites running at the same time make them.
    let removed: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| !l.starts_with("removed sha256:"))
        .map(str::to_string)
        .collect();
    assert_eq!(removed, [format!("removed {PULL_REPO}:7")]);
    assert!(docker_ok(&["image", "inspect", "dbarena-test/postgres:15"]).is_ok());
    assert!(docker_ok(&["image", "inspect", &format!("{PULL_REPO}:7")]).is_err());
    let out = run_with(&arena, &data_env, &["images", "prune", "-y"]);
    let text = stdout(&out);
    assert!(
        text.trim() == "nothing to prune" || text.lines().all(|l| l.starts_with("removed sha256:")),
        "{text}"
    );
}
