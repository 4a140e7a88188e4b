//! `dbarena start`, `restart` and `stop`.

use super::Context;
use super::context::Managed;
use crate::cancel::Cancel;
use crate::cli::{StopArgs, WaitArgs};
use crate::container::{ContainerBackend, State};
use crate::instance::{Instance, Status};
use crate::output::{Progress, escape, print_json};
use futures_util::future::join_all;
use std::process::ExitCode;
use std::time::Duration;

/// Starts (or restarts) each instance and waits until it accepts clients again, with the
/// probes its create used (the record holds every option that shapes them).
pub async fn start<B: ContainerBackend>(ctx: &Context<B>, args: &WaitArgs, restart: bool) -> anyhow::Result<ExitCode> {
    let mut targets = Vec::new();
    for name in &args.names {
        targets.push(ctx.managed(name).await?);
    }
    let (instances, failed) = start_all(ctx, targets, args.timeout, restart).await?;
    if args.json {
        print_json(&instances)?;
    } else {
        for i in &instances {
            println!("{} is ready: {}", i.name, escape(i.url.as_deref().unwrap_or("")));
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Starts (or restarts) `targets` in parallel, with progress on stderr: the instances
/// that are ready, and whether any failed (each failure printed). Shared with `up`.
pub(crate) async fn start_all<B: ContainerBackend>(
    ctx: &Context<B>,
    managed: Vec<Managed>,
    timeout: Option<u64>,
    restart: bool,
) -> anyhow::Result<(Vec<Instance>, bool)> {
    let resolver = ctx.resolver()?;
    let mut targets = Vec::new();
    for m in managed {
        let resolved = resolver.existing(&m.record, timeout)?;
        targets.push((m, resolved));
    }
    let progress = Progress::new();
    let cancel = Cancel::default();
    let results = join_all(targets.iter().map(|(m, resolved)| {
        let bar = progress.line(&m.record.name);
        let cancel = cancel.clone();
        async move {
            // Count only log lines of this run, not of earlier ones.
            let since = chrono::Utc::now().timestamp();
            let result = async {
                let op = if restart { "restart" } else { "start" };
                let _lock = crate::template::snapshot::lock(
                    &ctx.backend,
                    &m.record.name,
                    op,
                    crate::template::snapshot::LOCK_WAIT,
                )
                .await?;
                if restart {
                    bar.set_message("restarting");
                    if let Err(e) = ctx.backend.restart_container(&m.info.id, Duration::from_secs(10)).await {
                        return Err(crate::provision::ports::start_error(&ctx.backend, &m.record.name, e).await);
                    }
                } else if m.info.state != State::Running {
                    bar.set_message("starting");
                    if let Err(e) = ctx.backend.start_container(&m.info.id).await {
                        return Err(crate::provision::ports::start_error(&ctx.backend, &m.record.name, e).await);
                    }
                }
                // Ports Docker chose can change across restarts: read them again.
                let info = ctx.backend.inspect_container(&m.info.id).await?;
                if ctx.backend.client_address().is_loopback()
                    && info
                        .ports
                        .iter()
                        .any(|p| matches!(p.host_ip.as_str(), "" | "0.0.0.0" | "::"))
                {
                    crate::output::warn(crate::container::endpoint::all_interfaces_warning(
                        &m.record.name,
                        "how it was created (publish-all-interfaces)",
                    ));
                }
                let proof = crate::provision::wait_ready(&ctx.backend, resolved, &info, Some(since), &cancel, &|msg| {
                    bar.set_message(escape(&msg).into_owned())
                })
                .await?;
                let mut view = Instance::from_container(
                    &info,
                    &m.record,
                    Some(resolved.plugin),
                    Status::Healthy,
                    ctx.backend.client_address(),
                );
                view.server_version = proof.handshake.and_then(|h| h.server_version);
                crate::tenant::server::after_start(ctx, &m.record.name, &cancel, &|msg| {
                    bar.set_message(escape(&msg).into_owned())
                })
                .await?;
                Ok((view, proof.took))
            }
            .await;
            match &result {
                Ok((_, took)) => bar.finish_with_message(format!("ready in {:.1} s", took.as_secs_f64())),
                Err(_) => bar.abandon_with_message("failed"),
            }
            result.map_err(|e: anyhow::Error| e.context(m.record.name.clone()))
        }
    }))
    .await;
    let mut instances = Vec::new();
    let mut failed = false;
    for result in results {
        match result {
            Ok((instance, _)) => {
                instance.warn_other_server_version();
                instances.push(instance)
            }
            Err(e) => {
                eprintln!("error: {}", escape(&format!("{e:#}")));
                failed = true;
            }
        }
    }
    Ok((instances, failed))
}

/// One line of `stop --json`.
#[derive(serde::Serialize)]
struct Stopped {
    name: String,
    /// `stopped` or `failed`.
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn stop<B: ContainerBackend>(ctx: &Context<B>, args: &StopArgs) -> anyhow::Result<ExitCode> {
    let targets: Vec<Managed> = if args.all {
        let (all, scope) = super::up::all_in_scope(ctx, args.everywhere).await?;
        let running: Vec<Managed> = all.into_iter().filter(|m| m.info.state == State::Running).collect();
        let names: Vec<&str> = running.iter().map(|m| m.record.name.as_str()).collect();
        if names.len() > 1 && !args.yes {
            super::destroy::confirm(&format!("Stop {} instances{scope}: {}?", names.len(), names.join(", ")))?;
        }
        running
    } else {
        let mut targets = Vec::new();
        for name in &args.names {
            targets.push(ctx.managed(name).await?);
        }
        targets
    };
    let timeout = Duration::from_secs(args.timeout);
    let results = join_all(targets.iter().map(|m| async move {
        let _lock = crate::template::snapshot::lock(
            &ctx.backend,
            &m.record.name,
            "stop",
            crate::template::snapshot::LOCK_WAIT,
        )
        .await?;
        anyhow::Ok(ctx.backend.stop_container(&m.info.id, timeout).await?)
    }))
    .await;
    let mut failed = false;
    let mut report = Vec::new();
    for (m, result) in targets.iter().zip(results) {
        match result {
            Ok(()) => {
                if !args.json {
                    println!("stopped {}", m.record.name);
                }
                report.push(Stopped {
                    name: m.record.name.clone(),
                    result: "stopped",
                    error: None,
                });
            }
            Err(e) => {
                eprintln!("error: {}: {}", m.record.name, escape(&format!("{e:#}")));
                failed = true;
                report.push(Stopped {
                    name: m.record.name.clone(),
                    result: "failed",
                    error: Some(format!("{e:#}")),
                });
            }
        }
    }
    if args.json {
        print_json(&report)?;
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
