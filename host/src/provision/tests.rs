//! Provisioning against the in-memory backend: undo on every failure path, port choice,
//! volume adoption and the record round trip, in milliseconds. Readiness is real: a tiny
//! RESP responder listens where the fake engine "publishes" the Redis port.

use super::*;
use crate::cli::InstanceArgs;
use crate::config::Config;
use crate::container::fake::{FakeBackend, Op};
use crate::container::{BackendError, ContainerBackend};
use crate::instance::InstanceRecord;
use crate::plugin::{PluginRegistry, PluginRuntime};
use crate::resolve::{Request, Resolver};
use std::sync::OnceLock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) const REDIS_IMAGE: &str = "redis:7";

pub(crate) fn registry() -> &'static PluginRegistry {
    static REGISTRY: OnceLock<PluginRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let cache = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-component-cache");
        let runtime = PluginRuntime::new(Some(cache)).unwrap();
        PluginRegistry::load(&runtime, None).unwrap()
    })
}

/// Answers every connection like a Redis server whose password is `password`.
pub(crate) async fn fake_redis(password: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen);
                    if text.contains("PING") {
                        let reply: &[u8] = if text.contains(password) {
                            b"+OK\r\n+PONG\r\n"
                        } else {
                            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n-NOAUTH Authentication required.\r\n"
                        };
                        let _ = conn.write_all(reply).await;
                        seen.clear();
                    }
                }
            });
        }
    });
    port
}

pub(crate) fn request(args: InstanceArgs) -> Request {
    Request {
        engine_ref: "redis".into(),
        instance: args,
        timeout: Some(3),
        ..Default::default()
    }
}

fn resolve<'r>(config: &'r Config, req: &Request, name: &str, adopt: Option<&InstanceRecord>) -> ResolvedInstance<'r>
where
    'static: 'r,
{
    Resolver::new(config, registry()).instance(req, name, adopt).unwrap()
}

pub(crate) fn backend() -> FakeBackend {
    let fake = FakeBackend::new();
    fake.add_image(REDIS_IMAGE, &["/data"]);
    fake
}

async fn run(fake: &FakeBackend, r: &ResolvedInstance<'_>, choices: Choices<'_>) -> anyhow::Result<Provisioned> {
    let journal = Journal::new();
    let result = provision(fake, r, choices, &journal, &Cancel::default(), &|_| {}).await;
    if result.is_ok() {
        journal.keep();
    }
    result
}

#[tokio::test]
async fn a_ready_instance_records_every_option_that_shapes_its_spec() {
    let config = Config::default();
    let fake = backend();
    let port = fake_redis("s3cret-Pw1").await;
    fake.take_host_port(6379);
    fake.set_next_dynamic_port(port);
    let args = InstanceArgs {
        password: Some("s3cret-Pw1".into()),
        memory: Some("256m".into()),
        env: vec!["REDIS_MAXMEMORY_POLICY=allkeys-lru".into()],
        ..Default::default()
    };
    let r = resolve(&config, &request(args), "rec", None);
    let done = run(&fake, &r, Choices::default()).await.unwrap();
    assert_eq!(
        done.info.ports[0].host_port, port,
        "the taken default port falls back to a Docker-picked one"
    );
    assert_eq!(fake.calls_of(Op::CreateContainer).len(), 2, "one retry after PortInUse");
    assert_eq!(
        fake.containers().len(),
        1,
        "the container that could not bind is removed"
    );

    // start/restart read the record back: the same spec, memory and --env extras included.
    let record = InstanceRecord::from_labels(&done.info.labels).unwrap();
    assert_eq!(record, r.record);
    let again = Resolver::new(&config, registry()).existing(&record, None).unwrap();
    assert_eq!(again.spec, r.spec);
    assert_eq!(again.spec.memory_limit_bytes, Some(256 << 20));
    assert!(
        again.spec.cmd.iter().any(|a| a == "allkeys-lru"),
        "{:?}",
        again.spec.cmd
    );
}

#[tokio::test]
async fn a_container_that_fails_to_start_is_removed_with_its_new_volume() {
    let config = Config::default();
    let fake = backend();
    fake.fail_next(
        Op::StartContainer,
        1,
        BackendError::Other("failed to attach to bridge".into()),
    );
    let args = InstanceArgs {
        persistent: true,
        ..Default::default()
    };
    let r = resolve(&config, &request(args), "nostart", None);
    let err = run(&fake, &r, Choices::default()).await.unwrap_err();
    assert!(format!("{err:#}").contains("failed to attach to bridge"), "{err:#}");
    assert!(fake.containers().is_empty(), "left: {:?}", fake.containers());
    assert!(fake.volumes().is_empty(), "left: {:?}", fake.volumes());
}

#[tokio::test]
async fn an_explicit_port_that_is_taken_is_an_error_and_leaves_nothing() {
    let config = Config::default();
    let fake = backend();
    fake.take_host_port(16379);
    let mut req = request(InstanceArgs::default());
    req.port = Some(16379);
    let r = resolve(&config, &req, "taken", None);
    let err = run(&fake, &r, Choices::default()).await.unwrap_err();
    assert!(err.to_string().contains("port 16379 is already in use"), "{err}");
    assert!(fake.containers().is_empty());
}

#[tokio::test]
async fn failed_readiness_undoes_everything_unless_kept_for_debugging() {
    let config = Config::default();
    let fake = backend();
    // The server answers, but not to the recorded password: never ready.
    let port = fake_redis("the-real-one").await;
    let mut req = request(InstanceArgs {
        password: Some("another-Pw1".into()),
        persistent: true,
        ..Default::default()
    });
    req.port = Some(port);
    let r = resolve(&config, &req, "wrongpw", None);
    let err = run(&fake, &r, Choices::default()).await.unwrap_err();
    assert!(format!("{err:#}").contains("WRONGPASS"), "{err:#}");
    assert!(fake.containers().is_empty() && fake.volumes().is_empty());

    let err = run(
        &fake,
        &r,
        Choices {
            keep_on_failure: true,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("kept container wrongpw"), "{err:#}");
    assert_eq!(fake.containers().len(), 1);
}

#[tokio::test]
async fn persistent_data_is_adopted_with_its_credentials_and_never_undone() {
    let config = Config::default();
    let fake = backend();
    let port = fake_redis("kept-Pw1").await;
    // An earlier instance of this name left its volume, recording its credentials.
    let earlier = resolve(
        &config,
        &request(InstanceArgs {
            password: Some("kept-Pw1".into()),
            persistent: true,
            ..Default::default()
        }),
        "keep",
        None,
    );
    fake.create_volume("keep-data", &earlier.record.volume_labels("/data", Some("old-owner")))
        .await
        .unwrap();

    let adopt = volumes::adoptable(&fake, "keep")
        .await
        .unwrap()
        .expect("a record on the volume");
    let mut req = request(InstanceArgs {
        persistent: true,
        ..Default::default()
    });
    req.port = Some(port);
    let r = resolve(&config, &req, "keep", Some(&adopt));
    assert_eq!(
        r.record.credentials.password, "kept-Pw1",
        "the data's password, not a new one"
    );
    run(&fake, &r, Choices::default()).await.unwrap();
    assert_eq!(
        fake.calls_of(Op::CreateVolume).len(),
        1,
        "only the set-up created a volume"
    );

    // A failed create on adopted data removes its container but never the data.
    let c = fake.containers().remove(0);
    fake.remove_container(&c.id).await.unwrap();
    let mut failing = r;
    failing.record.credentials.password = "wrong".into();
    run(&fake, &failing, Choices::default()).await.unwrap_err();
    assert_eq!(fake.volumes().len(), 1, "adopted data must survive a failed create");
    assert!(fake.containers().is_empty());
}

#[tokio::test]
async fn undo_removes_only_what_this_create_made_even_by_the_same_name() {
    let fake = backend();
    let journal = Journal::new();
    // This create meant to make "same", but its call's outcome is unknown...
    journal.intend_container("same");
    journal.intend_volume("same-data");
    // ...and another process made both under that name.
    let other = Journal::new();
    let record = crate::instance::record::tests::sample();
    let def = crate::container::ContainerDef {
        name: "same".into(),
        image: REDIS_IMAGE.into(),
        labels: record.container_labels(Some(other.owner())),
        ..Default::default()
    };
    fake.create_container(&def).await.unwrap();
    fake.create_volume("same-data", &record.volume_labels("/data", Some(other.owner())))
        .await
        .unwrap();
    assert!(journal.undo(&fake).await.is_empty());
    assert_eq!(fake.containers().len(), 1, "another process's container was removed");
    let named = |fake: &FakeBackend| fake.volumes().iter().filter(|v| v.name == "same-data").count();
    assert_eq!(named(&fake), 1, "another process's volume was removed");

    // With its own token on them, the same lookups remove them.
    other.intend_container("same");
    other.intend_volume("same-data");
    assert!(other.undo(&fake).await.is_empty());
    assert!(fake.containers().is_empty() && fake.volumes().is_empty());
}

#[tokio::test]
async fn cancelling_stops_at_the_next_step_and_removes_what_was_made() {
    let config = Config::default();
    let fake = backend();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut req = request(InstanceArgs {
        persistent: true,
        ..Default::default()
    });
    req.port = Some(silent.local_addr().unwrap().port());
    req.timeout = Some(30);
    let r = resolve(&config, &req, "cancelled", None);
    let cancel = Cancel::default();
    let journal = Journal::new();
    let canceller = {
        let cancel = cancel.clone();
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            cancel.cancel();
        }
    };
    let (result, ()) = tokio::join!(
        provision(&fake, &r, Choices::default(), &journal, &cancel, &|_| {}),
        canceller
    );
    let err = result.expect_err("cancelled");
    assert!(err.to_string().contains("interrupted"), "{err:#}");
    assert!(fake.containers().is_empty() && fake.volumes().is_empty());
    drop(silent);
}

#[tokio::test]
async fn clean_up_waits_for_an_engine_that_went_away() {
    let fake = backend();
    let journal = Journal::new();
    let record = crate::instance::record::tests::sample();
    journal.intend_container("flaky");
    let def = crate::container::ContainerDef {
        name: "flaky".into(),
        image: REDIS_IMAGE.into(),
        labels: record.container_labels(Some(journal.owner())),
        ..Default::default()
    };
    let id = fake.create_container(&def).await.unwrap();
    journal.made_container("flaky", &id);
    // The engine is unreachable for the first attempts (a restarting daemon).
    fake.fail_next(
        Op::RemoveContainer,
        2,
        BackendError::Unavailable("connection refused".into()),
    );
    assert!(journal.undo(&fake).await.is_empty());
    assert!(fake.containers().is_empty());
    assert_eq!(fake.calls_of(Op::RemoveContainer).len(), 3);
}
