//! `dbarena destroy`: removes instances; persistent volumes only on explicit request.
//! An instance whose container is gone but whose persistent volume is left ("volume
//! only" in `list --all`) is destroyed by name too.

use super::Context;
use super::context::Managed;
use crate::cli::DestroyArgs;
use crate::container::{ContainerBackend, State};
use crate::output;
use anyhow::bail;
use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

pub async fn run<B: ContainerBackend>(ctx: &Context<B>, args: &DestroyArgs) -> anyhow::Result<ExitCode> {
    let Some(args) = crate::tenant::ops::destroy_command(ctx, args).await? else {
        return Ok(ExitCode::SUCCESS);
    };
    let args = &args;
    let volumes_by_instance = ctx.volumes_by_instance().await?;
    let mut containers: Vec<Managed> = Vec::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    if args.all {
        containers = ctx.all_managed().await?;
        names.extend(containers.iter().map(|m| m.record.name.clone()));
        names.extend(volumes_by_instance.keys().cloned());
    } else {
        for name in &args.names {
            match ctx.managed(name).await {
                Ok(m) => containers.push(m),
                // Only the persistent data is left: destroying it is what the user asks.
                Err(_) if volumes_by_instance.contains_key(name) => {}
                Err(e) => return Err(e),
            }
            names.insert(name.clone());
        }
    }
    let volumes: Vec<String> = names
        .iter()
        .filter_map(|n| volumes_by_instance.get(n))
        .flatten()
        .map(|v| v.name.clone())
        .collect();
    if args.remove_volume && !volumes.is_empty() && !args.yes {
        confirm(&format!(
            "Delete {} volume(s) and their data for good: {}?",
            volumes.len(),
            volumes.join(", ")
        ))?;
    }
    let mut failed = false;
    for m in &containers {
        // A persistent server gets a clean shutdown first, so what it acknowledged (even with
        // the fast, fsync-free settings) is on the volume; ephemeral ones are just removed.
        if m.info.state == State::Running
            && m.record.persistent
            && let Err(e) = ctx.backend.stop_container(&m.info.id, Duration::from_secs(30)).await
        {
            output::warn(format_args!(
                "{}: clean shutdown failed ({e}); removing anyway",
                m.record.name
            ));
        }
        match ctx.backend.remove_container(&m.info.id).await {
            Ok(()) => {
                println!("destroyed {}", m.record.name);
                if let Some(pooler) = crate::tenant::server::pooler_of(&ctx.backend, &m.record.name).await
                    && let Err(e) = ctx.backend.remove_container(&pooler.id).await
                {
                    eprintln!("error: {}: {e}", pooler.name);
                    failed = true;
                }
            }
            Err(e) => {
                eprintln!("error: {}: {e}", m.record.name);
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
