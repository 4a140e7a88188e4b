//! Warm starts, snapshots, reset and clone: an instance's data captured as a labelled image.
//!
//! Capture ([`capture`]): the source container's data paths are streamed through the archive
//! API into a never-started *staging* container of the same image whose data paths are tmpfs
//! mounts, so the files land in its own filesystem rather than in a volume, and that
//! container is committed. A new container of the resulting image gets its data from the
//! image: Docker fills the (anonymous or named) volume at each data path from the image's
//! content when it is first mounted, a local copy with nothing streamed. Measured against
//! streaming a tar into every new container and against a data directory outside any
//! `VOLUME` (pure copy-on-write, which needs a different data path per plugin): see README.
//!
//! A *template* is the data of a fresh instance made with credentials no instance uses
//! ([`template_options`]); an instance started from it gets its own credentials through the
//! plugin's `apply-credentials` steps ([`apply`]) before the authenticated readiness check.

pub mod seal;
pub mod snapshot;
pub mod warm;

use crate::cancel::Cancel;
use crate::container::{ContainerBackend, ContainerDef, LabelledImage, Mount};
use crate::plugin::bindings::{Credentials, DataPlan};
use crate::provision::Journal;
use crate::resolve::ResolvedInstance;
use anyhow::Context as _;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

/// Labels of template and snapshot images.
pub mod key {
    /// The template key ([`super::template_key`]) on a template image.
    pub const TEMPLATE: &str = "io.dbarena.template";
    /// The instance a snapshot image was taken of, and its tag.
    pub const SNAPSHOT_OF: &str = "io.dbarena.snapshot.of";
    pub const SNAPSHOT_TAG: &str = "io.dbarena.snapshot.tag";
    pub const ENGINE: &str = "io.dbarena.data.engine";
    pub const VERSION: &str = "io.dbarena.data.version";
    /// The credentials the captured data accepts (replaced in every instance made from it).
    pub const USER: &str = "io.dbarena.data.user";
    pub const PASSWORD: &str = "io.dbarena.data.password";
    pub const DATABASE: &str = "io.dbarena.data.database";
    /// On an instance's container: the template or snapshot image it was made from.
    pub const ORIGIN: &str = "io.dbarena.origin";
}

/// The user and database of a template when the engine's defaults are refused.
pub const TEMPLATE_USER: &str = "dbarena_tpl";
/// How long stopping a server for a capture may take.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Image data to start an instance from: the image and the credentials its data accepts.
#[derive(Debug, Clone)]
pub struct Source {
    pub image: String,
    pub credentials: Credentials,
}

impl Source {
    /// The source recorded on a template or snapshot image: its labels must be complete,
    /// and a sealed password ([`seal`]) must open with this user's key.
    pub fn of(image: &LabelledImage) -> anyhow::Result<Source> {
        let get = |k: &str| {
            image
                .labels
                .get(k)
                .cloned()
                .context("the image's dbarena labels are incomplete")
        };
        Ok(Source {
            image: image.id.clone(),
            credentials: Credentials {
                user: get(key::USER)?,
                password: seal::open(&get(key::PASSWORD)?)?,
                database: get(key::DATABASE)?,
            },
        })
    }
}

/// The data plan of `r`, when its plugin supports warm starts and snapshots.
pub fn data_plan(r: &ResolvedInstance<'_>) -> anyhow::Result<Option<DataPlan>> {
    Ok(r.plugin.data_plan(&r.record.options())?)
}

/// The key of the template `r` can start from: everything that shapes the initial data
/// (engine, version, the image's id, plugin version and component, mode, persistence,
/// engine settings, data paths). `None` when the image is not present yet.
pub async fn template_key<B: ContainerBackend>(
    backend: &B,
    r: &ResolvedInstance<'_>,
    plan: &DataPlan,
) -> anyhow::Result<Option<String>> {
    let Some(image_id) = backend.image_id(&r.record.image).await? else {
        return Ok(None);
    };
    let rec = &r.record;
    let mut extra = rec.extra_env.clone();
    extra.sort();
    let material = serde_json::json!([
        rec.engine,
        rec.version,
        image_id,
        rec.plugin_version,
        // A rebuilt plugin of the same version may shape the data differently.
        r.plugin.sha256,
        crate::instance::record::mode_name(rec.mode),
        rec.persistent,
        extra,
        plan.paths,
    ]);
    let digest = Sha256::digest(material.to_string().as_bytes());
    Ok(Some(hex::encode(&digest[..16])))
}

/// The usable template of `key`: the oldest complete one (concurrent creates may each have
/// made one; they are equivalent).
pub async fn find<B: ContainerBackend>(backend: &B, key: &str) -> anyhow::Result<Option<Source>> {
    let mut images = backend
        .list_labelled_images(&[format!("{}={key}", key::TEMPLATE)])
        .await?;
    images.sort_by_key(|i| i.created);
    Ok(images.iter().find_map(|i| Source::of(i).ok()))
}

/// Every template image, for `images list` and `images prune`.
pub async fn all_templates<B: ContainerBackend>(backend: &B) -> anyhow::Result<Vec<LabelledImage>> {
    Ok(backend.list_labelled_images(&[key::TEMPLATE.to_string()]).await?)
}

/// The user and database a template is made with, tried in order, always with a fresh
/// random password: the engine's defaults first, so a create with the defaults (the common
/// case) only changes the password, then a fixed user and database.
pub fn template_credentials_choices() -> [(Option<String>, Option<String>); 2] {
    [(None, None), (Some(TEMPLATE_USER.into()), Some(TEMPLATE_USER.into()))]
}

/// Labels of an image of data that accepts `credentials`.
pub fn data_labels(r: &ResolvedInstance<'_>, credentials: &Credentials) -> BTreeMap<String, String> {
    [
        (key::ENGINE, r.record.engine.clone()),
        (key::VERSION, r.record.version.clone()),
        (key::USER, credentials.user.clone()),
        (key::PASSWORD, credentials.password.clone()),
        (key::DATABASE, credentials.database.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Makes the template `key` from `tpl` (an instance resolved with template credentials):
/// starts it, waits until it is ready, stops it and captures its data. Everything but the
/// image is removed, also on failure.
pub async fn make<B: ContainerBackend>(
    backend: &B,
    tpl: &ResolvedInstance<'_>,
    key: &str,
    plan: &DataPlan,
    cancel: &Cancel,
) -> anyhow::Result<String> {
    let journal = Journal::new();
    let result = async {
        let choices = crate::provision::Choices {
            any_port: true,
            ..Default::default()
        };
        let done = crate::provision::provision(backend, tpl, choices, &journal, cancel, &|_| {}).await?;
        cancel.check()?;
        backend.stop_container(&done.info.id, STOP_TIMEOUT).await?;
        let mut labels = data_labels(tpl, &tpl.record.credentials);
        labels.insert(key::TEMPLATE.into(), key.into());
        capture(
            backend,
            &done.info.id,
            &tpl.record.image,
            &plan.paths,
            &labels,
            &journal,
            cancel,
        )
        .await
    }
    .await;
    let left = journal.undo(backend).await;
    if !left.is_empty() {
        crate::output::warn(format_args!("template: could not remove {}", left.join(", ")));
    }
    let image = result?;
    // Another create may have made the same template meanwhile: keep the oldest only.
    if let Some(first) = find(backend, key).await?
        && first.image != image
    {
        let _ = backend.remove_image(&image).await;
        return Ok(first.image);
    }
    Ok(image)
}

/// Copies the data `paths` of container `from` (stopped, or quiesced) into a new image of
/// `image` carrying `labels`; returns the image id. The staging container is left in
/// `journal` for the caller's `undo`, so a snapshot can thaw its instance first.
pub async fn capture<B: ContainerBackend>(
    backend: &B,
    from: &str,
    image: &str,
    paths: &[String],
    labels: &BTreeMap<String, String>,
    journal: &Journal,
    cancel: &Cancel,
) -> anyhow::Result<String> {
    let staged = stage(backend, image, paths, journal).await?;
    copy_into(backend, from, &staged, paths, cancel).await?;
    cancel.check()?;
    Ok(backend.commit_container(&staged, labels).await?)
}

/// The never-started container of `image` that [`copy_into`] copies data `paths` into, with
/// the directories they unpack into made; recorded in `journal`.
pub async fn stage<B: ContainerBackend>(
    backend: &B,
    image: &str,
    paths: &[String],
    journal: &Journal,
) -> anyhow::Result<String> {
    let token: u64 = rand::random();
    let name = format!("dbarena-stage-{token:016x}");
    let def = ContainerDef {
        name: name.clone(),
        image: image.to_string(),
        labels: owner_label(journal),
        // Over each data path, so the copied files land in the container's own layer (a
        // stopped container's tmpfs is not mounted) instead of in an anonymous volume.
        mounts: paths
            .iter()
            .map(|p| Mount::Tmpfs {
                target: p.clone(),
                size_bytes: 1 << 20,
            })
            .collect(),
        ..Default::default()
    };
    journal.intend_container(&name);
    let id = backend.create_container(&def).await?;
    journal.made_container(&name, &id);
    for path in paths {
        backend
            .prepare_path(&id, path)
            .await
            .with_context(|| format!("preparing {path}"))?;
    }
    Ok(id)
}

/// Copies the data `paths` of container `from` into the staging container `staged`, to be
/// committed.
pub async fn copy_into<B: ContainerBackend>(
    backend: &B,
    from: &str,
    staged: &str,
    paths: &[String],
    cancel: &Cancel,
) -> anyhow::Result<()> {
    for path in paths {
        cancel.check()?;
        backend
            .copy_path(from, path, staged)
            .await
            .with_context(|| format!("copying {path}"))?;
    }
    Ok(())
}

/// The label that marks what `journal`'s command made.
fn owner_label(journal: &Journal) -> BTreeMap<String, String> {
    let filter = crate::instance::record::owner_filter(journal.owner());
    let (k, v) = filter.split_once('=').expect("owner filters are key=value");
    [(k.to_string(), v.to_string())].into()
}

/// Replaces `source`'s credentials by the instance's in the started container `id`. The
/// server is still starting: the first step is retried until it succeeds, the container
/// exits, or the readiness timeout passes; the others run once.
pub async fn apply<B: ContainerBackend>(
    backend: &B,
    r: &ResolvedInstance<'_>,
    id: &str,
    source: &Credentials,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<()> {
    // A reset to the instance's own snapshot: the data already accepts its credentials.
    if source == &r.record.credentials {
        return Ok(());
    }
    let steps = r.plugin.apply_credentials(source, &r.record.credentials)?;
    let Some((first, rest)) = steps.split_first() else {
        return Ok(());
    };
    let deadline = tokio::time::Instant::now() + r.timeout;
    loop {
        cancel.check()?;
        match crate::steps::run_one(backend, id, first, progress).await {
            Ok(_) => break,
            Err(e) => {
                let info = backend.inspect_container(id).await?;
                if info.state != crate::container::State::Running {
                    let tail = crate::provision::last_log_lines(backend, id, 20).await;
                    anyhow::bail!("the server exited while starting from its template data: {e}{tail}");
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(e.context("the server did not accept the new credentials in time"));
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }
    crate::steps::run(backend, id, rest, progress).await
}

#[cfg(test)]
mod tests;
