//! The shared server of an engine and version, and its pooler: started by the first
//! tenant create that needs them and kept. Many processes may race to start them; Docker
//! name uniqueness decides the winner, and the others wait for its readiness.

use super::{pooler_name, server_name};
use crate::cancel::Cancel;
use crate::commands::Context;
use crate::commands::context::Managed;
use crate::container::{BackendError, ContainerBackend, ContainerDef, ContainerInfo, FileUpload, PortBinding, State};
use crate::instance::InstanceRecord;
use crate::instance::record::{self, ROLE_SHARED_SERVER};
use crate::plugin::Plugin;
use crate::plugin::bindings::{PoolerRequest, Tenant};
use crate::provision::{self, Choices, Journal};
use crate::resolve::{Request, ResolvedInstance, Resolver};
use anyhow::bail;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Labels of a pooler container (not an instance record: its spec is the plugin's
/// companion, not the engine's; `list` shows it with its server).
const POOLER_OF: &str = "io.dbarena.pooler-of";
const POOLER_UPSTREAM: &str = "io.dbarena.pooler.upstream";
const POOL_MODE: &str = "io.dbarena.pooler.pool-mode";
/// A digest of the pooler's files and command: a pooler written otherwise (by an older
/// dbarena, whose PgBouncer ran its lookup as the superuser) is made again.
const POOLER_CONFIG: &str = "io.dbarena.pooler.config";

/// What [`POOLER_CONFIG`] holds for `companion`.
fn config_digest(companion: &crate::plugin::bindings::CompanionSpec) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    for arg in &companion.spec.cmd {
        part(arg.as_bytes());
    }
    for (path, content) in &companion.files {
        part(path.as_bytes());
        part(content);
    }
    hex::encode(h.finalize())
}

/// What the pooler is asked to be.
#[derive(Debug, Clone, Default)]
pub struct PoolerChoice {
    pub pool_mode: Option<String>,
    pub image: Option<String>,
    /// `--server`: the shared server's name instead of the default one.
    pub server: Option<String>,
}

/// A running, ready shared server and its pooler (when the engine uses one).
pub struct Shared {
    pub server: Managed,
    pub pooler: Option<ContainerInfo>,
}

/// The pooler of `server`, if any.
pub async fn pooler_of<B: ContainerBackend>(backend: &B, server: &str) -> Option<ContainerInfo> {
    backend
        .inspect_container(&pooler_name(server))
        .await
        .ok()
        .filter(|i| i.labels.get(POOLER_OF).map(String::as_str) == Some(server))
}

/// Whether `labels` are a shared server's.
pub fn is_shared_server(record: &InstanceRecord) -> bool {
    record.role.as_deref() == Some(ROLE_SHARED_SERVER)
}

/// Ensures the shared server of `engine_ref` runs and is ready, with its pooler.
pub async fn ensure<'c, B: ContainerBackend>(
    ctx: &'c Context<B>,
    resolver: &Resolver<'c>,
    engine_ref: &str,
    choice: &PoolerChoice,
    journal: &Journal,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<(Shared, &'c Plugin)> {
    let (plugin, version) = resolver.engine_version(engine_ref)?;
    let name = match &choice.server {
        Some(name) => {
            crate::instance::validate_name(name)
                .map_err(|_| anyhow::anyhow!("invalid --server '{}'", name.escape_debug()))?;
            name.clone()
        }
        None => server_name(plugin.id(), &version),
    };
    let server = server(ctx, resolver, engine_ref, &name, journal, cancel, progress).await?;
    if server.record.engine != plugin.id() || server.record.version != version {
        bail!(
            "shared server {name} runs {} {}, not {} {version}",
            server.record.engine,
            server.record.version,
            plugin.id()
        );
    }
    let pooler = pooler(ctx, resolver, plugin, &server, choice, journal, cancel, progress).await?;
    Ok((Shared { server, pooler }, plugin))
}

/// After `start`/`restart` of instance `name`: when it is a shared server, its pooler
/// follows the server's address (a started container may get another one), re-made on the
/// same host port with the same image and pool mode, so pooled URLs work again at once;
/// and tenants the server forgot (see [`super::ops::restore_lost`]) are made again.
pub async fn after_start<B: ContainerBackend>(
    ctx: &Context<B>,
    name: &str,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<()> {
    let server = ctx.managed(name).await?;
    if !is_shared_server(&server.record) {
        return Ok(());
    }
    let resolver = ctx.resolver()?;
    let plugin = &ctx.registry.get(&server.record.engine)?.plugin;
    let choice = PoolerChoice {
        image: pooler_of(&ctx.backend, name).await.map(|p| p.image),
        ..Default::default()
    };
    let journal = Journal::new();
    match pooler(ctx, &resolver, plugin, &server, &choice, &journal, cancel, progress).await {
        Ok(_) => {
            journal.keep();
            super::ops::restore_lost(ctx, &server, plugin, progress).await
        }
        Err(e) => {
            journal.undo(&ctx.backend).await;
            Err(e.context(format!("pooler of {name}")))
        }
    }
}

async fn server<B: ContainerBackend>(
    ctx: &Context<B>,
    resolver: &Resolver<'_>,
    engine_ref: &str,
    name: &str,
    journal: &Journal,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<Managed> {
    // The winner of a race for the name may briefly remove and re-create its container
    // (its preferred port was taken), so a loser looks again before trying itself.
    let mut attempts = 0;
    while ctx.backend.inspect_container(name).await.is_err() {
        attempts += 1;
        let request = Request {
            engine_ref: engine_ref.to_string(),
            ..Default::default()
        };
        let mut r = resolver.instance(&request, name, None)?;
        r.record.role = Some(ROLE_SHARED_SERVER.into());
        progress(format!("starting shared server {name}"));
        let Err(e) = provision::provision(&ctx.backend, &r, Choices::default(), journal, cancel, progress).await else {
            break;
        };
        let mut taken = false;
        for _ in 0..20 {
            match ctx.backend.inspect_container(name).await {
                Ok(info) if record::owner(&info.labels) != Some(journal.owner()) => {
                    taken = true;
                    break;
                }
                Ok(_) => break,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        if !taken && attempts >= 3 {
            return Err(e.context(format!("starting shared server {name}")));
        }
    }
    // A server another process just made may not be started yet (or be re-made on
    // another port): wait for it to run.
    let deadline = Instant::now() + Duration::from_secs(60);
    let m = loop {
        match ctx.managed(name).await {
            Ok(m)
                if ((m.info.state == State::Created && m.info.started_at.is_none())
                    || m.info.state == State::Removing)
                    && Instant::now() < deadline => {}
            Ok(m) => break m,
            Err(_) if Instant::now() < deadline => {}
            Err(e) => return Err(e),
        }
        cancel.check()?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if !is_shared_server(&m.record) {
        bail!("instance '{name}' exists but is not a shared server; destroy or rename it");
    }
    if m.info.state != State::Running {
        bail!(
            "shared server {name} is {:?}; start it with `dbarena start {name}`",
            m.info.state
        );
    }
    let r = resolver.existing(&m.record, None)?;
    wait(ctx, &r, &m.info, cancel, progress).await?;
    Ok(m)
}

async fn wait<B: ContainerBackend>(
    ctx: &Context<B>,
    r: &ResolvedInstance<'_>,
    info: &ContainerInfo,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<()> {
    provision::wait_ready(&ctx.backend, r, info, None, cancel, progress).await?;
    Ok(())
}

/// The pooler: made (config written before it starts) when missing, and made again when
/// the server's address changed (a restarted server may get another one), on the same
/// host port so pooled URLs keep working.
#[allow(clippy::too_many_arguments)]
async fn pooler<B: ContainerBackend>(
    ctx: &Context<B>,
    resolver: &Resolver<'_>,
    plugin: &Plugin,
    server: &Managed,
    choice: &PoolerChoice,
    journal: &Journal,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<Option<ContainerInfo>> {
    // An engine without a pooler needs no address: it is asked first (with a placeholder
    // when there is none) and, answering none, makes no companion.
    let known_ip = server.info.ip_address.clone();
    let server_ip = known_ip.clone().unwrap_or_else(|| "127.0.0.1".into());
    let existing = pooler_of(&ctx.backend, &server.record.name).await;
    // An existing pooler keeps its mode (see the warning below), also when it is made again.
    let pool_mode = existing
        .as_ref()
        .and_then(|p| p.labels.get(POOL_MODE).cloned())
        .or_else(|| choice.pool_mode.clone())
        .unwrap_or_else(|| "session".into());
    let request = PoolerRequest {
        server_host: server_ip.clone(),
        server_port: server.record.container_port,
        server: server.record.credentials.clone(),
        pool_mode: pool_mode.clone(),
        tenants: Vec::<Tenant>::new(),
    };
    let Some(companion) = plugin.pooler(&request)? else {
        return Ok(None);
    };
    if known_ip.is_none() {
        bail!(
            "shared server {} has no network address for its pooler",
            server.record.name
        );
    }
    let image = pooler_image(resolver, plugin.id(), &companion.spec.image, choice.image.as_deref())?;
    let digest = config_digest(&companion);
    let name = pooler_name(&server.record.name);
    let mut keep_port = None;
    if let Some(p) = &existing {
        let current = p.labels.get(POOLER_UPSTREAM).map(String::as_str) == Some(server_ip.as_str())
            && p.labels.get(POOLER_CONFIG) == Some(&digest);
        if let Some(mode) = &choice.pool_mode
            && p.labels.get(POOL_MODE) != Some(mode)
        {
            crate::output::warn(format_args!(
                "{name} already pools in {} mode; --pool-mode {mode} applies when the shared server is first started",
                p.labels.get(POOL_MODE).map(String::as_str).unwrap_or("?")
            ));
        }
        if current && p.state == State::Running {
            return ready(ctx, plugin, server, &companion.spec, p, cancel, progress)
                .await
                .map(Some);
        }
        if p.state == State::Created && p.started_at.is_none() {
            // Another process is creating it right now.
            return settle(ctx, plugin, server, &companion.spec, &name, cancel, progress)
                .await
                .map(Some);
        }
        keep_port = p.ports.first().map(|x| x.host_port);
        // Another process re-making it may have removed it first.
        match ctx.backend.remove_container(&p.id).await {
            Ok(()) | Err(BackendError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    provision::pull::ensure_image(&ctx.backend, &image, progress).await?;
    let mut labels: BTreeMap<String, String> = BTreeMap::from([
        (POOLER_OF.to_string(), server.record.name.clone()),
        (POOLER_UPSTREAM.to_string(), server_ip),
        (POOL_MODE.to_string(), pool_mode),
        (POOLER_CONFIG.to_string(), digest),
    ]);
    labels.insert("io.dbarena.owner".into(), journal.owner().to_string());
    let def = ContainerDef {
        name: name.clone(),
        image,
        env: companion.spec.env.clone(),
        entrypoint: companion.spec.entrypoint.clone(),
        cmd: companion.spec.cmd.clone(),
        labels,
        ports: companion
            .spec
            .ports
            .iter()
            .enumerate()
            .map(|(i, &p)| PortBinding {
                container_port: p,
                host_ip: ctx.backend.client_address().publish_ip(false).to_string(),
                host_port: if i == 0 { keep_port } else { None },
            })
            .collect(),
        mounts: Vec::new(),
        memory_limit_bytes: companion.spec.memory_limit_bytes,
        log_max_bytes: Some(crate::container::DEFAULT_LOG_MAX_BYTES),
    };
    progress(format!("starting pooler {name}"));
    journal.intend_container(&name);
    let id = match ctx.backend.create_container(&def).await {
        Ok(id) => id,
        Err(BackendError::NameInUse(_)) => {
            return settle(ctx, plugin, server, &companion.spec, &name, cancel, progress)
                .await
                .map(Some);
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("creating pooler {name}"))),
    };
    journal.made_container(&name, &id);
    let files: Vec<FileUpload> = companion
        .files
        .iter()
        .map(|(path, content)| FileUpload {
            path: path.clone(),
            content: content.clone(),
            mode: 0o644,
        })
        .collect();
    ctx.backend.upload_files(&id, &files).await?;
    ctx.backend.start_container(&id).await?;
    let info = ctx.backend.inspect_container(&id).await?;
    ready(ctx, plugin, server, &companion.spec, &info, cancel, progress)
        .await
        .map(Some)
}

/// `--pooler-image`, else the config's `[engines.ID] pooler-image`, else the plugin's.
fn pooler_image(
    resolver: &Resolver<'_>,
    engine: &str,
    plugin_image: &str,
    flag: Option<&str>,
) -> anyhow::Result<String> {
    let config = resolver.config;
    let (text, source) = match (flag, config.engine(engine).and_then(|e| e.pooler_image.as_deref())) {
        (Some(i), _) => (i.to_string(), "--pooler-image".to_string()),
        (None, Some(i)) => (
            i.to_string(),
            format!("{}: [engines.{engine}] pooler-image", config.describe_source()),
        ),
        (None, None) => (plugin_image.to_string(), format!("plugin {engine} pooler image")),
    };
    crate::container::ImageRef::parse(&text)
        .map(|r| r.to_string())
        .map_err(|e| anyhow::anyhow!("{source}: {e}"))
}

/// Waits for a pooler another process is creating to be started, then for readiness.
async fn settle<B: ContainerBackend>(
    ctx: &Context<B>,
    plugin: &Plugin,
    server: &Managed,
    spec: &crate::plugin::bindings::ContainerSpec,
    name: &str,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<ContainerInfo> {
    let deadline = Instant::now() + Duration::from_secs(spec.readiness.startup_timeout_secs as u64);
    loop {
        cancel.check()?;
        if let Some(info) = pooler_of(&ctx.backend, &server.record.name).await
            && info.state == State::Running
        {
            return ready(ctx, plugin, server, spec, &info, cancel, progress).await;
        }
        if Instant::now() > deadline {
            bail!("pooler {name} made by another dbarena process did not start");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Readiness of the pooler by its protocol, with the server's admin credentials.
async fn ready<B: ContainerBackend>(
    ctx: &Context<B>,
    plugin: &Plugin,
    server: &Managed,
    spec: &crate::plugin::bindings::ContainerSpec,
    info: &ContainerInfo,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<ContainerInfo> {
    let mut record = server.record.clone();
    record.name = info.name.clone();
    record.container_port = spec.ports.first().copied().unwrap_or_default();
    record.credentials = spec.credentials.clone();
    let check = crate::readiness::ReadinessCheck::new(
        &ctx.backend,
        plugin,
        info,
        &record,
        &spec.readiness,
        Duration::from_secs(spec.readiness.startup_timeout_secs as u64),
        None,
    );
    match check
        .wait(&|what| progress(format!("waiting for {what}")), cancel)
        .await
    {
        Ok(_) => Ok(info.clone()),
        Err(e) => {
            let tail = provision::last_log_lines(&ctx.backend, &info.id, 20).await;
            Err(anyhow::anyhow!("pooler {}: {e}{tail}", info.name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::bindings::{CompanionSpec, ContainerSpec, Credentials, Readiness};

    fn companion(ini: &str) -> CompanionSpec {
        CompanionSpec {
            spec: ContainerSpec {
                image: "pgbouncer".into(),
                env: Vec::new(),
                entrypoint: None,
                cmd: vec!["pgbouncer".into(), "/etc/pgbouncer/pgbouncer.ini".into()],
                data_paths: Vec::new(),
                tmpfs: Vec::new(),
                memory_limit_bytes: None,
                ports: vec![6432],
                credentials: Credentials {
                    user: "postgres".into(),
                    password: "pw".into(),
                    database: "postgres".into(),
                },
                readiness: Readiness {
                    probes: Vec::new(),
                    startup_timeout_secs: 30,
                },
            },
            files: vec![("/etc/pgbouncer/pgbouncer.ini".into(), ini.as_bytes().to_vec())],
            reload: Vec::new(),
        }
    }

    /// A pooler whose files differ from what the plugin writes now (an older dbarena's,
    /// whose lookup ran as the superuser) is told apart, and so made again.
    #[test]
    fn the_config_digest_follows_the_files_and_the_command() {
        let old = companion("auth_user = postgres\n");
        let new = companion("* = host=h auth_user=dbarena_pooler\n");
        assert_eq!(config_digest(&new), config_digest(&new.clone()));
        assert_ne!(config_digest(&old), config_digest(&new));
        let mut other_cmd = new.clone();
        other_cmd.spec.cmd.push("-v".into());
        assert_ne!(config_digest(&other_cmd), config_digest(&new));
        // Lengths are part of it: moving bytes between a path and its content changes it.
        let mut a = companion("xy");
        a.files[0].0 = "p".into();
        let mut b = companion("y");
        b.files[0].0 = "px".into();
        assert_ne!(config_digest(&a), config_digest(&b));
        assert_eq!(config_digest(&new).len(), 64);
    }
}
