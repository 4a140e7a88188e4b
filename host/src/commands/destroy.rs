//! `dbarena destroy`: removes instances; persistent volumes only on explicit request.
//! An instance whose container is gone but whose persistent volume is left ("volume
//! only" in `list --all`) is destroyed by name too.

use super::Context;
use super::context::Managed;
use super::up::Scope;
use crate::cli::DestroyArgs;
use crate::container::{ContainerBackend, State, VolumeInfo};
use crate::instance::InstanceRecord;
use crate::output;
use anyhow::bail;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

pub async fn run<B: ContainerBackend>(ctx: &Context<B>, args: &DestroyArgs) -> anyhow::Result<ExitCode> {
    if args.all {
        let (containers, scope) = super::up::all_in_scope(ctx, args.everywhere).await?;
        let volumes_by_instance = ctx.volumes_by_instance().await?;
        let names = names_in_scope(&containers, &volumes_by_instance, &scope);
        let acted_on = if args.remove_volume {
            names.len()
        } else {
            containers.len()
        };
        let confirmed = acted_on > 1 && !args.yes;
        if confirmed {
            let listed: Vec<&str> = names.iter().map(String::as_str).collect();
            let volumes = if args.remove_volume {
                " and delete their persistent volumes"
            } else {
                ""
            };
            confirm(&format!(
                "Destroy {acted_on} instances{scope}{volumes}: {}?",
                listed.join(", ")
            ))?;
        }
        // Shared servers belong to no project: their tenants only go with everything.
        if scope.is_everything() {
            crate::tenant::ops::destroy_command(ctx, args).await?;
        }
        let volumes_confirmed = args.yes || confirmed;
        return remove(
            ctx,
            &containers,
            &names,
            &volumes_by_instance,
            args.remove_volume,
            volumes_confirmed,
            args.json,
            &[],
        )
        .await;
    }
    let rest = crate::tenant::ops::destroy_command(ctx, args).await?;
    // The names that were tenants are gone already (their servers keep running).
    let tenants: Vec<String> = args
        .names
        .iter()
        .filter(|n| !rest.as_ref().is_some_and(|r| r.names.contains(n)))
        .cloned()
        .collect();
    let Some(args) = rest else {
        if args.json {
            output::print_json(&tenants.into_iter().map(Destroyed::tenant).collect::<Vec<_>>())?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    let args = &args;
    let volumes_by_instance = ctx.volumes_by_instance().await?;
    let mut containers: Vec<Managed> = Vec::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for name in &args.names {
        match ctx.managed(name).await {
            Ok(m) => containers.push(m),
            // Only the persistent data is left: destroying it is what the user asks.
            Err(_) if volumes_by_instance.contains_key(name) => {}
            Err(e) => return Err(e),
        }
        names.insert(name.clone());
    }
    remove(
        ctx,
        &containers,
        &names,
        &volumes_by_instance,
        args.remove_volume,
        args.yes,
        args.json,
        &tenants,
    )
    .await
}

/// The instances `--all` destroys in `scope`: its containers, and the instances of which
/// only a persistent volume is left whose record is in scope.
pub(crate) fn names_in_scope(
    containers: &[Managed],
    volumes_by_instance: &BTreeMap<String, Vec<VolumeInfo>>,
    scope: &Scope,
) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = containers.iter().map(|m| m.record.name.clone()).collect();
    for (name, volumes) in volumes_by_instance {
        let in_scope = volumes
            .iter()
            .any(|v| InstanceRecord::from_labels(&v.labels).is_ok_and(|r| scope.includes(&r)));
        if in_scope {
            names.insert(name.clone());
        }
    }
    names
}

/// One entry of `destroy --json`.
#[derive(serde::Serialize)]
struct Destroyed {
    name: String,
    /// `destroyed`, `failed`, or `volume-only` (no container was left).
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    volumes_removed: Vec<String>,
    volumes_kept: Vec<String>,
}

impl Destroyed {
    /// A tenant `destroy` dropped (its data went with it).
    fn tenant(name: String) -> Self {
        Self {
            name,
            result: "destroyed",
            error: None,
            volumes_removed: Vec::new(),
            volumes_kept: Vec::new(),
        }
    }
}

/// Removes `containers`, and the volumes of `names` when `remove_volume` (asking first
/// unless `confirmed`). `tenants` were destroyed before, for the `--json` report. Shared
/// by `destroy` and `down`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn remove<B: ContainerBackend>(
    ctx: &Context<B>,
    containers: &[Managed],
    names: &BTreeSet<String>,
    volumes_by_instance: &BTreeMap<String, Vec<VolumeInfo>>,
    remove_volume: bool,
    confirmed: bool,
    json: bool,
    tenants: &[String],
) -> anyhow::Result<ExitCode> {
    let volumes: Vec<String> = names
        .iter()
        .filter_map(|n| volumes_by_instance.get(n))
        .flatten()
        .map(|v| v.name.clone())
        .collect();
    if remove_volume && !volumes.is_empty() && !confirmed {
        confirm(&format!(
            "Delete {} volume(s) and their data for good: {}?",
            volumes.len(),
            volumes.join(", ")
        ))?;
    }
    let mut report: BTreeMap<&str, Destroyed> = names
        .iter()
        .map(|n| {
            let entry = Destroyed {
                name: n.clone(),
                result: "volume-only",
                error: None,
                volumes_removed: Vec::new(),
                volumes_kept: Vec::new(),
            };
            (n.as_str(), entry)
        })
        .collect();
    let mut failed = false;
    let mut done: Vec<String> = Vec::new();
    // Held until the volumes are gone too; a busy instance keeps everything.
    let mut locks = Vec::new();
    let mut busy = BTreeSet::new();
    for m in containers {
        match crate::template::snapshot::lock(
            &ctx.backend,
            &m.record.name,
            "destroy",
            crate::template::snapshot::LOCK_WAIT,
        )
        .await
        {
            Ok(lock) => locks.push(lock),
            Err(e) => {
                eprintln!("error: {}", output::escape(&format!("{e:#}")));
                if let Some(entry) = report.get_mut(m.record.name.as_str()) {
                    entry.result = "failed";
                    entry.error = Some(format!("{e:#}"));
                }
                busy.insert(m.record.name.clone());
                failed = true;
                continue;
            }
        }
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
        let entry = report.get_mut(m.record.name.as_str());
        match ctx.backend.remove_container(&m.info.id).await {
            Ok(()) => {
                crate::template::snapshot::forget_created(&ctx.backend, &m.record.name).await;
                done.push(format!("destroyed {}", m.record.name));
                if let Some(entry) = entry {
                    entry.result = "destroyed";
                }
                if let Some(pooler) = crate::tenant::server::pooler_of(&ctx.backend, &m.record.name).await
                    && let Err(e) = ctx.backend.remove_container(&pooler.id).await
                {
                    eprintln!("error: {}: {e}", pooler.name);
                    failed = true;
                }
            }
            Err(e) => {
                eprintln!("error: {}: {e}", m.record.name);
                if let Some(entry) = entry {
                    entry.result = "failed";
                    entry.error = Some(e.to_string());
                }
                failed = true;
            }
        }
    }
    for name in names {
        let Some(entry) = report.get_mut(name.as_str()) else {
            continue;
        };
        if busy.contains(name) {
            entry.volumes_kept.extend(
                volumes_by_instance
                    .get(name)
                    .into_iter()
                    .flatten()
                    .map(|v| v.name.clone()),
            );
            continue;
        }
        for v in volumes_by_instance.get(name).into_iter().flatten() {
            if !remove_volume {
                entry.volumes_kept.push(v.name.clone());
                continue;
            }
            match ctx.backend.remove_volume(&v.name).await {
                Ok(()) => {
                    done.push(format!("removed volume {}", v.name));
                    entry.volumes_removed.push(v.name.clone());
                }
                Err(e) => {
                    eprintln!("error: volume {}: {e}", v.name);
                    entry.error.get_or_insert_with(|| format!("volume {}: {e}", v.name));
                    entry.volumes_kept.push(v.name.clone());
                    failed = true;
                }
            }
        }
    }
    if json {
        let mut all: Vec<Destroyed> = tenants.iter().cloned().map(Destroyed::tenant).collect();
        all.extend(report.into_values());
        output::print_json(&all)?;
        return Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }
    // Printed once everything is done: a reader that closes the pipe early ends the
    // process (see main), and must not cut a destroy short.
    for line in done {
        println!("{line}");
    }
    if !remove_volume && !volumes.is_empty() {
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
        bail!("cancelled; nothing was changed")
    }
}
