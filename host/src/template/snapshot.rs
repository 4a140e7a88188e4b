//! Snapshots of an instance's data, reset to one, and the source of a clone. A snapshot is
//! an image like a template ([`super::capture`]), labelled with the instance and a tag.

use super::{Source, copy_into, data_labels, data_plan, key, stage};
use crate::cancel::Cancel;
use crate::container::{ContainerBackend, ContainerInfo, LabelledImage, State};
use crate::instance::InstanceRecord;
use crate::instance::lock::InstanceLock;
use crate::output::escape;
use crate::provision::ports::StartGate;
use crate::provision::{self, Choices, Journal};
use crate::resolve::ResolvedInstance;
use anyhow::{Context as _, bail};
use std::time::Duration;

/// The `reset` flag that allows replacing a persistent instance's volume contents.
pub const REPLACE_VOLUME_FLAG: &str = "--replace-volume";

/// The tag `snapshot` uses without `--tag`, and `reset` looks for only when given it.
pub const DEFAULT_TAG: &str = "latest";

/// The snapshot of an instance created with `--init`, taken right after its create: what
/// `reset` without a tag returns to (initialising again from scratch would not run the
/// scripts, which stay on the user's machine). Removed with the instance.
pub const CREATED_TAG: &str = "created";

/// How long `stop`, `start` and `destroy` wait for another command on the instance to
/// finish (a snapshot or a reset fails at once instead: repeating one is the caller's call).
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// How long a snapshot may keep its instance frozen for the copy (about 10 s per GB on
/// the copy path), and how long the server's checkpoint may take before it.
const FREEZE_LIMIT: Duration = Duration::from_secs(15 * 60);
const QUIESCE_LIMIT: Duration = Duration::from_secs(120);

/// Takes instance `name`'s lock for `operation` ([`crate::instance::lock`]) and thaws the
/// container an earlier holder froze for a snapshot and never thawed (it was killed): a
/// freeze is always undone, at the latest by the next command on the instance.
pub async fn lock<B: ContainerBackend>(
    backend: &B,
    name: &str,
    operation: &str,
    wait: Duration,
) -> anyhow::Result<InstanceLock> {
    let lock = crate::instance::lock::acquire(name, operation, wait).await?;
    if let Some(id) = lock.stale_freeze() {
        match backend.inspect_container(id).await {
            Ok(info) if info.state == State::Paused => {
                crate::output::warn(format_args!(
                    "{name} was left frozen by an interrupted snapshot; thawing it"
                ));
                backend
                    .set_paused(id, false)
                    .await
                    .with_context(|| format!("thawing {name} (`docker unpause {name}`)"))?;
            }
            // Thawed by hand, or gone.
            _ => {}
        }
        lock.note_frozen(None);
    }
    Ok(lock)
}

/// Checks a `--tag`: letters, digits, `.`, `_` and `-`, at most 64.
pub fn validate_tag(tag: &str) -> anyhow::Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 64
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        bail!(
            "invalid --tag '{}': use letters, digits, '.', '_' and '-' (at most 64)",
            escape(tag)
        );
    }
    Ok(())
}

/// Splits `NAME[:TAG]`.
pub fn split_ref(reference: &str) -> (&str, Option<&str>) {
    match reference.split_once(':') {
        Some((name, tag)) => (name, Some(tag)),
        None => (reference, None),
    }
}

/// The snapshots of instance `name` (all instances when `None`), newest first.
pub async fn list<B: ContainerBackend>(backend: &B, name: Option<&str>) -> anyhow::Result<Vec<LabelledImage>> {
    let mut filters = vec![key::SNAPSHOT_OF.to_string()];
    if let Some(name) = name {
        filters = vec![format!("{}={name}", key::SNAPSHOT_OF)];
    }
    let mut images = backend.list_labelled_images(&filters).await?;
    images.sort_by_key(|i| std::cmp::Reverse(i.created));
    Ok(images)
}

/// Snapshot `name:tag`, newest first when an older one could not be replaced.
pub async fn find<B: ContainerBackend>(backend: &B, name: &str, tag: &str) -> anyhow::Result<Option<LabelledImage>> {
    let images = list(backend, Some(name)).await?;
    Ok(images
        .into_iter()
        .find(|i| i.labels.get(key::SNAPSHOT_TAG).map(String::as_str) == Some(tag)))
}

/// Removes the `--init` instance `name`'s snapshot of its state right after create (when
/// the instance itself is removed); the user's own snapshots stay.
pub async fn forget_created<B: ContainerBackend>(backend: &B, name: &str) {
    if let Ok(Some(image)) = find(backend, name, CREATED_TAG).await
        && let Err(e) = backend.remove_image(&image.id).await
    {
        crate::output::warn(format_args!(
            "{name}: could not remove its snapshot '{CREATED_TAG}': {e}"
        ));
    }
}

/// Captures the data of the instance `info` (resolved as `r`) as snapshot `tag`, replacing
/// an older one of that tag. Consistent: the plugin's quiesce steps run first, else the
/// container is frozen for the copy and thawed afterwards, also on failure or interrupt.
/// A persistent volume is only read.
pub async fn take<B: ContainerBackend>(
    backend: &B,
    r: &ResolvedInstance<'_>,
    info: &ContainerInfo,
    lock: &InstanceLock,
    tag: &str,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<String> {
    validate_tag(tag)?;
    let plan = data_plan(r)?.with_context(|| format!("the {} plugin does not support snapshots", r.record.engine))?;
    if info.state == State::Paused {
        bail!(
            "{} is paused (`docker unpause {}` first); a snapshot freezes it itself",
            r.record.name,
            r.record.name
        );
    }
    let running = info.state == State::Running;
    let mut labels = data_labels(r, &r.record.credentials);
    // The instance's own password does not travel with the image in plain text.
    labels.insert(key::PASSWORD.into(), super::seal::seal(&r.record.credentials.password)?);
    labels.insert(key::SNAPSHOT_OF.into(), r.record.name.clone());
    labels.insert(key::SNAPSHOT_TAG.into(), tag.into());
    // After the plugin's quiesce steps (which flush what the server holds in memory) the
    // container is frozen (`docker pause`) for the copy: the files are then exactly what a
    // power cut would leave, which every engine recovers from, while the port and the
    // clients' connections survive (a stop and start could change a Docker-picked port).
    let journal = Journal::new();
    // The staging container is made while the server checkpoints.
    let quiesce = async {
        if running {
            let steps = crate::steps::run(backend, &info.id, &plan.quiesce, progress);
            tokio::select! {
                done = tokio::time::timeout(QUIESCE_LIMIT, steps) => done.map_err(|_| {
                    anyhow::anyhow!("the server's checkpoint did not finish in {} s", QUIESCE_LIMIT.as_secs())
                })??,
                _ = cancel.cancelled() => return Err(crate::cancel::Cancelled.into()),
            }
            lock.note_frozen(Some(&info.id));
            backend.set_paused(&info.id, true).await?;
        }
        anyhow::Ok(())
    };
    let (staged, quiesced) = tokio::join!(stage(backend, &r.record.image, &plan.paths, &journal), quiesce);
    let staged = match (quiesced, staged) {
        (Ok(()), Ok(staged)) => staged,
        (quiesced, staged) => {
            if quiesced.is_ok() && running {
                backend.set_paused(&info.id, false).await?;
                lock.note_frozen(None);
            }
            journal.undo(backend).await;
            return Err(quiesced.err().or(staged.err()).expect("one of them failed"));
        }
    };
    progress("copying the data".into());
    // The freeze is bounded: an interrupt or the time limit ends the copy (the staging
    // container is discarded) and the instance is thawed right below.
    let uninterrupted = Cancel::default();
    let copied = tokio::select! {
        copied = tokio::time::timeout(FREEZE_LIMIT, copy_into(backend, &info.id, &staged, &plan.paths, &uninterrupted)) => {
            copied.unwrap_or_else(|_| Err(anyhow::anyhow!(
                "copying the data took longer than {} s; {} was thawed and no snapshot taken",
                FREEZE_LIMIT.as_secs(),
                r.record.name
            )))
        }
        _ = cancel.cancelled() => Err(crate::cancel::Cancelled.into()),
    };
    // The copy is the snapshot: the instance runs on while it is committed.
    let thaw = async {
        if running {
            backend.set_paused(&info.id, false).await?;
            lock.note_frozen(None);
        }
        crate::container::Result::Ok(())
    };
    let commit = async {
        copied?;
        anyhow::Ok(backend.commit_container(&staged, &labels).await?)
    };
    let (thawed, captured) = tokio::join!(thaw, commit);
    // Then the staging container and the tag's older snapshots go together.
    let replace_older = async {
        let Ok(image) = &captured else {
            return Ok(());
        };
        if thawed.is_err() || cancel.is_cancelled() {
            return Ok(());
        }
        let older = list(backend, Some(&r.record.name))
            .await?
            .into_iter()
            .filter(|old| &old.id != image && old.labels.get(key::SNAPSHOT_TAG).map(String::as_str) == Some(tag));
        // One in use by an instance reset to it stays until that instance is gone.
        futures_util::future::join_all(older.map(|old| async move { backend.remove_image(&old.id).await })).await;
        anyhow::Ok(())
    };
    let (left, replaced) = tokio::join!(journal.undo(backend), replace_older);
    if !left.is_empty() {
        crate::output::warn(format_args!("could not remove {}", left.join(", ")));
    }
    thawed?;
    let image = captured?;
    cancel.check()?;
    replaced?;
    Ok(image)
}

/// What `reset` starts the instance from: snapshot `tag`, else the template it was created
/// from, else nothing (initialised again from scratch).
pub async fn reset_source<B: ContainerBackend>(
    backend: &B,
    info: &ContainerInfo,
    record: &InstanceRecord,
    tag: Option<&str>,
) -> anyhow::Result<Option<Source>> {
    if let Some(tag) = tag {
        let image = find(backend, &record.name, tag).await?.with_context(|| {
            format!(
                "{} has no snapshot '{}' (see `dbarena snapshots {}`)",
                record.name,
                escape(tag),
                record.name
            )
        })?;
        return Source::of(&image)
            .map(Some)
            .with_context(|| format!("snapshot {}:{}", record.name, escape(tag)));
    }
    let Some(origin) = info.labels.get(key::ORIGIN) else {
        let created = find(backend, &record.name, CREATED_TAG).await?;
        return created
            .as_ref()
            .map(|i| Source::of(i).with_context(|| format!("snapshot {}:{CREATED_TAG}", record.name)))
            .transpose();
    };
    let images = backend.list_labelled_images(&[key::USER.to_string()]).await?;
    match images.iter().find(|i| &i.id == origin).map(Source::of) {
        Some(source) => {
            Ok(Some(source.with_context(|| {
                format!("the image {} was created from", record.name)
            })?))
        }
        None => {
            crate::output::warn(format_args!(
                "{}: the template it was created from is gone; initialising it from scratch",
                record.name
            ));
            Ok(None)
        }
    }
}

/// Replaces instance `info` by a new container from `source` with the same name, port and
/// credentials. The old container is renamed aside and stopped until the new one is
/// ready; on failure or interrupt it gets its name back and is started again.
///
/// The old server's shutdown overlaps the new container's create and start: the old
/// container is first disconnected from its network, which on Docker releases its
/// published port at once (a stop takes about 0.15 s, as long again as a start). Where
/// the port outlives the network (Podman), the new container starts once the old stopped.
pub async fn reset<B: ContainerBackend>(
    backend: &B,
    r: &ResolvedInstance<'_>,
    info: &ContainerInfo,
    source: Option<&Source>,
    journal: &Journal,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<provision::Provisioned> {
    if r.record.persistent {
        bail!(
            "{} is persistent: reset would replace its volume's data, which dbarena never does implicitly; \
             pass {REPLACE_VOLUME_FLAG} to replace it, or create a clone instead (`dbarena create {} --from {}:TAG`)",
            r.record.name,
            r.record.engine,
            r.record.name
        );
    }
    let was_running = info.state == State::Running;
    let port = info.ports.first().map(|p| p.host_port);
    let aside = format!("{}-reset-{:08x}", r.record.name, rand::random::<u32>());
    progress("stopping".into());
    backend.rename_container(&info.id, &aside).await?;
    let mut record = r.record.clone();
    // Keep the port the instance has, whoever chose it.
    record.requested_port = record.requested_port.or(port);
    let again = ResolvedInstance {
        plugin: r.plugin,
        record,
        spec: r.spec.clone(),
        timeout: r.timeout,
        publish_all_interfaces: r.publish_all_interfaces,
        init: r.init.clone(),
    };
    // The state right after create stays what it was.
    let origin = info.labels.get(key::ORIGIN).map(String::as_str);
    let port_free = StartGate::default();
    let again = &again;
    let provision = |gate| async move {
        cancel.check()?;
        let choices = Choices {
            start_gate: gate,
            ..Choices::default()
        };
        provision::provision_from(backend, again, source, origin, choices, journal, cancel, progress).await
    };
    let release = async {
        let mut networks = Vec::new();
        if was_running {
            match backend.detach_networks(&info.id).await {
                Ok(n) => networks = n,
                Err(e) => tracing::info!("{aside} keeps its network until it stops: {e}"),
            }
            // Docker drops a disconnected container's published ports; Podman keeps them.
            let freed = !networks.is_empty()
                && backend
                    .inspect_container(&info.id)
                    .await
                    .is_ok_and(|now| now.ports.is_empty());
            if freed {
                port_free.open();
            }
        }
        // Cleanly, not killed: should the reset fail or be interrupted, this server comes
        // back with its data, and a fast-mode server (synchronous_commit=off) that is
        // killed loses the commits of its last moments.
        let stopped = backend.stop_container(&info.id, Duration::from_secs(10)).await;
        port_free.open();
        (networks, stopped)
    };
    let ((networks, stopped), made) = tokio::join!(release, provision(Some(&port_free)));
    let made = match made {
        // The old container held its port after all: now it is stopped.
        Err(e) if stopped.is_ok() && e.downcast_ref::<provision::ports::PortTaken>().is_some() => provision(None).await,
        made => made,
    };
    match made {
        Ok(done) => {
            backend.remove_container(&info.id).await?;
            Ok(done)
        }
        Err(e) => {
            // provision removed what it made: the old instance comes back as it was.
            journal.undo(backend).await;
            let back = put_back(backend, &r.record.name, info, &networks, was_running, stopped.is_ok()).await;
            Err(e.context(back))
        }
    }
}

/// Gives the old container of a failed reset its name and networks back and, if it ran,
/// starts it again (one that did not stop runs without its ports until restarted). Every
/// step is tried; returns what became of it, for the error.
async fn put_back<B: ContainerBackend>(
    backend: &B,
    name: &str,
    info: &ContainerInfo,
    networks: &[String],
    was_running: bool,
    stopped: bool,
) -> String {
    let id = &info.id;
    let short = super::warm::short(id);
    let mut problems = Vec::new();
    let mut hints = Vec::new();
    if let Err(e) = backend.rename_container(id, name).await {
        problems.push(format!("renaming it back failed: {e}"));
        hints.push(format!("docker rename {short} {name}"));
    }
    if let Err(e) = backend.attach_networks(id, networks).await {
        problems.push(format!("reconnecting it failed: {e}"));
        hints.extend(networks.iter().map(|n| format!("docker network connect {n} {short}")));
    }
    if was_running {
        let started = match stopped {
            true => start_again(backend, id).await,
            false => backend.restart_container(id, Duration::from_secs(10)).await,
        };
        if let Err(e) = started {
            problems.push(format!("starting it again failed: {e}"));
            hints.push(format!("docker restart {short}"));
        }
    }
    if !problems.is_empty() {
        return format!(
            "{name}'s old container {short} holds its data, but {}; recover it with `{}`",
            problems.join("; "),
            hints.join("`, `")
        );
    }
    if !was_running {
        return format!("{name} was left as it was (stopped)");
    }
    // A port Docker picked is picked again at a start.
    let old_port = info.ports.first().map(|p| p.host_port);
    let new_port = match backend.inspect_container(id).await {
        Ok(now) => now.ports.first().map(|p| p.host_port),
        Err(_) => old_port,
    };
    let note = match (old_port, new_port) {
        (Some(old), Some(new)) if old != new => {
            format!(", now on port {new} (Docker picked it; see `dbarena url {name}`)")
        }
        _ => String::new(),
    };
    format!("{name} was put back with its data{note}")
}

/// Starts the old container of a failed reset again. Its port was held by the replacement
/// just removed, and Docker may release it a moment after the removal returns: a port
/// conflict is retried for a few seconds.
async fn start_again<B: ContainerBackend>(backend: &B, id: &str) -> crate::container::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match backend.start_container(id).await {
            Err(crate::container::BackendError::PortInUse { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            result => return result,
        }
    }
}

/// The data a clone `--from NAME[:TAG]` starts from: snapshot `TAG`, or without a tag a
/// snapshot of the instance's current state taken now (tag `latest`). `engine` and
/// `version` must be the instance's: data files are not portable across them.
#[allow(clippy::too_many_arguments)]
pub async fn clone_source<B: ContainerBackend>(
    backend: &B,
    source: &ResolvedInstance<'_>,
    info: &ContainerInfo,
    lock: &InstanceLock,
    tag: Option<&str>,
    wanted: &InstanceRecord,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<Source> {
    let have = &source.record;
    if have.engine != wanted.engine || have.version != wanted.version {
        bail!(
            "--from {}: it is {} {}, not {} {}; create it as {}@{}",
            have.name,
            have.engine,
            have.version,
            wanted.engine,
            wanted.version,
            have.engine,
            have.version
        );
    }
    let image = match tag {
        Some(tag) => find(backend, &have.name, tag)
            .await?
            .with_context(|| format!("--from: {} has no snapshot '{}'", have.name, escape(tag)))?,
        None => {
            let id = take(backend, source, info, lock, DEFAULT_TAG, cancel, progress).await?;
            list(backend, Some(&have.name))
                .await?
                .into_iter()
                .find(|i| i.id == id)
                .context("the snapshot just taken is gone")?
        }
    };
    Source::of(&image).with_context(|| format!("--from {}", have.name))
}

/// How long the helper that refills a persistent volume may take to start.
const HELPER_LIFETIME_SECS: &str = "3600";
/// Where the helper mounts the instance's volume `i`: `/dbarena-reset/i`.
const HELPER_MOUNT: &str = "/dbarena-reset";
/// Inside each volume during a refill: the data it held before, until the new data is in
/// place and the reset is not interrupted.
const BEFORE_RESET: &str = ".dbarena-before-reset";
/// The helper's script: `$MODE` over pairs `SOURCE TARGET`. `swap` moves each target
/// volume's contents aside into `BEFORE_RESET` (renames within the volume: no copy) and,
/// with `COPY=1`, copies the source directory in with owners and modes (`cp -a`);
/// `restore` puts the contents moved aside back; `drop` removes them.
const REFILL_SCRIPT: &str = r#"set -e
keep=.dbarena-before-reset
if [ "$MODE" = swap ]; then
  n=0
  for p in "$@"; do
    n=$((n + 1))
    if [ $((n % 2)) = 0 ] && [ -e "$p/$keep" ]; then
      echo "$p/$keep exists: an earlier reset did not finish; move its contents back or remove it" >&2
      exit 3
    fi
  done
fi
while [ "$#" -gt 1 ]; do
  old="$2/$keep"
  case "$MODE" in
  swap)
    mkdir "$old"
    for f in "$2"/* "$2"/.[!.]* "$2"/..?*; do
      [ -e "$f" ] || [ -L "$f" ] || continue
      [ "$f" = "$old" ] || mv "$f" "$old/"
    done
    if [ "$COPY" = 1 ]; then cp -a "$1/." "$2/"; fi ;;
  restore)
    if [ -d "$old" ]; then
      find "$2" -mindepth 1 -maxdepth 1 ! -name "$keep" -exec rm -rf {} +
      for f in "$old"/* "$old"/.[!.]* "$old"/..?*; do
        [ -e "$f" ] || [ -L "$f" ] || continue
        mv "$f" "$2/"
      done
      rmdir "$old"
    fi ;;
  drop) rm -rf "$old" ;;
  esac
  shift 2
done"#;

/// `reset --replace-volume` of a persistent instance: the same container (name, port,
/// volume names) is stopped, its volumes' contents are replaced by `source`'s data (or
/// emptied when there is none, so the engine initialises again), and it is started,
/// given its credentials and proven ready. The refill runs in a helper container of the
/// source image whose data paths Docker fills from the image. The volume's old contents
/// are moved aside first (renames, no copy) and only dropped once the new data is in
/// place: a refill that fails, or is interrupted, puts them back and the instance starts
/// again with its own data.
pub async fn reset_volume<B: ContainerBackend>(
    backend: &B,
    r: &ResolvedInstance<'_>,
    info: &ContainerInfo,
    source: Option<&Source>,
    journal: &Journal,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<provision::Provisioned> {
    let paths = &r.spec.data_paths;
    if paths.is_empty() {
        bail!("the {} plugin declares no data paths to reset", r.record.engine);
    }
    for index in 0..paths.len() {
        let volume = crate::instance::volume_name(&r.record.name, index);
        if backend.inspect_volume(&volume).await?.is_none() {
            bail!("{}: its volume {volume} is gone; nothing to reset", r.record.name);
        }
    }
    cancel.check()?;
    progress("stopping".into());
    // Cleanly: should the refill fail, the data left is the server's own, intact.
    backend.stop_container(&info.id, super::STOP_TIMEOUT).await?;
    progress("replacing the volume's data".into());
    let refilled = refill(backend, r, source, journal, cancel).await;
    let left = journal.undo(backend).await;
    if !left.is_empty() {
        crate::output::warn(format_args!("could not remove {}", left.join(", ")));
    }
    let kept_old = match refilled {
        Ok(Refill::Replaced) => false,
        Ok(Refill::PutBack) => true,
        Err(e) => {
            return Err(e.context(format!(
                "{} is stopped; its volume may hold part of the snapshot: run the reset again, or destroy it",
                r.record.name
            )));
        }
    };
    progress("starting".into());
    let since = chrono::Utc::now().timestamp();
    backend.start_container(&info.id).await.map_err(|e| {
        let held = if kept_old {
            "its own data"
        } else {
            "the snapshot's data"
        };
        anyhow::Error::new(e).context(format!("{} holds {held} but did not start", r.record.name))
    })?;
    if let Some(source) = source.filter(|_| !kept_old) {
        // Even when interrupted: the data must not keep accepting the source's credentials.
        super::apply(backend, r, &info.id, &source.credentials, &Cancel::default(), progress).await?;
    }
    let now = backend.inspect_container(&info.id).await?;
    // Past the refill an interrupt no longer undoes anything: the instance is made ready,
    // with its own data (then the interrupt is reported) or the snapshot's (the reset is done).
    let proof = provision::wait_ready(backend, r, &now, Some(since), &Cancel::default(), progress).await?;
    if kept_old {
        return Err(anyhow::Error::new(crate::cancel::Cancelled).context(format!(
            "{} was put back with its own data and is running",
            r.record.name
        )));
    }
    Ok(provision::Provisioned { info: now, proof })
}

/// What a refill left in the volumes.
enum Refill {
    /// The source's data (or nothing, to initialise again).
    Replaced,
    /// The data they held before: the reset was interrupted.
    PutBack,
}

/// Runs the helper that replaces the contents of `r`'s volumes by `source`'s data paths.
async fn refill<B: ContainerBackend>(
    backend: &B,
    r: &ResolvedInstance<'_>,
    source: Option<&Source>,
    journal: &Journal,
    cancel: &Cancel,
) -> anyhow::Result<Refill> {
    let paths = &r.spec.data_paths;
    let name = format!("{}-refill-{:08x}", r.record.name, rand::random::<u32>());
    let def = crate::container::ContainerDef {
        name: name.clone(),
        image: source.map_or_else(|| r.record.image.clone(), |s| s.image.clone()),
        labels: super::owner_label(journal),
        entrypoint: Some(vec!["sleep".into()]),
        cmd: vec![HELPER_LIFETIME_SECS.into()],
        mounts: (0..paths.len())
            .map(|i| crate::container::Mount::Volume {
                name: crate::instance::volume_name(&r.record.name, i),
                target: format!("{HELPER_MOUNT}/{i}"),
            })
            .collect(),
        ..Default::default()
    };
    journal.intend_container(&name);
    let id = backend.create_container(&def).await?;
    journal.made_container(&name, &id);
    backend.start_container(&id).await?;
    let mut pairs: Vec<String> = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        pairs.push(path.clone());
        pairs.push(format!("{HELPER_MOUNT}/{i}"));
    }
    let copy = if source.is_some() { "1" } else { "0" };
    let (id, pairs) = (&id, &pairs);
    let run = |mode: &'static str| async move {
        let mut cmd: Vec<String> = vec!["sh".into(), "-c".into(), REFILL_SCRIPT.into(), "sh".into()];
        cmd.extend(pairs.iter().cloned());
        let env = [
            ("MODE".to_string(), mode.to_string()),
            ("COPY".to_string(), copy.to_string()),
        ];
        let request = crate::container::ExecRequest {
            cmd: &cmd,
            env: &env,
            stdin: None,
        };
        let out = backend.exec(id, &request).await?;
        if out.exit_code != 0 {
            let what = format!(
                "{mode} of the volume's data failed (exit code {}): {}",
                out.exit_code,
                escape(out.output.trim())
            );
            return Ok(Err((out.exit_code, what)));
        }
        anyhow::Ok(Ok(()))
    };
    // Not interrupted part-way: a half-moved volume would be neither state.
    let swapped = match run("swap").await {
        // Nothing was moved: the volume is as it was.
        Ok(Err((3, what))) => bail!(what),
        Ok(Err((_, what))) => Err(anyhow::anyhow!(what)),
        Ok(Ok(())) => Ok(()),
        Err(e) => Err(e),
    };
    let run = |mode| async move { run(mode).await?.map_err(|(_, what)| anyhow::anyhow!(what)) };
    if swapped.is_err() || cancel.is_cancelled() {
        let restored = run("restore").await;
        return match (swapped, restored) {
            (Ok(()), Ok(())) => Ok(Refill::PutBack),
            (Err(e), Ok(())) => Err(e.context(format!("{}'s own data was put back", r.record.name))),
            (_, Err(e)) => Err(e.context(format!(
                "{}'s data from before the reset is in {BEFORE_RESET} inside its volume",
                r.record.name
            ))),
        };
    }
    if let Err(e) = run("drop").await {
        crate::output::warn(format_args!(
            "{}: the data from before the reset is left in {BEFORE_RESET} inside its volume: {e:#}",
            r.record.name
        ));
    }
    Ok(Refill::Replaced)
}
