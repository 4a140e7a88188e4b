//! Warm starts end to end on real servers: the second create of an engine starts from the
//! template the first one made, with its own credentials; the first instance's and the
//! template's are refused. Templates are shared on purpose (like images), so a test only
//! removes the templates of images it made itself.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;

fn create(arena: &Arena, args: &[&str]) -> Value {
    let mut all = vec!["create", "--json"];
    all.extend_from_slice(args);
    let created = arena.json(&all);
    let one = created.as_array().unwrap()[0].clone();
    arena.track(one["name"].as_str().unwrap());
    one
}

/// The template or snapshot image an instance's container was made from.
fn origin(instance: &Value) -> Option<String> {
    let name = instance["name"].as_str().unwrap();
    let out = docker_ok(&[
        "inspect",
        name,
        "--format",
        "{{index .Config.Labels \"io.dbarena.origin\"}}",
    ])
    .unwrap();
    let out = out.trim();
    (!out.is_empty() && out != "<no value>").then(|| out.to_string())
}

fn image_label(image: &str, label: &str) -> String {
    docker_ok(&[
        "image",
        "inspect",
        image,
        "--format",
        &format!("{{{{index .Config.Labels \"{label}\"}}}}"),
    ])
    .unwrap()
    .trim()
    .to_string()
}

/// Whether `program args` succeeds.
fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).output().unwrap().status.success()
}

fn url_with(instance: &Value, user: &str, password: &str, database: &str) -> String {
    format!(
        "postgresql://{user}:{password}@127.0.0.1:{}/{database}",
        instance["port"].as_u64().unwrap()
    )
}

/// Two creates: the second from a template (made by the first at the latest).
fn twice(arena: &Arena, args: &[&str]) -> (Value, Value, String) {
    let first = create(arena, args);
    let second = create(arena, args);
    let template = origin(&second).expect("the second create starts from the template");
    (first, second, template)
}

#[test]
fn postgres_second_create_is_warm_with_its_own_credentials_only() {
    if !docker_available("postgres_second_create_is_warm_with_its_own_credentials_only") {
        return;
    }
    let arena = Arena::new();
    let (first, second, template) = twice(&arena, &["postgres", "--user", "app", "--database", "shop"]);
    let url = second["url"].as_str().unwrap();
    assert_eq!(
        psql(url, "select current_user || '@' || current_database()"),
        "app@shop"
    );
    psql(url, "create table t(x int); insert into t values (42)");
    assert_eq!(psql(url, "select x from t"), "42");
    // No template role or database is left, and the helper role is gone.
    assert_eq!(
        psql(url, "select count(*) from pg_roles where rolname like 'dbarena%'"),
        "0"
    );
    assert_eq!(
        psql(url, "select count(*) from pg_database where datname like 'dbarena%'"),
        "0"
    );
    // The first instance's password and the template's credentials are refused.
    let first_pw = first["password"].as_str().unwrap();
    assert!(!succeeds(
        "psql",
        &[&url_with(&second, "app", first_pw, "shop"), "-XtAc", "select 1"]
    ));
    let tpl_user = image_label(&template, "io.dbarena.data.user");
    let tpl_pw = image_label(&template, "io.dbarena.data.password");
    // Made with the engine's defaults: a create with the defaults only changes the password.
    assert_eq!(tpl_user, "postgres");
    assert!(!succeeds(
        "psql",
        &[&url_with(&second, &tpl_user, &tpl_pw, "postgres"), "-XtAc", "select 1"]
    ));
    // As after a cold create, the maintenance database is still there beside the wanted one.
    assert_eq!(
        psql(url, "select count(*) from pg_database where datname = 'postgres'"),
        "1"
    );
    assert!(!succeeds(
        "psql",
        &[&url_with(&second, "app", &tpl_pw, "shop"), "-XtAc", "select 1"]
    ));
    // The first instance is untouched by the second.
    assert!(
        psql(
            first["url"].as_str().unwrap(),
            "select count(*) from pg_tables where tablename = 't'"
        ) == "0"
    );
    // `images list` shows the template.
    let images = arena.json(&["images", "list", "--json"]);
    assert!(
        images
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["kind"] == "template" && i["image"] == template.as_str()),
        "{images}"
    );
    // The default path (no flags): warm, its own generated password works, the template's
    // and the first instance's are refused.
    // (From a template of this key: a concurrent test may have made an older one, which wins.)
    let plain = create(&arena, &["postgres"]);
    let plain_origin = origin(&plain).expect("a warm start");
    assert_eq!(
        image_label(&plain_origin, "io.dbarena.template"),
        image_label(&template, "io.dbarena.template")
    );
    assert_eq!(psql(plain["url"].as_str().unwrap(), "select current_user"), "postgres");
    for password in [tpl_pw.as_str(), first_pw] {
        assert!(!succeeds(
            "psql",
            &[&url_with(&plain, "postgres", password, "postgres"), "-XtAc", "select 1"]
        ));
    }
    // --cold neither uses nor needs the template.
    let cold = create(&arena, &["postgres", "--cold"]);
    assert_eq!(origin(&cold), None);
    assert_eq!(psql(cold["url"].as_str().unwrap(), "select 1"), "1");
}

#[test]
fn mariadb_second_create_is_warm_with_its_own_credentials_only() {
    if !docker_available("mariadb_second_create_is_warm_with_its_own_credentials_only") {
        return;
    }
    let arena = Arena::new();
    let (first, second, template) = twice(&arena, &["mysql", "--user", "app", "--database", "my_db"]);
    assert_eq!(
        mysql(&second, "select concat(current_user(), database())"),
        "app@%my_db"
    );
    mysql(&second, "create table t(x int); insert into t values (7)");
    assert_eq!(mysql(&second, "select x from t"), "7");
    let port = second["port"].as_u64().unwrap().to_string();
    let login = |user: &str, password: &str| {
        succeeds(
            "mysql",
            &[
                "-h",
                "127.0.0.1",
                "-P",
                &port,
                "-u",
                user,
                &format!("-p{password}"),
                "-e",
                "select 1",
            ],
        )
    };
    let own = second["password"].as_str().unwrap();
    assert!(login("app", own) && login("root", own));
    let tpl_pw = image_label(&template, "io.dbarena.data.password");
    for (user, password) in [
        ("app", first["password"].as_str().unwrap()),
        ("root", first["password"].as_str().unwrap()),
        ("dbarena_tpl", &tpl_pw),
        ("root", &tpl_pw),
    ] {
        assert!(!login(user, password), "{user} with a foreign password was accepted");
    }
    assert_eq!(
        mysql(
            &second,
            "select count(*) from information_schema.schemata where schema_name = 'dbarena_tpl'"
        ),
        "0"
    );
}

#[test]
fn redis_second_create_is_warm_with_its_own_password_only() {
    if !docker_available("redis_second_create_is_warm_with_its_own_password_only") {
        return;
    }
    let arena = Arena::new();
    let (first, second, template) = twice(&arena, &["redis"]);
    let url = second["url"].as_str().unwrap();
    assert_eq!(redis(url, &["SET", "k", "v"]), "OK");
    assert_eq!(redis(url, &["GET", "k"]), "v");
    let port = second["port"].as_u64().unwrap().to_string();
    let auth = |password: &str| {
        let out = Command::new("redis-cli")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "--no-auth-warning",
                "-a",
                password,
                "PING",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("PONG")
    };
    assert!(auth(second["password"].as_str().unwrap()));
    assert!(!auth(first["password"].as_str().unwrap()));
    assert!(!auth(&image_label(&template, "io.dbarena.data.password")));
}

#[test]
fn a_template_of_another_image_is_not_used() {
    if !docker_available("a_template_of_another_image_is_not_used") {
        return;
    }
    let cleanup = Cleanup::default();
    let arena = Arena::new();
    // An image of its own (another id than the test image's), so its template is its own.
    let image = format!("dbarena-test/postgres-warm:{}", std::process::id());
    let build = Command::new("docker")
        .args(["build", "-q", "-t", &image, "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(
                format!(
                    "FROM dbarena-test/postgres:15\nLABEL warm-test={}\n",
                    std::process::id()
                )
                .as_bytes(),
            )?;
            child.wait()
        })
        .unwrap();
    assert!(build.success());
    cleanup.image(&image);
    let base = create(&arena, &["postgres"]);
    let _ = create(&arena, &["postgres"]);
    let first = create(&arena, &["postgres", "--image", &image]);
    assert_eq!(origin(&first), None, "a template of another image was used");
    let second = create(&arena, &["postgres", "--image", &image]);
    let own = origin(&second).expect("the image's own template");
    assert_ne!(Some(own.clone()), origin(&base));
    assert_eq!(psql(second["url"].as_str().unwrap(), "select 1"), "1");
    // The template is removed with the test's image.
    arena.ok(&[
        "destroy",
        second["name"].as_str().unwrap(),
        first["name"].as_str().unwrap(),
    ]);
    let _ = docker(&["rmi", &own]);
}

#[test]
fn snapshot_write_reset_and_clone_postgres() {
    if !docker_available("snapshot_write_reset_and_clone_postgres") {
        return;
    }
    let cleanup = Cleanup::default();
    let arena = Arena::new();
    let pg = create(&arena, &["postgres"]);
    let name = pg["name"].as_str().unwrap();
    let url = pg["url"].as_str().unwrap();
    psql(url, "create table t as select g from generate_series(1, 10000) g");
    arena.ok(&["snapshot", name, "--tag", "ten"]);
    let snaps = arena.json(&["snapshots", name, "--json"]);
    let snap = &snaps.as_array().unwrap()[0];
    assert_eq!(snap["tag"], "ten", "{snaps}");
    assert!(snap["size_bytes"].as_u64().unwrap() > 0);
    cleanup.image(snap["image"].as_str().unwrap());
    // The instance is back with its data after the snapshot.
    psql(url, "insert into t select g from generate_series(1, 5) g");
    assert_eq!(psql(url, "select count(*) from t"), "10005");

    arena.ok(&["reset", name, "--tag", "ten"]);
    // Same name, port and credentials: the same URL works and holds the snapshot's rows.
    assert_eq!(psql(url, "select count(*) from t"), "10000");

    // Default reset: the state right after create, without the table.
    arena.ok(&["reset", name]);
    assert_eq!(psql(url, "select count(*) from pg_tables where tablename = 't'"), "0");

    // Clone: an independent copy with its own credentials.
    let clone = create(&arena, &["postgres", "--from", &format!("{name}:ten")]);
    let curl = clone["url"].as_str().unwrap();
    assert_ne!(clone["password"], pg["password"]);
    assert_eq!(psql(curl, "select count(*) from t"), "10000");
    psql(curl, "delete from t");
    assert_eq!(psql(curl, "select count(*) from t"), "0");
    arena.ok(&["reset", name, "--tag", "ten"]);
    assert_eq!(psql(url, "select count(*) from t"), "10000");
    // The source's password does not open the clone.
    let source_pw = pg["password"].as_str().unwrap();
    assert!(!succeeds(
        "psql",
        &[
            &url_with(&clone, "postgres", source_pw, "postgres"),
            "-XtAc",
            "select 1"
        ]
    ));

    // Unknown snapshots and tags are clear errors; rm removes.
    let err = arena.fails(&["reset", name, "--tag", "nope"]);
    assert!(err.contains("no snapshot 'nope'"), "{err}");
    assert!(arena.fails(&["snapshot", name, "--tag", "bad tag"]).contains("--tag"));
    arena.ok(&["destroy", clone["name"].as_str().unwrap()]);
    arena.ok(&["reset", name]);
    forget_snapshots(&arena, &cleanup, name);
    arena.ok(&["snapshot", "rm", &format!("{name}:ten")]);
    assert_eq!(arena.json(&["snapshots", name, "--json"]), serde_json::json!([]));
}

#[test]
fn redis_and_mariadb_snapshots_keep_their_data() {
    if !docker_available("redis_and_mariadb_snapshots_keep_their_data") {
        return;
    }
    let cleanup = Cleanup::default();
    let arena = Arena::new();
    let rd = create(&arena, &["redis"]);
    let rname = rd["name"].as_str().unwrap();
    let rurl = rd["url"].as_str().unwrap();
    redis(rurl, &["SET", "k", "snap"]);
    // Redis is quiesced with SAVE, not stopped.
    arena.ok(&["snapshot", rname]);
    redis(rurl, &["SET", "k", "later"]);
    arena.ok(&["reset", rname, "--tag", "latest"]);
    assert_eq!(redis(rurl, &["GET", "k"]), "snap");

    let my = create(&arena, &["mysql", "--user", "app"]);
    let mname = my["name"].as_str().unwrap();
    mysql(&my, "create table t(x int); insert into t values (1)");
    arena.ok(&["snapshot", mname, "--tag", "one"]);
    mysql(&my, "insert into t values (2)");
    arena.ok(&["reset", mname, "--tag", "one"]);
    assert_eq!(mysql(&my, "select count(*) from t"), "1");
    let clone = create(&arena, &["mysql", "--user", "other", "--from", mname]);
    assert_eq!(mysql(&clone, "select count(*) from t"), "1");
    // The clone (other user) is independent of its source.
    mysql(&clone, "delete from t");
    assert_eq!(mysql(&my, "select count(*) from t"), "1");
    arena.ok(&["destroy", clone["name"].as_str().unwrap()]);
    forget_snapshots(&arena, &cleanup, rname);
    forget_snapshots(&arena, &cleanup, mname);
}

/// Removes `name`'s snapshots when the test ends (after its instances: `cleanup` must be
/// declared before the arena, so that it is dropped after it).
fn forget_snapshots(arena: &Arena, cleanup: &Cleanup, name: &str) {
    for s in arena.json(&["snapshots", name, "--json"]).as_array().unwrap() {
        cleanup.image(s["image"].as_str().unwrap());
    }
}

fn containers_named(prefix: &str) -> Vec<String> {
    docker_ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("name={prefix}"),
    ])
    .unwrap()
    .lines()
    .map(str::to_string)
    .collect()
}

fn state(name: &str) -> String {
    docker_ok(&["inspect", name, "--format", "{{.State.Status}}"])
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn ctrl_c_during_reset_puts_the_instance_back_as_it_was() {
    if !docker_available("ctrl_c_during_reset_puts_the_instance_back_as_it_was") {
        return;
    }
    let arena = Arena::new();
    // Cold with a long init window: a default reset initialises again, slowly.
    let pg = create(&arena, &["postgres", "--cold", "--env", "DBARENA_TEST_INIT_DELAY=30"]);
    let name = pg["name"].as_str().unwrap();
    let url = pg["url"].as_str().unwrap();
    psql(url, "create table keep(x int); insert into keep values (1)");
    let child = arena
        .cmd()
        .args(["reset", name])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the replacement container", std::time::Duration::from_secs(60), || {
        containers_named(&format!("{name}-reset-")).len() == 1
            && docker_ok(&["inspect", name, "--format", "{{.State.Status}}"]).is_ok_and(|s| s.trim() == "running")
    });
    run("kill", &["-INT", &child.id().to_string()]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    // The old container is back under its name, running, with its data (on the port
    // Docker picks again at a start; the message says so).
    assert!(containers_named(&format!("{name}-reset-")).is_empty());
    let err = stderr(&out);
    assert_eq!(
        state(name),
        "running",
        "{err}\nexit code {:?}; last log lines:\n{}",
        docker_ok(&["inspect", name, "--format", "{{.State.ExitCode}} {{.State.Error}}"]),
        {
            let logs = common::docker(&["logs", "--tail", "30", name]);
            format!("{}{}", common::stdout(&logs), common::stderr(&logs))
        }
    );
    assert!(err.contains("put back with its data"), "{err}");
    let url = arena.ok(&["url", name]).trim().to_string();
    wait_until("the old server", std::time::Duration::from_secs(30), || {
        std::process::Command::new("psql")
            .args([url.as_str(), "-XtAc", "select x from keep"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "1")
    });
}

#[test]
fn ctrl_c_during_snapshot_leaves_the_instance_running_and_nothing_behind() {
    if !docker_available("ctrl_c_during_snapshot_leaves_the_instance_running_and_nothing_behind") {
        return;
    }
    let cleanup = Cleanup::default();
    let arena = Arena::new();
    let pg = create(&arena, &["postgres"]);
    let name = pg["name"].as_str().unwrap();
    let url = pg["url"].as_str().unwrap();
    psql(
        url,
        "create table big as select g, repeat('x', 500) as pad from generate_series(1, 200000) g",
    );
    for delay_ms in [100, 400] {
        let child = arena
            .cmd()
            .args(["snapshot", name, "--tag", "interrupted"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        run("kill", &["-INT", &child.id().to_string()]);
        let out = child.wait_with_output().unwrap();
        // Interrupted (130) or already done (0): either way the instance runs, unfrozen.
        assert!(matches!(out.status.code(), Some(0 | 130)), "{}", stderr(&out));
        assert_eq!(state(name), "running", "{}", stderr(&out));
        assert_eq!(psql(url, "select count(*) from big"), "200000");
    }
    forget_snapshots(&arena, &cleanup, name);
}

#[test]
fn hostile_postgres_credentials_are_applied_to_a_template_intact() {
    if !docker_available("hostile_postgres_credentials_are_applied_to_a_template_intact") {
        return;
    }
    let arena = Arena::new();
    let hostile = [
        "--user",
        "a'b\"c;-- `x` $y :z",
        "--password",
        "p'w\"d;-- \\ `x`",
        "--database",
        "d'b\"c;--",
    ];
    let (_, second, _) = twice(
        &arena,
        &[
            "postgres", hostile[0], hostile[1], hostile[2], hostile[3], hostile[4], hostile[5],
        ],
    );
    assert_eq!(second["user"], hostile[1]);
    let url = second["url"].as_str().unwrap();
    assert_eq!(
        psql(url, "select current_user || '|' || current_database()"),
        format!("{}|{}", hostile[1], hostile[5])
    );
}

/// A volume's labels (the instance record dbarena keeps on it).
fn volume_labels(volume: &str) -> String {
    docker_ok(&["volume", "inspect", volume, "--format", "{{json .Labels}}"])
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn persistent_reset_needs_its_flag_and_replaces_the_volume_data_in_place() {
    if !docker_available("persistent_reset_needs_its_flag_and_replaces_the_volume_data_in_place") {
        return;
    }
    let cleanup = Cleanup::default();
    let arena = Arena::new();
    let name = arena.name("persist");
    let pg = create(&arena, &["postgres", "--persistent", "--name", &name]);
    let url = pg["url"].as_str().unwrap();
    let volume = format!("{name}-data");
    let record = volume_labels(&volume);
    psql(url, "create table t as select g from generate_series(1, 1000) g");
    arena.ok(&["snapshot", &name, "--tag", "base"]);
    forget_snapshots(&arena, &cleanup, &name);
    // The snapshot only read the volume: the instance serves it as before.
    psql(url, "insert into t select g from generate_series(1, 5) g");
    assert_eq!(psql(url, "select count(*) from t"), "1005");

    // Without the flag: refused, naming it, and nothing changed.
    let err = arena.fails(&["reset", &name, "--tag", "base"]);
    assert!(err.contains("--replace-volume"), "{err}");
    assert_eq!(psql(url, "select count(*) from t"), "1005");

    // With it: the snapshot's rows behind the same URL (name, port, credentials), in the
    // same volume, and no helper left behind.
    arena.ok(&["reset", &name, "--tag", "base", "--replace-volume"]);
    assert_eq!(psql(url, "select count(*) from t"), "1000");
    assert_eq!(volume_labels(&volume), record);
    assert!(containers_named(&format!("{name}-refill-")).is_empty());

    // Without a tag: the state right after create, still with the instance's own password.
    arena.ok(&["reset", &name, "--replace-volume"]);
    assert_eq!(psql(url, "select count(*) from pg_tables where tablename = 't'"), "0");
    let wrong = url_with(&pg, "postgres", "not-the-password", "postgres");
    assert!(!succeeds("psql", &[&wrong, "-XtAc", "select 1"]));

    // The reset data is what the volume keeps: destroyed and created again, it is adopted.
    psql(url, "create table after_reset(x int)");
    arena.ok(&["destroy", &name]);
    let again = create(&arena, &["postgres", "--persistent", "--name", &name]);
    let url = again["url"].as_str().unwrap();
    assert_eq!(psql(url, "select count(*) from after_reset"), "0");
}

/// Waits for `child` at most `within`, killing it past that (a hung process fails the test
/// instead of hanging the suite).
fn wait_bounded(child: std::process::Child, within: std::time::Duration) -> std::process::Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("dbarena (pid {pid}) still running after {within:?}");
        }
    }
}

/// Ten concurrent commands on one instance: one works at a time, the others are told at
/// once that it is busy (exit 75), and the instance is never left frozen or renamed away.
#[test]
fn concurrent_snapshots_and_resets_of_one_instance_are_serialised() {
    if !docker_available("concurrent_snapshots_and_resets_of_one_instance_are_serialised") {
        return;
    }
    let cleanup = Cleanup::default();
    let arena = Arena::new();
    let pg = create(&arena, &["postgres"]);
    let name = pg["name"].as_str().unwrap();
    let url = pg["url"].as_str().unwrap();
    psql(url, "create table t as select g from generate_series(1, 10000) g");
    for command in [["snapshot", name, "--tag", "race"], ["reset", name, "--tag", "race"]] {
        let children: Vec<_> = (0..10)
            .map(|_| {
                arena
                    .cmd()
                    .args(command)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = children
            .into_iter()
            .map(|c| wait_bounded(c, std::time::Duration::from_secs(120)))
            .collect();
        let mut done = 0;
        for out in &outs {
            match out.status.code() {
                Some(0) => done += 1,
                Some(75) => assert!(
                    stderr(out).contains("is busy: another dbarena (pid "),
                    "{}",
                    stderr(out)
                ),
                code => panic!("{command:?} exited {code:?}: {}", stderr(out)),
            }
        }
        assert!(done >= 1, "{command:?}: none of the ten worked");
        assert_eq!(state(name), "running", "{command:?}");
        assert!(containers_named(&format!("{name}-reset-")).is_empty());
        assert_eq!(psql(url, "select count(*) from t"), "10000");
    }
    forget_snapshots(&arena, &cleanup, name);
}

/// A snapshot killed (SIGKILL) while its instance is frozen: the next command on the
/// instance thaws it.
#[test]
fn a_freeze_left_by_a_killed_snapshot_is_undone_by_the_next_command() {
    if !docker_available("a_freeze_left_by_a_killed_snapshot_is_undone_by_the_next_command") {
        return;
    }
    let cleanup = Cleanup::default();
    let arena = Arena::new();
    let pg = create(&arena, &["postgres"]);
    let name = pg["name"].as_str().unwrap();
    let url = pg["url"].as_str().unwrap();
    psql(
        url,
        "create table big as select g, repeat('x', 500) as pad from generate_series(1, 400000) g",
    );
    let staging_before = containers_named("dbarena-stage-");
    let mut child = arena
        .cmd()
        .args(["snapshot", name, "--tag", "killed"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the freeze", std::time::Duration::from_secs(60), || {
        state(name) == "paused"
    });
    child.kill().unwrap();
    child.wait().unwrap();
    // A SIGKILLed process cannot remove its staging container (nothing collects it yet).
    for staged in containers_named("dbarena-stage-") {
        if !staging_before.contains(&staged) {
            let _ = docker(&["rm", "-f", "-v", &staged]);
        }
    }
    assert_eq!(state(name), "paused", "SIGKILL leaves the freeze");
    let out = arena.cmd().args(["snapshot", name, "--tag", "after"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("left frozen by an interrupted snapshot"),
        "{}",
        stderr(&out)
    );
    assert_eq!(state(name), "running");
    assert_eq!(psql(url, "select count(*) from big"), "400000");
    forget_snapshots(&arena, &cleanup, name);
}

/// Ctrl-C during `reset --replace-volume`: either the volume's own data is back (and the
/// message says so), or the reset had finished (and the message says that); never the
/// snapshot's data behind a message that promises the old.
#[test]
fn ctrl_c_during_persistent_reset_keeps_the_volumes_own_data_or_says_it_finished() {
    if !docker_available("ctrl_c_during_persistent_reset_keeps_the_volumes_own_data_or_says_it_finished") {
        return;
    }
    let cleanup = Cleanup::default();
    let arena = Arena::new();
    let name = arena.name("persist-int");
    let pg = create(&arena, &["postgres", "--persistent", "--name", &name]);
    let url = pg["url"].as_str().unwrap();
    psql(url, "create table t as select g from generate_series(1, 1000) g");
    arena.ok(&["snapshot", &name, "--tag", "base"]);
    forget_snapshots(&arena, &cleanup, &name);
    let mut put_back = 0;
    for delay_ms in [0, 150, 400] {
        psql(url, "insert into t select g from generate_series(1, 5) g");
        let before = psql(url, "select count(*) from t");
        let child = arena
            .cmd()
            .args(["reset", &name, "--tag", "base", "--replace-volume"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_until("the refill helper", std::time::Duration::from_secs(60), || {
            !containers_named(&format!("{name}-refill-")).is_empty()
        });
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        run("kill", &["-INT", &child.id().to_string()]);
        let out = wait_bounded(child, std::time::Duration::from_secs(120));
        let err = stderr(&out);
        let url = arena.ok(&["url", &name]).trim().to_string();
        wait_until("the server", std::time::Duration::from_secs(30), || {
            succeeds("psql", &[&url, "-XtAc", "select 1"])
        });
        let now = psql(&url, "select count(*) from t");
        if err.contains("put back with its own data") {
            assert_eq!(out.status.code(), Some(130), "{err}");
            assert_eq!(now, before, "{err}");
            put_back += 1;
        } else {
            assert!(err.contains("interrupted after the work was done"), "{err}");
            assert_eq!(now, "1000", "{err}");
        }
        assert!(containers_named(&format!("{name}-refill-")).is_empty());
    }
    assert!(put_back >= 1, "an interrupt during the refill puts the data back");
}
