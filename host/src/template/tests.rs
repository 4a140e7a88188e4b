//! Capture, warm starts with their fallback, and reset's rollback against the in-memory
//! backend (readiness is real: a tiny RESP responder, see `provision::tests`).

use super::*;
use crate::cli::InstanceArgs;
use crate::config::Config;
use crate::container::fake::{FakeBackend, Op};
use crate::container::{BackendError, State};
use crate::provision::tests::{REDIS_IMAGE, backend, fake_redis, registry, request};
use crate::provision::{Choices, Provisioned};
use crate::resolve::{Request, Resolver};

async fn ready_instance(fake: &FakeBackend, config: &Config, name: &str) -> (Request, Provisioned, u16) {
    let port = fake_redis("").await;
    let mut req = request(InstanceArgs::default());
    req.port = Some(port);
    let r = Resolver::new(config, registry()).instance(&req, name, None).unwrap();
    let journal = Journal::new();
    let done = crate::provision::provision(fake, &r, Choices::default(), &journal, &Cancel::default(), &|_| {})
        .await
        .unwrap();
    journal.keep();
    (req, done, port)
}

#[tokio::test]
async fn capture_commits_the_data_paths_through_a_staging_container_the_journal_removes() {
    let fake = backend();
    let src = fake
        .create_container(&ContainerDef {
            name: "src".into(),
            image: REDIS_IMAGE.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    fake.upload_files(
        &src,
        &[crate::container::FileUpload {
            path: "/data/dump.rdb".into(),
            content: b"REDIS0011".to_vec(),
            mode: 0o600,
        }],
    )
    .await
    .unwrap();
    let journal = Journal::new();
    let labels: BTreeMap<String, String> = [(key::TEMPLATE.to_string(), "k1".to_string())].into();
    let image = capture(
        &fake,
        &src,
        REDIS_IMAGE,
        &["/data".into()],
        &labels,
        &journal,
        &Cancel::default(),
    )
    .await
    .unwrap();
    // The staging container is left to the caller's journal, and its undo leaves the source.
    assert_eq!(fake.containers().len(), 2);
    assert!(journal.undo(&fake).await.is_empty());
    assert_eq!(fake.containers().len(), 1);
    let staged = fake.calls_of(Op::CreateContainer);
    assert!(staged.iter().any(|n| n.starts_with("dbarena-stage-")), "{staged:?}");
    // The image carries the labels and the data.
    let found = fake
        .list_labelled_images(&[format!("{}=k1", key::TEMPLATE)])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, image);
    let copy = fake
        .create_container(&ContainerDef {
            name: "copy".into(),
            image: image.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(fake.files_of(&copy).get("/data/dump.rdb").unwrap(), b"REDIS0011");
}

#[tokio::test]
async fn a_failed_capture_leaves_no_staging_container() {
    let fake = backend();
    let src = fake
        .create_container(&ContainerDef {
            name: "src".into(),
            image: REDIS_IMAGE.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    fake.fail_next(Op::CommitContainer, 1, BackendError::Other("disk full".into()));
    let journal = Journal::new();
    let err = capture(
        &fake,
        &src,
        REDIS_IMAGE,
        &["/data".into()],
        &BTreeMap::new(),
        &journal,
        &Cancel::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert!(journal.undo(&fake).await.is_empty());
    assert_eq!(fake.containers().len(), 1);
}

/// A template image of `key` for `r`, made from a stopped container.
async fn template_image(fake: &FakeBackend, r: &ResolvedInstance<'_>, key: &str) -> String {
    let holder = fake
        .create_container(&ContainerDef {
            name: "holder".into(),
            image: REDIS_IMAGE.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut labels = data_labels(r, &r.record.credentials);
    labels.insert(key::TEMPLATE.into(), key.to_string());
    let template = fake.commit_container(&holder, &labels).await.unwrap();
    fake.remove_container(&holder).await.unwrap();
    template
}

#[tokio::test]
async fn a_template_is_found_by_its_key_and_a_broken_one_is_discarded_for_a_cold_start() {
    let config = Config::default();
    let fake = backend();
    let port = fake_redis("").await;
    let mut req = request(InstanceArgs::default());
    req.port = Some(port);
    let resolver = Resolver::new(&config, registry());
    let r = resolver.instance(&req, "warm1", None).unwrap();
    let plan = data_plan(&r).unwrap().unwrap();
    let key = template_key(&fake, &r, &plan).await.unwrap().unwrap();
    // Another image or another mode is another key.
    let mut other = resolver.instance(&req, "warm1", None).unwrap();
    other.record.mode = crate::plugin::bindings::Mode::Durable;
    assert_ne!(template_key(&fake, &other, &plan).await.unwrap().unwrap(), key);

    // A template image of this key (made from a stopped container).
    let template = template_image(&fake, &r, &key).await;
    assert_eq!(find(&fake, &key).await.unwrap().unwrap().image, template);

    let warm = warm::WarmChoice {
        from: None,
        cold: false,
        adopting: false,
    };
    let journal = Journal::new();
    let done = warm::provision(
        &fake,
        &resolver,
        &req,
        &r,
        &warm,
        Choices::default(),
        &journal,
        &Cancel::default(),
        &|_| {},
    )
    .await
    .unwrap();
    journal.keep();
    assert_eq!(fake.container_def("warm1").unwrap().image, template);
    assert_eq!(done.info.labels.get(key::ORIGIN), Some(&template));
    fake.remove_container(&done.info.id).await.unwrap();

    // Starting from it fails: the template is removed and the create starts cold.
    fake.fail_next(Op::StartContainer, 1, BackendError::Other("exec format error".into()));
    let journal = Journal::new();
    let done = warm::provision(
        &fake,
        &resolver,
        &req,
        &r,
        &warm,
        Choices::default(),
        &journal,
        &Cancel::default(),
        &|_| {},
    )
    .await
    .unwrap();
    journal.keep();
    assert_eq!(fake.container_def("warm1").unwrap().image, REDIS_IMAGE);
    assert_eq!(done.info.labels.get(key::ORIGIN), None);
    assert!(
        find(&fake, &key).await.unwrap().is_none(),
        "the broken template is gone"
    );
}

#[tokio::test]
async fn a_users_mistake_or_a_failure_a_cold_start_shares_never_discards_the_template() {
    let config = Config::default();
    let fake = backend();
    let port = fake_redis("").await;
    let mut req = request(InstanceArgs::default());
    req.port = Some(port);
    let resolver = Resolver::new(&config, registry());
    let r = resolver.instance(&req, "warm2", None).unwrap();
    let plan = data_plan(&r).unwrap().unwrap();
    let key = template_key(&fake, &r, &plan).await.unwrap().unwrap();
    let template = template_image(&fake, &r, &key).await;
    let warm = warm::WarmChoice {
        from: None,
        cold: false,
        adopting: false,
    };
    let attempt = || async {
        let journal = Journal::new();
        let done = warm::provision(
            &fake,
            &resolver,
            &req,
            &r,
            &warm,
            Choices::default(),
            &journal,
            &Cancel::default(),
            &|_| {},
        )
        .await;
        journal.undo(&fake).await;
        done
    };
    // The name is taken (or the port, or the engine is gone): no cold try, template kept.
    for failure in [
        BackendError::NameInUse("warm2".into()),
        BackendError::PortInUse {
            port: Some(port),
            message: "address already in use".into(),
        },
        BackendError::Unavailable("connection refused".into()),
    ] {
        let creates = fake.calls_of(Op::CreateContainer).len();
        fake.fail_next(Op::CreateContainer, 1, failure);
        attempt().await.unwrap_err();
        assert_eq!(fake.calls_of(Op::CreateContainer).len(), creates + 1, "no cold retry");
        assert_eq!(
            find(&fake, &key).await.unwrap().unwrap().image,
            template,
            "template kept"
        );
    }
    // Warm and cold both fail alike: the template was not the cause and stays.
    fake.fail_next(Op::StartContainer, 2, BackendError::Other("exec format error".into()));
    attempt().await.unwrap_err();
    assert_eq!(
        find(&fake, &key).await.unwrap().unwrap().image,
        template,
        "template kept"
    );
}

#[tokio::test]
async fn a_failed_reset_gives_the_old_container_its_name_back_and_starts_it() {
    let config = Config::default();
    let fake = backend();
    let (_, done, port) = ready_instance(&fake, &config, "keepme").await;
    let record = crate::instance::InstanceRecord::from_labels(&done.info.labels).unwrap();
    let r = Resolver::new(&config, registry()).existing(&record, None).unwrap();
    let info = fake.inspect_container("keepme").await.unwrap();
    fake.fail_next(Op::CreateContainer, 1, BackendError::Other("no space left".into()));
    let journal = Journal::new();
    let err = snapshot::reset(&fake, &r, &info, None, &journal, &Cancel::default(), &|_| {})
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("put back with its data"), "{err:#}");
    let back = fake.inspect_container("keepme").await.unwrap();
    assert_eq!(back.id, done.info.id);
    assert_eq!(back.state, State::Running);
    assert_eq!(back.ports[0].host_port, port);
    assert_eq!(fake.containers().len(), 1, "no replacement left");

    // The port still held for a moment after the replacement's removal: the start is retried.
    fake.fail_next(Op::CreateContainer, 1, BackendError::Other("no space left".into()));
    fake.fail_next(
        Op::StartContainer,
        2,
        BackendError::PortInUse {
            port: Some(port),
            message: "port is already allocated".into(),
        },
    );
    let info = fake.inspect_container("keepme").await.unwrap();
    let starts = fake.calls_of(Op::StartContainer).len();
    let err = snapshot::reset(&fake, &r, &info, None, &Journal::new(), &Cancel::default(), &|_| {})
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("put back with its data"), "{err:#}");
    assert_eq!(fake.inspect_container("keepme").await.unwrap().state, State::Running);
    assert_eq!(
        fake.calls_of(Op::StartContainer).len(),
        starts + 3,
        "two conflicts, then started"
    );

    // Succeeding, it keeps name and port and replaces the container.
    let journal = Journal::new();
    let info = fake.inspect_container("keepme").await.unwrap();
    let new = snapshot::reset(&fake, &r, &info, None, &journal, &Cancel::default(), &|_| {})
        .await
        .unwrap();
    journal.keep();
    assert_ne!(new.info.id, done.info.id);
    assert_eq!(new.info.ports[0].host_port, port);
    assert_eq!(fake.containers().len(), 1);
}

#[tokio::test]
async fn a_reset_frees_the_old_port_before_stopping_and_waits_for_the_stop_where_the_port_stays() {
    let config = Config::default();
    let fake = backend();
    let (_, done, port) = ready_instance(&fake, &config, "swift").await;
    let record = crate::instance::InstanceRecord::from_labels(&done.info.labels).unwrap();
    let r = Resolver::new(&config, registry()).existing(&record, None).unwrap();
    let old = fake.inspect_container("swift").await.unwrap();
    fake.clear_calls();
    let journal = Journal::new();
    let new = snapshot::reset(&fake, &r, &old, None, &journal, &Cancel::default(), &|_| {})
        .await
        .unwrap();
    journal.keep();
    let detached = fake.calls_of(Op::DetachNetworks);
    assert_eq!(
        detached,
        std::slice::from_ref(&old.id),
        "the old container is disconnected first"
    );
    let order: Vec<Op> = fake.calls().iter().map(|c| c.op).collect();
    let at = |op: Op| order.iter().position(|o| *o == op).unwrap();
    assert!(at(Op::DetachNetworks) < at(Op::StopContainer), "{order:?}");
    assert_eq!(new.info.ports[0].host_port, port);
    assert_eq!(fake.containers().len(), 1);

    // Podman keeps a disconnected container's port until it stops: the start that found
    // it taken is made again once the old server has stopped.
    fake.keep_ports_without_network();
    fake.fail_next(
        Op::StartContainer,
        1,
        BackendError::PortInUse {
            port: Some(port),
            message: "address already in use".into(),
        },
    );
    let old = fake.inspect_container("swift").await.unwrap();
    let journal = Journal::new();
    let new = snapshot::reset(&fake, &r, &old, None, &journal, &Cancel::default(), &|_| {})
        .await
        .unwrap();
    journal.keep();
    assert_ne!(new.info.id, old.id);
    assert_eq!(new.info.ports[0].host_port, port);
    assert_eq!(fake.containers().len(), 1, "the conflicting attempt is removed");
}

#[tokio::test]
async fn a_failed_put_back_says_how_to_recover_and_one_that_did_not_stop_is_restarted() {
    let config = Config::default();
    let fake = backend();
    let (_, done, port) = ready_instance(&fake, &config, "fragile").await;
    let record = crate::instance::InstanceRecord::from_labels(&done.info.labels).unwrap();
    let r = Resolver::new(&config, registry()).existing(&record, None).unwrap();
    let info = fake.inspect_container("fragile").await.unwrap();
    fake.fail_next(Op::CreateContainer, 1, BackendError::Other("no space left".into()));
    fake.fail_next(Op::AttachNetworks, 1, BackendError::Other("network gone".into()));
    let err = snapshot::reset(&fake, &r, &info, None, &Journal::new(), &Cancel::default(), &|_| {})
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("reconnecting it failed: network gone"), "{text}");
    assert!(text.contains("docker network connect bridge"), "{text}");
    assert!(text.contains("no space left"), "the reset's own error stays: {text}");
    assert_eq!(
        fake.inspect_container("fragile").await.unwrap().id,
        info.id,
        "renamed back all the same"
    );

    // The old container did not stop: it runs without its port until restarted, so it is.
    fake.clear_faults();
    let info = fake.inspect_container("fragile").await.unwrap();
    fake.attach_networks(&info.id, &["bridge".to_string()]).await.unwrap();
    fake.start_container(&info.id).await.unwrap();
    let info = fake.inspect_container("fragile").await.unwrap();
    fake.fail_next(Op::StopContainer, 1, BackendError::Other("stuck".into()));
    fake.fail_next(Op::CreateContainer, 1, BackendError::Other("no space left".into()));
    let restarts = fake.calls_of(Op::RestartContainer).len();
    let err = snapshot::reset(&fake, &r, &info, None, &Journal::new(), &Cancel::default(), &|_| {})
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("put back with its data"), "{err:#}");
    assert_eq!(fake.calls_of(Op::RestartContainer).len(), restarts + 1);
    let back = fake.inspect_container("fragile").await.unwrap();
    assert_eq!((back.state, back.ports[0].host_port), (State::Running, port));
}

#[tokio::test]
async fn a_reset_is_refused_for_persistent_instances_and_snapshots_freeze_and_thaw() {
    let config = Config::default();
    let fake = backend();
    let (_, done, _) = ready_instance(&fake, &config, "snap").await;
    let record = crate::instance::InstanceRecord::from_labels(&done.info.labels).unwrap();
    let r = Resolver::new(&config, registry()).existing(&record, None).unwrap();
    let info = fake.inspect_container("snap").await.unwrap();
    fake.push_exec(&["redis-cli", "--no-auth-warning", "SAVE"], 0, "OK\n");
    let image = snapshot::take(
        &fake,
        &r,
        &info,
        &crate::instance::lock::for_tests(),
        "t1",
        &Cancel::default(),
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(
        fake.calls_of(Op::Exec).len(),
        1,
        "the plugin's quiesce step (SAVE) first"
    );
    assert_eq!(fake.calls_of(Op::SetPaused).len(), 2, "frozen, then thawed");
    assert_eq!(fake.inspect_container("snap").await.unwrap().state, State::Running);
    let found = snapshot::find(&fake, "snap", "t1").await.unwrap().unwrap();
    assert_eq!(found.id, image);
    // Taken again under the same tag: the older one is replaced.
    let again = snapshot::take(
        &fake,
        &r,
        &info,
        &crate::instance::lock::for_tests(),
        "t1",
        &Cancel::default(),
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(snapshot::list(&fake, Some("snap")).await.unwrap().len(), 1);
    assert_eq!(snapshot::find(&fake, "snap", "t1").await.unwrap().unwrap().id, again);
    // A staging container that cannot be made (while the server checkpoints), or a commit
    // that fails: the instance is thawed, nothing is left, the tag's snapshot stays.
    for op in [Op::CreateContainer, Op::CommitContainer] {
        fake.fail_next(op, 1, BackendError::Other("disk full".into()));
        let err = snapshot::take(
            &fake,
            &r,
            &info,
            &crate::instance::lock::for_tests(),
            "t1",
            &Cancel::default(),
            &|_| {},
        )
        .await
        .unwrap_err();
        assert!(format!("{err:#}").contains("disk full"), "{err:#}");
        assert_eq!(fake.inspect_container("snap").await.unwrap().state, State::Running);
        assert_eq!(fake.containers().len(), 1, "no staging container left");
        assert_eq!(snapshot::find(&fake, "snap", "t1").await.unwrap().unwrap().id, again);
    }
    assert!(
        snapshot::take(
            &fake,
            &r,
            &info,
            &crate::instance::lock::for_tests(),
            "bad tag",
            &Cancel::default(),
            &|_| {}
        )
        .await
        .is_err()
    );

    let mut persistent = Resolver::new(&config, registry()).existing(&record, None).unwrap();
    persistent.record.persistent = true;
    let err = snapshot::reset(
        &fake,
        &persistent,
        &info,
        None,
        &Journal::new(),
        &Cancel::default(),
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("persistent"), "{err}");
    assert_eq!(fake.inspect_container("snap").await.unwrap().state, State::Running);
}
