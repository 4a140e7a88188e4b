//! `DockerBackend` against the real Docker daemon.
//!
//! Needs a running daemon (`bash .ci/docker-up.sh`); the tests fail without one unless
//! `DBARENA_SKIP_DOCKER_TESTS=1` is set, in which case each prints that it was skipped.
//! They use `dbarena-test/busybox:1`, imported from the host's static busybox on first use
//! (installing `busybox-static` if needed), and a local registry on 127.0.0.1:5000 for
//! the pull test (`.ci/registry-up.sh`, started if not answering).

mod common;

use common::{Cleanup, docker_ok, import_rootfs};
use dbarena::container::docker::DockerBackend;
use dbarena::container::{
    BackendError, ContainerBackend, ContainerDef, ExecRequest, FileUpload, LogLine, Mount, PortBinding, PullProgress,
    State,
};
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const IMAGE: &str = common::BUSYBOX_IMAGE;
const TEST_LABEL: &str = "io.dbarena.test";
const REGISTRY: &str = "127.0.0.1:5000";

// ------------------------------------------------------------------------ helpers

/// The backend, or `None` (after printing why) when Docker tests are skipped.
async fn setup(test: &str) -> Option<DockerBackend> {
    if !common::docker_engine_available(test) {
        return None;
    }
    let backend = match DockerBackend::connect().await {
        Ok(b) => b,
        Err(e) => panic!("{test}: cannot connect to Docker ({e}); start it with `bash .ci/docker-up.sh`"),
    };
    if let Err(e) = common::ensure_busybox_image() {
        panic!("{test}: cannot build {IMAGE}: {e}");
    }
    Some(backend)
}

/// A name unique to this test run.
fn unique(test: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "dbarena-bt-{}-{test}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A busybox container running `script`, labelled as a test object.
fn def(name: &str, script: &str) -> ContainerDef {
    ContainerDef {
        name: name.to_string(),
        image: IMAGE.to_string(),
        cmd: vec!["sh".into(), "-c".into(), script.into()],
        labels: BTreeMap::from([(TEST_LABEL.to_string(), "docker-backend".to_string())]),
        ..Default::default()
    }
}

/// Creates and starts `def`, registering it for cleanup; returns the id.
async fn run(backend: &DockerBackend, cleanup: &Cleanup, def: &ContainerDef) -> String {
    cleanup.container(&def.name);
    let id = backend.create_container(def).await.expect("create");
    backend.start_container(&id).await.expect("start");
    id
}

fn texts(lines: &[LogLine]) -> Vec<&str> {
    lines.iter().map(|l| l.text.as_str()).collect()
}

fn free_port_listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind a host port")
}

// -------------------------------------------------------------------------- tests

#[tokio::test]
async fn create_start_inspect_stop_restart_remove() {
    let Some(backend) = setup("create_start_inspect_stop_restart_remove").await else {
        return;
    };
    backend.ping().await.expect("ping");
    let cleanup = Cleanup::default();
    let name = unique("lifecycle");
    let mut d = def(&name, "sleep 300");
    d.env = vec![("FOO".into(), "bar baz".into())];
    d.ports = vec![PortBinding {
        container_port: 8080,
        host_ip: "127.0.0.1".into(),
        host_port: None,
    }];
    d.mounts = vec![Mount::Tmpfs {
        target: "/scratch".into(),
        size_bytes: 8 * 1024 * 1024,
    }];
    d.memory_limit_bytes = Some(64 * 1024 * 1024);
    d.labels.insert("io.dbarena.name".into(), name.clone());

    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    let id = run(&backend, &cleanup, &d).await;

    let info = backend.inspect_container(&name).await.expect("inspect");
    assert_eq!(info.id, id);
    assert_eq!(info.name, name);
    assert_eq!(info.image, IMAGE);
    assert_eq!(info.state, State::Running);
    assert_eq!(info.exit_code, None);
    assert_eq!(info.labels, d.labels);
    let started = info.started_at.expect("started_at");
    assert!(started > before && started < chrono::Utc::now() + chrono::Duration::seconds(5));
    assert_eq!(info.ports.len(), 1, "{:?}", info.ports);
    assert_eq!(info.ports[0].container_port, 8080);
    assert_eq!(info.ports[0].host_ip, "127.0.0.1");
    assert_ne!(info.ports[0].host_port, 0);
    let listed = backend
        .list_containers(&[format!("io.dbarena.name={name}")])
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].ports, info.ports);
    assert_eq!(listed[0].started_at, info.started_at);
    assert_eq!(listed[0].volumes, info.volumes);

    let raw = backend
        .client()
        .inspect_container(&id, None)
        .await
        .expect("raw inspect");
    let host_config = raw.host_config.expect("host config");
    assert_eq!(host_config.memory, Some(64 * 1024 * 1024));
    assert!(host_config.restart_policy.is_none_or(|p| {
        p.name.is_none_or(|n| {
            n == bollard::models::RestartPolicyNameEnum::NO || n == bollard::models::RestartPolicyNameEnum::EMPTY
        })
    }));

    let env = backend
        .exec(
            &id,
            &ExecRequest::new(&[
                "sh".into(),
                "-c".into(),
                "echo \"$FOO\"; grep /scratch /proc/mounts".into(),
            ]),
        )
        .await
        .expect("exec");
    assert_eq!(env.exit_code, 0, "{}", env.output);
    assert!(env.output.starts_with("bar baz\n"), "{}", env.output);
    assert!(env.output.contains("tmpfs"), "{}", env.output);

    // sh as PID 1 ignores SIGTERM: stopped by SIGKILL after the timeout.
    backend.stop_container(&id, Duration::from_secs(1)).await.expect("stop");
    let stopped = backend.inspect_container(&id).await.expect("inspect");
    assert_eq!(stopped.state, State::Exited);
    assert_eq!(stopped.exit_code, Some(137));
    assert!(stopped.ports.is_empty());
    // Stopping a stopped container is fine.
    backend
        .stop_container(&id, Duration::from_secs(1))
        .await
        .expect("stop again");

    backend
        .restart_container(&id, Duration::from_secs(1))
        .await
        .expect("restart");
    let restarted = backend.inspect_container(&id).await.expect("inspect");
    assert_eq!(restarted.state, State::Running);
    assert!(restarted.started_at.expect("started_at") >= started);

    backend.remove_container(&id).await.expect("remove");
    assert!(matches!(
        backend.inspect_container(&id).await,
        Err(BackendError::NotFound(_))
    ));
    assert!(matches!(
        backend.remove_container(&id).await,
        Err(BackendError::NotFound(_))
    ));
    assert!(matches!(
        backend.start_container(&name).await,
        Err(BackendError::NotFound(_))
    ));
}

#[tokio::test]
async fn created_containers_rotate_their_logs() {
    let Some(backend) = setup("created_containers_rotate_their_logs").await else {
        return;
    };
    let cleanup = Cleanup::default();
    let driver = backend
        .client()
        .info()
        .await
        .expect("info")
        .logging_driver
        .unwrap_or_default();
    let name = unique("logrot");
    let mut d = def(&name, "true");
    d.log_max_bytes = Some(3 << 20);
    cleanup.container(&name);
    let id = backend.create_container(&d).await.expect("create");
    let raw = backend
        .client()
        .inspect_container(&id, None)
        .await
        .expect("raw inspect");
    let log = raw.host_config.and_then(|h| h.log_config).expect("log config");
    let options = log.config.unwrap_or_default();
    if ["json-file", "local"].contains(&driver.as_str()) {
        assert_eq!(log.typ.as_deref(), Some(driver.as_str()), "the daemon's driver is kept");
        assert_eq!(
            options.get("max-size").map(String::as_str),
            Some("3145728"),
            "{options:?}"
        );
        assert_eq!(options.get("max-file").map(String::as_str), Some("3"), "{options:?}");
    } else {
        // Other drivers refuse max-size: nothing is asked of them.
        assert!(!options.contains_key("max-size"), "{driver}: {options:?}");
    }
    // Without a limit the daemon's settings stand.
    let plain = unique("lognone");
    cleanup.container(&plain);
    let id = backend.create_container(&def(&plain, "true")).await.expect("create");
    let raw = backend
        .client()
        .inspect_container(&id, None)
        .await
        .expect("raw inspect");
    let options = raw
        .host_config
        .and_then(|h| h.log_config)
        .and_then(|l| l.config)
        .unwrap_or_default();
    assert_ne!(
        options.get("max-size").map(String::as_str),
        Some("3145728"),
        "{options:?}"
    );
}

#[tokio::test]
async fn never_started_container_has_no_start_time() {
    let Some(backend) = setup("never_started_container_has_no_start_time").await else {
        return;
    };
    let cleanup = Cleanup::default();
    let name = unique("created");
    cleanup.container(&name);
    backend.create_container(&def(&name, "true")).await.expect("create");
    let info = backend.inspect_container(&name).await.expect("inspect");
    assert_eq!(info.state, State::Created);
    assert_eq!(info.started_at, None);
    assert_eq!(info.exit_code, None);
    assert!(info.ports.is_empty());
}

#[tokio::test]
async fn labels_round_trip_and_filter_lists() {
    let Some(backend) = setup("labels_round_trip_and_filter_lists").await else {
        return;
    };
    let cleanup = Cleanup::default();
    let run_id = unique("labels");
    let run_label = format!("{TEST_LABEL}.run={run_id}");
    let mut names = Vec::new();
    for role in ["a", "b"] {
        let name = format!("{run_id}-{role}");
        let mut d = def(&name, "sleep 300");
        d.labels.insert(format!("{TEST_LABEL}.run"), run_id.clone());
        d.labels.insert(format!("{TEST_LABEL}.role"), role.into());
        d.labels
            .insert("io.dbarena.password".into(), "p@ss=word with spaces".into());
        cleanup.container(&name);
        backend.create_container(&d).await.expect("create");
        names.push((name, d.labels));
    }
    backend.start_container(&names[0].0).await.expect("start a");

    let mut all = backend
        .list_containers(std::slice::from_ref(&run_label))
        .await
        .expect("list");
    all.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].name, names[0].0);
    assert_eq!(all[0].labels, names[0].1);
    assert_eq!(all[0].state, State::Running);
    assert!(all[0].started_at.is_some());
    assert_eq!(all[0].image, IMAGE);
    assert_eq!(all[1].name, names[1].0);
    assert_eq!(all[1].labels, names[1].1);
    assert_eq!(all[1].state, State::Created);
    assert_eq!(all[1].started_at, None);

    let only_b = backend
        .list_containers(&[run_label.clone(), format!("{TEST_LABEL}.role=b")])
        .await
        .expect("list b");
    assert_eq!(only_b.len(), 1, "{only_b:?}");
    assert_eq!(only_b[0].name, names[1].0);

    // A label key alone matches any value; a value nobody has matches nothing.
    let by_key = backend
        .list_containers(&[run_label.clone(), format!("{TEST_LABEL}.role")])
        .await
        .expect("list by key");
    assert_eq!(by_key.len(), 2);
    let none = backend
        .list_containers(&[format!("{TEST_LABEL}.run={run_id}-nobody")])
        .await
        .expect("list none");
    assert!(none.is_empty());

    // Exited containers are listed with their exit code.
    let exited = format!("{run_id}-exit");
    let mut d = def(&exited, "exit 3");
    d.labels.insert(format!("{TEST_LABEL}.run"), run_id.clone());
    run(&backend, &cleanup, &d).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = backend
            .list_containers(&[run_label.clone(), format!("{TEST_LABEL}.run={run_id}")])
            .await
            .expect("list");
        let info = listed.iter().find(|c| c.name == exited).expect("listed");
        if info.state == State::Exited {
            assert_eq!(info.exit_code, Some(3));
            break;
        }
        assert!(Instant::now() < deadline, "never exited: {info:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn logs_are_split_into_lines_and_follow_sees_new_output() {
    let Some(backend) = setup("logs_are_split_into_lines_and_follow_sees_new_output").await else {
        return;
    };
    let cleanup = Cleanup::default();
    let name = unique("logs");
    let id = run(
        &backend,
        &cleanup,
        &def(&name, "echo one; echo err1 >&2; sleep 1; echo two; sleep 30"),
    )
    .await;

    let mut follow = backend.logs(&id, true, None, None);
    let mut seen = Vec::new();
    let collect = async {
        while let Some(line) = follow.next().await {
            let line = line.expect("log line");
            let done = line.text == "two";
            seen.push(line);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), collect)
        .await
        .expect("followed stream never showed `two`");
    drop(follow);
    let stdout: Vec<_> = seen.iter().filter(|l| !l.stderr).collect();
    assert_eq!(
        stdout.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
        ["one", "two"]
    );
    assert!(seen.contains(&LogLine {
        stderr: true,
        text: "err1".into()
    }));

    // Not following: the stream ends by itself.
    let all: Vec<_> = backend
        .logs(&id, false, None, None)
        .map(|l| l.expect("log line"))
        .collect()
        .await;
    assert_eq!(all.len(), 3, "{all:?}");
    let last: Vec<_> = backend
        .logs(&id, false, Some(1), None)
        .map(|l| l.expect("log line"))
        .collect()
        .await;
    assert_eq!(texts(&last), ["two"]);
    let future = chrono::Utc::now().timestamp() + 3600;
    let none: Vec<_> = backend
        .logs(&id, false, None, Some(future))
        .map(|l| l.expect("log line"))
        .collect()
        .await;
    assert!(none.is_empty(), "{none:?}");

    // Partial writes are joined, `\r\n` stripped, the unterminated last line flushed.
    let name = unique("partial");
    let id = run(
        &backend,
        &cleanup,
        &def(&name, "printf 'a\\nb'; sleep 0.3; printf 'c\\r\\nd'"),
    )
    .await;
    let followed: Vec<_> = tokio::time::timeout(
        Duration::from_secs(15),
        backend
            .logs(&id, true, None, None)
            .map(|l| l.expect("log line"))
            .collect::<Vec<_>>(),
    )
    .await
    .expect("follow ends when the container exits");
    // dockerd (json-file) may end a followed stream before it flushed an unterminated
    // last line: `docker logs -f` loses it too.
    assert!(texts(&followed).starts_with(&["a", "bc"]), "{followed:?}");
    let lines: Vec<_> = backend
        .logs(&id, false, None, None)
        .map(|l| l.expect("log line"))
        .collect()
        .await;
    assert_eq!(texts(&lines), ["a", "bc", "d"]);

    let missing: Vec<_> = backend
        .logs(&format!("{name}-missing"), false, None, None)
        .collect()
        .await;
    assert!(
        matches!(missing.as_slice(), [Err(BackendError::NotFound(_))]),
        "{missing:?}"
    );
}

#[tokio::test]
async fn exec_reports_output_and_exit_code() {
    let Some(backend) = setup("exec_reports_output_and_exit_code").await else {
        return;
    };
    let cleanup = Cleanup::default();
    let name = unique("exec");
    let id = run(&backend, &cleanup, &def(&name, "sleep 300")).await;

    let ok = backend
        .exec(&id, &ExecRequest::new(&["echo".into(), "hello".into()]))
        .await
        .expect("exec");
    assert_eq!(ok.exit_code, 0);
    assert_eq!(ok.output, "hello\n");

    let failed = backend
        .exec(
            &id,
            &ExecRequest::new(&["sh".into(), "-c".into(), "echo out; echo err >&2; exit 3".into()]),
        )
        .await
        .expect("exec");
    assert_eq!(failed.exit_code, 3);
    assert!(
        failed.output.contains("out\n") && failed.output.contains("err\n"),
        "{}",
        failed.output
    );

    let with_env = backend
        .exec(
            &id,
            &ExecRequest {
                env: &[("GREETING".into(), "hi there".into())],
                ..ExecRequest::new(&["sh".into(), "-c".into(), "echo \"$GREETING\"".into()])
            },
        )
        .await
        .expect("exec");
    assert_eq!(with_env.output, "hi there\n");

    // Stdin reaches the command and is closed after it, also when it is large.
    let big: Vec<u8> = (0..300_000u32).flat_map(|i| format!("{i}\n").into_bytes()).collect();
    let counted = backend
        .exec(
            &id,
            &ExecRequest {
                stdin: Some(&big),
                ..ExecRequest::new(&["busybox".into(), "wc".into(), "-l".into()])
            },
        )
        .await
        .expect("exec with stdin");
    assert_eq!((counted.exit_code, counted.output.trim()), (0, "300000"));

    // Files land where they are told, parents created, with their mode.
    backend
        .upload_files(
            &id,
            &[FileUpload {
                path: "/etc/dbarena-test/deep/conf.ini".into(),
                content: b"key = value\n".to_vec(),
                mode: 0o640,
            }],
        )
        .await
        .expect("upload");
    let uploaded = backend
        .exec(
            &id,
            &ExecRequest::new(&[
                "sh".into(),
                "-c".into(),
                "cat /etc/dbarena-test/deep/conf.ini; busybox stat -c %a /etc/dbarena-test/deep/conf.ini".into(),
            ]),
        )
        .await
        .expect("exec");
    assert_eq!(uploaded.output, "key = value\n640\n");

    // Many quick execs: the exit code is always there.
    for i in 0..5 {
        let out = backend
            .exec(&id, &ExecRequest::new(&["sh".into(), "-c".into(), format!("exit {i}")]))
            .await
            .expect("exec");
        assert_eq!(out.exit_code, i);
    }

    backend.stop_container(&id, Duration::from_secs(0)).await.expect("stop");
    let not_running = backend.exec(&id, &ExecRequest::new(&["true".into()])).await;
    assert!(
        matches!(&not_running, Err(BackendError::Other(m)) if m.contains("not running")),
        "{not_running:?}"
    );
    assert!(matches!(
        backend
            .exec(&format!("{name}-missing"), &ExecRequest::new(&["true".into()]))
            .await,
        Err(BackendError::NotFound(_))
    ));
}

#[tokio::test]
async fn host_port_held_on_the_host_is_port_in_use() {
    let Some(backend) = setup("host_port_held_on_the_host_is_port_in_use").await else {
        return;
    };
    let cleanup = Cleanup::default();
    let listener = free_port_listener();
    let port = listener.local_addr().unwrap().port();
    let name = unique("hostport");
    let mut d = def(&name, "sleep 300");
    d.ports = vec![PortBinding {
        container_port: 6379,
        host_ip: "127.0.0.1".into(),
        host_port: Some(port),
    }];
    cleanup.container(&name);
    let id = backend.create_container(&d).await.expect("create");
    match backend.start_container(&id).await {
        Err(BackendError::PortInUse { port: p, message }) => {
            assert_eq!(p, Some(port), "{message}");
            assert!(!message.contains('\n'));
        }
        other => panic!("expected PortInUse, got {other:?}"),
    }
    drop(listener);
}

#[tokio::test]
async fn host_port_held_by_another_container_is_port_in_use() {
    let Some(backend) = setup("host_port_held_by_another_container_is_port_in_use").await else {
        return;
    };
    let cleanup = Cleanup::default();
    let first = unique("port-a");
    let mut d = def(&first, "sleep 300");
    d.ports = vec![PortBinding {
        container_port: 5432,
        host_ip: "127.0.0.1".into(),
        host_port: None,
    }];
    let id = run(&backend, &cleanup, &d).await;
    let port = backend.inspect_container(&id).await.expect("inspect").ports[0].host_port;

    let second = unique("port-b");
    let mut d = def(&second, "sleep 300");
    d.ports = vec![PortBinding {
        container_port: 5432,
        host_ip: "127.0.0.1".into(),
        host_port: Some(port),
    }];
    cleanup.container(&second);
    let id = backend.create_container(&d).await.expect("create");
    match backend.start_container(&id).await {
        Err(BackendError::PortInUse { port: p, message }) => {
            assert_eq!(p, Some(port), "{message}")
        }
        other => panic!("expected PortInUse, got {other:?}"),
    }
}

#[tokio::test]
async fn duplicate_name_is_name_in_use_and_missing_image_is_image_not_found() {
    let Some(backend) = setup("duplicate_name_is_name_in_use_and_missing_image_is_image_not_found").await else {
        return;
    };
    let cleanup = Cleanup::default();
    let name = unique("name");
    cleanup.container(&name);
    backend.create_container(&def(&name, "true")).await.expect("create");
    match backend.create_container(&def(&name, "true")).await {
        Err(BackendError::NameInUse(n)) => assert_eq!(n, name),
        other => panic!("expected NameInUse, got {other:?}"),
    }

    let missing_image = format!("dbarena-test/{}:1", unique("no-such-image"));
    let other = unique("noimage");
    cleanup.container(&other);
    let mut d = def(&other, "true");
    d.image = missing_image.clone();
    match backend.create_container(&d).await {
        Err(BackendError::ImageNotFound(i)) => assert_eq!(i, missing_image),
        other => panic!("expected ImageNotFound, got {other:?}"),
    }
    assert!(!backend.image_exists(&missing_image).await.expect("exists"));
    assert!(backend.image_exists(IMAGE).await.expect("exists"));
}

#[tokio::test]
async fn anonymous_volumes_go_with_the_container_named_ones_stay() {
    let Some(backend) = setup("anonymous_volumes_go_with_the_container_named_ones_stay").await else {
        return;
    };
    let cleanup = Cleanup::default();
    let volume = unique("vol");
    cleanup.volume(&volume);
    let labels = BTreeMap::from([
        (TEST_LABEL.to_string(), "docker-backend".to_string()),
        ("io.dbarena.data-path".to_string(), "/named".to_string()),
    ]);
    backend.create_volume(&volume, &labels).await.expect("create volume");

    let name = unique("vols");
    let mut d = def(&name, "echo kept > /named/file; sleep 300");
    d.mounts = vec![Mount::Volume {
        name: volume.clone(),
        target: "/named".into(),
    }];
    let id = run(&backend, &cleanup, &d).await;

    // The image's `VOLUME /data` gives an anonymous volume besides the named one.
    let info = backend.inspect_container(&id).await.expect("inspect");
    assert_eq!(info.volumes.len(), 2, "{:?}", info.volumes);
    assert!(info.volumes.contains(&volume));
    let anonymous = info.volumes.iter().find(|v| **v != volume).unwrap().clone();
    cleanup.volume(&anonymous);
    let listed = backend
        .list_containers(&[format!("{TEST_LABEL}=docker-backend")])
        .await
        .expect("list");
    let summary = listed.iter().find(|c| c.id == id).expect("listed");
    let mut from_list = summary.volumes.clone();
    let mut from_inspect = info.volumes.clone();
    from_list.sort();
    from_inspect.sort();
    assert_eq!(from_list, from_inspect);
    assert!(backend.inspect_volume(&anonymous).await.expect("inspect").is_some());

    match backend.remove_volume(&volume).await {
        Err(BackendError::Other(m)) => assert!(m.contains("in use"), "{m}"),
        other => panic!("expected in-use error, got {other:?}"),
    }

    backend.remove_container(&id).await.expect("remove");
    assert!(backend.inspect_volume(&anonymous).await.expect("inspect").is_none());
    let kept = backend
        .inspect_volume(&volume)
        .await
        .expect("inspect")
        .expect("named volume survives");
    assert_eq!(kept.name, volume);
    assert_eq!(kept.labels, labels);

    // The data is still there for the next container.
    let reader = unique("reader");
    let mut d = def(&reader, "sleep 300");
    d.mounts = vec![Mount::Volume {
        name: volume.clone(),
        target: "/named".into(),
    }];
    let reader_id = run(&backend, &cleanup, &d).await;
    let out = backend
        .exec(&reader_id, &ExecRequest::new(&["cat".into(), "/named/file".into()]))
        .await
        .expect("exec");
    assert_eq!(out.output, "kept\n");
    backend.remove_container(&reader_id).await.expect("remove");

    backend.remove_volume(&volume).await.expect("remove volume");
    assert!(backend.inspect_volume(&volume).await.expect("inspect").is_none());
    assert!(matches!(
        backend.remove_volume(&volume).await,
        Err(BackendError::NotFound(v)) if v == volume
    ));
}

#[tokio::test]
async fn volumes_list_by_label() {
    let Some(backend) = setup("volumes_list_by_label").await else {
        return;
    };
    let cleanup = Cleanup::default();
    let run_id = unique("vlist");
    let mut made = Vec::new();
    for i in 0..2 {
        let name = format!("{run_id}-{i}");
        cleanup.volume(&name);
        let labels = BTreeMap::from([
            (format!("{TEST_LABEL}.run"), run_id.clone()),
            (format!("{TEST_LABEL}.index"), i.to_string()),
        ]);
        backend.create_volume(&name, &labels).await.expect("create");
        // Creating an existing volume is not an error.
        backend.create_volume(&name, &labels).await.expect("create again");
        made.push(name);
    }
    let mut listed: Vec<_> = backend
        .list_volumes(&[format!("{TEST_LABEL}.run={run_id}")])
        .await
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect();
    listed.sort();
    assert_eq!(listed, made);
    let one = backend
        .list_volumes(&[format!("{TEST_LABEL}.run={run_id}"), format!("{TEST_LABEL}.index=1")])
        .await
        .expect("list");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].name, made[1]);
    assert_eq!(one[0].labels[&format!("{TEST_LABEL}.index")], "1");
    for v in &made {
        backend.remove_volume(v).await.expect("remove");
    }
    assert!(
        backend
            .list_volumes(&[format!("{TEST_LABEL}.run={run_id}")])
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn images_list_and_remove() {
    let Some(backend) = setup("images_list_and_remove").await else {
        return;
    };
    let cleanup = Cleanup::default();
    let images = backend.list_images().await.expect("list images");
    let busybox = images
        .iter()
        .find(|i| i.tags.iter().any(|t| t == IMAGE))
        .expect("busybox image listed");
    assert!(busybox.id.starts_with("sha256:"));
    assert!(busybox.size_bytes > 100_000);

    // An image of its own (a commit), used by a container: cannot be removed.
    let tag = format!("dbarena-test/{}:1", unique("img"));
    cleanup.image(&tag);
    let source = unique("imgsrc");
    let id = run(&backend, &cleanup, &def(&source, "echo hi > /marker; sleep 300")).await;
    docker_ok(&["commit", &id, &tag]).expect("commit");
    assert!(backend.image_exists(&tag).await.expect("exists"));
    let user = unique("imguser");
    cleanup.container(&user);
    let mut d = def(&user, "true");
    d.image = tag.clone();
    let user_id = backend.create_container(&d).await.expect("create");
    match backend.remove_image(&tag).await {
        Err(BackendError::Other(m)) => assert!(m.contains("in use"), "{m}"),
        other => panic!("expected in-use error, got {other:?}"),
    }
    backend.remove_container(&user_id).await.expect("remove");
    backend.remove_image(&tag).await.expect("remove image");
    assert!(!backend.image_exists(&tag).await.expect("exists"));
    assert!(matches!(
        backend.remove_image(&tag).await,
        Err(BackendError::ImageNotFound(_))
    ));
}

#[tokio::test]
async fn pull_from_unreachable_registry_fails_fast() {
    let Some(backend) = setup("pull_from_unreachable_registry_fails_fast").await else {
        return;
    };
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(90),
        backend.pull_image("127.0.0.1:1/nope:1", &|_| {}),
    )
    .await
    .expect("pull hung");
    match result {
        Err(BackendError::Other(m)) => {
            assert!(m.contains("127.0.0.1:1"), "{m}");
            assert!(!m.contains('\n'));
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// Starts the local registry (`.ci/registry-up.sh`) unless it answers.
fn ensure_registry() -> Result<(), String> {
    static UP: OnceLock<Result<(), String>> = OnceLock::new();
    UP.get_or_init(|| {
        if std::net::TcpStream::connect(REGISTRY).is_ok() {
            return Ok(());
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/registry-up.sh");
        let status = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("{}: {e}", script.display()))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{} failed", script.display()))
        }
    })
    .clone()
}

#[tokio::test]
async fn pull_reports_progress_and_missing_tags() {
    let Some(backend) = setup("pull_reports_progress_and_missing_tags").await else {
        return;
    };
    if let Err(e) = ensure_registry() {
        panic!("no registry on {REGISTRY}: {e}");
    }
    let cleanup = Cleanup::default();
    // An image with a layer of its own, pushed and then deleted locally.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    let id = unique("pull");
    std::fs::write(root.join("id"), format!("{id} {:?}", Instant::now())).unwrap();
    std::fs::write(root.join("payload"), vec![b'x'; 256 * 1024]).unwrap();
    let image = format!("{REGISTRY}/dbarena-test/{id}:1");
    cleanup.image(&image);
    import_rootfs(&root, &image, &["CMD [\"/id\"]"]).expect("import");
    docker_ok(&["push", &image]).expect("push");
    docker_ok(&["rmi", &image]).expect("rmi");
    assert!(!backend.image_exists(&image).await.expect("exists"));

    let events: Mutex<Vec<PullProgress>> = Mutex::new(Vec::new());
    backend
        .pull_image(&image, &|p| events.lock().unwrap().push(p))
        .await
        .expect("pull");
    assert!(backend.image_exists(&image).await.expect("exists"));
    let events = events.into_inner().unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| !e.layer.is_empty()), "{events:?}");
    assert!(events.iter().any(|e| e.status == "Pull complete"), "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| e.current_bytes <= e.total_bytes || e.total_bytes == 0),
        "{events:?}"
    );

    let missing = format!("{REGISTRY}/dbarena-test/{id}:no-such-tag");
    match backend.pull_image(&missing, &|_| {}).await {
        Err(BackendError::ImageNotFound(i)) => assert_eq!(i, missing),
        other => panic!("expected ImageNotFound, got {other:?}"),
    }
    let missing_repo = format!("{REGISTRY}/dbarena-test/{id}-nope");
    assert!(matches!(
        backend.pull_image(&missing_repo, &|_| {}).await,
        Err(BackendError::ImageNotFound(_))
    ));
}

#[tokio::test]
async fn dead_socket_is_unavailable() {
    // Needs no daemon: runs even when Docker tests are skipped.
    match DockerBackend::connect_with_socket("/nonexistent/dbarena/docker.sock").await {
        Err(BackendError::Unavailable(m)) => assert!(m.contains("docker info"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // A socket file nobody listens on any more: connection refused.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let started = Instant::now();
    match DockerBackend::connect_with_socket(&format!("unix://{}", path.display())).await {
        Err(BackendError::Unavailable(m)) => assert!(m.contains("docker info"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn connect_honours_docker_host() {
    // Needs no daemon. `DOCKER_HOST` is process-wide, so the check runs in a child
    // process: this same test binary, filtered to this test.
    const CHILD: &str = "DBARENA_DOCKER_HOST_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let host = std::env::var("DOCKER_HOST").unwrap();
        match DockerBackend::connect().await {
            Err(BackendError::Unavailable(m)) => {
                assert!(m.contains("docker info"), "{m}");
                let shown = host.trim_start_matches("unix://");
                assert!(m.contains(shown), "{m}");
            }
            other => panic!("expected Unavailable for {host}, got {other:?}"),
        }
        return;
    }
    for host in ["unix:///nonexistent/dbarena/docker.sock", "tcp://127.0.0.1:1"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "connect_honours_docker_host", "--nocapture"])
            .env(CHILD, "1")
            .env("DOCKER_HOST", host)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "DOCKER_HOST={host}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    }
}

/// What the fake daemon does with each successive connection.
enum Reply {
    /// Reads the request and closes the connection without answering.
    Hangup,
    Answer(u16, &'static str),
}

/// A scripted fake Docker daemon on a Unix socket; returns the connection counter.
fn fake_daemon(path: &Path, script: Vec<Reply>) -> std::sync::Arc<AtomicUsize> {
    use std::io::{Read, Write};
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for reply in script {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            seen.fetch_add(1, Ordering::SeqCst);
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            if let Reply::Answer(status, body) = reply {
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes());
            }
        }
    });
    count
}

#[tokio::test]
async fn transient_failures_of_idempotent_calls_are_retried() {
    // Needs no daemon: a scripted fake one.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake.sock");
    let version = r#"{"ApiVersion":"1.41","Version":"20.10.24","MinAPIVersion":"1.12"}"#;
    let error = r#"{"message":"boom\nagain"}"#;
    let connections = fake_daemon(
        &path,
        vec![
            // connect: the version negotiation survives a dropped connection.
            Reply::Hangup,
            Reply::Answer(200, version),
            // ping: a 500 then success.
            Reply::Answer(500, error),
            Reply::Answer(200, "OK"),
            // ping: three 500s in a row give up.
            Reply::Answer(500, error),
            Reply::Answer(500, error),
            Reply::Answer(500, error),
        ],
    );
    let backend = DockerBackend::connect_with_socket(path.to_str().unwrap())
        .await
        .expect("connect despite a dropped connection");
    assert_eq!(backend.client().client_version().to_string(), "1.41");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    backend.ping().await.expect("ping despite a 500");
    assert_eq!(connections.load(Ordering::SeqCst), 4);
    let started = Instant::now();
    match backend.ping().await {
        Err(BackendError::Other(m)) => assert_eq!(m, "boom again"),
        other => panic!("expected Other, got {other:?}"),
    }
    assert_eq!(connections.load(Ordering::SeqCst), 7);
    // Backoff 100 ms + 200 ms between the three attempts.
    assert!(started.elapsed() >= Duration::from_millis(300));
}
