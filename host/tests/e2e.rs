//! dbarena end to end on a real Docker engine, with real database servers built from
//! Debian packages (tests/images): create, readiness, lifecycle, volumes, ports, errors.

mod common;

use common::*;
use serde_json::Value;
use std::net::TcpListener;

fn create(arena: &Arena, args: &[&str]) -> Value {
    let mut all = vec!["create", "--json"];
    all.extend_from_slice(args);
    let created = arena.json(&all);
    for i in created.as_array().unwrap() {
        arena.track(i["name"].as_str().unwrap());
    }
    created
}

fn rand_tag() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

#[test]
fn three_engines_in_parallel_then_the_whole_lifecycle() {
    if !docker_available("three_engines_in_parallel_then_the_whole_lifecycle") {
        return;
    }
    let arena = Arena::new();
    let created = create(&arena, &["postgres", "mysql", "redis"]);
    assert_eq!(created.as_array().unwrap().len(), 3, "{created}");
    let pg = by_engine(&created, "postgres");
    let my = by_engine(&created, "mysql");
    let rd = by_engine(&created, "redis");
    for i in [pg, my, rd] {
        for key in [
            "name",
            "engine",
            "version",
            "status",
            "host",
            "port",
            "user",
            "password",
            "database",
            "url",
            "persistent",
        ] {
            assert!(!i[key].is_null(), "{key} missing in {i}");
        }
        assert_eq!(i["status"], "healthy");
        assert_eq!(i["host"], "127.0.0.1");
        assert_eq!(i["persistent"], false);
        assert!(
            i["password"].as_str().unwrap().len() >= 20,
            "generated password should be strong"
        );
    }
    assert_eq!(pg["version"], "15");

    // Real queries through the printed connection info, from the host.
    assert_eq!(psql(pg["url"].as_str().unwrap(), "select 40 + 2"), "42");
    assert_eq!(mysql(my, "select 40 + 2"), "42");
    assert_eq!(redis(rd["url"].as_str().unwrap(), &["SET", "k", "v"]), "OK");
    assert_eq!(redis(rd["url"].as_str().unwrap(), &["GET", "k"]), "v");

    // Ports are published on loopback only.
    let pg_name = pg["name"].as_str().unwrap();
    let ports = stdout(&docker(&["port", pg_name]));
    assert!(ports.contains("127.0.0.1:") && !ports.contains("0.0.0.0"), "{ports}");

    // list and inspect read the truth back from Docker.
    let listed = arena.json(&["list", "--json"]);
    for i in [pg, my, rd] {
        let found = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == i["name"])
            .expect("listed");
        assert_eq!(found["status"], "healthy", "{found}");
        assert_eq!(found["port"], i["port"]);
        assert_eq!(found["url"], i["url"]);
    }
    let inspected = arena.json(&["inspect", pg_name, "--json"]);
    assert_eq!(inspected["password"], pg["password"]);
    assert_eq!(inspected["engine"], "postgres");

    // stop → stopped; start → healthy again and usable; restart → healthy.
    arena.ok(&["stop", pg_name]);
    let after_stop = arena.json(&["inspect", pg_name, "--json"]);
    assert_eq!(after_stop["status"], "stopped");
    let running = arena.json(&["list", "--json"]);
    assert!(
        running.as_array().unwrap().iter().all(|l| l["name"] != pg_name),
        "stopped instance listed without --all"
    );
    let all = arena.json(&["list", "--all", "--json"]);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == pg_name && l["status"] == "stopped")
    );

    let started = arena.json(&["start", pg_name, "--json"]);
    assert_eq!(started[0]["status"], "healthy");
    assert_eq!(psql(started[0]["url"].as_str().unwrap(), "select 1"), "1");
    let restarted = arena.json(&["restart", pg_name, "--json"]);
    assert_eq!(restarted[0]["status"], "healthy");
    assert_eq!(psql(restarted[0]["url"].as_str().unwrap(), "select 2"), "2");

    // logs shows the server's output.
    let out = arena.cmd().args(["logs", pg_name, "--tail", "200"]).output().unwrap();
    assert!(out.status.success());
    let logs = stdout(&out) + &stderr(&out);
    assert!(
        logs.contains("database system is ready to accept connections"),
        "{logs}"
    );

    // destroy leaves no container and no anonymous volume behind.
    let mut anonymous = Vec::new();
    for i in [pg, my, rd] {
        let name = i["name"].as_str().unwrap();
        let vols = arena.json(&["inspect", name, "--json"])["volumes"].clone();
        anonymous.extend(vols.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()));
    }
    assert!(
        !anonymous.is_empty(),
        "the test images declare VOLUMEs, so anonymous volumes must exist"
    );
    let names: Vec<&str> = [pg, my, rd].iter().map(|i| i["name"].as_str().unwrap()).collect();
    let mut destroy = vec!["destroy"];
    destroy.extend(&names);
    arena.ok(&destroy);
    for name in names {
        assert!(!container_exists(name), "{name} still exists");
    }
    for v in anonymous {
        assert!(!volume_exists(&v), "anonymous volume {v} leaked");
    }
}

/// Runs `sql` against an instance as `dbarena create --json` printed it: psql through its
/// URL for postgres, the mysql client with its own user and password otherwise.
fn query(instance: &Value, sql: &str) -> String {
    match instance["engine"].as_str().unwrap() {
        "postgres" => psql(instance["url"].as_str().unwrap(), sql),
        _ => mysql(instance, sql),
    }
}

#[test]
fn a_persistent_instance_keeps_its_data_and_credentials_across_destroy_and_create() {
    if !docker_available("a_persistent_instance_keeps_its_data_and_credentials_across_destroy_and_create") {
        return;
    }
    let arena = Arena::new();
    for engine in ["postgres", "mysql"] {
        let name = arena.name(&format!("persist-{engine}"));
        // The user's default path: a generated password, no credential flags.
        let first = create(&arena, &[engine, "--persistent", "--name", &name]);
        let password = first[0]["password"].as_str().unwrap().to_string();
        query(&first[0], "create table kept (v text)");
        query(&first[0], "insert into kept values ('survives')");

        let out = arena.ok(&["destroy", &name]);
        assert!(out.contains("kept persistent volume"), "{out}");
        let volume = format!("{name}-data");
        assert!(volume_exists(&volume));
        assert!(!container_exists(&name));

        // The data is still an instance: `list --all` and `inspect` show it.
        let listed = arena.json(&["list", "--all", "--json"]);
        let orphan = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name.as_str())
            .unwrap_or_else(|| panic!("volume-only {name} missing from list --all: {listed}"));
        assert_eq!(orphan["status"], "orphaned", "{orphan}");
        assert_eq!(arena.json(&["inspect", &name, "--json"])["status"], "orphaned");

        // Re-creating without credentials reuses the ones the data keeps, and the printed
        // connection info works (it did not: a new password was printed and refused).
        let second = create(&arena, &[engine, "--persistent", "--name", &name]);
        assert_eq!(second[0]["password"], password.as_str(), "{second}");
        assert_eq!(query(&second[0], "select v from kept"), "survives");
        arena.ok(&["destroy", &name]);

        // What the data cannot serve is a clear error before anything is made.
        let err = arena.fails(&[
            "create",
            engine,
            "--persistent",
            "--name",
            &name,
            "--password",
            "Other-pw-123",
        ]);
        assert!(err.contains("--password") && err.contains("--remove-volume"), "{err}");
        assert!(!container_exists(&name), "a refused create must make nothing");
        let other_engine = if engine == "postgres" { "redis" } else { "postgres" };
        let err = arena.fails(&["create", other_engine, "--persistent", "--name", &name]);
        assert!(err.contains(&format!("made by {engine}")), "{err}");

        // Only the volume is left: destroy deletes it by name, with confirmation.
        let refused = arena.fails(&["destroy", &name, "--remove-volume"]);
        assert!(refused.contains("-y"), "{refused}");
        assert!(volume_exists(&volume), "nothing may be deleted when refused");
        arena.ok(&["destroy", &name, "--remove-volume", "-y"]);
        assert!(!volume_exists(&volume));
    }
}

#[test]
fn ready_means_the_instance_credentials_are_accepted() {
    if !docker_available("ready_means_the_instance_credentials_are_accepted") {
        return;
    }
    let arena = Arena::new();
    let created = create(&arena, &["postgres", "redis"]);
    let pg = by_engine(&created, "postgres");
    let redis_instance = by_engine(&created, "redis");
    assert!(
        pg["server_version"].as_str().is_some_and(|v| v.starts_with("15")),
        "the handshake reports the server's version: {pg}"
    );
    // Change the password inside the servers: they still accept connections, but not
    // with the credentials dbarena recorded, so they must never count as ready.
    let pg_name = pg["name"].as_str().unwrap();
    let user = pg["user"].as_str().unwrap();
    let alter = format!("ALTER USER \"{user}\" PASSWORD 'changed-behind-our-back'");
    run(
        "docker",
        &[
            "exec",
            pg_name,
            "psql",
            "-U",
            user,
            "-d",
            pg["database"].as_str().unwrap(),
            "-c",
            &alter,
        ],
    );
    let redis_name = redis_instance["name"].as_str().unwrap();
    let url = redis_instance["url"].as_str().unwrap();
    redis(
        url,
        &["ACL", "SETUSER", "default", "resetpass", ">changed-behind-our-back"],
    );

    for (name, server_says) in [(pg_name, "password authentication failed"), (redis_name, "WRONGPASS")] {
        let err = arena.fails(&["start", name, "--timeout", "20"]);
        assert!(err.contains(server_says), "{name}: {err}");
        let listed = arena.json(&["inspect", name, "--json"]);
        assert_ne!(listed["status"], "healthy", "{listed}");
    }
}

#[test]
fn a_container_that_cannot_start_is_removed_with_its_volume() {
    if !docker_available("a_container_that_cannot_start_is_removed_with_its_volume") {
        return;
    }
    // An image with no files at all: Docker creates the container, then fails to start it.
    let image = "dbarena-test/empty:latest";
    if !docker(&["image", "inspect", image]).status.success() {
        let mut import = std::process::Command::new("docker")
            .args(["import", "-", image])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let empty_tar = [0u8; 1024]; // two zero blocks: an empty archive
        std::io::Write::write_all(import.stdin.as_mut().unwrap(), &empty_tar).unwrap();
        drop(import.stdin.take());
        assert!(import.wait().unwrap().success());
    }
    let arena = Arena::new();
    let name = arena.name("nostart");
    let err = arena.fails(&["create", "postgres", "--persistent", "--name", &name, "--image", image]);
    assert!(err.contains("starting container"), "{err}");
    assert!(!container_exists(&name), "the Created container was left behind");
    assert!(
        !volume_exists(&format!("{name}-data")),
        "the new volume was left behind"
    );
}

#[test]
fn start_and_restart_wait_with_the_options_create_recorded() {
    if !docker_available("start_and_restart_wait_with_the_options_create_recorded") {
        return;
    }
    let arena = Arena::new();
    let name = arena.name("recorded");
    create(
        &arena,
        &[
            "redis",
            "--name",
            &name,
            "--memory",
            "256m",
            "--env",
            "REDIS_MAXMEMORY_POLICY=allkeys-lru",
        ],
    );
    for step in [&["stop", name.as_str()][..], &["start", &name], &["restart", &name]] {
        arena.ok(step);
    }
    let inspected = docker(&["inspect", "-f", "{{.HostConfig.Memory}}", &name]);
    assert_eq!(stdout(&inspected).trim(), (256u64 << 20).to_string());
    let url = arena.json(&["inspect", &name, "--json"])["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        redis(&url, &["CONFIG", "GET", "maxmemory-policy"]),
        "maxmemory-policy\nallkeys-lru"
    );
}

#[test]
fn readiness_is_not_reported_while_the_temporary_init_server_runs() {
    if !docker_available("readiness_is_not_reported_while_the_temporary_init_server_runs") {
        return;
    }
    let arena = Arena::new();
    // The test images hold their socket-only init server for this long, as the official
    // images do while running init scripts.
    let created = create(
        &arena,
        &["postgres", "mysql", "--cold", "--env", "DBARENA_TEST_INIT_DELAY=6"],
    );
    for i in created.as_array().unwrap() {
        let name = i["name"].as_str().unwrap();
        let logs = stdout(&docker(&["logs", name]));
        assert!(
            logs.contains("dbarena-test: init complete, starting real server"),
            "{name} was reported ready before the real server started:\n{logs}"
        );
    }
    assert_eq!(
        psql(by_engine(&created, "postgres")["url"].as_str().unwrap(), "select 1"),
        "1"
    );
    assert_eq!(mysql(by_engine(&created, "mysql"), "select 1"), "1");
}

#[test]
fn concurrent_creates_get_different_ports() {
    if !docker_available("concurrent_creates_get_different_ports") {
        return;
    }
    let arena = Arena::new();
    let a = arena.name("conc-a");
    let b = arena.name("conc-b");
    let spawn = |name: &str| {
        arena
            .cmd()
            .args(["create", "redis", "--json", "--name", name])
            .output()
            .unwrap()
    };
    let (out_a, out_b) = std::thread::scope(|s| {
        let ha = s.spawn(|| spawn(&a));
        let hb = s.spawn(|| spawn(&b));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert!(out_a.status.success(), "{}", stderr(&out_a));
    assert!(out_b.status.success(), "{}", stderr(&out_b));
    let ia: Value = serde_json::from_slice(&out_a.stdout).unwrap();
    let ib: Value = serde_json::from_slice(&out_b.stdout).unwrap();
    assert_ne!(ia[0]["port"], ib[0]["port"]);
    for i in [&ia[0], &ib[0]] {
        assert_eq!(redis(i["url"].as_str().unwrap(), &["PING"]), "PONG");
    }
}

#[test]
fn ports_taken_by_other_programs_are_skipped_or_refused() {
    if !docker_available("ports_taken_by_other_programs_are_skipped_or_refused") {
        return;
    }
    let arena = Arena::new();
    // A port held by a plain program: --port on it is an error, nothing is left behind.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = listener.local_addr().unwrap().port().to_string();
    let name = arena.name("taken");
    let err = arena.fails(&["create", "redis", "--name", &name, "--port", &taken]);
    assert!(err.contains(&format!("port {taken} is already in use")), "{err}");
    assert!(!container_exists(&name), "a refused create must leave nothing behind");

    // The engine's default port held by a plain program: another port is used instead.
    // (Other tests' Redis instances may hold 6379 for a while: wait until it is ours.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let default_holder = loop {
        match TcpListener::bind("127.0.0.1:6379") {
            Ok(listener) => break listener,
            Err(e) if std::time::Instant::now() > deadline => panic!("cannot hold 127.0.0.1:6379: {e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    };
    let created = create(&arena, &["redis"]);
    let port = created[0]["port"].as_u64().unwrap();
    assert_ne!(port, 6379, "6379 is held by this test");
    assert_eq!(redis(created[0]["url"].as_str().unwrap(), &["PING"]), "PONG");
    drop(default_holder);
}

#[test]
fn a_server_that_dies_fails_with_its_log_and_leaves_nothing() {
    if !docker_available("a_server_that_dies_fails_with_its_log_and_leaves_nothing") {
        return;
    }
    let arena = Arena::new();
    let name = arena.name("dies");
    // redis-server refuses an unknown directive and exits at once.
    let err = arena.fails(&[
        "create",
        "redis",
        "--name",
        &name,
        "--env",
        "REDIS_NO_SUCH_DIRECTIVE=1",
        "--timeout",
        "30",
    ]);
    assert!(err.contains("stopped") || err.contains("exit"), "{err}");
    assert!(
        err.contains("last log lines") && err.contains("no-such-directive"),
        "{err}"
    );
    assert!(!container_exists(&name), "failed create must remove its container");

    // With --keep-on-failure the container stays for debugging.
    let kept = arena.name("kept");
    let err = arena.fails(&[
        "create",
        "redis",
        "--name",
        &kept,
        "--env",
        "REDIS_NO_SUCH_DIRECTIVE=1",
        "--keep-on-failure",
    ]);
    assert!(err.contains("kept container"), "{err}");
    assert!(container_exists(&kept));
}

#[test]
fn bad_input_and_foreign_containers_get_clear_errors() {
    if !docker_available("bad_input_and_foreign_containers_get_clear_errors") {
        return;
    }
    let arena = Arena::new();
    assert!(
        arena
            .fails(&["create", "nosuchdb"])
            .contains("unknown engine 'nosuchdb'")
    );
    assert!(arena.fails(&["create", "postgres@9"]).contains("no version '9'"));
    assert!(
        arena
            .fails(&["create", "redis", "--memory", "lots"])
            .contains("invalid --memory")
    );
    assert!(
        arena
            .fails(&["create", "redis", "--name", "bad name"])
            .contains("invalid --name")
    );
    assert!(
        arena
            .fails(&["inspect", "no-such-instance"])
            .contains("no instance named")
    );

    // A container dbarena did not create is never touched.
    let foreign = arena.name("foreign");
    let run = docker(&["run", "-d", "--name", &foreign, "dbarena-test/redis:7"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let err = arena.fails(&["destroy", &foreign]);
    assert!(err.contains("not created by dbarena"), "{err}");
    assert!(container_exists(&foreign));

    // A name collision is an error, not a silent rename.
    let err = arena.fails(&["create", "redis", "--name", &foreign]);
    assert!(err.contains("already exists"), "{err}");

    // No Docker: one actionable line, non-zero exit.
    let out = arena
        .cmd()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot reach the container engine"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn images_are_pulled_from_a_registry_with_progress() {
    if !docker_available("images_are_pulled_from_a_registry_with_progress") {
        return;
    }
    let up = std::process::Command::new("bash")
        .arg(repo_root().join(".ci/registry-up.sh"))
        .output()
        .unwrap();
    assert!(up.status.success(), "registry: {}", stderr(&up));
    let tag = format!("127.0.0.1:5000/dbarena-pulltest/redis:{}", std::process::id());
    run("docker", &["tag", "dbarena-test/redis:7", &tag]);
    run("docker", &["push", &tag]);
    run("docker", &["rmi", &tag]);

    let arena = Arena::new();
    let name = arena.name("pulled");
    let out = arena
        .cmd()
        .args(["create", "redis", "--json", "--name", &name, "--image", &tag])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created[0]["image"], tag.as_str());
    assert_eq!(redis(created[0]["url"].as_str().unwrap(), &["PING"]), "PONG");

    // `images pull` reports per-layer progress even without a terminal. The image must have
    // a layer this daemon has never seen, so this one is made of fresh random bytes.
    arena.ok(&["destroy", &name]);
    let _ = docker(&["rmi", &tag]);
    let blob_dir = tempfile::tempdir().unwrap();
    let noise: Vec<u8> = (0..(4u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ std::process::id() as u8)
        .collect();
    std::fs::write(blob_dir.path().join("noise.bin"), noise).unwrap();
    let fresh = format!(
        "127.0.0.1:5000/dbarena-pulltest/fresh:{}-{}",
        std::process::id(),
        rand_tag()
    );
    let import = format!("tar -C {} -c . | docker import - {fresh}", blob_dir.path().display());
    run("bash", &["-c", &import]);
    run("docker", &["push", &fresh]);
    run("docker", &["rmi", &fresh]);
    std::fs::write(arena.config_path(), format!("[engines.redis]\nimage = \"{fresh}\"\n")).unwrap();
    let out = arena.cmd().args(["images", "pull", "redis"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("pulled {fresh}")), "{}", stdout(&out));
    assert!(stderr(&out).contains("Pull complete"), "{}", stderr(&out));
    let _ = docker(&["rmi", &fresh]);

    // `images pull` resolves the version as `create` does: the config's `version` picks
    // the tag (it used to pull the engine's default version, 7, instead).
    let mirror = format!("127.0.0.1:5000/dbarena-pulltest/by-version-{}", std::process::id());
    run("docker", &["tag", "dbarena-test/redis:7", &format!("{mirror}:7.2")]);
    run("docker", &["push", &format!("{mirror}:7.2")]);
    run("docker", &["rmi", &format!("{mirror}:7.2")]);
    std::fs::write(
        arena.config_path(),
        format!("[engines.redis]\nimage = \"{mirror}\"\nversion = \"7.2\"\n"),
    )
    .unwrap();
    let pulled = arena.ok(&["images", "pull", "redis"]);
    assert!(pulled.contains(&format!("pulled {mirror}:7.2")), "{pulled}");
    let _ = docker(&["rmi", &format!("{mirror}:7.2")]);

    // A missing image is a clear error that says what to do.
    let err = arena.fails(&[
        "create",
        "redis",
        "--image",
        "127.0.0.1:5000/dbarena-pulltest/missing:1",
    ]);
    assert!(err.contains("not found") && err.contains("mirror"), "{err}");
}

#[test]
fn the_config_reaches_every_command_and_typos_in_it_are_errors() {
    // No Docker needed: `engines` resolves exactly what `create` would run.
    let arena = Arena::new();
    std::fs::write(
        arena.config_path(),
        "[defaults]\nmemory = \"1g\"\n[engines.postgress]\nversion = \"16\"\n",
    )
    .unwrap();
    let err = arena.fails(&["engines", "postgres"]);
    assert!(
        err.contains("[engines.postgress]")
            && err.contains("did you mean [engines.postgres]")
            && err.contains("config file"),
        "{err}"
    );
    // A plugin this machine does not have is only a warning.
    std::fs::write(arena.config_path(), "[engines.cockroach]\nversion = \"24\"\n").unwrap();
    let out = arena.cmd().args(["engines", "redis"]).output().unwrap();
    assert!(
        out.status.success() && stderr(&out).contains("[engines.cockroach]"),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        arena.config_path(),
        "[defaults]\nmemory = \"1g\"\n[engines.postgres]\nversion = \"16\"\nimage = \"mirror.local/pg\"\n",
    )
    .unwrap();
    let shown = arena.json(&["engines", "postgres", "--json"]);
    assert_eq!(shown["spec"]["memory_limit_bytes"], 1u64 << 30, "{shown}");
    assert_eq!(shown["spec"]["image"], "mirror.local/pg:16", "{shown}");
    let flag_wins = arena.json(&["engines", "postgres@15", "--memory", "512m", "--json"]);
    assert_eq!(flag_wins["spec"]["memory_limit_bytes"], 512u64 << 20);
    assert_eq!(flag_wins["spec"]["image"], "mirror.local/pg:15");

    std::fs::write(arena.config_path(), "[defaults]\nmemory = \"lots\"\n").unwrap();
    let err = arena.fails(&["engines", "redis"]);
    assert!(err.contains("[defaults] memory") && err.contains("lots"), "{err}");
    let err = arena.fails(&["create", "redis", "--timeout", "0"]);
    assert!(err.contains("--timeout"), "{err}");
}

#[test]
fn the_mariadb_example_plugin_is_installed_and_runs_a_real_server() {
    if !docker_available("the_mariadb_example_plugin_is_installed_and_runs_a_real_server") {
        return;
    }
    // Built from its own crate (outside the built-ins) and installed: no host rebuild.
    let wasm = build_plugin(&repo_root().join("plugins/examples/mariadb"), "examples");
    let arena = Arena::new();
    let installed = arena.ok(&["plugin", "install", wasm.to_str().unwrap()]);
    assert!(installed.contains("installed mariadb"), "{installed}");
    let created = create(&arena, &["mariadb", "--user", "shop", "--database", "orders"]);
    let m = &created[0];
    assert_eq!(m["engine"], "mariadb");
    assert_eq!(m["version"], "10.11");
    assert_eq!(m["image"], "dbarena-test/mariadb:10.11");
    assert_eq!(
        mysql(m, "select concat(current_user(), ' ', database())"),
        "shop@% orders"
    );
    arena.ok(&["destroy", m["name"].as_str().unwrap()]);
}

#[test]
fn signals_during_create_leave_nothing_behind() {
    if !docker_available("signals_during_create_leave_nothing_behind") {
        return;
    }
    let arena = Arena::new();
    // Each signal at two moments: while Docker calls are in flight (right after start) and
    // while readiness is awaited (the init delay keeps the create waiting).
    for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        for early in [true, false] {
            let name = arena.name(&format!("sig{}", signal.to_lowercase()));
            let child = arena
                .cmd()
                .args([
                    "create",
                    "postgres",
                    "--persistent",
                    "--name",
                    &name,
                    "--env",
                    "DBARENA_TEST_INIT_DELAY=30",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            if early {
                std::thread::sleep(std::time::Duration::from_millis(150));
            } else {
                wait_until("the container", std::time::Duration::from_secs(60), || {
                    container_exists(&name)
                });
            }
            run("kill", &[&format!("-{signal}"), &child.id().to_string()]);
            let out = child.wait_with_output().unwrap();
            let err = stderr(&out);
            // Interrupted before the handler was installed, the process dies by the signal
            // itself and has made nothing yet; once installed it exits as shells expect.
            if out.status.code().is_some() {
                assert_eq!(out.status.code(), Some(code), "SIG{signal}: {err}");
                assert!(err.contains("nothing was left behind"), "SIG{signal}: {err}");
            }
            assert!(
                !container_exists(&name),
                "SIG{signal} (early: {early}) left the container: {err}"
            );
            assert!(
                !volume_exists(&format!("{name}-data")),
                "SIG{signal} (early: {early}) left the volume: {err}"
            );
        }
    }
}

#[test]
fn env_exports_what_host_clients_use_and_url_prints_the_url() {
    if !docker_available("env_exports_what_host_clients_use_and_url_prints_the_url") {
        return;
    }
    let arena = Arena::new();
    // Credentials that need quoting in every format.
    let pg = create(
        &arena,
        &["postgres", "--user", "app user", "--password", "p@ss w'rd$\"x"],
    );
    let name = pg[0]["name"].as_str().unwrap();
    let exports = arena.ok(&["env", name]);
    let script = format!("{exports}\npsql -XtAc 'select current_user'");
    assert_eq!(run("sh", &["-c", &script]), "app user", "{exports}");
    let json = arena.json(&["env", name, "--format", "json"]);
    assert_eq!(json["PGPASSWORD"], "p@ss w'rd$\"x", "{json}");
    let dotenv = arena.ok(&["env", name, "--format", "dotenv"]);
    assert!(dotenv.lines().any(|l| l == "PGUSER='app user'"), "{dotenv}");
    assert!(
        dotenv.lines().any(|l| l == "PGPASSWORD=\"p@ss w'rd\\$\\\"x\""),
        "{dotenv}"
    );
    assert_eq!(arena.ok(&["url", name]).trim(), pg[0]["url"].as_str().unwrap());

    // Two instances exporting the same names: each is prefixed, nothing is overwritten.
    let other = create(&arena, &["postgres"]);
    let other_name = other[0]["name"].as_str().unwrap();
    let both = arena.json(&["env", name, other_name, "--format", "json"]);
    let key = |n: &str| format!("{}_PGPORT", n.to_uppercase().replace('-', "_"));
    assert_eq!(both[key(name)], pg[0]["port"].to_string(), "{both}");
    assert_eq!(both[key(other_name)], other[0]["port"].to_string(), "{both}");
    assert!(both.get("PGPORT").is_none(), "{both}");
}
