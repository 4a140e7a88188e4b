//! dbarena against engines that are not the local Docker: a second dockerd in its own
//! network namespace reached over TCP (`.ci/remote-docker-up.sh`), and Podman's
//! Docker-compatible API (`.ci/podman-up.sh`). Never skipped silently: without the engine
//! these fail unless `DBARENA_SKIP_REMOTE_TESTS=1` / `DBARENA_SKIP_PODMAN_TESTS=1`.

mod common;

use common::*;
use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const REMOTE_HOST_ADDR: &str = "10.214.0.2";

fn remote_available(test: &str) -> bool {
    engine_available(
        test,
        REMOTE_DOCKER_HOST,
        "DBARENA_SKIP_REMOTE_TESTS",
        ".ci/remote-docker-up.sh",
    )
}

fn podman_available(test: &str) -> bool {
    engine_available(
        test,
        PODMAN_DOCKER_HOST,
        "DBARENA_SKIP_PODMAN_TESTS",
        ".ci/podman-up.sh",
    )
}

/// dbarena with `args` against the engine at `docker_host`, nothing else of the
/// environment choosing an engine or a client address.
fn dbarena(arena: &Arena, docker_host: &str, args: &[&str]) -> Output {
    arena
        .cmd()
        .env("DOCKER_HOST", docker_host)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DBARENA_CLIENT_HOST")
        .args(args)
        .output()
        .unwrap()
}

fn ok(arena: &Arena, docker_host: &str, args: &[&str]) -> Output {
    let out = dbarena(arena, docker_host, args);
    assert!(
        out.status.success(),
        "dbarena {args:?} on {docker_host} failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

fn json(arena: &Arena, docker_host: &str, args: &[&str]) -> Value {
    let out = ok(arena, docker_host, args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&out)))
}

fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}

/// Removes what a test made on one engine, even when it panics: the instances it
/// tracked, and on a panic every dbarena container that appeared since it was made (a
/// failed create prints no names; the engines here serve only these tests).
struct EngineCleanup {
    docker_host: &'static str,
    names: Mutex<Vec<String>>,
    before: Vec<String>,
}

fn managed_containers(docker_host: &str) -> Vec<String> {
    let out = docker_at(docker_host, &["ps", "-aq", "--filter", "label=io.dbarena.managed"]);
    stdout(&out).lines().map(str::to_string).collect()
}

impl EngineCleanup {
    fn new(docker_host: &'static str) -> Self {
        Self {
            docker_host,
            names: Mutex::default(),
            before: managed_containers(docker_host),
        }
    }
    fn track(&self, instances: &Value) {
        for i in instances.as_array().unwrap() {
            self.names.lock().unwrap().push(i["name"].as_str().unwrap().to_string());
        }
    }
}

impl Drop for EngineCleanup {
    fn drop(&mut self) {
        let mut names = std::mem::take(self.names.get_mut().unwrap_or_else(|e| e.into_inner()));
        if std::thread::panicking() {
            names.extend(
                managed_containers(self.docker_host)
                    .into_iter()
                    .filter(|id| !self.before.contains(id)),
            );
        }
        for name in names {
            let _ = docker_at(self.docker_host, &["rm", "-fv", &name]);
            let _ = docker_at(self.docker_host, &["volume", "rm", "-f", &format!("{name}-data")]);
        }
    }
}

/// Every container and anonymous volume of `instances` is gone from the engine.
fn assert_nothing_left(docker_host: &str, names: &[&str], volumes: &[String]) {
    for name in names {
        assert!(
            !docker_at(docker_host, &["container", "inspect", name]).status.success(),
            "{name} still exists on {docker_host}"
        );
    }
    for v in volumes {
        assert!(
            !docker_at(docker_host, &["volume", "inspect", v]).status.success(),
            "volume {v} leaked on {docker_host}"
        );
    }
}

fn anonymous_volumes(arena: &Arena, docker_host: &str, names: &[&str]) -> Vec<String> {
    let mut all = Vec::new();
    for name in names {
        let inspected = json(arena, docker_host, &["inspect", name, "--json"]);
        all.extend(
            inspected["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string()),
        );
    }
    all
}

#[derive(Clone, Copy)]
enum Speaks {
    /// Trust authentication then ReadyForQuery: a handshake judged on this alone passes.
    Postgres,
    /// `+OK` to AUTH, `+PONG` to PING.
    Redis,
}

/// A server on this machine's 127.0.0.1 at the port number a remote instance uses,
/// answering the way a ready server would: if any probe came here instead of to the
/// engine's host, it would be fooled. It counts connections; the test requires none.
struct Decoy {
    port: u16,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Decoy {
    /// `None` when something on this machine already holds the port.
    fn bind(port: u16, speaks: Speaks) -> Option<Self> {
        let listener = match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => l,
            Err(e) if e.kind() == ErrorKind::AddrInUse => return None,
            Err(e) => panic!("decoy on 127.0.0.1:{port}: {e}"),
        };
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (connections.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        count.fetch_add(1, Ordering::SeqCst);
                        std::thread::spawn(move || serve(stream, speaks));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
                    Err(_) => {}
                }
            }
        });
        Some(Self {
            port,
            connections,
            stop,
            thread: Some(thread),
        })
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut stream: TcpStream, speaks: Speaks) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            return;
        }
        let got = &buf[..n];
        let reply: Vec<u8> = match speaks {
            // SSLRequest: "no"; anything else is taken as the startup message.
            Speaks::Postgres if n == 8 && got[4..8] == [0x04, 0xd2, 0x16, 0x2f] => b"N".to_vec(),
            Speaks::Postgres => {
                let mut r = vec![b'R', 0, 0, 0, 8, 0, 0, 0, 0];
                let param = b"server_version\x0015.99-decoy\x00";
                r.push(b'S');
                r.extend_from_slice(&(4 + param.len() as u32).to_be_bytes());
                r.extend_from_slice(param);
                r.extend_from_slice(&[b'Z', 0, 0, 0, 5, b'I']);
                r
            }
            Speaks::Redis => {
                let text = String::from_utf8_lossy(got).to_ascii_uppercase();
                let mut r = String::new();
                for _ in text.matches("AUTH").chain(text.matches("HELLO")) {
                    r.push_str("+OK\r\n");
                }
                for _ in text.matches("PING") {
                    r.push_str("+PONG\r\n");
                }
                if r.is_empty() {
                    r.push_str("+OK\r\n");
                }
                r.into_bytes()
            }
        };
        if stream.write_all(&reply).is_err() {
            return;
        }
    }
}

#[test]
fn remote_engine_over_tcp_lifecycle_with_probes_and_urls_on_the_engine_host() {
    let test = "remote_engine_over_tcp_lifecycle_with_probes_and_urls_on_the_engine_host";
    if !remote_available(test) {
        return;
    }
    let arena = Arena::new();
    let cleanup = EngineCleanup::new(REMOTE_DOCKER_HOST);
    let remote = REMOTE_DOCKER_HOST;

    // Decoys at the default ports a default create gets on the dedicated remote daemon
    // (where this machine lets us bind them)...
    let default_decoys: Vec<Decoy> = [(5432, Speaks::Postgres), (6379, Speaks::Redis)]
        .into_iter()
        .filter_map(|(port, speaks)| Decoy::bind(port, speaks))
        .collect();
    // ...and always one at the port a postgres instance is asked to use.
    let pinned_decoy = Decoy::bind(0, Speaks::Postgres).unwrap();
    let pinned_port = pinned_decoy.port.to_string();

    // Default options, two engines in parallel.
    let out = ok(&arena, remote, &["create", "postgres", "redis", "--json"]);
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    cleanup.track(&created);
    let note = stderr(&out);
    assert!(
        note.contains("published on all interfaces")
            && note.contains(REMOTE_HOST_ADDR)
            && note.contains("anyone on that network"),
        "create must say how a remote engine's ports are bound: {note}"
    );
    assert_eq!(note.matches("published on all interfaces").count(), 1, "{note}");
    // A port pinned where the decoy listens.
    let pinned = json(
        &arena,
        remote,
        &["create", "postgres", "--port", &pinned_port, "--json"],
    );
    cleanup.track(&pinned);

    let pg = by_engine(&created, "postgres");
    let rd = by_engine(&created, "redis");
    let pinned = &pinned[0];
    assert_eq!(pinned["port"].as_u64(), Some(pinned_decoy.port as u64), "{pinned}");
    for i in [pg, rd, pinned] {
        assert_eq!(i["status"], "healthy", "{i}");
        assert_eq!(i["host"], REMOTE_HOST_ADDR, "{i}");
        let url = i["url"].as_str().unwrap();
        assert!(url.contains(&format!("@{REMOTE_HOST_ADDR}:{}", i["port"])), "{url}");
        // Bound on all interfaces of the remote machine: 127.0.0.1 there is unreachable here.
        let name = i["name"].as_str().unwrap();
        let ports = stdout(&docker_at(remote, &["port", name]));
        assert!(ports.contains("0.0.0.0:") && !ports.contains("127.0.0.1"), "{ports}");
    }
    // The authenticating handshake reached the real server, not the decoy (whose
    // version string would show).
    assert!(
        !pinned["server_version"].as_str().unwrap_or("").contains("decoy"),
        "{pinned}"
    );

    // Real queries through the printed URLs.
    assert_eq!(psql(pg["url"].as_str().unwrap(), "select 40 + 2"), "42");
    assert_eq!(psql(pinned["url"].as_str().unwrap(), "select 6 * 7"), "42");
    assert_eq!(redis(rd["url"].as_str().unwrap(), &["SET", "k", "remote"]), "OK");
    assert_eq!(redis(rd["url"].as_str().unwrap(), &["GET", "k"]), "remote");

    // list and inspect probe and show the engine's host.
    let listed = json(&arena, remote, &["list", "--json"]);
    for i in [pg, rd, pinned] {
        let l = find(&listed, i["name"].as_str().unwrap());
        assert_eq!(l["status"], "healthy", "{l}");
        assert_eq!(l["host"], REMOTE_HOST_ADDR);
        assert_eq!(l["url"], i["url"]);
    }
    let table = stdout(&ok(&arena, remote, &["list"]));
    assert!(table.contains(&format!("{REMOTE_HOST_ADDR}:{pinned_port}")), "{table}");
    let pinned_name = pinned["name"].as_str().unwrap();
    let inspected = json(&arena, remote, &["inspect", pinned_name, "--json"]);
    assert_eq!(inspected["host"], REMOTE_HOST_ADDR);
    assert_eq!(inspected["env"]["PGHOST"], REMOTE_HOST_ADDR);
    assert_eq!(inspected["status"], "healthy");

    // stop → stopped; start → healthy on the engine's host again.
    ok(&arena, remote, &["stop", pinned_name]);
    assert_eq!(
        json(&arena, remote, &["inspect", pinned_name, "--json"])["status"],
        "stopped"
    );
    let started = json(&arena, remote, &["start", pinned_name, "--json"]);
    assert_eq!(started[0]["status"], "healthy");
    assert_eq!(started[0]["host"], REMOTE_HOST_ADDR);
    assert_eq!(psql(started[0]["url"].as_str().unwrap(), "select 1"), "1");

    // destroy leaves nothing on the remote engine.
    let names: Vec<&str> = [pg, rd, pinned].iter().map(|i| i["name"].as_str().unwrap()).collect();
    let volumes = anonymous_volumes(&arena, remote, &names);
    assert!(!volumes.is_empty(), "the test images declare VOLUMEs");
    let mut destroy = vec!["destroy"];
    destroy.extend(&names);
    ok(&arena, remote, &destroy);
    assert_nothing_left(remote, &names, &volumes);

    // Not one probe (create, list, inspect, start) went to this machine's 127.0.0.1.
    assert_eq!(pinned_decoy.connections(), 0, "a probe reached the local decoy");
    for d in &default_decoys {
        assert_eq!(d.connections(), 0, "a probe reached the local decoy on port {}", d.port);
    }
}

#[test]
fn client_host_override_from_the_flag_and_the_config() {
    let test = "client_host_override_from_the_flag_and_the_config";
    if !remote_available(test) {
        return;
    }
    // The remote daemon through its Unix socket: a local endpoint to dbarena, whose ports
    // (in another network namespace) are only reachable at 10.214.0.2, like a NAT'd host.
    let engine = REMOTE_DOCKER_SOCKET;
    let arena = Arena::new();
    let cleanup = EngineCleanup::new(REMOTE_DOCKER_HOST);
    let created = json(
        &arena,
        engine,
        &["--client-host", REMOTE_HOST_ADDR, "create", "redis", "--json"],
    );
    cleanup.track(&created);
    let rd = &created[0];
    let name = rd["name"].as_str().unwrap();
    assert_eq!(rd["host"], REMOTE_HOST_ADDR, "{rd}");
    assert_eq!(redis(rd["url"].as_str().unwrap(), &["PING"]), "PONG");
    let ports = stdout(&docker_at(engine, &["port", name]));
    assert!(
        ports.contains("0.0.0.0:"),
        "a non-loopback client address publishes on all interfaces: {ports}"
    );

    // Without the override the same engine counts as local: 127.0.0.1, where nothing of
    // it is reachable, so it is not healthy.
    let plain = json(&arena, engine, &["inspect", name, "--json"]);
    assert_eq!(plain["host"], "127.0.0.1");
    assert_ne!(plain["status"], "healthy", "{plain}");

    // The config key does what the flag does.
    let mut config = std::fs::read_to_string(arena.config_path()).unwrap();
    config = format!("[defaults]\nclient-host = \"{REMOTE_HOST_ADDR}\"\n{config}");
    std::fs::write(arena.config_path(), config).unwrap();
    let from_config = json(&arena, engine, &["inspect", name, "--json"]);
    assert_eq!(from_config["host"], REMOTE_HOST_ADDR);
    assert_eq!(from_config["status"], "healthy");

    ok(&arena, engine, &["destroy", name]);
    assert_nothing_left(engine, &[name], &[]);
}

#[test]
fn podman_lifecycle_through_its_docker_compatible_api() {
    let test = "podman_lifecycle_through_its_docker_compatible_api";
    if !podman_available(test) {
        return;
    }
    let podman = PODMAN_DOCKER_HOST;
    let arena = Arena::new();
    let cleanup = EngineCleanup::new(PODMAN_DOCKER_HOST);
    let out = ok(&arena, podman, &["create", "postgres", "redis", "--json"]);
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    cleanup.track(&created);
    assert!(
        !stderr(&out).contains("all interfaces"),
        "a local engine binds loopback quietly: {}",
        stderr(&out)
    );
    let pg = by_engine(&created, "postgres");
    let rd = by_engine(&created, "redis");
    for i in [pg, rd] {
        assert_eq!(i["status"], "healthy", "{i}");
        assert_eq!(i["host"], "127.0.0.1");
        let name = i["name"].as_str().unwrap();
        let ports = stdout(&docker_at(podman, &["port", name]));
        assert!(ports.contains("127.0.0.1:") && !ports.contains("0.0.0.0"), "{ports}");
        // Podman keeps dbarena's labels: the instance record reads back.
        let labels = stdout(&docker_at(
            podman,
            &[
                "inspect",
                "--format",
                "{{index .Config.Labels \"io.dbarena.name\"}}",
                name,
            ],
        ));
        assert_eq!(labels.trim(), name);
    }
    // Podman calls local images `localhost/...`; dbarena shows the name it asked for.
    assert_eq!(pg["image"], "dbarena-test/postgres:15", "{pg}");
    assert_eq!(psql(pg["url"].as_str().unwrap(), "select 40 + 2"), "42");
    assert_eq!(redis(rd["url"].as_str().unwrap(), &["SET", "k", "podman"]), "OK");
    assert_eq!(redis(rd["url"].as_str().unwrap(), &["GET", "k"]), "podman");

    // list filters by label, inspect and logs work through Podman.
    let listed = json(&arena, podman, &["list", "--json"]);
    for i in [pg, rd] {
        let l = find(&listed, i["name"].as_str().unwrap());
        assert_eq!(l["status"], "healthy", "{l}");
        assert_eq!(l["url"], i["url"]);
    }
    let pg_name = pg["name"].as_str().unwrap();
    let logs = dbarena(&arena, podman, &["logs", pg_name, "--tail", "200"]);
    assert!(logs.status.success(), "{}", stderr(&logs));
    let text = stdout(&logs) + &stderr(&logs);
    assert!(
        text.contains("database system is ready to accept connections"),
        "{text}"
    );

    // stop (with its timeout) → stopped; start and restart → healthy and usable.
    ok(&arena, podman, &["stop", pg_name, "--timeout", "5"]);
    let stopped = json(&arena, podman, &["inspect", pg_name, "--json"]);
    assert_eq!(stopped["status"], "stopped");
    assert!(
        stopped["port"].is_null(),
        "a stopped instance publishes nothing: {stopped}"
    );
    let started = json(&arena, podman, &["start", pg_name, "--json"]);
    assert_eq!(started[0]["status"], "healthy");
    assert_eq!(psql(started[0]["url"].as_str().unwrap(), "select 1"), "1");
    let restarted = json(&arena, podman, &["restart", pg_name, "--json"]);
    assert_eq!(psql(restarted[0]["url"].as_str().unwrap(), "select 2"), "2");

    // Snapshot and reset through Podman, whose commit takes labels only as `LABEL` changes
    // and answers a bare image id, and whose disconnected container keeps its port until
    // it stops: the reset keeps port and credentials.
    let url = restarted[0]["url"].as_str().unwrap();
    psql(url, "create table snap(x int); insert into snap values (1)");
    ok(&arena, podman, &["snapshot", pg_name, "--tag", "p"]);
    psql(url, "insert into snap values (2)");
    let reset = json(&arena, podman, &["reset", pg_name, "--tag", "p", "--json"]);
    assert_eq!(reset["url"], restarted[0]["url"], "{reset}");
    assert_eq!(psql(url, "select count(*) from snap"), "1");
    let snapshot = format!("{pg_name}:p");
    let in_use = dbarena(&arena, podman, &["snapshot", "rm", &snapshot]);
    assert!(!in_use.status.success());
    assert!(
        stderr(&in_use).contains(&format!("is in use by {pg_name} (reset to it)")),
        "{}",
        stderr(&in_use)
    );
    // A second create starts from the template the first one left, with its own password.
    let warm = ok(&arena, podman, &["create", "postgres", "--json"]);
    let warm_json: Value = serde_json::from_slice(&warm.stdout).unwrap();
    cleanup.track(&warm_json);
    assert!(stderr(&warm).contains("from template"), "{}", stderr(&warm));
    assert_eq!(psql(warm_json[0]["url"].as_str().unwrap(), "select 3"), "3");
    ok(&arena, podman, &["destroy", warm_json[0]["name"].as_str().unwrap()]);

    // Errors map as on Docker: an unknown name is "no instance", a taken name is refused.
    let missing = dbarena(&arena, podman, &["inspect", "dbt-no-such-instance"]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("no instance named"), "{}", stderr(&missing));
    let taken = dbarena(&arena, podman, &["create", "redis", "--name", pg_name]);
    assert!(!taken.status.success());
    assert!(stderr(&taken).contains("already exists"), "{}", stderr(&taken));
    let rd_port = rd["port"].to_string();
    let busy = dbarena(&arena, podman, &["create", "redis", "--port", &rd_port]);
    assert!(!busy.status.success());
    assert!(
        stderr(&busy).contains(&format!("port {rd_port} is already in use")),
        "{}",
        stderr(&busy)
    );

    // A persistent volume: labelled, listed as `volume only` once its container is gone,
    // deleted on request.
    let kept = format!("dbt-podman-{}-{}", std::process::id(), rd_port);
    let persistent = json(
        &arena,
        podman,
        &["create", "redis", "--persistent", "--name", &kept, "--json"],
    );
    cleanup.track(&persistent);
    ok(&arena, podman, &["destroy", &kept]);
    let all = json(&arena, podman, &["list", "--all", "--json"]);
    assert_eq!(find(&all, &kept)["status"], "orphaned", "{all}");
    ok(&arena, podman, &["destroy", &kept, "--remove-volume", "-y"]);
    assert!(
        !docker_at(podman, &["volume", "inspect", &format!("{kept}-data")])
            .status
            .success()
    );

    let names = [pg_name, rd["name"].as_str().unwrap()];
    let volumes = anonymous_volumes(&arena, podman, &names);
    assert!(!volumes.is_empty(), "the test images declare VOLUMEs");
    ok(&arena, podman, &["destroy", names[0], names[1]]);
    ok(&arena, podman, &["snapshot", "rm", &snapshot]);
    assert_nothing_left(podman, &names, &volumes);
}

#[test]
fn ssh_engine_through_docker_dial_stdio() {
    let test = "ssh_engine_through_docker_dial_stdio";
    // `Host dbarena-remote-ssh` (HostName 10.214.0.2) is written by .ci/remote-sshd-up.sh;
    // user and port given as well, so ssh gets `-l root -p 22`.
    let engine = "ssh://root@dbarena-remote-ssh:22";
    if !engine_available(test, engine, "DBARENA_SKIP_REMOTE_TESTS", ".ci/remote-sshd-up.sh") {
        return;
    }
    let arena = Arena::new();
    let cleanup = EngineCleanup::new(REMOTE_DOCKER_HOST);
    let out = ok(&arena, engine, &["create", "redis", "--json"]);
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    cleanup.track(&created);
    let rd = &created[0];
    // The ssh alias resolves (as ssh itself resolves it) to the machine the ports are on.
    assert_eq!(rd["host"], REMOTE_HOST_ADDR, "{rd}");
    assert!(stderr(&out).contains("published on all interfaces"), "{}", stderr(&out));
    assert_eq!(redis(rd["url"].as_str().unwrap(), &["PING"]), "PONG");
    let name = rd["name"].as_str().unwrap();
    let listed = json(&arena, engine, &["list", "--json"]);
    assert_eq!(find(&listed, name)["status"], "healthy");
    ok(&arena, engine, &["destroy", name]);
    assert_nothing_left(REMOTE_DOCKER_HOST, &[name], &[]);
}

#[test]
fn a_docker_context_selects_the_remote_engine() {
    let test = "a_docker_context_selects_the_remote_engine";
    if !remote_available(test) {
        return;
    }
    use sha2::{Digest, Sha256};
    // A Docker config with a context, where and how `docker context create` writes it.
    let config = tempfile::tempdir().unwrap();
    let meta = config
        .path()
        .join("contexts/meta")
        .join(hex::encode(Sha256::digest("dbarena-remote")));
    std::fs::create_dir_all(&meta).unwrap();
    let context = serde_json::json!({
        "Name": "dbarena-remote",
        "Metadata": {},
        "Endpoints": {"docker": {"Host": REMOTE_DOCKER_HOST, "SkipTLSVerify": false}},
    });
    std::fs::write(meta.join("meta.json"), context.to_string()).unwrap();
    std::fs::write(
        config.path().join("config.json"),
        r#"{"currentContext": "dbarena-remote"}"#,
    )
    .unwrap();

    let arena = Arena::new();
    let cleanup = EngineCleanup::new(REMOTE_DOCKER_HOST);
    let out = arena
        .cmd()
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DBARENA_CLIENT_HOST")
        .env("DOCKER_CONFIG", config.path())
        .args(["create", "redis", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    cleanup.track(&created);
    let rd = &created[0];
    assert_eq!(rd["host"], REMOTE_HOST_ADDR, "{rd}");
    let name = rd["name"].as_str().unwrap();
    // It was made on the remote daemon, not the local one.
    assert!(
        docker_at(REMOTE_DOCKER_HOST, &["container", "inspect", name])
            .status
            .success()
    );
    assert!(!docker(&["container", "inspect", name]).status.success());
    assert_eq!(redis(rd["url"].as_str().unwrap(), &["PING"]), "PONG");
    ok(&arena, REMOTE_DOCKER_HOST, &["destroy", name]);
}
