//! Driver compatibility: real servers created by the dbarena binary, reached by the drivers
//! people use in three ecosystems (Python, Node, Java JDBC), each given the URL, the
//! connection form or the variables exactly as dbarena prints them. Every driver reports
//! the user and database the server saw, so a mis-encoded credential fails here.
//!
//! The drivers come from `.ci/drivers-up.sh`. A missing one fails the suite with how to
//! install it, unless `DBARENA_SKIP_DRIVER_TESTS=1` is set (CI never sets it).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// URL-reserved characters and a space, in every value the engine accepts them in.
const AWKWARD: &str = " @:/?#%+";

const POSTGRES_JAR: &str = "/usr/share/java/postgresql.jar";
const MARIADB_JAR: &str = "/usr/share/java/mariadb-java-client.jar";

fn venv_python() -> PathBuf {
    std::env::var_os("DBARENA_DRIVER_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/driver-venv"))
        .join("bin/python")
}

fn drivers_dir() -> PathBuf {
    repo_root().join("tests/drivers")
}

/// True when the driver tests should run: false (with a notice) on the explicit opt-out;
/// a panic naming the install step when Docker or any driver is missing.
fn drivers_available(test: &str) -> bool {
    if std::env::var("DBARENA_SKIP_DRIVER_TESTS").as_deref() == Ok("1") {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: DBARENA_SKIP_DRIVER_TESTS=1");
        return false;
    }
    if !docker_available(test) {
        return false;
    }
    let node_modules = drivers_dir().join("node/node_modules");
    let mut missing = Vec::new();
    if !venv_python().exists() {
        missing.push(format!("Python venv {}", venv_python().display()));
    }
    for module in ["pg", "mysql2", "ioredis"] {
        if !node_modules.join(module).exists() {
            missing.push(format!("Node module {module}"));
        }
    }
    for tool in ["node", "javac", "java"] {
        if Command::new(tool).arg("--version").output().is_err() {
            missing.push(format!("`{tool}` on PATH"));
        }
    }
    for jar in [POSTGRES_JAR, MARIADB_JAR] {
        if !Path::new(jar).exists() {
            missing.push(jar.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "{test} needs the client drivers; missing: {}.\n\
         Install them with `bash .ci/drivers-up.sh`, or set DBARENA_SKIP_DRIVER_TESTS=1 to opt out explicitly.",
        missing.join(", ")
    );
    true
}

/// `Main.java` compiled once per test run, into a directory kept for the whole run.
fn java_classes() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("javac")
            .arg("-d")
            .arg(dir.path())
            .arg(drivers_dir().join("java/Main.java"))
            .output()
            .unwrap();
        assert!(out.status.success(), "javac failed: {}", stderr(&out));
        dir
    })
    .path()
}

/// One created instance and what dbarena printed about it.
struct Printed {
    instance: Value,
    /// `dbarena env NAME --format json`.
    env: BTreeMap<String, String>,
}

impl Printed {
    fn form(&self, kind: &str) -> &Value {
        self.instance["connection_forms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} form in {}", self.instance))
    }

    fn str(&self, key: &str) -> &str {
        self.instance[key].as_str().unwrap()
    }
}

fn create(arena: &Arena, engine: &str, flags: &[&str]) -> Printed {
    let mut args = vec!["create", "--json", engine];
    args.extend_from_slice(flags);
    let created = arena.json(&args);
    let instance = created[0].clone();
    let name = instance["name"].as_str().unwrap().to_string();
    arena.track(&name);
    let env: BTreeMap<String, String> =
        serde_json::from_value(arena.json(&["env", &name, "--format", "json"])).unwrap();
    // What `env` prints is what `create` printed: one truth, whichever a user reads.
    for form in instance["connection_forms"].as_array().unwrap() {
        if let Some(var) = form["env_name"].as_str() {
            assert_eq!(env[var], form["value"].as_str().unwrap(), "{var}");
        }
    }
    Printed { instance, env }
}

/// Runs a client script with the printed variables (and `extra`) as its whole environment
/// besides PATH/HOME, and returns its `driver -> result` lines; panics when it fails.
fn run_client(
    what: &str,
    mut cmd: Command,
    env: &BTreeMap<String, String>,
    extra: &[(&str, &str)],
) -> BTreeMap<String, String> {
    cmd.env_clear();
    for keep in ["PATH", "HOME", "JAVA_HOME", "LANG"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    cmd.envs(env).envs(extra.iter().copied());
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} could not connect with what dbarena printed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    eprint!("{}", stderr(&out));
    stdout(&out)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn python(engine: &str, p: &Printed, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut cmd = Command::new(venv_python());
    cmd.arg(drivers_dir().join("python/check.py")).arg(engine);
    run_client(&format!("python drivers ({engine})"), cmd, &p.env, extra)
}

fn node(engine: &str, p: &Printed) -> BTreeMap<String, String> {
    let mut cmd = Command::new("node");
    cmd.arg(drivers_dir().join("node/check.js")).arg(engine);
    run_client(&format!("node drivers ({engine})"), cmd, &p.env, &[])
}

fn java_command(engine: &str, p: &Printed) -> Command {
    let classpath = format!("{}:{POSTGRES_JAR}:{MARIADB_JAR}", java_classes().display());
    let mut cmd = Command::new("java");
    cmd.args(["-cp", &classpath, "Main", engine]).envs(&p.env);
    cmd
}

fn java(engine: &str, p: &Printed) -> BTreeMap<String, String> {
    run_client(&format!("JDBC ({engine})"), java_command(engine, p), &p.env, &[])
}

/// Asserts each of `drivers` reported `expected`.
fn expect(results: &BTreeMap<String, String>, drivers: &[&str], expected: &str) {
    for driver in drivers {
        assert_eq!(
            results.get(*driver).map(String::as_str),
            Some(expected),
            "{driver} (all results: {results:?})"
        );
    }
}

fn check_postgres(p: &Printed) {
    assert!(p.str("url").starts_with("postgresql://"), "{}", p.str("url"));
    assert_eq!(p.env["DATABASE_URL"], p.str("url"));
    let expected = format!("1|{}|{}", p.str("user"), p.str("database"));
    let sqlalchemy = p.form("sqlalchemy")["value"].as_str().unwrap();
    let py = python("postgres", p, &[("SQLALCHEMY_URL", sqlalchemy)]);
    expect(&py, &["psycopg-url", "psycopg-pgenv", "sqlalchemy"], &expected);
    let js = node("postgres", p);
    expect(&js, &["pg-env"], &expected);
    // SQLAlchemy and node-postgres leave a percent-encoded database name encoded, so they
    // take DATABASE_URL itself only where the name needs no encoding.
    let plain_database = p.str("url").ends_with(&format!("/{}", p.str("database")));
    if plain_database {
        expect(&py, &["sqlalchemy-url"], &expected);
        expect(&js, &["pg-url"], &expected);
    } else {
        assert!(
            js["pg-url"].starts_with("error: database"),
            "node-postgres decodes names now? {js:?}"
        );
    }
    expect(&java("postgres", p), &["jdbc"], &expected);
}

fn check_mysql(p: &Printed) {
    assert_eq!(p.env["DATABASE_URL"], p.str("url"));
    let expected = format!("1|{}|{}", p.str("user"), p.str("database"));
    let sqlalchemy = p.form("sqlalchemy")["value"].as_str().unwrap();
    expect(
        &python("mysql", p, &[("SQLALCHEMY_URL", sqlalchemy)]),
        &["pymysql", "sqlalchemy"],
        &expected,
    );
    expect(&node("mysql", p), &["mysql2"], &expected);
    // The form is for MySQL Connector/J, which URL-decodes the values; the MariaDB
    // Connector/J Debian ships (2.7) takes them verbatim, so it logs in only where they
    // need no encoding. Pinned so a change either way shows here.
    let plain = |v: &str| !v.contains(|c: char| !(c.is_ascii_alphanumeric() || "-._~".contains(c)));
    if plain(p.str("user")) && plain(p.str("password")) && plain(p.str("database")) {
        expect(&java("mysql", p), &["jdbc"], &expected);
    } else {
        let out = java_command("mysql", p).output().unwrap();
        let err = stderr(&out);
        assert!(
            !out.status.success() && err.contains("Access denied for user 'app%20%40"),
            "MariaDB Connector/J decodes URL values now? {}{err}",
            stdout(&out)
        );
    }
}

fn check_redis(p: &Printed) {
    assert_eq!(p.env["REDIS_URL"], p.str("url"));
    let expected = format!("PONG|True|{}", p.str("database"));
    expect(&python("redis", p, &[]), &["redis-py"], &expected);
    expect(&node("redis", p), &["ioredis"], &expected);
}

#[test]
fn drivers_connect_with_awkward_credentials_as_printed() {
    if !drivers_available("drivers_connect_with_awkward_credentials_as_printed") {
        return;
    }
    let arena = Arena::new();
    // PostgreSQL takes any bytes but NUL in names and passwords.
    let pg = create(
        &arena,
        "postgres",
        &[
            "--user",
            &format!("app{AWKWARD}user"),
            "--password",
            &format!("pw{AWKWARD}&='x"),
            // No `?`: SQLAlchemy URLs cannot carry it in a database name.
            "--database",
            &format!("my{}db", AWKWARD.replace('?', "")),
        ],
    );
    // The mysql image pastes user and password into SQL unescaped (no quotes or
    // backslashes), and schema names are limited to letters, digits, `_`, `$` and `-`.
    let my = create(
        &arena,
        "mysql",
        &[
            "--user",
            &format!("app{AWKWARD}u"),
            "--password",
            &format!("pw{AWKWARD}&=x"),
            "--database",
            "my-db$1",
        ],
    );
    // Redis authenticates the `default` user only, on databases 0-15.
    let rd = create(
        &arena,
        "redis",
        &["--password", &format!("pw{AWKWARD}&=x"), "--database", "3"],
    );
    check_postgres(&pg);
    check_mysql(&my);
    check_redis(&rd);
}

#[test]
fn drivers_connect_on_the_default_path() {
    if !drivers_available("drivers_connect_on_the_default_path") {
        return;
    }
    let arena = Arena::new();
    let pg = create(&arena, "postgres", &[]);
    let my = create(&arena, "mysql", &[]);
    let rd = create(&arena, "redis", &[]);
    check_postgres(&pg);
    check_mysql(&my);
    check_redis(&rd);
}
