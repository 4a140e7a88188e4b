//! `dbarena destroy`: removes instances; persistent volumes only on explicit request.

use super::Context;
use crate::cli::DestroyArgs;
use crate::container::{ContainerBackend, ContainerInfo, State, labels};
use crate::output;
use anyhow::bail;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

pub async fn run<B: ContainerBackend>(ctx: &Context<B>, args: &DestroyArgs) -> anyhow::Result<ExitCode> {
    let targets: Vec<ContainerInfo> = if args.all {
        ctx.all_managed().await?
    } else {
        let mut targets = Vec::new();
        for name in &args.names {
            targets.push(ctx.managed(name).await?);
        }
        targets
    };
    let volumes = persistent_volumes(ctx, &targets).await?;
    if args.remove_volume && !volumes.is_empty() && !args.yes {
        confirm(&format!(
            "Delete {} volume(s) and their data for good: {}?",
            volumes.len(),
            volumes.join(", ")
        ))?;
    }
    let mut failed = false;
    for info in &targets {
        // A persistent server gets a clean shutdown first, so what it acknowledged (even with
        // the fast, fsync-free settings) is on the volume; ephemeral ones are just removed.
        let persistent = info.labels.get(labels::PERSISTENT).map(String::as_str) == Some("true");
        if info.state == State::Running
            && persistent
            && let Err(e) = ctx.backend.stop_container(&info.id, Duration::from_secs(30)).await
        {
            output::warn(format_args!(
                "{}: clean shutdown failed ({e}); removing anyway",
                info.name
            ));
        }
        match ctx.backend.remove_container(&info.id).await {
            Ok(()) => println!("destroyed {}", info.name),
            Err(e) => {
                eprintln!("error: {}: {e}", info.name);
                failed = true;
            }
        }
    }
    if args.remove_volume {
        for name in &volumes {
            match ctx.backend.remove_volume(name).await {
                Ok(()) => println!("removed volume {name}"),
                Err(e) => {
                    eprintln!("error: volume {name}: {e}");
                    failed = true;
                }
            }
        }
    } else if !volumes.is_empty() {
        println!(
            "kept persistent volume(s) {} (add --remove-volume to delete)",
            volumes.join(", ")
        );
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The dbarena-labelled named volumes of these instances (one Docker call for all).
async fn persistent_volumes<B: ContainerBackend>(
    ctx: &Context<B>,
    targets: &[ContainerInfo],
) -> anyhow::Result<Vec<String>> {
    let instances: std::collections::BTreeSet<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let mut names: Vec<String> = ctx
        .backend
        .list_volumes(&[labels::managed_filter()])
        .await?
        .into_iter()
        .filter(|v| {
            v.labels
                .get(labels::NAME)
                .is_some_and(|n| instances.contains(n.as_str()))
        })
        .map(|v| v.name)
        .collect();
    names.sort();
    Ok(names)
}

/// Asks on the terminal; without one, refuses rather than guessing.
pub fn confirm(question: &str) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("{question} Refusing without confirmation: pass -y to confirm");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        bail!("cancelled; nothing was deleted")
    }
}
