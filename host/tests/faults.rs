//! Faults on a real Docker engine: a server killed while dbarena waits, two processes
//! racing for one name, a container that floods its log, many concurrent creates and a
//! hundred create/destroy cycles. For each: bounded time, a clear message, nothing leaked.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn spawn(arena: &Arena, args: &[&str]) -> Child {
    arena
        .cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_server_killed_during_readiness_fails_fast_and_leaves_nothing() {
    if !docker_available("a_server_killed_during_readiness_fails_fast_and_leaves_nothing") {
        return;
    }
    let arena = Arena::new();
    let name = arena.name("killed");
    let child = spawn(
        &arena,
        &[
            "create",
            "postgres",
            "--persistent",
            "--name",
            &name,
            "--env",
            "DBARENA_TEST_INIT_DELAY=30",
        ],
    );
    wait_until("the container", Duration::from_secs(60), || container_exists(&name));
    std::thread::sleep(Duration::from_millis(500));
    let killed_at = Instant::now();
    run("docker", &["kill", &name]);
    let out = child.wait_with_output().unwrap();
    let took = killed_at.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("stopped") && err.contains(&name), "{err}");
    assert!(
        took < Duration::from_secs(10),
        "noticed the dead server only after {took:?}"
    );
    assert!(!container_exists(&name), "{err}");
    assert!(!volume_exists(&format!("{name}-data")), "{err}");
}

#[test]
fn two_processes_racing_for_one_name_never_remove_each_others_instance() {
    if !docker_available("two_processes_racing_for_one_name_never_remove_each_others_instance") {
        return;
    }
    let arena = Arena::new();
    let name = arena.name("race");
    let racers: Vec<Child> = (0..2)
        .map(|_| spawn(&arena, &["create", "redis", "--name", &name, "--json"]))
        .collect();
    let outs: Vec<_> = racers.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let winners: Vec<_> = outs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one create wins: {:?}",
        outs.iter().map(stderr).collect::<Vec<_>>()
    );
    let loser = outs.iter().find(|o| !o.status.success()).unwrap();
    assert!(stderr(loser).contains("already exists"), "{}", stderr(loser));
    let created: Value = serde_json::from_slice(&winners[0].stdout).unwrap();
    let url = created[0]["url"].as_str().unwrap().to_string();
    assert_eq!(
        redis(&url, &["PING"]),
        "PONG",
        "the loser's clean-up touched the winner"
    );

    // Interrupting another create of that name, at several moments, never removes it.
    for delay in [0u64, 50, 150, 400] {
        let mut other = spawn(&arena, &["create", "redis", "--name", &name]);
        std::thread::sleep(Duration::from_millis(delay));
        run("kill", &["-INT", &other.id().to_string()]);
        other.wait().unwrap();
        assert_eq!(
            redis(&url, &["PING"]),
            "PONG",
            "interrupted after {delay} ms, it removed the instance"
        );
    }
}

/// A container that writes lines as fast as it can and never becomes ready.
fn chatty_image() -> &'static str {
    const IMAGE: &str = "dbarena-test/chatty:1";
    if docker(&["image", "inspect", IMAGE]).status.success() {
        return IMAGE;
    }
    ensure_busybox_image().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let out = docker(&["create", BUSYBOX_IMAGE]);
    let id = stdout(&out).trim().to_string();
    run(
        "docker",
        &[
            "cp",
            &format!("{id}:/bin/busybox"),
            root.join("bin/busybox").to_str().unwrap(),
        ],
    );
    run("docker", &["rm", "-v", &id]);
    for applet in ["sh", "yes"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let line = format!("dbarena chatty {}", "x".repeat(200));
    let entrypoint = format!("ENTRYPOINT [\"/bin/yes\", \"{line}\"]");
    import_rootfs(&root, IMAGE, &[&entrypoint]).unwrap();
    IMAGE
}

/// Peak resident memory (KiB) of a running process, from /proc.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[test]
fn a_container_flooding_its_log_keeps_dbarena_and_the_disk_bounded() {
    if !docker_available("a_container_flooding_its_log_keeps_dbarena_and_the_disk_bounded") {
        return;
    }
    let image = chatty_image();
    let arena = Arena::new();
    let name = arena.name("chatty");
    let mut child = spawn(
        &arena,
        &[
            "create",
            "redis",
            "--name",
            &name,
            "--image",
            image,
            "--timeout",
            "15",
            "--keep-on-failure",
        ],
    );
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(peak_rss_kib(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(err.contains("not ready after 15 s"), "{err}");
    assert!(
        peak > 0 && peak < 100 << 10,
        "dbarena's peak RSS was {peak} KiB while the log flooded"
    );
    // The container's log is rotated: Docker keeps at most a few files of 10 MB.
    let log_config = stdout(&docker(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", &name]));
    assert!(log_config.contains("max-size"), "{log_config}");
    let log_path = stdout(&docker(&["inspect", "-f", "{{.LogPath}}", &name]))
        .trim()
        .to_string();
    let size = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    assert!(size <= 11 << 20, "the current log file is {size} bytes");
    eprintln!(
        "chatty container: dbarena peak RSS {} MiB, log file {} MiB",
        peak / 1024,
        size >> 20
    );
    arena.ok(&["destroy", &name]);
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[test]
fn concurrent_creates_and_a_hundred_cycles_leak_nothing() {
    if !docker_available("concurrent_creates_and_a_hundred_cycles_leak_nothing") {
        return;
    }
    let arena = Arena::new();
    let mut volumes = Vec::new();

    // Ten creates at once, each its own process: ten distinct ports, all really serving.
    let names: Vec<String> = (0..10).map(|i| arena.name(&format!("conc{i}"))).collect();
    let started = Instant::now();
    let children: Vec<Child> = names
        .iter()
        .map(|n| spawn(&arena, &["create", "redis", "--name", n, "--json"]))
        .collect();
    let mut ports = std::collections::BTreeSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let created: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(redis(created[0]["url"].as_str().unwrap(), &["PING"]), "PONG");
        ports.insert(created[0]["port"].as_u64().unwrap());
        volumes.extend(
            created[0]["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string()),
        );
    }
    let concurrent = started.elapsed();
    assert_eq!(ports.len(), 10, "{ports:?}");
    let mut destroy = vec!["destroy"];
    destroy.extend(names.iter().map(String::as_str));
    arena.ok(&destroy);

    // Create/destroy cycles; DBARENA_STRESS_CYCLES scales it (default 100).
    let cycles: usize = std::env::var("DBARENA_STRESS_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let name = arena.name("cycle");
    let (mut creates, mut destroys) = (Vec::new(), Vec::new());
    for _ in 0..cycles {
        let t = Instant::now();
        let created = arena.json(&["create", "redis", "--name", &name, "--json"]);
        creates.push(t.elapsed());
        volumes.extend(
            created[0]["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string()),
        );
        let t = Instant::now();
        arena.ok(&["destroy", &name]);
        destroys.push(t.elapsed());
    }
    eprintln!(
        "10 concurrent creates: {:.2} s; {cycles} cycles: create median {:.0} ms, destroy median {:.0} ms",
        concurrent.as_secs_f64(),
        median(creates).as_secs_f64() * 1000.0,
        median(destroys).as_secs_f64() * 1000.0
    );
    for n in names.iter().chain([&name]) {
        assert!(!container_exists(n), "{n} leaked");
    }
    let leaked: Vec<&String> = volumes.iter().filter(|v| volume_exists(v)).collect();
    assert!(leaked.is_empty(), "anonymous volumes leaked: {leaked:?}");
}

#[test]
fn a_daemon_killed_mid_create_and_restarted_leaves_nothing() {
    // The namespace daemon of .ci/remote-docker-up.sh, so the main daemon (and the tests
    // running on it) are never disturbed.
    let test = "a_daemon_killed_mid_create_and_restarted_leaves_nothing";
    if !engine_available(
        test,
        REMOTE_DOCKER_SOCKET,
        "DBARENA_SKIP_REMOTE_TESTS",
        ".ci/remote-docker-up.sh",
    ) {
        return;
    }
    let arena = Arena::new();
    let name = format!("dbt-dockerd-kill-{}", std::process::id());
    let exists = |n: &str| {
        docker_at(REMOTE_DOCKER_SOCKET, &["container", "inspect", n])
            .status
            .success()
    };
    // Through the socket the client address is loopback, where the namespace's ports are
    // not: the create stays in readiness until the daemon dies under it.
    let child = arena
        .cmd()
        .env("DOCKER_HOST", REMOTE_DOCKER_SOCKET)
        .args(["create", "redis", "--name", &name, "--timeout", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the container", Duration::from_secs(60), || exists(&name));
    let pid = std::fs::read_to_string("/run/dbarena-remote/docker.pid").unwrap();
    let killed_at = Instant::now();
    run("kill", &["-KILL", pid.trim()]);
    std::thread::sleep(Duration::from_secs(2));
    let up = std::process::Command::new("bash")
        .arg(repo_root().join(".ci/remote-docker-up.sh"))
        .output()
        .unwrap();
    assert!(up.status.success(), "restarting the daemon: {}", stderr(&up));
    let out = child.wait_with_output().unwrap();
    let took = killed_at.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("container engine") || err.contains("connect"), "{err}");
    assert!(took < Duration::from_secs(90), "took {took:?}: {err}");
    assert!(!exists(&name), "the container outlived the daemon's restart: {err}");
    eprintln!(
        "dockerd SIGKILL mid-create: clean-up done {:.1} s after the kill",
        took.as_secs_f64()
    );
}

/// A TCP "engine" that accepts every connection and never answers (a hung daemon, a
/// wrong port forward): commands end with an error naming it, in seconds, not minutes.
#[test]
fn an_engine_that_accepts_and_never_answers_fails_reads_within_seconds() {
    // Needs no Docker.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let arena = Arena::new();
    let host = format!("tcp://127.0.0.1:{port}");
    for args in [&["list"][..], &["url", "nothing-here"], &["create", "redis"]] {
        let started = Instant::now();
        let out = arena.cmd().args(args).env("DOCKER_HOST", &host).output().unwrap();
        let took = started.elapsed();
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?}: {err}");
        // Three tries of 120 s each before; the bound is 10 s.
        assert!(took < Duration::from_secs(30), "{args:?} took {took:?}: {err}");
        assert!(
            err.contains(&format!(
                "the Docker engine at {host} accepted the connection but did not answer in 10 s"
            )),
            "{args:?}: {err}"
        );
    }
}

/// The PIDs of the children of process `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc/")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .is_ok_and(|s| s[s.rfind(')').unwrap() + 1..].split_whitespace().nth(1) == Some(&pid.to_string()))
        })
        .collect()
}

/// A running process (not a zombie).
fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !matches!(
            s[s.rfind(')').unwrap() + 1..].split_whitespace().next(),
            Some("Z" | "X")
        )
    })
}

#[test]
fn sigkill_of_run_kills_its_command_and_gc_collects_its_instances() {
    if !docker_available("sigkill_of_run_kills_its_command_and_gc_collects_its_instances") {
        return;
    }
    let arena = Arena::new();
    let name = arena.name("run-killed");
    let mut run = spawn(
        &arena,
        &["run", "postgres", "--persistent", "--name", &name, "--", "sleep", "300"],
    );
    let dbarena = run.id();
    let sleeping = || {
        children_of(dbarena)
            .into_iter()
            .find(|c| std::fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|n| n.trim() == "sleep"))
    };
    wait_until("run starts its command", Duration::from_secs(120), || {
        sleeping().is_some()
    });
    let command = sleeping().unwrap();
    assert!(container_exists(&name));
    // No clean-up possible: SIGKILL.
    run.kill().unwrap();
    run.wait().unwrap();
    wait_until("the command dies with dbarena", Duration::from_secs(10), || {
        !is_running(command)
    });

    // A later command sees what was left behind; gc removes it, keeping the data.
    let out = arena.cmd().args(["list", "--all"]).output().unwrap();
    assert!(
        stderr(&out).contains(&format!("{name} was made by a `dbarena run` that is gone")),
        "{}",
        stderr(&out)
    );
    let gc = arena.ok(&["gc"]);
    assert!(
        gc.contains(&format!("destroyed {name} (its dbarena run is gone)")),
        "{gc}"
    );
    assert!(!container_exists(&name));
    assert!(volume_exists(&format!("{name}-data")), "the persistent volume is kept");
    assert!(arena.ok(&["gc"]).contains("nothing has expired"));

    // A live run's instances are never taken: a concurrent gc leaves them alone.
    let live = arena.name("run-live");
    let mut run = spawn(&arena, &["run", "redis", "--name", &live, "--", "sleep", "300"]);
    let dbarena = run.id();
    wait_until("the second run starts its command", Duration::from_secs(120), || {
        !children_of(dbarena).is_empty() && container_exists(&live)
    });
    arena.ok(&["gc"]);
    assert!(container_exists(&live), "a live run's instance was collected");
    run.kill().unwrap();
    run.wait().unwrap();
    // Any command's reap takes an ephemeral instance of a gone run.
    let out = arena.cmd().args(["list"]).output().unwrap();
    assert!(
        stderr(&out).contains(&format!("destroyed instance {live} (its dbarena run is gone)")),
        "{}",
        stderr(&out)
    );
    assert!(!container_exists(&live));
}
