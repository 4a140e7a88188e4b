//! `dbarena start`, `restart` and `stop`.

use super::Context;
use crate::cli::{StopArgs, WaitArgs};
use crate::container::{ContainerBackend, State};
use crate::instance::{Instance, Status};
use crate::output::{Progress, print_json};
use futures_util::future::join_all;
use std::process::ExitCode;
use std::time::Duration;

/// Starts (or restarts) each instance and waits until it accepts clients again.
pub async fn start<B: ContainerBackend>(ctx: &Context<B>, args: &WaitArgs, restart: bool) -> anyhow::Result<ExitCode> {
    let progress = Progress::new(args.json);
    let results = join_all(args.names.iter().map(|name| {
        let bar = progress.line(name);
        async move {
            let result = start_one(ctx, name, args.timeout, restart, &bar).await;
            match &result {
                Ok((_, took)) => bar.finish_with_message(format!("ready in {:.1} s", took.as_secs_f64())),
                Err(_) => bar.abandon_with_message("failed"),
            }
            result
        }
    }))
    .await;
    let mut instances = Vec::new();
    let mut failed = false;
    for result in results {
        match result {
            Ok((instance, _)) => instances.push(instance),
            Err(e) => {
                eprintln!("error: {e:#}");
                failed = true;
            }
        }
    }
    if args.json {
        print_json(&instances)?;
    } else {
        for i in &instances {
            println!("{} is ready: {}", i.name, i.url.as_deref().unwrap_or(""));
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

async fn start_one<B: ContainerBackend>(
    ctx: &Context<B>,
    name: &str,
    timeout: Option<u64>,
    restart: bool,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<(Instance, Duration)> {
    let info = ctx.managed(name).await?;
    let (plugin, spec) = ctx.spec_of(&info)?;
    // Count only log lines of this run, not of earlier ones.
    let since = chrono::Utc::now().timestamp();
    if restart {
        bar.set_message("restarting");
        ctx.backend.restart_container(&info.id, Duration::from_secs(10)).await?;
    } else if info.state != State::Running {
        bar.set_message("starting");
        ctx.backend.start_container(&info.id).await?;
    }
    // Ports of a restarted container can change when Docker chose them: read them again.
    let info = ctx.backend.inspect_container(&info.id).await?;
    let engine = info
        .labels
        .get(crate::container::labels::ENGINE)
        .cloned()
        .unwrap_or_default();
    let timeout = ctx.timeout_for(&engine, timeout, &spec);
    let took = ctx
        .wait_ready(&info, plugin, &spec, timeout, Some(since), &|what| {
            bar.set_message(format!("waiting for {what}"))
        })
        .await?;
    // Just proven ready: no need to probe again for the status.
    Ok((Instance::from_container(&info, Some(plugin), Status::Healthy), took))
}

pub async fn stop<B: ContainerBackend>(ctx: &Context<B>, args: &StopArgs) -> anyhow::Result<ExitCode> {
    let targets = if args.all {
        ctx.all_managed()
            .await?
            .into_iter()
            .filter(|i| i.state == State::Running)
            .collect()
    } else {
        let mut targets = Vec::new();
        for name in &args.names {
            targets.push(ctx.managed(name).await?);
        }
        targets
    };
    let timeout = Duration::from_secs(args.timeout);
    let results = join_all(targets.iter().map(|info| ctx.backend.stop_container(&info.id, timeout))).await;
    let mut failed = false;
    for (info, result) in targets.iter().zip(results) {
        match result {
            Ok(()) => println!("stopped {}", info.name),
            Err(e) => {
                eprintln!("error: {}: {e}", info.name);
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
