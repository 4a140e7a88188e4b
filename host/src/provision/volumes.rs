//! Persistent volumes: adopting the data an earlier instance of the same name left, or
//! making new volumes that carry the instance record.

use super::undo::Journal;
use crate::container::{ContainerBackend, Mount};
use crate::instance::{InstanceRecord, record, volume_name};
use crate::plugin::bindings::ContainerSpec;
use anyhow::bail;

/// The record kept on instance `name`'s first data volume, when that volume exists: the
/// data's engine, version and credentials.
pub async fn adoptable<B: ContainerBackend>(backend: &B, name: &str) -> anyhow::Result<Option<InstanceRecord>> {
    let volume = volume_name(name, 0);
    let Some(existing) = backend.inspect_volume(&volume).await? else {
        return Ok(None);
    };
    if !record::is_managed(&existing.labels) {
        bail!("volume {volume} exists but was not created by dbarena; refusing to use it (choose another --name)");
    }
    InstanceRecord::from_labels(&existing.labels)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("volume {volume}: {e}"))
}

/// The mounts of a new container: named volumes for a persistent instance (reused when
/// they hold this instance's data, created with its record otherwise), the plugin's
/// tmpfs mounts for an ephemeral one.
pub async fn mounts<B: ContainerBackend>(
    backend: &B,
    record: &InstanceRecord,
    spec: &ContainerSpec,
    journal: &Journal,
) -> anyhow::Result<Vec<Mount>> {
    if !record.persistent {
        return Ok(spec
            .tmpfs
            .iter()
            .map(|t| Mount::Tmpfs {
                target: t.path.clone(),
                size_bytes: t.size_bytes,
            })
            .collect());
    }
    let mut mounts = Vec::new();
    for (index, path) in spec.data_paths.iter().enumerate() {
        let name = volume_name(&record.name, index);
        match backend.inspect_volume(&name).await? {
            Some(existing) => {
                let data =
                    InstanceRecord::from_labels(&existing.labels).map_err(|e| anyhow::anyhow!("volume {name}: {e}"))?;
                if data.engine != record.engine || data.version != record.version {
                    bail!(
                        "volume {name} holds {} {} data, not {} {}",
                        data.engine,
                        data.version,
                        record.engine,
                        record.version
                    );
                }
                if InstanceRecord::data_path(&existing.labels).is_some_and(|p| p != path) {
                    bail!("volume {name} holds the data of another path than {path}");
                }
                tracing::info!("reusing persistent volume {name}");
            }
            None => {
                journal.intend_volume(&name);
                backend
                    .create_volume(&name, &record.volume_labels(path, Some(journal.owner())))
                    .await?;
            }
        }
        mounts.push(Mount::Volume {
            name,
            target: path.clone(),
        });
    }
    Ok(mounts)
}
