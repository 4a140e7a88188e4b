//! Projects (`dbarena.toml`, `up`, `down`, `env` with no name) and the safety of `--all`,
//! through the binary against real servers on the default path (generated passwords,
//! Docker-picked ports).

mod common;

use common::{Arena, container_exists, docker_available, docker_engine_available, stderr, stdout, volume_exists};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// dbarena `args` run in `dir`, with no terminal on stdin.
fn in_dir(arena: &Arena, dir: &Path, args: &[&str]) -> Output {
    arena
        .cmd()
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok_in(arena: &Arena, dir: &Path, args: &[&str]) -> Output {
    let out = in_dir(arena, dir, args);
    assert!(
        out.status.success(),
        "dbarena {args:?} in {} failed:\n{}{}",
        dir.display(),
        stdout(&out),
        stderr(&out)
    );
    out
}

fn json_in(arena: &Arena, dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = stdout(&ok_in(arena, dir, args));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("dbarena {args:?}: not JSON ({e}): {out}"))
}

fn container_id(name: &str) -> String {
    let out = common::docker(&["container", "inspect", "-f", "{{.Id}}", name]);
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// `sh -c SCRIPT` after `eval` of `env` (the output of `up` or `env`).
fn with_env(env: &str, script: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("eval \"$ENVS\"\n{script}"))
        .env("ENVS", env)
        .output()
        .unwrap()
}

#[test]
fn up_is_idempotent_env_works_and_down_touches_only_its_project() {
    if !docker_available("up_is_idempotent_env_works_and_down_touches_only_its_project") {
        return;
    }
    let arena = Arena::new();
    let (pg, cache, other, outside) = (
        arena.name("proj-pg"),
        arena.name("proj-cache"),
        arena.name("proj-other"),
        arena.name("proj-outside"),
    );
    let root = tempfile::tempdir().unwrap();
    let app = root.path().join("app");
    let deep = app.join("src/deep");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::create_dir_all(app.join("db")).unwrap();
    std::fs::write(
        app.join("db/schema.sql"),
        "create table items (id int primary key); insert into items values (42);",
    )
    .unwrap();
    std::fs::write(
        app.join("dbarena.toml"),
        format!(
            "# the app's databases\n\
             [instances.{pg}]\nengine = \"postgres\"\ninit = \"db/schema.sql\"\n\n\
             [instances.{cache}]\nengine = \"redis\"\npersistent = true\n"
        ),
    )
    .unwrap();
    let second = root.path().join("second");
    std::fs::create_dir_all(&second).unwrap();
    std::fs::write(
        second.join("dbarena.toml"),
        format!("[instances.{other}]\nengine = \"redis\"\n"),
    )
    .unwrap();

    // `up` from a subdirectory finds the file above it and prints the env for `eval`.
    let first = ok_in(&arena, &deep, &["up"]);
    assert!(stderr(&first).contains("created"), "{}", stderr(&first));
    let env = stdout(&first);
    let out = with_env(&env, "psql \"$DATABASE_URL\" -tAc 'select id from items'");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out).trim(), "42", "the relative init script ran");
    let out = with_env(&env, "redis-cli -u \"$REDIS_URL\" ping");
    assert_eq!(stdout(&out).trim(), "PONG", "{}", stderr(&out));
    let ids = (container_id(&pg), container_id(&cache));
    let inspected = json_in(&arena, &app, &["inspect", &pg, "--json"]);
    assert_eq!(
        inspected["project"].as_str().unwrap(),
        app.canonicalize().unwrap().to_str().unwrap(),
        "the record carries the project"
    );
    let out = with_env(&env, "redis-cli -u \"$REDIS_URL\" set kept yes");
    assert_eq!(stdout(&out).trim(), "OK", "{}", stderr(&out));

    // Twice: nothing new, the same containers, the same variables.
    let again = ok_in(&arena, &app, &["up"]);
    assert!(stderr(&again).contains("nothing to do"), "{}", stderr(&again));
    assert_eq!(stdout(&again), env);
    assert_eq!((container_id(&pg), container_id(&cache)), ids);
    let listed = json_in(&arena, &app, &["up", "--json"]);
    let actions: Vec<&str> = listed["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["running", "running"], "{listed}");
    assert_eq!(
        listed["project"].as_str().unwrap(),
        app.canonicalize().unwrap().to_str().unwrap()
    );

    // `env` with no name inside the project prints the project's variables.
    assert_eq!(stdout(&ok_in(&arena, &deep, &["env"])), env);
    let outside_dir = root.path();
    let out = in_dir(&arena, outside_dir, &["env"]);
    assert!(
        !out.status.success() && stderr(&out).contains("dbarena.toml"),
        "{}",
        stderr(&out)
    );

    // Another project and an instance outside any project.
    ok_in(&arena, &second, &["up"]);
    ok_in(&arena, outside_dir, &["create", "redis", "--name", &outside]);

    // `--all` on more than one instance without a terminal and without -y: refused,
    // nothing touched.
    for args in [["destroy", "--all"], ["stop", "--all"]] {
        let out = in_dir(&arena, &app, &args);
        assert!(!out.status.success(), "{args:?} acted without confirmation");
        assert!(stderr(&out).contains("-y"), "{}", stderr(&out));
    }
    for name in [&pg, &cache, &other, &outside] {
        let running = common::docker(&["container", "inspect", "-f", "{{.State.Running}}", name]);
        assert_eq!(stdout(&running).trim(), "true", "{name} was touched");
    }

    // `stop --json`, then `up` starts them again.
    let stopped = json_in(&arena, &app, &["stop", &pg, &cache, "--json"]);
    let results: Vec<(&str, &str)> = stopped
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["result"].as_str().unwrap()))
        .collect();
    assert_eq!(results, [(pg.as_str(), "stopped"), (cache.as_str(), "stopped")]);
    let restarted = json_in(&arena, &app, &["up", "--json"]);
    for i in restarted["instances"].as_array().unwrap() {
        assert_eq!(i["action"], "started", "{restarted}");
    }
    assert_eq!((container_id(&pg), container_id(&cache)), ids);
    let out = with_env(
        &stdout(&ok_in(&arena, &app, &["env"])),
        "psql \"$DATABASE_URL\" -tAc 'select count(*) from items'",
    );
    assert_eq!(stdout(&out).trim(), "1", "{}", stderr(&out));

    // `stop --all -y` inside the project stops only the project's instances.
    let stopped = json_in(&arena, &app, &["stop", "--all", "-y", "--json"]);
    assert_eq!(stopped.as_array().unwrap().len(), 2, "{stopped}");
    let running = |name: &str| {
        stdout(&common::docker(&[
            "container",
            "inspect",
            "-f",
            "{{.State.Running}}",
            name,
        ]))
        .trim()
            == "true"
    };
    assert!(!running(&pg) && !running(&cache) && running(&other) && running(&outside));

    // `down`: only this project; the persistent volume stays without --remove-volume.
    let down = json_in(&arena, &app, &["down", "--json"]);
    let names: Vec<&str> = down
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [cache.as_str(), pg.as_str()], "{down}");
    assert!(
        down.as_array().unwrap().iter().all(|d| d["result"] == "destroyed"),
        "{down}"
    );
    assert!(!container_exists(&pg) && !container_exists(&cache));
    assert!(volume_exists(&format!("{cache}-data")), "down deleted persistent data");
    assert!(container_exists(&other) && container_exists(&outside));
    // The next `up` gets the persistent data back, with its credentials.
    let env = stdout(&ok_in(&arena, &app, &["up"]));
    let out = with_env(&env, "redis-cli -u \"$REDIS_URL\" get kept");
    assert_eq!(stdout(&out).trim(), "yes", "{}", stderr(&out));
    ok_in(&arena, &app, &["down"]);
    assert!(!container_exists(&pg) && !container_exists(&cache));
    let gone = json_in(&arena, &app, &["down", "--remove-volume", "-y", "--json"]);
    assert_eq!(gone[0]["result"], "volume-only", "{gone}");
    assert_eq!(gone[0]["volumes_removed"][0], format!("{cache}-data"));
    assert!(!volume_exists(&format!("{cache}-data")));

    // A project entry named like an instance outside it is an error, not an adoption.
    let clash = root.path().join("clash");
    std::fs::create_dir_all(&clash).unwrap();
    std::fs::write(
        clash.join("dbarena.toml"),
        format!("[instances.{outside}]\nengine = \"redis\"\n"),
    )
    .unwrap();
    let out = in_dir(&arena, &clash, &["up"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));

    // `destroy --json` by name.
    let destroyed = json_in(&arena, outside_dir, &["destroy", &outside, &other, "--json"]);
    assert_eq!(destroyed.as_array().unwrap().len(), 2, "{destroyed}");
    assert!(destroyed.as_array().unwrap().iter().all(|d| d["result"] == "destroyed"));
    assert!(!container_exists(&outside) && !container_exists(&other));
}

#[test]
fn a_bad_project_file_names_the_file_and_the_key() {
    if !docker_engine_available("a_bad_project_file_names_the_file_and_the_key") {
        return;
    }
    let arena = Arena::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dbarena.toml"),
        "[instances.db]\nengine = \"postgres\"\nverison = \"16\"\n",
    )
    .unwrap();
    for args in [&["up"][..], &["env"], &["down"]] {
        let out = in_dir(&arena, dir.path(), args);
        assert!(!out.status.success(), "{args:?} accepted a bad dbarena.toml");
        let err = stderr(&out);
        assert!(
            err.contains(&dir.path().join("dbarena.toml").display().to_string()) && err.contains("verison"),
            "{args:?}: {err}"
        );
    }
    // Outside a project, `up` says what it needs.
    let empty = tempfile::tempdir().unwrap();
    let out = in_dir(&arena, empty.path(), &["up"]);
    assert!(
        !out.status.success() && stderr(&out).contains("dbarena.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn images_pull_in_a_project_pulls_the_image_an_entry_pins() {
    if !docker_engine_available("images_pull_in_a_project_pulls_the_image_an_entry_pins") {
        return;
    }
    let arena = Arena::new();
    let dir = tempfile::tempdir().unwrap();
    // A repository the local registry does not have: the failure names the pinned image
    // (not the engine's default) and says what to do.
    let pinned = "127.0.0.1:5000/dbarena-test-absent/postgres:1";
    std::fs::write(
        dir.path().join("dbarena.toml"),
        format!("[instances.db]\nengine = \"postgres\"\nimage = \"{pinned}\"\n"),
    )
    .unwrap();
    let out = in_dir(&arena, dir.path(), &["images", "pull"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(pinned) && err.contains("not found") && err.contains("mirror"),
        "{err}"
    );
    assert!(!err.contains("dbarena-test/postgres:15"), "{err}");
}

/// The host port bindings of container `name`, as `IP:PORT` lines.
fn bindings(name: &str) -> String {
    let out = common::docker(&["port", name]);
    stdout(&out)
}

#[test]
fn a_project_file_cannot_open_the_database_to_the_network_without_the_user() {
    if !docker_available("a_project_file_cannot_open_the_database_to_the_network_without_the_user") {
        return;
    }
    let arena = Arena::new();
    let name = arena.name("proj-exposed");
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("dbarena.toml");
    std::fs::write(
        &file,
        format!("[instances.{name}]\nengine = \"redis\"\npassword = \"in-the-repo\"\npublish-all-interfaces = true\n"),
    )
    .unwrap();
    // Refused, naming the file, the field and how to confirm; nothing made.
    let out = in_dir(&arena, root.path(), &["up"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "dbarena.toml: [instances.{name}]: publish-all-interfaces = true"
        )) && err.contains("dbarena up --publish-all-interfaces"),
        "{err}"
    );
    assert!(!container_exists(&name));

    // Confirmed: made, and said so, naming the interfaces.
    let out = ok_in(&arena, root.path(), &["up", "--publish-all-interfaces"]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("warning: {name}: ports published on 0.0.0.0"))
            && err.contains("reachable from the network")
            && err.contains("publish-all-interfaces in"),
        "{err}"
    );
    assert!(bindings(&name).contains("0.0.0.0:"), "{}", bindings(&name));
    // Said again at every start.
    ok_in(&arena, root.path(), &["stop", &name]);
    let out = ok_in(&arena, root.path(), &["up", "--publish-all-interfaces"]);
    assert!(
        stderr(&out).contains(&format!("warning: {name}: ports published on 0.0.0.0")),
        "{}",
        stderr(&out)
    );

    // The flag of `create` is said too; without it, loopback only and no warning.
    let flagged = arena.name("flag-exposed");
    let out = arena
        .cmd()
        .args(["create", "redis", "--name", &flagged, "--publish-all-interfaces"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("warning: {flagged}: ports published on 0.0.0.0"))
            && stderr(&out).contains("because of --publish-all-interfaces"),
        "{}",
        stderr(&out)
    );
    let quiet = arena.name("loopback");
    let out = arena
        .cmd()
        .args(["create", "redis", "--name", &quiet])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("0.0.0.0"), "{}", stderr(&out));
    assert!(bindings(&quiet).contains("127.0.0.1:"), "{}", bindings(&quiet));
}

#[test]
fn project_init_paths_stay_inside_the_project() {
    if !docker_available("project_init_paths_stay_inside_the_project") {
        return;
    }
    let arena = Arena::new();
    let name = arena.name("proj-escape");
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.sql");
    std::fs::write(&secret, "SELECT 'host secret';").unwrap();
    let root = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&secret, root.path().join("link.sql")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.path().join("passwd.sql")).unwrap();
    std::fs::create_dir(root.path().join("seed")).unwrap();
    std::fs::write(root.path().join("seed/1.sql"), "SELECT 1;").unwrap();
    std::os::unix::fs::symlink(&secret, root.path().join("seed/2.sql")).unwrap();
    let escape = format!(
        "../{}/secret.sql",
        outside.path().file_name().unwrap().to_str().unwrap()
    );
    for (init, shown) in [
        ("link.sql", "link.sql"),
        ("passwd.sql", "passwd.sql"),
        (escape.as_str(), "secret.sql"),
        ("seed", "seed/2.sql"),
    ] {
        std::fs::write(
            root.path().join("dbarena.toml"),
            format!("[instances.{name}]\nengine = \"postgres\"\ninit = [\"{init}\"]\n"),
        )
        .unwrap();
        let out = in_dir(&arena, root.path(), &["up"]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{init}: {err}");
        assert!(
            err.contains(&format!("dbarena.toml: [instances.{name}]: init "))
                && err.contains(shown)
                && err.contains("outside the project directory"),
            "{init}: {err}"
        );
        assert!(!err.contains("host secret") && !err.contains("root:"), "{err}");
        assert!(!container_exists(&name), "{init}: an instance was made");
    }
    // A timeout of 0 is the file's mistake, named as such.
    std::fs::write(
        root.path().join("dbarena.toml"),
        format!("[instances.{name}]\nengine = \"postgres\"\ntimeout = 0\n"),
    )
    .unwrap();
    let err = stderr(&in_dir(&arena, root.path(), &["up"]));
    assert!(
        err.contains(&format!("[instances.{name}]: timeout: must be at least 1")),
        "{err}"
    );
    assert!(!container_exists(&name));
}
