//! Creating and starting the container with its client port published.
//!
//! The engine's default port is tried first; when anything holds it (another dbarena,
//! another program) and the user did not ask for it explicitly, Docker picks a free port.
//! Docker does the binding, so two concurrent creates cannot race for the same port.

use super::undo::Journal;
use crate::cancel::Cancel;
use crate::container::{BackendError, ContainerBackend, ContainerDef, FileUpload, PortBinding};
use anyhow::{Context as _, bail};

/// How to publish the client port (the first of `ports`).
pub struct PortPlan<'a> {
    pub ports: &'a [u16],
    pub host_ip: &'a str,
    /// Tried first; `None` lets Docker choose.
    pub preferred: Option<u16>,
    /// The user asked for `preferred`: taken is an error, not a reason to pick another.
    pub insist: bool,
}

const ATTEMPTS: usize = 5;

/// Creates and starts `def`, returning the container id; `files` are copied in between
/// (init scripts the image runs when it starts). Every container this makes and fails to
/// start is removed before the next attempt or the error.
pub async fn create_and_start<B: ContainerBackend>(
    backend: &B,
    mut def: ContainerDef,
    files: &[FileUpload],
    plan: &PortPlan<'_>,
    journal: &Journal,
    cancel: &Cancel,
) -> anyhow::Result<String> {
    let mut host_port = plan.preferred;
    for _ in 0..ATTEMPTS {
        cancel.check()?;
        def.ports = plan
            .ports
            .iter()
            .enumerate()
            .map(|(i, &p)| PortBinding {
                container_port: p,
                host_ip: plan.host_ip.to_string(),
                host_port: if i == 0 { host_port } else { None },
            })
            .collect();
        journal.intend_container(&def.name);
        let id = backend.create_container(&def).await.map_err(|e| match e {
            BackendError::NameInUse(n) => {
                anyhow::anyhow!("an instance or container named '{n}' already exists; choose another --name")
            }
            e => anyhow::Error::new(e).context(format!("creating container {}", def.name)),
        })?;
        journal.made_container(&def.name, &id);
        if !files.is_empty() {
            backend
                .upload_files(&id, files)
                .await
                .with_context(|| format!("copying init scripts into {}", def.name))?;
        }
        cancel.check()?;
        match backend.start_container(&id).await {
            Ok(()) => return Ok(id),
            Err(BackendError::PortInUse { .. }) => {
                backend.remove_container(&id).await?;
                journal.removed_container(&id);
                if plan.insist {
                    bail!(
                        "port {} is already in use on {}; pick another --port or omit it",
                        host_port.unwrap_or_default(),
                        plan.host_ip
                    );
                }
                tracing::info!(
                    "port {} is taken; letting Docker choose one",
                    host_port.map(|p| p.to_string()).unwrap_or_else(|| "(chosen)".into())
                );
                host_port = None;
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("starting container {}", def.name))),
        }
    }
    bail!("could not publish a port for {} after {ATTEMPTS} attempts", def.name)
}
