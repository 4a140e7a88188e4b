//! Provisioning one instance: image, volumes, container, port, readiness. Every object is
//! recorded in the create's [`Journal`] before it is made, and any failure (or an
//! interrupt) removes exactly what this create made, by Docker id.

pub mod ports;
pub mod pull;
pub mod pulled;
pub mod undo;
pub mod volumes;

use crate::cancel::Cancel;
use crate::container::{ContainerBackend, ContainerDef, ContainerInfo};
use crate::readiness::{Proof, ReadinessCheck};
use crate::resolve::ResolvedInstance;
use crate::template::{self, Source};
pub use undo::Journal;

/// The instance's name is taken by another container (a user's choice, not a failure of
/// the data it would start from).
#[derive(Debug, thiserror::Error)]
#[error("an instance or container named '{0}' already exists; choose another --name")]
pub struct NameTaken(pub String);

/// Choices of the create that are not part of the instance itself.
#[derive(Clone, Copy, Default)]
pub struct Choices<'a> {
    /// Keep the container when readiness fails, for debugging.
    pub keep_on_failure: bool,
    /// Let Docker pick the port without trying the engine's default first (a warm-start
    /// template must not take the port a user's instance is about to want).
    pub any_port: bool,
    /// Start the container only once this opens.
    pub start_gate: Option<&'a ports::StartGate>,
}

/// A created, ready instance.
#[derive(Debug)]
pub struct Provisioned {
    pub info: ContainerInfo,
    pub proof: Proof,
}

/// Creates the instance `resolved` describes and waits until it accepts clients. On
/// failure everything recorded in `journal` is removed (except the container with
/// `keep_on_failure`); on success the journal still holds it all, so an interrupt of the
/// whole command can undo it: the caller calls [`Journal::keep`] when the command is done.
pub async fn provision<B: ContainerBackend>(
    backend: &B,
    resolved: &ResolvedInstance<'_>,
    choices: Choices<'_>,
    journal: &Journal,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<Provisioned> {
    provision_from(backend, resolved, None, None, choices, journal, cancel, progress).await
}

/// [`provision`], starting from the data of `source` (a template or snapshot image) when
/// given: the instance's credentials are applied before the readiness check proves them.
/// `origin` is recorded as the image holding the instance's state right after create,
/// which `reset` returns to.
#[allow(clippy::too_many_arguments)]
pub async fn provision_from<B: ContainerBackend>(
    backend: &B,
    resolved: &ResolvedInstance<'_>,
    source: Option<&Source>,
    origin: Option<&str>,
    choices: Choices<'_>,
    journal: &Journal,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<Provisioned> {
    let result = steps(backend, resolved, source, origin, choices, journal, cancel, progress).await;
    match result {
        Ok(done) => Ok(done),
        Err(Failure { error, container }) => {
            if let (true, Some(name)) = (choices.keep_on_failure, container) {
                journal.keep();
                return Err(error.context(format!("kept container {name} for debugging (--keep-on-failure)")));
            }
            let left = journal.undo(backend).await;
            if left.is_empty() {
                Err(error)
            } else {
                Err(error.context(format!("could not clean up: {}", left.join(", "))))
            }
        }
    }
}

struct Failure {
    error: anyhow::Error,
    /// Set once the container exists.
    container: Option<String>,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure {
            error: e.into(),
            container: None,
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn steps<B: ContainerBackend>(
    backend: &B,
    r: &ResolvedInstance<'_>,
    source: Option<&Source>,
    origin: Option<&str>,
    choices: Choices<'_>,
    journal: &Journal,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<Provisioned, Failure> {
    let record = &r.record;
    if backend.inspect_container(&record.name).await.is_ok() {
        return Err(anyhow::Error::new(NameTaken(record.name.clone())).into());
    }
    crate::tenant::refuse_tenant_name(backend, &record.name).await?;
    cancel.check()?;
    if source.is_none() {
        pull::ensure_image(backend, &record.image, progress).await?;
    }
    cancel.check()?;
    let mounts = volumes::mounts(backend, record, &r.spec, journal).await?;
    let mut labels = record.container_labels(Some(journal.owner()));
    if let Some(origin) = origin {
        labels.insert(template::key::ORIGIN.into(), origin.to_string());
    }
    let def = ContainerDef {
        name: record.name.clone(),
        image: source.map_or_else(|| record.image.clone(), |s| s.image.clone()),
        env: r.spec.env.clone(),
        entrypoint: r.spec.entrypoint.clone(),
        cmd: r.spec.cmd.clone(),
        labels,
        ports: Vec::new(),
        mounts,
        memory_limit_bytes: r.spec.memory_limit_bytes,
        // A chatty server must not fill the disk.
        log_max_bytes: Some(crate::container::DEFAULT_LOG_MAX_BYTES),
    };
    progress("starting".into());
    let plan = ports::PortPlan {
        ports: &r.spec.ports,
        // 127.0.0.1 locally; all interfaces when clients reach the engine over a network.
        host_ip: backend.client_address().publish_ip(r.publish_all_interfaces),
        preferred: record
            .requested_port
            .or((!choices.any_port).then(|| r.plugin.info().default_port)),
        insist: record.requested_port.is_some(),
        gate: choices.start_gate,
    };
    let support = if r.init.is_empty() {
        None
    } else {
        r.plugin.init_support()?
    };
    let dir = support.as_ref().and_then(|s| s.directory.as_deref());
    let files = match dir {
        Some(dir) => crate::init::uploads(&r.init, dir),
        None => Vec::new(),
    };
    let id = ports::create_and_start(backend, def, &files, &plan, journal, cancel).await?;
    let with_container = |error: anyhow::Error| Failure {
        error,
        container: Some(record.name.clone()),
    };
    if let Some(source) = source {
        template::apply(backend, r, &id, &source.credentials, cancel, progress)
            .await
            .map_err(with_container)?;
    }
    let info = backend
        .inspect_container(&id)
        .await
        .map_err(|e| with_container(e.into()))?;
    let proof = wait_ready(backend, r, &info, None, cancel, progress)
        .await
        .map_err(with_container)?;
    if dir.is_none() && !r.init.is_empty() {
        run_init_scripts(backend, r, &info, progress)
            .await
            .map_err(with_container)?;
    }
    Ok(Provisioned { info, proof })
}

/// Runs `r`'s init scripts through the plugin's query runner, in order (engines whose
/// image has no init directory).
async fn run_init_scripts<B: ContainerBackend>(
    backend: &B,
    r: &ResolvedInstance<'_>,
    info: &ContainerInfo,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<()> {
    let at = crate::instance::endpoint(info, &r.record, backend.client_address())
        .ok_or_else(|| anyhow::anyhow!("{} has no published port", r.record.name))?;
    let Some(query) = r.plugin.client(&at)?.query else {
        anyhow::bail!(
            "the {} plugin runs init scripts but has no query runner",
            r.record.engine
        );
    };
    for script in &r.init {
        let step = crate::plugin::bindings::ExecStep {
            description: format!("init script {}", script.name),
            stdin: Some(script.content.clone()),
            ..query.clone()
        };
        crate::steps::run_one(backend, &info.id, &step, progress).await?;
    }
    Ok(())
}

/// Waits until `info` accepts clients, with the probes of `r`'s spec; a failure carries the
/// container's last log lines. `since` (Unix seconds) counts only log lines of a restart.
pub async fn wait_ready<B: ContainerBackend>(
    backend: &B,
    r: &ResolvedInstance<'_>,
    info: &ContainerInfo,
    since: Option<i64>,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<Proof> {
    let check = ReadinessCheck::new(backend, r.plugin, info, &r.record, &r.spec.readiness, r.timeout, since);
    match check
        .wait(&|what| progress(format!("waiting for {what}")), cancel)
        .await
    {
        Ok(proof) => Ok(proof),
        Err(e) => {
            let tail = last_log_lines(backend, &info.id, crate::readiness::LOG_EXCERPT_LINES).await;
            Err(anyhow::anyhow!("{e}{tail}"))
        }
    }
}

/// The last `n` log lines, bounded and formatted for an error message
/// ([`crate::readiness::log_excerpt`]; "" if there are none).
pub async fn last_log_lines<B: ContainerBackend>(backend: &B, id: &str, n: usize) -> String {
    use futures_util::StreamExt;
    let lines: Vec<String> = backend
        .logs(id, false, Some(n), None)
        .filter_map(|l| async move { l.ok().map(|l| l.text) })
        .collect()
        .await;
    crate::readiness::log_excerpt(&lines)
}

#[cfg(test)]
pub(crate) mod tests;
