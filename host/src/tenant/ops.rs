//! Creating and dropping tenants, and what users see of them.

use super::record::{self, TenantRecord, volume_name};
use super::server::{self, PoolerChoice, Shared};
use crate::cancel::Cancel;
use crate::commands::Context;
use crate::container::{ContainerBackend, State};
use crate::instance::endpoint;
use crate::plugin::Plugin;
use crate::plugin::bindings::{Endpoint, TenantAction};
use crate::provision::Journal;
use crate::resolve::generate_password;
use anyhow::bail;
use serde::Serialize;
use std::collections::BTreeMap;

/// What `create --shared`, `list` and `env` report about a tenant.
#[derive(Debug, Clone, Serialize)]
pub struct TenantView {
    pub name: String,
    pub kind: &'static str,
    pub server: String,
    pub engine: String,
    pub version: String,
    /// The server's state: a stopped server stops its tenants.
    pub status: String,
    /// Through the pooler when there is one.
    pub url: Option<String>,
    pub direct_url: Option<String>,
    /// Where `url` points (the pooler's address when there is one).
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: String,
    pub password: String,
    pub database: String,
    pub max_connections: Option<u32>,
    pub env: BTreeMap<String, String>,
    pub created_at: String,
}

/// Creates tenant `name` (a fresh one when `None`) on the shared server of `engine_ref`.
/// On failure, or when `cancel` fires, what this made is dropped again.
#[allow(clippy::too_many_arguments)]
pub async fn create<B: ContainerBackend>(
    ctx: &Context<B>,
    engine_ref: &str,
    name: Option<&str>,
    max_connections: Option<u32>,
    choice: &PoolerChoice,
    journal: &Journal,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<TenantView> {
    let name = match name {
        Some(n) => {
            super::validate_name(n)?;
            n.to_string()
        }
        None => super::generate_name(),
    };
    if record::find(&ctx.backend, &name).await?.is_some() {
        bail!("a tenant named '{name}' already exists; choose another --name");
    }
    super::refuse_instance_name(&ctx.backend, &name).await?;
    let resolver = ctx.resolver()?;
    let (shared, plugin) = server::ensure(ctx, &resolver, engine_ref, choice, journal, cancel, progress).await?;
    let tenant = TenantRecord {
        name: name.clone(),
        server: shared.server.record.name.clone(),
        engine: shared.server.record.engine.clone(),
        version: shared.server.record.version.clone(),
        credentials: crate::plugin::bindings::Credentials {
            user: format!("{name}_user"),
            password: generate_password(),
            database: format!("{name}_db"),
        },
        max_connections,
        created_at: chrono::Utc::now().to_rfc3339(),
    };
    let admin = &shared.server.record.credentials;
    let create = plugin.tenant_steps(admin, &tenant.tenant(), &TenantAction::Create)?;
    cancel.check()?;
    journal.intend_volume(&volume_name(&name));
    ctx.backend
        .create_volume(&volume_name(&name), &tenant.labels(journal.owner()))
        .await?;
    // Looked at again once the record (this tenant's claim on the name) exists: an instance
    // of this name made meanwhile wins, and the record goes with the journal's undo.
    super::refuse_instance_name(&ctx.backend, &name).await?;
    let made = crate::steps::run(&ctx.backend, &shared.server.info.id, &create, progress).await;
    if let Err(e) = made {
        // A tenant of this name made by another process makes CREATE ROLE fail; its record
        // carries the other owner, so the undo leaves it alone.
        if !already_exists(&e) {
            drop_in_server(ctx, plugin, &shared, &tenant).await;
        }
        return Err(e.context(format!("creating tenant {name}")));
    }
    Ok(view(ctx, plugin, &tenant, Some(&shared)))
}

/// Whether a failed create step says the tenant's database or role exists (PostgreSQL:
/// "already exists"; MySQL/MariaDB: "database exists"; Redis: the plugin's "already
/// exists"), i.e. another process made it: then it is not ours to drop.
fn already_exists(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("already exists") || text.contains("database exists")
}

async fn drop_in_server<B: ContainerBackend>(ctx: &Context<B>, plugin: &Plugin, shared: &Shared, t: &TenantRecord) {
    let admin = &shared.server.record.credentials;
    if let Ok(steps) = plugin.tenant_steps(admin, &t.tenant(), &TenantAction::Drop) {
        let _ = crate::steps::run(&ctx.backend, &shared.server.info.id, &steps, &|_| {}).await;
    }
}

/// Drops tenant `t`: its sessions, database and role, then its record. The server stays.
pub async fn destroy<B: ContainerBackend>(ctx: &Context<B>, t: &TenantRecord) -> anyhow::Result<()> {
    match ctx.managed(&t.server).await {
        Ok(server) if server.info.state == State::Running => {
            let plugin = &ctx.registry.get(&t.engine)?.plugin;
            let steps = plugin.tenant_steps(&server.record.credentials, &t.tenant(), &TenantAction::Drop)?;
            crate::steps::run(&ctx.backend, &server.info.id, &steps, &|_| {}).await?;
        }
        Ok(_) => bail!(
            "tenant {}: its server {} is not running; start it first (`dbarena start {}`) so its database can be dropped",
            t.name,
            t.server,
            t.server
        ),
        // The server is gone, and its data with it: only the record is left.
        Err(_) => {}
    }
    match ctx.backend.remove_volume(&volume_name(&t.name)).await {
        Ok(()) | Err(crate::container::BackendError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `reset TENANT` / `snapshot TENANT` on its running server: with no tag, back to the state
/// right after its create, an empty database with the same name, user and password (the
/// plugin's drop steps, then its create steps); `Snapshot(tag)` copies its database aside
/// and `Restore(tag)` recreates it from that copy (`CREATE DATABASE … TEMPLATE` on
/// PostgreSQL). The URL keeps working throughout. Running a reset again finishes an
/// interrupted one (the drops tolerate a missing database or user).
pub async fn reset<B: ContainerBackend>(
    ctx: &Context<B>,
    t: &TenantRecord,
    actions: &[TenantAction],
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<TenantView> {
    let server = ctx
        .managed(&t.server)
        .await
        .map_err(|_| anyhow::anyhow!("tenant {}: its server {} is gone", t.name, t.server))?;
    if server.info.state != State::Running {
        bail!(
            "tenant {}: its server {} is not running; start it first (`dbarena start {}`)",
            t.name,
            t.server,
            t.server
        );
    }
    let plugin = &ctx.registry.get(&t.engine)?.plugin;
    let admin = &server.record.credentials;
    let mut steps = Vec::new();
    for action in actions {
        steps.extend(plugin.tenant_steps(admin, &t.tenant(), action)?);
    }
    crate::steps::run(&ctx.backend, &server.info.id, &steps, progress).await?;
    let shared = Shared {
        pooler: server::pooler_of(&ctx.backend, &t.server).await,
        server,
    };
    Ok(view(ctx, plugin, t, Some(&shared)))
}

/// After a start of shared server `server`: each of its tenants whose own login is refused
/// (an engine that keeps users in memory, like Redis's ACL, lost them) is made again with
/// its recorded credentials, so its URL works as before. One handshake per tenant; the
/// create steps run only for those refused. Failures are warnings: the server is up.
pub async fn restore_lost<B: ContainerBackend>(
    ctx: &Context<B>,
    server: &crate::commands::context::Managed,
    plugin: &Plugin,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<()> {
    let Some(at) = endpoint(&server.info, &server.record, ctx.backend.client_address()) else {
        return Ok(());
    };
    let tenants: Vec<TenantRecord> = record::all(&ctx.backend)
        .await?
        .into_iter()
        .filter(|t| t.server == server.record.name)
        .collect();
    for t in &tenants {
        let login = crate::readiness::handshake::attempt(
            plugin,
            &at.host,
            at.port,
            server.record.container_port,
            &t.credentials,
        )
        .await?;
        if !matches!(login, crate::readiness::handshake::Attempt::Fail(_)) {
            continue;
        }
        progress(format!("making tenant {} again", t.name));
        let steps = plugin.tenant_steps(&server.record.credentials, &t.tenant(), &TenantAction::Create)?;
        // "Already exists": the login was refused for another reason (a connection limit).
        if let Err(e) = crate::steps::run(&ctx.backend, &server.info.id, &steps, progress).await
            && !already_exists(&e)
        {
            crate::output::warn(format_args!("tenant {} could not be made again: {e:#}", t.name));
        }
    }
    Ok(())
}

/// The view of tenant `t`; `shared` when known (create), else looked up.
pub fn view<B: ContainerBackend>(
    ctx: &Context<B>,
    plugin: &Plugin,
    t: &TenantRecord,
    shared: Option<&Shared>,
) -> TenantView {
    let mut v = TenantView {
        name: t.name.clone(),
        kind: "tenant",
        server: t.server.clone(),
        engine: t.engine.clone(),
        version: t.version.clone(),
        status: "stopped".into(),
        url: None,
        direct_url: None,
        host: None,
        port: None,
        user: t.credentials.user.clone(),
        password: t.credentials.password.clone(),
        database: t.credentials.database.clone(),
        max_connections: t.max_connections,
        env: BTreeMap::new(),
        created_at: t.created_at.clone(),
    };
    let Some(shared) = shared else { return v };
    if shared.server.info.state != State::Running {
        return v;
    }
    v.status = "running".into();
    let client = ctx.backend.client_address();
    let with_creds = |mut e: Endpoint| {
        e.credentials = t.credentials.clone();
        e
    };
    let Some(direct) = endpoint(&shared.server.info, &shared.server.record, client).map(with_creds) else {
        return v;
    };
    let pooled = shared
        .pooler
        .as_ref()
        .filter(|p| p.state == State::Running)
        .and_then(|p| {
            p.ports.first().map(|port| Endpoint {
                host: client.host_for(&port.host_ip),
                port: port.host_port,
                credentials: t.credentials.clone(),
            })
        });
    if let Ok(info) = plugin.tenant_connection(pooled.as_ref(), &direct) {
        v.url = Some(info.url.clone());
        v.env = info.env.into_iter().collect();
    }
    // A second URL only when the first goes through a pooler.
    if pooled.is_some()
        && let Ok(info) = plugin.connection(&direct)
    {
        v.direct_url = Some(info.url);
    }
    let at = pooled.as_ref().unwrap_or(&direct);
    v.host = Some(at.host.clone());
    v.port = Some(at.port);
    v
}

/// Every tenant's view, with its server's state.
pub async fn views<B: ContainerBackend>(ctx: &Context<B>) -> anyhow::Result<Vec<TenantView>> {
    let tenants = record::all(&ctx.backend).await?;
    let mut servers: BTreeMap<String, Option<Shared>> = BTreeMap::new();
    let mut out = Vec::new();
    for t in &tenants {
        if !servers.contains_key(&t.server) {
            let shared = match ctx.managed(&t.server).await {
                Ok(server) => Some(Shared {
                    pooler: server::pooler_of(&ctx.backend, &t.server).await,
                    server,
                }),
                Err(_) => None,
            };
            servers.insert(t.server.clone(), shared);
        }
        let Ok(entry) = ctx.registry.get(&t.engine) else {
            continue;
        };
        let mut v = view(ctx, &entry.plugin, t, servers[&t.server].as_ref());
        if servers[&t.server].is_none() {
            v.status = "server gone".into();
        }
        out.push(v);
    }
    Ok(out)
}

/// Tenant `name`'s view, if it is one.
pub async fn find_view<B: ContainerBackend>(ctx: &Context<B>, name: &str) -> anyhow::Result<Option<TenantView>> {
    Ok(views(ctx).await?.into_iter().find(|v| v.name == name))
}

/// `destroy`'s tenant part: drops the named tenants, and refuses to destroy a shared
/// server that has tenants unless `--cascade` (or `--all`), forgetting those tenants
/// when it goes. Returns what is left for the instance part (`None`: nothing).
pub async fn destroy_command<B: ContainerBackend>(
    ctx: &Context<B>,
    args: &crate::cli::DestroyArgs,
) -> anyhow::Result<Option<crate::cli::DestroyArgs>> {
    let tenants = record::all(&ctx.backend).await?;
    let mut rest = Vec::new();
    let mut doomed_servers = Vec::new();
    for name in &args.names {
        if let Some(t) = tenants.iter().find(|t| &t.name == name) {
            destroy(ctx, t).await?;
            // `--json` keeps stdout for the JSON report.
            say(
                args.json,
                format_args!("destroyed tenant {name} (server {} kept)", t.server),
            );
        } else {
            doomed_servers.push(name.clone());
            rest.push(name.clone());
        }
    }
    if args.all {
        doomed_servers = tenants.iter().map(|t| t.server.clone()).collect();
    }
    for server in &doomed_servers {
        let on_it: Vec<&TenantRecord> = tenants.iter().filter(|t| &t.server == server).collect();
        if on_it.is_empty() {
            continue;
        }
        if !(args.cascade || args.all) {
            let names: Vec<&str> = on_it.iter().map(|t| t.name.as_str()).collect();
            bail!(
                "{server} is a shared server with {} tenant(s) ({}); destroy them first or add --cascade",
                names.len(),
                names.join(", ")
            );
        }
        for t in on_it {
            // The server's removal takes the tenant's data with it: only the record is left.
            match ctx.backend.remove_volume(&volume_name(&t.name)).await {
                Ok(()) | Err(crate::container::BackendError::NotFound(_)) => {
                    say(args.json, format_args!("destroyed tenant {} (with {server})", t.name))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    if rest.is_empty() && !args.all {
        return Ok(None);
    }
    Ok(Some(crate::cli::DestroyArgs {
        names: rest,
        all: args.all,
        remove_volume: args.remove_volume,
        yes: args.yes,
        cascade: args.cascade,
        everywhere: args.everywhere,
        json: args.json,
    }))
}

/// A line of `destroy`'s text output; on stderr under `--json`.
fn say(json: bool, line: std::fmt::Arguments) {
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// A tenant as an [`Instance`](crate::instance::Instance), for `env` and `url`.
pub fn as_instance(t: &TenantView) -> anyhow::Result<crate::instance::Instance> {
    let url = t.url.clone();
    if url.is_none() {
        bail!(
            "tenant {}: its server {} is not running (start it with `dbarena start {}`)",
            t.name,
            t.server,
            t.server
        );
    }
    let port = t.port.or_else(|| t.env.get("PGPORT").and_then(|p| p.parse().ok()));
    Ok(crate::instance::Instance {
        name: t.name.clone(),
        engine: t.engine.clone(),
        version: t.version.clone(),
        status: crate::instance::Status::Healthy,
        host: t
            .host
            .clone()
            .or_else(|| t.env.get("PGHOST").cloned())
            .unwrap_or_default(),
        port: port.or(Some(0)),
        user: t.user.clone(),
        password: t.password.clone(),
        database: t.database.clone(),
        url,
        env: t.env.clone(),
        shell: Vec::new(),
        connection_forms: Vec::new(),
        persistent: false,
        mode: String::new(),
        image: String::new(),
        container_id: String::new(),
        volumes: Vec::new(),
        created_at: Some(t.created_at.clone()),
        started_at: None,
        uptime_secs: None,
        expires_in_secs: None,
        plugin_version: String::new(),
        server_version: None,
        project: None,
    })
}
