//! Everyday output and errors through the real binary: `list` in an 80-column terminal
//! (a pseudo-terminal from `script`), progress on a terminal and piped, ports that survive
//! stop/start, and error messages that name the user's flag or instance.

mod common;

use common::*;
use std::net::TcpListener;
use std::process::Command;

/// Runs `dbarena ARGS` inside an 80x24 pseudo-terminal (util-linux `script`) with the
/// arena's environment; `redirect` is appended to the command line (e.g. `> out.json`).
/// Returns what the terminal received.
fn in_terminal(arena: &Arena, args: &str, redirect: &str) -> String {
    let cmd = arena.cmd();
    let mut script = Command::new("script");
    script.args([
        "-qec",
        &format!(
            "stty cols 80 rows 24; {} {args} {redirect}",
            shell_words::quote(cmd.get_program().to_str().unwrap())
        ),
        "/dev/null",
    ]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let out = script.output().expect("util-linux script");
    assert!(out.status.success(), "{args}: {}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// Visible width of a terminal line: escape sequences and carriage-return overdraws removed.
fn visible(line: &str) -> String {
    let line = line.rsplit('\r').find(|s| !s.is_empty()).unwrap_or("");
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ params final-byte
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn port_of(instance: &serde_json::Value) -> u64 {
    instance["port"].as_u64().expect("a published port")
}

#[test]
fn list_fits_80_columns_and_scripts_get_names_and_fields() {
    if !docker_available("list_fits_80_columns_and_scripts_get_names_and_fields") {
        return;
    }
    let arena = Arena::new();
    let pg = arena.name("list-pg");
    let rd = arena.name("list-redis");
    arena.ok(&["create", "postgres", "--name", &pg]);
    arena.ok(&["create", "redis", "--name", &rd, "--persistent"]);

    let screen = in_terminal(&arena, "list", "");
    println!("list at 80 columns:\n{screen}");
    let lines: Vec<String> = screen.lines().map(visible).filter(|l| !l.is_empty()).collect();
    assert!(lines.iter().all(|l| l.chars().count() <= 80), "{screen}");
    let row = |name: &str| lines.iter().find(|l| l.starts_with(name)).cloned();
    let pg_row = row(&pg).unwrap_or_else(|| panic!("{pg} on one line:\n{screen}"));
    assert!(pg_row.contains("postgres 15") && pg_row.contains("healthy"), "{pg_row}");
    assert!(row(&rd).is_some_and(|r| r.contains("volume")), "{screen}");
    assert!(!screen.contains("127.0.0.1:"), "local ports are shown bare: {screen}");

    // Piped: the same table, never cut; -q and --format for scripts.
    let names = arena.ok(&["list", "-q"]);
    assert!(
        names.lines().any(|l| l == pg) && names.lines().any(|l| l == rd),
        "{names}"
    );
    let url = arena.ok(&["url", &pg]);
    let formatted = arena.ok(&["list", "--format", "{name} {engine} {url}"]);
    assert!(
        formatted.lines().any(|l| l == format!("{pg} postgres {}", url.trim())),
        "{formatted}"
    );
    let err = arena.fails(&["list", "--format", "{nmae}"]);
    assert!(err.contains("unknown field 'nmae'") && err.contains("name, "), "{err}");
    // Every column in full, but a table never shows the password (`url` is for that).
    let wide = arena.ok(&["list", "--wide"]);
    let password = url.trim().split(':').nth(2).and_then(|p| p.split('@').next()).unwrap();
    let shown = url.trim().replacen(&format!(":{password}@"), ":****@", 1);
    assert!(wide.contains("URL") && wide.contains(&shown), "{wide}");
    assert!(!wide.contains(password), "{wide}");
}

#[test]
fn progress_is_live_on_a_terminal_and_plain_lines_when_piped() {
    if !docker_available("progress_is_live_on_a_terminal_and_plain_lines_when_piped") {
        return;
    }
    let arena = Arena::new();
    // Piped: one plain line per phase on stderr, no control codes; stdout is the result.
    let piped = arena.name("piped");
    let out = arena
        .cmd()
        .args(["create", "redis", "--name", &piped])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    println!("piped create, stderr:\n{err}\nstdout:\n{}", stdout(&out));
    assert!(!err.contains('\x1b') && !stdout(&out).contains('\x1b'), "{err:?}");
    assert!(err.contains(&format!("{piped}: starting")), "{err}");
    assert!(err.contains(&format!("{piped}: ready in ")), "{err}");
    assert!(stdout(&out).contains("is ready"));

    // A terminal with --json: the spinner is drawn on the terminal, the JSON goes to the file.
    let live = arena.name("live");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let screen = in_terminal(
        &arena,
        &format!("create redis --json --name {live}"),
        &format!("> {}", json.display()),
    );
    println!("create in a terminal (stderr):\n{screen}");
    assert!(screen.contains(&live) && screen.contains("ready in"), "{screen}");
    assert!(screen.contains('\x1b'), "a live spinner redraws: {screen:?}");
    let created: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(created[0]["name"], live.as_str());

    // Bad input fails before any progress starts.
    let out = arena.cmd().args(["create", "postgres@99"]).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("error: postgres has no version '99'"), "{err}");
    assert!(!err.contains(": starting") && !err.contains(": pulling"), "{err}");

    // -v logs on a pipe: no colour codes.
    let out = arena.cmd().args(["-v", "list"]).output().unwrap();
    assert!(!stderr(&out).contains('\x1b'), "{:?}", stderr(&out));
}

#[test]
fn a_chosen_port_survives_stop_and_start_and_a_taken_one_is_named() {
    if !docker_available("a_chosen_port_survives_stop_and_start_and_a_taken_one_is_named") {
        return;
    }
    let arena = Arena::new();
    // Hold Redis's default port (unless another test's instance holds it already), so
    // the create falls back to a port it chooses.
    let _default = TcpListener::bind("127.0.0.1:6379");
    let name = arena.name("sticky");
    let out = arena
        .cmd()
        .args(["create", "redis", "--json", "--name", &name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let created: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let port = port_of(&created[0]);
    assert_ne!(port, 6379);
    assert!(
        !stderr(&out).contains("can change"),
        "a local engine fixes the port: {}",
        stderr(&out)
    );

    arena.ok(&["stop", &name]);
    let started = arena.json(&["start", &name, "--json"]);
    assert_eq!(port_of(&started[0]), port, "the port survives stop/start");
    assert_eq!(redis(started[0]["url"].as_str().unwrap(), &["PING"]), "PONG");

    // Its port held by a program: start says which port, and that a program holds it.
    arena.ok(&["stop", &name]);
    let holder = TcpListener::bind(("127.0.0.1", port as u16)).unwrap();
    let err = arena.fails(&["start", &name]);
    assert!(
        err.contains(&format!("port {port} is in use by another program")),
        "{err}"
    );
    assert!(!err.contains("driver failed"), "{err}");
    drop(holder);
}

#[test]
fn errors_name_the_users_flag_or_instance() {
    if !docker_available("errors_name_the_users_flag_or_instance") {
        return;
    }
    let arena = Arena::new();
    let err = arena.fails(&["create", "redis", "--env", "maxmemory-policy=x"]);
    assert!(
        err.contains("invalid --env 'maxmemory-policy'") && err.contains("did you mean REDIS_MAXMEMORY_POLICY"),
        "{err}"
    );
    assert!(!err.contains("plugin"), "{err}");
    let err = arena.fails(&["create", "redis", "--memory", "1k"]);
    assert!(err.contains("--memory") && !err.contains("container spec"), "{err}");
    let err = arena.fails(&["create", "redis", "--memory", "10x"]);
    assert!(err.contains("--memory '10x'") && !err.contains("digit"), "{err}");

    // An undeclared key is passed on (Redis reads any REDIS_<NAME>) with a warning naming
    // the closest declared one; this one does not exist, so the server refuses to start.
    let out = arena
        .cmd()
        .args([
            "create",
            "redis",
            "--name",
            &arena.name("unknown-env"),
            "--env",
            "REDIS_MAXMEMORY_POLCY=allkeys-lru",
        ])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains(
            "--env REDIS_MAXMEMORY_POLCY: not a setting redis declares; did you mean REDIS_MAXMEMORY_POLICY?"
        ),
        "{}",
        stderr(&out)
    );

    let name = arena.name("typo");
    arena.ok(&["create", "redis", "--name", &name]);
    let typo = format!("{}x", &name[..name.len() - 1]);
    let err = arena.fails(&["inspect", &typo]);
    assert!(err.contains(&format!("did you mean '{name}'?")), "{err}");

    let help = arena.ok(&["--help"]);
    assert!(help.contains("Exit codes:") && help.contains("130"), "{help}");
    for sub in ["run", "exec", "query"] {
        let help = arena.ok(&[sub, "--help"]);
        assert!(
            help.contains("Examples:") && help.contains("Exit status:"),
            "{sub}: {help}"
        );
    }
    let out = arena.cmd().arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_server_running_another_version_than_asked_is_shown_and_warned() {
    if !docker_available("a_server_running_another_version_than_asked_is_shown_and_warned") {
        return;
    }
    let arena = Arena::new();
    let name = arena.name("pinned");
    // A port of its own: on the default one (5432), a create of a test running alongside
    // took it while this instance was stopped, and the start below failed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    // An image pinned to 15 while the user asks for 16, as a config pin would do.
    let out = arena
        .cmd()
        .args([
            "create",
            "postgres@16",
            "--image",
            "dbarena-test/postgres:15",
            "--port",
            &port,
            "--name",
            &name,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("asked for postgres 16 but the server reports 15"),
        "{}",
        stderr(&out)
    );

    let list = arena.ok(&["list"]);
    let row = list
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains("postgres 15.") && row.contains('*'), "{list}");
    assert!(list.contains("* the server runs another version"), "{list}");
    let inspect = arena.ok(&["inspect", &name]);
    assert!(inspect.contains("(asked for 16)"), "{inspect}");
    let json = arena.json(&["inspect", &name, "--json"]);
    assert!(
        json["server_version"].as_str().is_some_and(|v| v.starts_with("15.")),
        "{json}"
    );

    arena.ok(&["stop", &name]);
    let out = arena.cmd().args(["start", &name]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("asked for postgres 16 but the server reports 15"),
        "start warns too: {}",
        stderr(&out)
    );
}

#[test]
fn a_reader_that_stops_early_ends_output_quietly() {
    // `dbarena engines | head -0`: stdout is a pipe nobody reads any more.
    let arena = Arena::new();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    for args in [
        &["engines"][..],
        &["engines", "--json"],
        &["man"],
        &["completions", "bash"],
    ] {
        let out = arena
            .cmd()
            .args(args)
            .stdout(writer.try_clone().unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{args:?}: {:?} {}",
            out.status,
            stderr(&out)
        );
    }
}

#[test]
fn verbose_logs_never_show_the_password() {
    if !docker_available("verbose_logs_never_show_the_password") {
        return;
    }
    let arena = Arena::new();
    const SECRET: &str = "verbose-S3cret-pw";
    for (flag, rust_log) in [("-vvv", None), ("-v", Some("trace")), ("-v", Some("debug"))] {
        let name = arena.name("verbose");
        let mut cmd = arena.cmd();
        cmd.args([flag, "create", "postgres", "--name", &name, "--password", SECRET]);
        if let Some(level) = rust_log {
            cmd.env("RUST_LOG", level);
        }
        let out = cmd.output().unwrap();
        let err = stderr(&out);
        assert!(out.status.success(), "{flag} {rust_log:?}: {err}");
        // The logs are on (dbarena's own lines), the password is in none of them.
        assert!(err.lines().count() > 3, "{flag} {rust_log:?}: no log lines: {err}");
        assert!(
            !err.contains(SECRET),
            "{flag} RUST_LOG={rust_log:?}: the password is in the log ({} times)",
            err.matches(SECRET).count()
        );
        // The URL on stdout still has it: that is create's answer.
        assert!(stdout(&out).contains(SECRET));
        arena.ok(&["destroy", &name]);
    }
}

#[test]
fn client_host_must_be_a_host_name_or_address() {
    // Needs no Docker: refused while the command line is read.
    let arena = Arena::new();
    for bad in ["http://db.lan", "db lan", "me@db.lan", "db.lan:5432", "$(id)"] {
        let out = arena.cmd().args(["--client-host", bad, "list"]).output().unwrap();
        let err = stderr(&out);
        assert!(!out.status.success(), "{bad}: {err}");
        assert!(
            err.contains("--client-host") && err.contains("not a host name or IP address"),
            "{bad}: {err}"
        );
        let out = arena
            .cmd()
            .args(["list"])
            .env("DBARENA_CLIENT_HOST", bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "DBARENA_CLIENT_HOST={bad}: {}", stderr(&out));
    }
    // The config's client-host too, naming the key.
    std::fs::write(
        arena.config_path(),
        format!("{}\n[defaults]\nclient-host = \"http://db.lan\"\n", common::TEST_CONFIG),
    )
    .unwrap();
    let out = arena.cmd().args(["list"]).output().unwrap();
    assert!(
        !out.status.success() && stderr(&out).contains("client-host"),
        "{}",
        stderr(&out)
    );
}
