//! `shell`, `exec`, `query`, `env` with host clients, and `run -- CMD` (exit codes, clean-up
//! after failure, Ctrl-C and SIGTERM), through the binary against real servers on the
//! default path (generated passwords, Docker-picked ports).

mod common;

use common::{Arena, by_engine, container_exists, docker_available, stderr, stdout};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// `sh -c SCRIPT` after `eval "$(dbarena env NAME)"`: the host clients read the variables.
fn with_env(arena: &Arena, name: &str, script: &str) -> std::process::Output {
    let env = arena.ok(&["env", name, "--format", "sh"]);
    Command::new("sh")
        .arg("-c")
        .arg(format!("eval \"$ENVS\"\n{script}"))
        .env("ENVS", env)
        .output()
        .unwrap()
}

#[test]
fn query_exec_env_and_shell_on_postgres_mariadb_and_redis() {
    if !docker_available("query_exec_env_and_shell_on_postgres_mariadb_and_redis") {
        return;
    }
    let arena = Arena::new();
    let out = arena.json(&["create", "postgres", "mysql", "redis", "--json"]);
    let names: Vec<String> = ["postgres", "mysql", "redis"]
        .iter()
        .map(|e| by_engine(&out, e)["name"].as_str().unwrap().to_string())
        .collect();
    for n in &names {
        arena.track(n);
    }
    let (pg, my, rd) = (&names[0], &names[1], &names[2]);

    // query: the result, and on error a non-zero exit with the server's message.
    assert!(arena.ok(&["query", pg, "select 6*7 as answer"]).contains("42"));
    assert!(arena.ok(&["query", my, "select 6*7 as answer"]).contains("42"));
    assert!(arena.ok(&["query", rd, "SET k 42"]).contains("OK"));
    assert!(arena.ok(&["query", rd, "GET k"]).contains("42"));
    for (n, bad, message) in [
        (pg, "select nope", "column \"nope\" does not exist"),
        (my, "select nope", "Unknown column 'nope'"),
        (rd, "NOPE x", "unknown command"),
    ] {
        let out = arena.cmd().args(["query", n, bad]).output().unwrap();
        assert!(!out.status.success(), "{n}: {bad} succeeded: {}", stdout(&out));
        assert!(stderr(&out).contains(message), "{n}: {}", stderr(&out));
    }
    // A value that looks like an error is data, not a failure.
    arena.ok(&["query", rd, "SET e \"(error) not really\""]);
    assert!(arena.ok(&["query", rd, "GET e"]).contains("(error) not really"));
    // stdin and --file.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "select 'from file' as f;").unwrap();
    assert!(
        arena
            .ok(&["query", pg, "--file", file.path().to_str().unwrap()])
            .contains("from file")
    );
    let mut child = arena
        .cmd()
        .args(["query", my])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"select 'from stdin' as s;").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && stdout(&out).contains("from stdin"),
        "{}",
        stdout(&out)
    );

    // exec: output and exit code passed through.
    let out = arena
        .cmd()
        .args(["exec", pg, "--", "sh", "-c", "echo hello; exit 7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stdout(&out), "hello\n");
    let out = arena
        .cmd()
        .args(["exec", "-i", rd, "--", "cat"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let out = {
        let mut out = out;
        drop(out.stdin.take());
        out.wait_with_output().unwrap()
    };
    assert!(out.status.success());

    // env --format sh, evaluated by sh and used by the host's clients.
    for (n, script, expect) in [
        (pg, "psql -Atc 'select current_user'", "postgres"),
        (
            my,
            "mysql --protocol=TCP --user=\"$MYSQL_USER\" --database=\"$MYSQL_DATABASE\" -Nse 'select 40+2'",
            "42",
        ),
        (rd, "redis-cli -u \"$REDIS_URL\" GET k", "42"),
    ] {
        let out = with_env(&arena, n, script);
        assert!(out.status.success(), "{n}: {}{}", stdout(&out), stderr(&out));
        assert!(stdout(&out).contains(expect), "{n}: {}", stdout(&out));
    }

    // shell: the host client (installed here) with the instance's variables, and the
    // authenticated client inside the container (the Redis one used to answer NOAUTH).
    assert!(arena.ok(&["shell", pg, "--", "-Atc", "select 6*7"]).contains("42"));
    assert!(arena.ok(&["shell", my, "--", "-Nse", "select 6*7"]).contains("42"));
    assert!(arena.ok(&["shell", rd, "--", "GET", "k"]).contains("42"));
    assert!(arena.ok(&["shell", "--container", rd, "--", "GET", "k"]).contains("42"));

    // shell in a pseudo-terminal, typed into: the TTY path through docker exec. Typing
    // waits for the client's prompt, as a person would: before the client puts the
    // terminal in raw mode, its line discipline would turn redis-cli's Enter into a newline.
    for (n, prompt, input, expect) in [
        (pg, "=", "\\pset pager off\nselect 6*7 as typed;\n\\q\n", "typed"),
        (my, "]>", "select 6*7 as typed;\nexit\n", "typed"),
        // redis-cli's line editor takes only a carriage return as Enter, as a terminal sends it.
        (rd, "6379>", "EVAL 'return 6*7' 0\rquit\r", "(integer)"),
    ] {
        let mut child = Command::new("script")
            .args([
                "-qec",
                &format!("{} shell --container {n}", env!("CARGO_BIN_EXE_dbarena")),
                "/dev/null",
            ])
            .envs(
                arena
                    .cmd()
                    .get_envs()
                    .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut out, &mut buf) {
                if n == 0 {
                    break;
                }
                text.extend_from_slice(&buf[..n]);
                let _ = tx.send(String::from_utf8_lossy(&text).into_owned());
            }
            String::from_utf8_lossy(&text).into_owned()
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        // A terminal answers a cursor-position query (ESC [6n); redis-cli's line editor
        // asks when the TTY has no size yet (Docker 20.10 sizes an exec's TTY only after it
        // started) and waits for the answer. `script` does not answer: the test does.
        let mut answered = 0;
        let mut last = String::new();
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
                Ok(seen) if seen.contains(prompt) => break,
                Ok(seen) => {
                    last = seen.clone();
                    let asked = seen.matches("\x1b[6n").count();
                    while answered < asked {
                        std::io::Write::write_all(&mut stdin, b"\x1b[1;80R").unwrap();
                        answered += 1;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("{n}: no prompt {prompt:?} within 30 s; the terminal showed {last:?}");
                }
            }
        }
        std::io::Write::write_all(&mut stdin, input.as_bytes()).unwrap();
        drop(stdin);
        // A client that never ends is a failure, not a hung suite.
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{n}: the shell did not end within 30 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        let text = reader.join().unwrap();
        assert!(status.success(), "{n}: {text}");
        assert!(text.contains(expect) && text.contains("42"), "{n}: {text}");
        assert!(!text.contains("NOAUTH"), "{n}: {text}");
    }
}

/// The names of the containers publishing the ports the child sees in these variables.
const NAMES_OF: &str = r#"for p in "$@"; do docker ps --filter "publish=$p" --format '{{.Names}}'; done"#;

#[test]
fn run_exports_every_instance_and_returns_the_childs_exit_code_leaving_nothing() {
    if !docker_available("run_exports_every_instance_and_returns_the_childs_exit_code_leaving_nothing") {
        return;
    }
    let arena = Arena::new();
    let script = format!(
        "psql -Atc 'select 1' >/dev/null && \
         mysql --protocol=TCP --user=\"$MYSQL_USER\" --database=\"$MYSQL_DATABASE\" -Nse 'select 1' >/dev/null && \
         redis-cli -u \"$REDIS_URL\" ping >/dev/null && \
         set -- \"$PGPORT\" \"$MYSQL_TCP_PORT\" \"$REDIS_PORT\" && {NAMES_OF}; exit 3"
    );
    let out = arena
        .cmd()
        .args(["run", "postgres", "mysql", "redis", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    let seen: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    for n in &seen {
        arena.track(n);
    }
    assert_eq!(out.status.code(), Some(3), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(seen.len(), 3, "{seen:?} {}", stderr(&out));
    for n in &seen {
        assert!(!container_exists(n), "{n} was left behind");
    }

    // --keep keeps them.
    let name = arena.name("keep");
    arena.ok(&["run", "redis", "--name", &name, "--keep", "--", "true"]);
    assert!(container_exists(&name));
}

/// Starts `dbarena run ENGINE --name NAME -- sh -c 'echo started; sleep 60'` in its own
/// process group and waits until the command runs.
fn run_until_started(arena: &Arena, engine: &str, name: &str) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut child = arena
        .cmd()
        .args([
            "run",
            engine,
            "--name",
            name,
            "--",
            "sh",
            "-c",
            "echo started; sleep 60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "started\n");
    assert!(container_exists(name));
    child
}

#[test]
fn run_cleans_up_after_ctrl_c_and_sigterm() {
    if !docker_available("run_cleans_up_after_ctrl_c_and_sigterm") {
        return;
    }
    let arena = Arena::new();
    // Ctrl-C in a terminal signals the whole foreground process group.
    let name = arena.name("runint");
    let mut child = run_until_started(&arena, "postgres", &name);
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(!container_exists(&name), "{name} left behind after Ctrl-C");

    // SIGTERM (a CI runner stopping the job) to dbarena alone.
    let name = arena.name("runterm");
    let mut child = run_until_started(&arena, "mysql", &name);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(143));
    assert!(!container_exists(&name), "{name} left behind after SIGTERM");

    // A failing child, on redis.
    let name = arena.name("runfail");
    let out = arena
        .cmd()
        .args([
            "run",
            "redis",
            "--name",
            &name,
            "--",
            "sh",
            "-c",
            "redis-cli -u \"$REDIS_URL\" ping && exit 9",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert_eq!(stdout(&out), "PONG\n");
    assert!(!container_exists(&name));
}

#[test]
fn init_scripts_run_before_ready_and_a_failing_one_fails_the_create_leaving_nothing() {
    if !docker_available("init_scripts_run_before_ready_and_a_failing_one_fails_the_create_leaving_nothing") {
        return;
    }
    let arena = Arena::new();
    let good = tempfile::tempdir().unwrap();
    std::fs::write(good.path().join("01-schema.sql"), "create table t (id int);\n").unwrap();
    std::fs::write(good.path().join("02-data.sql"), "insert into t values (1), (2);\n").unwrap();
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(bad.path().join("01-schema.sql"), "create table t (id int);\n").unwrap();
    std::fs::write(bad.path().join("02-data.sql"), "insert into t values (1);\n").unwrap();
    std::fs::write(bad.path().join("03-broken.sql"), "select nope_column from t;\n").unwrap();
    let seed = good.path().join("seed.redis");
    std::fs::write(&seed, "SET seeded yes\n").unwrap();

    for engine in ["postgres", "mysql"] {
        let name = arena.name(&format!("init{engine}"));
        arena.ok(&[
            "create",
            engine,
            "--name",
            &name,
            "--init",
            good.path().to_str().unwrap(),
        ]);
        let count = arena.ok(&["query", &name, "select count(*) as n from t"]);
        assert!(count.contains('2'), "{engine}: {count}");
        // `reset` returns to the state right after create: after the init scripts.
        arena.ok(&["query", &name, "insert into t values (3), (4), (5)"]);
        arena.ok(&["reset", &name]);
        let count = arena.ok(&["query", &name, "select count(*) as n from t"]);
        assert!(
            count.contains('2') && !count.contains('5'),
            "{engine} after reset: {count}"
        );
        // That snapshot goes with the instance.
        let snapshots = || {
            common::run(
                "docker",
                &[
                    "images",
                    "-q",
                    "--filter",
                    &format!("label=io.dbarena.snapshot.of={name}"),
                ],
            )
        };
        assert!(
            !snapshots().is_empty(),
            "{engine}: no snapshot of the initialised state"
        );
        arena.ok(&["destroy", &name]);
        assert!(
            snapshots().is_empty(),
            "{engine}: its 'created' snapshot was left behind"
        );

        let name = arena.name(&format!("initbad{engine}"));
        let err = arena.fails(&[
            "create",
            engine,
            "--name",
            &name,
            "--init",
            bad.path().to_str().unwrap(),
        ]);
        assert!(err.contains("03-broken.sql"), "{engine}: {err}");
        assert!(err.contains("nope_column"), "{engine}: {err}");
        assert!(!container_exists(&name), "{engine}: {name} left behind");
    }

    // Redis has no init directory: the scripts go through the query runner.
    let name = arena.name("initredis");
    arena.ok(&["create", "redis", "--name", &name, "--init", seed.to_str().unwrap()]);
    assert!(arena.ok(&["query", &name, "GET seeded"]).contains("yes"));
    let broken = good.path().join("broken.redis");
    std::fs::write(&broken, "NOPE x\n").unwrap();
    let name = arena.name("initbadredis");
    let err = arena.fails(&["create", "redis", "--name", &name, "--init", broken.to_str().unwrap()]);
    assert!(err.contains("broken.redis") && err.contains("unknown command"), "{err}");
    assert!(!container_exists(&name));

    // A file no engine runs is refused before anything is made.
    let err = arena.fails(&[
        "create",
        "redis",
        "--init",
        good.path().join("01-schema.sql").to_str().unwrap(),
    ]);
    assert!(err.contains("--init 01-schema.sql"), "{err}");
}

#[test]
fn ttl_shows_in_list_gc_destroys_expired_and_every_command_reaps_ephemeral_ones() {
    if !docker_available("ttl_shows_in_list_gc_destroys_expired_and_every_command_reaps_ephemeral_ones") {
        return;
    }
    let arena = Arena::new();
    let long = arena.name("ttllong");
    arena.ok(&["create", "redis", "--name", &long, "--ttl", "2h"]);
    let listed = arena.ok(&["list"]);
    let row = listed.lines().find(|l| l.contains(&long)).unwrap();
    assert!(
        listed.contains("EXPIRES IN") && (row.ends_with(" 1h") || row.ends_with(" 2h")),
        "{listed}"
    );
    let err = arena.fails(&["create", "redis", "--ttl", "soon"]);
    assert!(err.contains("--ttl"), "{err}");

    // gc takes an expired persistent instance (its volume stays, as with destroy).
    let kept = arena.name("ttlgc");
    arena.ok(&["create", "redis", "--name", &kept, "--ttl", "1s", "--persistent"]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    arena.ok(&["list"]);
    assert!(container_exists(&kept), "a persistent instance is only destroyed by gc");
    let gc = arena.json(&["gc", "--json"]);
    assert_eq!(gc["destroyed"], serde_json::json!([kept]));
    assert!(!container_exists(&kept));
    assert!(container_exists(&long));

    // Any command reaps an expired ephemeral instance.
    let short = arena.name("ttlshort");
    arena.ok(&["create", "redis", "--name", &short, "--ttl", "1s"]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = arena.cmd().args(["url", &long]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // This command reaps it, unless a dbarena command of a suite running at the same time
    // got there first: either way it is gone.
    assert!(!container_exists(&short), "{}", stderr(&out));
    assert!(container_exists(&long));
}

/// `dbarena ARGS` with a pseudo-terminal as stdout and stderr (through `script`), as a user
/// at a terminal runs it: what the terminal would receive.
fn on_a_terminal(arena: &Arena, args: &[&str]) -> String {
    let dbarena = arena.cmd();
    let line = std::iter::once(dbarena.get_program().to_string_lossy().into_owned())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| shell_words::quote(&a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]).stdin(Stdio::null());
    for (k, v) in dbarena.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} on a terminal: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Any client can write to a server's log: a login as a user whose name carries an OSC 52
/// clipboard write and a title change. `logs` (and `query`, `env`) show them escaped on a
/// terminal, exact with `--raw` and when piped.
#[test]
fn terminal_escapes_from_the_server_reach_a_terminal_escaped() {
    if !docker_available("terminal_escapes_from_the_server_reach_a_terminal_escaped") {
        return;
    }
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: needs script(1) for a pseudo-terminal");
        return;
    }
    let arena = Arena::new();
    let name = arena.name("esc");
    arena.ok(&["create", "postgres", "--name", &name]);
    let evil = "x\x1b]52;c;cHduZWQ=\x07\x1b]0;pwned\x07";
    // Over the socket (trusted): the server logs `role "…" does not exist` with the name.
    let out = arena
        .cmd()
        .args([
            "exec", &name, "--", "psql", "-U", evil, "-d", "postgres", "-c", "select 1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stderr(&out));

    // The server logs on stderr, which `logs` keeps apart.
    let out = arena.cmd().args(["logs", &name]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let piped = stderr(&out);
    assert!(piped.contains(evil), "the log does not carry the escapes: {piped:?}");
    let shown = on_a_terminal(&arena, &["logs", &name]);
    assert!(
        !shown.contains('\x1b') && !shown.contains('\x07'),
        "raw escapes reached the terminal"
    );
    assert!(shown.contains("x\\u{1b}]52;c;cHduZWQ=\\u{7}"), "{shown:?}");
    assert!(on_a_terminal(&arena, &["logs", &name, "--raw"]).contains(evil));

    // Unaligned: psql's aligned tables show control characters as `\x1B` themselves.
    let sql = "\\pset format unaligned\nselect E'\\x1b]0;pwned\\x07' as t;";
    assert!(arena.ok(&["query", &name, sql]).contains("\x1b]0;pwned\x07"));
    let shown = on_a_terminal(&arena, &["query", &name, sql]);
    assert!(
        !shown.contains('\x1b') && shown.contains("\\u{1b}]0;pwned"),
        "{shown:?}"
    );
    assert!(on_a_terminal(&arena, &["query", &name, sql, "--raw"]).contains("\x1b]0;pwned\x07"));
}
