//! Creating and starting the container with its client port published.
//!
//! The engine's default port is tried first; when anything holds it (another dbarena,
//! another program) and the user did not ask for it explicitly, a free port is chosen and
//! fixed in the container's binding, so it stays the instance's across stop/start (for a
//! remote engine, where this machine cannot see free ports, Docker picks one, with a
//! warning). Docker does the binding: a port taken meanwhile is a conflict, retried.

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
    /// The start waits until this opens (the container is made meanwhile).
    pub gate: Option<&'a StartGate>,
}

/// Holds a container's start until another step is done: a reset's old container
/// releasing the port while the new one is created. Opens once, for good.
#[derive(Clone, Default)]
pub struct StartGate(Cancel);

impl StartGate {
    pub fn open(&self) {
        self.0.cancel();
    }

    async fn opened(&self) {
        self.0.cancelled().await;
    }
}

const ATTEMPTS: usize = 5;

/// The port the instance must have (asked for, or kept across a reset) is held by another.
#[derive(Debug, thiserror::Error)]
#[error("port {port} is already in use on {host_ip}; pick another --port or omit it")]
pub struct PortTaken {
    pub port: u16,
    pub host_ip: String,
}

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
    // A default port seen taken is skipped before any container is made (a create and a
    // failed start cost hundreds of milliseconds); Docker still has the last word.
    if let Some(p) = host_port
        && !plan.insist
        && backend.host_port_taken(plan.host_ip, p) == Some(true)
        && let Some(free) = backend.free_host_port(plan.host_ip)
    {
        tracing::info!("port {p} is taken; using free port {free}");
        host_port = Some(free);
    }
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
            BackendError::NameInUse(n) => anyhow::Error::new(super::NameTaken(n)),
            e => anyhow::Error::new(e).context(format!("creating container {}", def.name)),
        })?;
        journal.made_container(&def.name, &id);
        if !files.is_empty() {
            backend
                .upload_files(&id, files)
                .await
                .with_context(|| format!("copying init scripts into {}", def.name))?;
        }
        if let Some(gate) = plan.gate {
            tokio::select! {
                _ = gate.opened() => {}
                _ = cancel.cancelled() => {}
            }
        }
        cancel.check()?;
        match backend.start_container(&id).await {
            Ok(()) => return Ok(id),
            Err(BackendError::PortInUse { .. }) => {
                backend.remove_container(&id).await?;
                journal.removed_container(&id);
                if plan.insist {
                    return Err(PortTaken {
                        port: host_port.unwrap_or_default(),
                        host_ip: plan.host_ip.to_string(),
                    }
                    .into());
                }
                let taken = host_port.map(|p| p.to_string()).unwrap_or_else(|| "(chosen)".into());
                host_port = backend.free_host_port(plan.host_ip);
                match host_port {
                    Some(p) => tracing::info!("port {taken} is taken; using free port {p}"),
                    None => crate::output::warn(format_args!(
                        "{}: port {taken} is taken; the engine picks another, which can change when the \
                         instance is stopped and started (pass --port to fix it)",
                        def.name
                    )),
                }
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("starting container {}", def.name))),
        }
    }
    bail!("could not publish a port for {} after {ATTEMPTS} attempts", def.name)
}

/// A port conflict when `instance` starts again, saying which port and, when it can be
/// found, what holds it: a container (a dbarena instance or not) publishing it, else a
/// program on the engine's machine. Other errors pass through.
pub async fn start_error<B: ContainerBackend>(backend: &B, instance: &str, e: BackendError) -> anyhow::Error {
    let BackendError::PortInUse { port: Some(port), .. } = e else {
        return e.into();
    };
    let holder = backend
        .list_containers(&[])
        .await
        .ok()
        .and_then(|all| {
            all.into_iter()
                .find(|c| c.name != instance && c.ports.iter().any(|p| p.host_port == port))
        })
        .map(|c| match crate::instance::record::instance_name(&c.labels) {
            Some(_) => format!("dbarena instance '{}'", c.name),
            None => format!("container '{}'", c.name),
        });
    let holder = holder.unwrap_or_else(|| {
        format!("another program on the engine's machine (`ss -ltnp 'sport = :{port}'` shows which)")
    });
    anyhow::anyhow!(
        "its port {port} is in use by {}; stop that, or destroy and create the instance again for a new port",
        crate::output::escape(&holder)
    )
}
