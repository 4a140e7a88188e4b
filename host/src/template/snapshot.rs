//! Snapshots of an instance's data, reset to one, and the source of a clone. A snapshot is
//! an image like a template ([`super::capture`]), labelled with the instance and a tag.

use super::{Source, capture, data_labels, data_plan, key};
use crate::cancel::Cancel;
use crate::container::{ContainerBackend, ContainerInfo, LabelledImage, State};
use crate::instance::InstanceRecord;
use crate::output::escape;
use crate::provision::{self, Choices, Journal};
use crate::resolve::ResolvedInstance;
use anyhow::{Context as _, bail};
use std::time::Duration;

/// The tag `snapshot` uses without `--tag`, and `reset` looks for only when given it.
pub const DEFAULT_TAG: &str = "latest";

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

/// Captures the data of the instance `info` (resolved as `r`) as snapshot `tag`, replacing
/// an older one of that tag. Consistent: the plugin's quiesce steps run first, else the
/// container is frozen for the copy and thawed afterwards, also on failure or interrupt.
/// A persistent volume is only read.
pub async fn take<B: ContainerBackend>(
    backend: &B,
    r: &ResolvedInstance<'_>,
    info: &ContainerInfo,
    tag: &str,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<String> {
    validate_tag(tag)?;
    let plan = data_plan(r)?.with_context(|| format!("the {} plugin does not support snapshots", r.record.engine))?;
    let running = info.state == State::Running;
    // After the plugin's quiesce steps (which flush what the server holds in memory) the
    // container is frozen (`docker pause`) for the copy: the files are then exactly what a
    // power cut would leave, which every engine recovers from, while the port and the
    // clients' connections survive (a stop and start could change a Docker-picked port).
    let freeze = running;
    if running {
        crate::steps::run(backend, &info.id, &plan.quiesce, progress).await?;
    }
    if freeze {
        backend.set_paused(&info.id, true).await?;
    }
    let journal = Journal::new();
    let mut labels = data_labels(r, &r.record.credentials);
    labels.insert(key::SNAPSHOT_OF.into(), r.record.name.clone());
    labels.insert(key::SNAPSHOT_TAG.into(), tag.into());
    progress("copying the data".into());
    // Interrupts are honoured once the instance is thawed, not in the middle of the copy.
    let captured = capture(
        backend,
        &info.id,
        &r.record.image,
        &plan.paths,
        &labels,
        &journal,
        &Cancel::default(),
    )
    .await;
    let thawed = if freeze {
        backend.set_paused(&info.id, false).await
    } else {
        Ok(())
    };
    let left = journal.undo(backend).await;
    if !left.is_empty() {
        crate::output::warn(format_args!("could not remove {}", left.join(", ")));
    }
    thawed?;
    let image = captured?;
    cancel.check()?;
    for old in list(backend, Some(&r.record.name)).await? {
        if old.id != image && old.labels.get(key::SNAPSHOT_TAG).map(String::as_str) == Some(tag) {
            // One in use by an instance reset to it stays until that instance is gone.
            let _ = backend.remove_image(&old.id).await;
        }
    }
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
            .context("the snapshot's labels are incomplete");
    }
    let Some(origin) = info.labels.get(key::ORIGIN) else {
        return Ok(None);
    };
    let images = backend.list_labelled_images(&[key::USER.to_string()]).await?;
    match images.iter().find(|i| &i.id == origin).and_then(Source::of) {
        Some(source) => Ok(Some(source)),
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
/// credentials. The old container is stopped and renamed aside until the new one is
/// ready; on failure or interrupt it gets its name back and is started again.
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
             create a clone instead (`dbarena create {} --from {}:TAG`)",
            r.record.name,
            r.record.engine,
            r.record.name
        );
    }
    let was_running = info.state == State::Running;
    let port = info.ports.first().map(|p| p.host_port);
    let aside = format!("{}-reset-{:08x}", r.record.name, rand::random::<u32>());
    progress("stopping".into());
    // At once: its data is being replaced (an ephemeral server recovers from the kill,
    // should it have to come back).
    backend.stop_container(&info.id, Duration::ZERO).await?;
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
    let made = if cancel.is_cancelled() {
        Err(anyhow::anyhow!("interrupted"))
    } else {
        // The state right after create stays what it was.
        let origin = info.labels.get(key::ORIGIN).map(String::as_str);
        provision::provision_from(
            backend,
            &again,
            source,
            origin,
            Choices::default(),
            journal,
            cancel,
            progress,
        )
        .await
    };
    match made {
        Ok(done) => {
            backend.remove_container(&info.id).await?;
            Ok(done)
        }
        Err(e) => {
            // provision removed what it made: the old instance comes back as it was.
            journal.undo(backend).await;
            backend.rename_container(&info.id, &r.record.name).await?;
            if !was_running {
                return Err(e.context(format!("{} was left as it was (stopped)", r.record.name)));
            }
            backend.start_container(&info.id).await?;
            // A port Docker picked is picked again at a start.
            let now = backend.inspect_container(&info.id).await?;
            let new_port = now.ports.first().map(|p| p.host_port);
            let note = match (port, new_port) {
                (Some(old), Some(new)) if old != new => format!(
                    ", now on port {new} (Docker picked it; see `dbarena url {}`)",
                    r.record.name
                ),
                _ => String::new(),
            };
            Err(e.context(format!("{} was put back with its data{note}", r.record.name)))
        }
    }
}

/// The data a clone `--from NAME[:TAG]` starts from: snapshot `TAG`, or without a tag a
/// snapshot of the instance's current state taken now (tag `latest`). `engine` and
/// `version` must be the instance's: data files are not portable across them.
pub async fn clone_source<B: ContainerBackend>(
    backend: &B,
    source: &ResolvedInstance<'_>,
    info: &ContainerInfo,
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
            let id = take(backend, source, info, DEFAULT_TAG, cancel, progress).await?;
            list(backend, Some(&have.name))
                .await?
                .into_iter()
                .find(|i| i.id == id)
                .context("the snapshot just taken is gone")?
        }
    };
    Source::of(&image).context("the snapshot's labels are incomplete")
}
