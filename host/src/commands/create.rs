//! `dbarena create`: resolve every requested engine first (bad input fails before any
//! progress starts), then provision them all in parallel. SIGINT, SIGTERM and SIGHUP stop
//! the work at its next step and remove everything this command made.

use super::Context;
use crate::cancel::Cancel;
use crate::cli::CreateArgs;
use crate::container::ContainerBackend;
use crate::instance::{Instance, Status, generate_name, validate_name};
use crate::output::{self, Progress, escape, print_json};
use crate::provision::{Choices, Journal, volumes};
use crate::resolve::{Request, ResolvedInstance};
use crate::template::warm::{self, WarmChoice};
use crate::template::{Source, snapshot};
use anyhow::bail;
use futures_util::future::join_all;
use std::collections::HashSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long an interrupted create waits for Docker calls in flight before cleaning up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run<B: ContainerBackend>(ctx: &Context<B>, args: CreateArgs) -> anyhow::Result<ExitCode> {
    if args.shared.shared {
        return super::shared::create(ctx, args).await;
    }
    let mut signals = crate::signals::Signals::install();
    let (instances, failures) = match create_all(ctx, &args, &mut signals).await? {
        Created::Done { instances, failures } => (instances, failures),
        Created::Interrupted(code) => return Ok(ExitCode::from(code)),
    };
    if args.json {
        print_json(&instances)?;
    } else {
        for i in &instances {
            print_connection(i);
        }
    }
    for f in &failures {
        eprintln!("error: {}", escape(f));
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What [`create_all`] made.
pub(crate) enum Created {
    /// The instances that are ready, and one message per engine that failed (having left
    /// nothing behind).
    Done {
        instances: Vec<Instance>,
        failures: Vec<String>,
    },
    /// A signal stopped the work and everything made was removed; the exit code for it.
    Interrupted(u8),
}

/// Resolves and provisions every engine of `args` in parallel, with progress on stderr.
/// A signal from `signals` undoes everything made so far. Shared by `create` and `run`.
pub(crate) async fn create_all<B: ContainerBackend>(
    ctx: &Context<B>,
    args: &CreateArgs,
    signals: &mut crate::signals::Signals,
) -> anyhow::Result<Created> {
    create_groups(ctx, std::slice::from_ref(args), signals).await
}

/// [`create_all`] for several command lines at once (`up`: one per project entry), all
/// resolved before anything is made and then provisioned in parallel.
pub(crate) async fn create_groups<B: ContainerBackend>(
    ctx: &Context<B>,
    groups: &[CreateArgs],
    signals: &mut crate::signals::Signals,
) -> anyhow::Result<Created> {
    for args in groups.iter().filter(|a| a.engines.len() > 1) {
        for (flag, set) in [
            ("--name", args.name.is_some()),
            ("--port", args.port.is_some()),
            ("--image", args.image.is_some()),
            ("--from", args.from.is_some()),
        ] {
            if set {
                bail!("{flag} applies to a single engine; create the others in a separate call");
            }
        }
    }
    let mut resolved = Vec::new();
    let mut requests = Vec::new();
    // Per instance: its command line and the data it starts from.
    let mut origins: Vec<(&CreateArgs, Option<Source>)> = Vec::new();
    for args in groups {
        let (group, group_requests) = resolve_all(ctx, args).await?;
        let from = clone_source(ctx, args, &group).await?;
        origins.extend(group.iter().map(|_| (args, from.clone())));
        resolved.extend(group);
        requests.extend(group_requests);
    }
    let resolver = ctx.resolver()?;
    if let Some(note) = ctx.backend.client_address().publish_note() {
        eprintln!("note: {}", escape(&note));
    } else {
        for (r, (args, _)) in resolved.iter().zip(&origins).filter(|(r, _)| r.publish_all_interfaces) {
            let why = match (&args.project, args.publish_all_interfaces) {
                (Some(o), true) => format!("publish-all-interfaces in {}", o.file.display()),
                (None, true) => "--publish-all-interfaces".to_string(),
                (_, false) => "[defaults] publish-all-interfaces in the config".to_string(),
            };
            output::warn(crate::container::endpoint::all_interfaces_warning(&r.record.name, &why));
        }
    }
    let progress = Progress::new();
    let cancel = Cancel::default();
    let journals: Vec<Journal> = resolved.iter().map(|_| Journal::new()).collect();
    let creates = join_all(resolved.iter().zip(&journals).zip(&requests).zip(&origins).map(
        |(((r, journal), (request, adopting)), (args, from))| {
            let bar = progress.line(&r.record.name);
            let cancel = cancel.clone();
            let resolver = &resolver;
            let choices = Choices {
                keep_on_failure: args.keep_on_failure,
                ..Default::default()
            };
            let warm = WarmChoice {
                from: from.clone(),
                // Init scripts run at first start, which a template's data has had:
                // such an instance is initialised from scratch (and makes no template).
                cold: args.cold || !r.init.is_empty(),
                adopting: *adopting,
            };
            async move {
                let started = Instant::now();
                let result = warm::provision(
                    &ctx.backend,
                    resolver,
                    request,
                    r,
                    &warm,
                    choices,
                    journal,
                    &cancel,
                    &|msg| bar.set_message(escape(&msg).into_owned()),
                )
                .await;
                // The state after the init scripts, for `reset` (a failure costs only that).
                if let Ok(done) = &result
                    && !r.init.is_empty()
                {
                    let report = |msg: String| bar.set_message(escape(&msg).into_owned());
                    let taken = async {
                        let lock = snapshot::lock(&ctx.backend, &r.record.name, "snapshot of the initialised state", Duration::ZERO).await?;
                        snapshot::take(&ctx.backend, r, &done.info, &lock, snapshot::CREATED_TAG, &cancel, &report).await
                    };
                    match taken.await {
                        Ok(id) => journal.made_image(&id),
                        Err(e) => output::warn(format_args!(
                            "{}: no snapshot of its initialised state ({e:#}): `reset` will initialise it without the init scripts",
                            r.record.name
                        )),
                    }
                }
                match &result {
                    Ok(_) => bar.finish_with_message(format!("ready in {:.1} s", started.elapsed().as_secs_f64())),
                    Err(_) => bar.abandon_with_message("failed"),
                }
                result
            }
        },
    ));
    tokio::pin!(creates);
    let results = tokio::select! {
        results = &mut creates => results,
        code = signals.recv() => {
            eprintln!("\ninterrupted: stopping and removing what this command created...");
            cancel.cancel();
            // Let calls in flight return, so everything made is known by id.
            if tokio::time::timeout(DRAIN_TIMEOUT, &mut creates).await.is_err() {
                output::warn("Docker calls still running after 30 s; cleaning up what is known");
            }
            let mut left = Vec::new();
            for journal in &journals {
                left.extend(journal.undo(&ctx.backend).await);
            }
            if left.is_empty() {
                eprintln!("interrupted; nothing was left behind");
            } else {
                eprintln!("interrupted; could not remove: {}", left.join(", "));
            }
            return Ok(Created::Interrupted(code));
        }
    };
    for journal in &journals {
        journal.keep();
    }

    let mut instances = Vec::new();
    let mut failures = Vec::new();
    for (r, result) in resolved.iter().zip(results) {
        match result {
            Ok(done) => {
                let mut view = Instance::from_container(
                    &done.info,
                    &r.record,
                    Some(r.plugin),
                    Status::Healthy,
                    ctx.backend.client_address(),
                );
                if done.proof.handshake.is_none() {
                    output::warn(format_args!(
                        "{}: readiness unverified: the {} plugin declares no network protocol to check",
                        r.record.name, r.record.engine
                    ));
                }
                if let Some(proof) = &done.proof.handshake {
                    view.server_version = proof.server_version.clone();
                    view.warn_other_server_version();
                    if !proof.authenticated {
                        let why = proof
                            .note
                            .as_deref()
                            .unwrap_or("the engine's handshake does not authenticate");
                        output::warn(format_args!("{}: credentials not verified: {why}", r.record.name));
                    }
                }
                instances.push(view)
            }
            Err(e) => failures.push(format!("{}: {e:#}", r.record.name)),
        }
    }
    Ok(Created::Done { instances, failures })
}

/// Resolves every engine of the command line into one instance each.
/// The data `--from NAME[:TAG]` names, for the single instance of the command.
async fn clone_source<B: ContainerBackend>(
    ctx: &Context<B>,
    args: &CreateArgs,
    resolved: &[ResolvedInstance<'_>],
) -> anyhow::Result<Option<Source>> {
    let (Some(from), [wanted]) = (&args.from, resolved) else {
        return Ok(None);
    };
    let (name, tag) = snapshot::split_ref(from);
    let lock = snapshot::lock(&ctx.backend, name, "snapshot for a clone", Duration::ZERO)
        .await
        .map_err(|e| anyhow::anyhow!("--from: {e:#}"))?;
    let managed = ctx
        .managed(name)
        .await
        .map_err(|e| anyhow::anyhow!("--from {}: {e:#}", escape(name)))?;
    let resolver = ctx.resolver()?;
    let source = resolver.existing(&managed.record, None)?;
    let cancel = Cancel::default();
    let source = snapshot::clone_source(
        &ctx.backend,
        &source,
        &managed.info,
        &lock,
        tag,
        &wanted.record,
        &cancel,
        &|m| tracing::info!("--from: {m}"),
    )
    .await?;
    Ok(Some(source))
}

/// Each instance comes with its request and whether it reattaches persistent data.
#[allow(clippy::type_complexity)]
async fn resolve_all<'c, B: ContainerBackend>(
    ctx: &'c Context<B>,
    args: &CreateArgs,
) -> anyhow::Result<(Vec<ResolvedInstance<'c>>, Vec<(Request, bool)>)> {
    let in_project = |e: anyhow::Error| match &args.project {
        Some(origin) => e.context(format!(
            "{}: [instances.{}]",
            origin.file.display(),
            args.name.as_deref().unwrap_or_default()
        )),
        None => e,
    };
    let resolver = ctx.resolver()?;
    let project_dir = args.project.as_ref().map(|o| std::path::Path::new(&o.id));
    let scripts = crate::init::read(&args.init, project_dir).map_err(in_project)?;
    let mut names = HashSet::new();
    let mut resolved = Vec::new();
    let mut requests = Vec::new();
    for engine_ref in &args.engines {
        let (plugin, version) = resolver.engine_version(engine_ref)?;
        let engine = plugin.id();
        let name = match &args.name {
            Some(name) => name.clone(),
            None => loop {
                let candidate = generate_name(engine, &version);
                if names.insert(candidate.clone()) {
                    break candidate;
                }
            },
        };
        validate_name(&name)?;
        let adopt = if args.instance.persistent {
            volumes::adoptable(&ctx.backend, &name).await?
        } else {
            None
        };
        let request = Request {
            engine_ref: engine_ref.clone(),
            instance: args.instance.clone(),
            image: args.image.clone(),
            port: args.port,
            timeout: args.timeout,
            publish_all_interfaces: args.publish_all_interfaces,
        };
        let mut r = resolver.instance(&request, &name, adopt.as_ref()).map_err(in_project)?;
        r.record.project = args.project.as_ref().map(|o| o.id.clone());
        r.record.lease = args.lease.clone();
        if let Some(ttl) = args.ttl {
            r.record.expires_at = Some(chrono::Utc::now().timestamp().saturating_add(ttl.as_secs() as i64));
        }
        if !scripts.is_empty() {
            r.init = crate::init::for_engine(&scripts, r.plugin.init_support()?.as_ref());
        }
        if adopt.is_some() {
            eprintln!(
                "{}: reattaching its persistent data, with the credentials it was created with",
                r.record.name
            );
        }
        resolved.push(r);
        requests.push((request, adopt.is_some()));
    }
    for script in scripts.iter().filter(|s| s.explicit) {
        if !resolved.iter().any(|r| r.init.contains(script)) {
            return Err(in_project(anyhow::anyhow!(
                "--init {}: none of the engines runs this kind of file (see `dbarena engines ENGINE`)",
                escape(&script.name)
            )));
        }
    }
    Ok((resolved, requests))
}

fn print_connection(i: &Instance) {
    let server = i
        .server_version
        .as_deref()
        .map(|v| format!(", server {}", escape(v)))
        .unwrap_or_default();
    println!("{} ({} {}{server}) is ready", i.name, i.engine, i.version);
    if let Some(url) = &i.url {
        println!("  url       {}", escape(url));
    }
    println!("  host      {}", i.host);
    println!("  port      {}", i.port.map(|p| p.to_string()).unwrap_or_default());
    println!("  user      {}", escape(&i.user));
    println!("  password  {}", escape(&i.password));
    println!("  database  {}", escape(&i.database));
    if i.persistent {
        println!("  volumes   {}", i.volumes.join(", "));
    }
    println!();
}
