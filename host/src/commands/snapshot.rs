//! `dbarena snapshot`, `snapshots`, `snapshot rm` and `reset`: thin wrappers around
//! [`crate::template::snapshot`]. SIGINT/TERM/HUP stop the work at its next safe point;
//! what became of the instance is reported (snapshot: thawed; reset: the old container
//! or the volume's own data back, or the reset finished when it was past undoing).

use super::Context;
use crate::cancel::Cancel;
use crate::cli::{ResetArgs, SnapshotArgs, SnapshotCommand, SnapshotsArgs};
use crate::container::ContainerBackend;
use crate::instance::{Instance, Status};
use crate::output::{Progress, escape, print_json, table};
use crate::plugin::bindings::TenantAction;
use crate::provision::Journal;
use crate::template::{key, snapshot};
use anyhow::bail;
use serde::Serialize;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long an interrupted command lets its clean-up run.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `work`; a signal cancels it and waits for it to put things back.
async fn interruptible<T>(
    cancel: &Cancel,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<Result<T, u8>> {
    let mut signals = crate::signals::Signals::install();
    tokio::pin!(work);
    tokio::select! {
        result = &mut work => result.map(Ok),
        code = signals.recv() => {
            eprintln!("\ninterrupted: finishing or undoing the step in progress...");
            cancel.cancel();
            match tokio::time::timeout(DRAIN_TIMEOUT, &mut work).await {
                Ok(Err(e)) => eprintln!("interrupted: {}", escape(&format!("{e:#}"))),
                Ok(Ok(_)) => eprintln!("interrupted after the work was done"),
                Err(_) => eprintln!("interrupted; clean-up still running after 60 s"),
            }
            Ok(Err(code))
        }
    }
}

pub async fn snapshot<B: ContainerBackend>(ctx: &Context<B>, args: SnapshotArgs) -> anyhow::Result<ExitCode> {
    if let Some(SnapshotCommand::Rm { reference }) = args.command {
        return remove(ctx, &reference).await;
    }
    let Some(name) = args.name else {
        bail!("name the instance: dbarena snapshot NAME [--tag TAG]");
    };
    let tag = args.tag.as_deref().unwrap_or(snapshot::DEFAULT_TAG);
    snapshot::validate_tag(tag)?;
    let lock = snapshot::lock(&ctx.backend, &name, "snapshot", Duration::ZERO).await?;
    if let Some(t) = crate::tenant::record::find(&ctx.backend, &name).await? {
        let action = TenantAction::Snapshot(tag.to_string());
        let done = format!("snapshot {name}:{tag} taken");
        return tenant_action(ctx, &t, &[action], &done, false).await;
    }
    let managed = ctx.managed(&name).await?;
    let resolver = ctx.resolver()?;
    let r = resolver.existing(&managed.record, None)?;
    let progress = Progress::new();
    let bar = progress.line(&name);
    let cancel = Cancel::default();
    let started = Instant::now();
    let report = |m: String| bar.set_message(escape(&m).into_owned());
    let work = snapshot::take(&ctx.backend, &r, &managed.info, &lock, tag, &cancel, &report);
    match interruptible(&cancel, work).await? {
        Ok(_) => {
            bar.finish_with_message(format!(
                "snapshot {name}:{tag} taken in {:.2} s",
                started.elapsed().as_secs_f64()
            ));
            Ok(ExitCode::SUCCESS)
        }
        Err(code) => Ok(ExitCode::from(code)),
    }
}

async fn remove<B: ContainerBackend>(ctx: &Context<B>, reference: &str) -> anyhow::Result<ExitCode> {
    let (name, tag) = snapshot::split_ref(reference);
    let Some(tag) = tag else {
        bail!("snapshot rm takes NAME:TAG (see `dbarena snapshots {}`)", escape(name));
    };
    // Older images of the tag that an instance was using when replaced go too.
    let images: Vec<_> = snapshot::list(&ctx.backend, Some(name))
        .await?
        .into_iter()
        .filter(|i| i.labels.get(key::SNAPSHOT_TAG).map(String::as_str) == Some(tag))
        .collect();
    if images.is_empty() {
        bail!("no snapshot {} (see `dbarena snapshots`)", escape(reference));
    }
    for image in images {
        if let Err(e) = ctx.backend.remove_image(&image.id).await {
            let bare = |id: &str| id.trim_start_matches("sha256:").to_string();
            let users: Vec<String> = ctx
                .backend
                .list_containers(&[crate::instance::record::managed_filter()])
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|c| bare(&c.image) == bare(&image.id))
                .map(|c| escape(&c.name).into_owned())
                .collect();
            if users.is_empty() {
                return Err(e.into());
            }
            bail!(
                "snapshot {} is in use by {} (reset to it): destroy it, or reset it to another snapshot, first ({})",
                escape(reference),
                users.join(", "),
                escape(&e.to_string())
            );
        }
    }
    println!("removed snapshot {}", escape(reference));
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Row {
    instance: String,
    tag: String,
    image: String,
    engine: String,
    version: String,
    /// The image's size (its data layer over the engine image).
    size_bytes: u64,
    created: String,
}

pub async fn list<B: ContainerBackend>(ctx: &Context<B>, args: SnapshotsArgs) -> anyhow::Result<ExitCode> {
    let images = snapshot::list(&ctx.backend, args.name.as_deref()).await?;
    let label = |i: &crate::container::LabelledImage, k: &str| i.labels.get(k).cloned().unwrap_or_default();
    let rows: Vec<Row> = images
        .iter()
        .map(|i| Row {
            instance: label(i, key::SNAPSHOT_OF),
            tag: label(i, key::SNAPSHOT_TAG),
            image: i.id.clone(),
            engine: label(i, key::ENGINE),
            version: label(i, key::VERSION),
            size_bytes: i.size_bytes,
            created: chrono::DateTime::from_timestamp(i.created, 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
        })
        .collect();
    if args.json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = chrono::Utc::now().timestamp();
    let mut t = table(["SNAPSHOT", "ENGINE", "IMAGE SIZE", "AGE"]);
    for (r, i) in rows.iter().zip(&images) {
        t.add_row([
            escape(&format!("{}:{}", r.instance, r.tag)).into_owned(),
            escape(&format!("{} {}", r.engine, r.version)).into_owned(),
            format!("{:.1} MB", r.size_bytes as f64 / 1e6),
            age((now - i.created).max(0)),
        ]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

pub async fn reset<B: ContainerBackend>(ctx: &Context<B>, args: ResetArgs) -> anyhow::Result<ExitCode> {
    if let Some(tag) = &args.tag {
        snapshot::validate_tag(tag)?;
    }
    let _lock = snapshot::lock(&ctx.backend, &args.name, "reset", Duration::ZERO).await?;
    if let Some(t) = crate::tenant::record::find(&ctx.backend, &args.name).await? {
        return reset_tenant(ctx, &t, &args).await;
    }
    let managed = ctx.managed(&args.name).await?;
    let resolver = ctx.resolver()?;
    let r = resolver.existing(&managed.record, args.timeout)?;
    let source = snapshot::reset_source(&ctx.backend, &managed.info, &managed.record, args.tag.as_deref()).await?;
    let progress = Progress::new();
    let bar = progress.line(&args.name);
    let cancel = Cancel::default();
    let journal = Journal::new();
    let started = Instant::now();
    let report = |m: String| bar.set_message(escape(&m).into_owned());
    let work = async {
        if r.record.persistent && args.replace_volume {
            snapshot::reset_volume(
                &ctx.backend,
                &r,
                &managed.info,
                source.as_ref(),
                &journal,
                &cancel,
                &report,
            )
            .await
        } else {
            snapshot::reset(
                &ctx.backend,
                &r,
                &managed.info,
                source.as_ref(),
                &journal,
                &cancel,
                &report,
            )
            .await
        }
    };
    let done = match interruptible(&cancel, work).await {
        Ok(Ok(done)) => done,
        Ok(Err(code)) => return Ok(ExitCode::from(code)),
        Err(e) => {
            bar.abandon_with_message("failed");
            return Err(e);
        }
    };
    journal.keep();
    bar.finish_with_message(format!("reset in {:.2} s", started.elapsed().as_secs_f64()));
    let view = Instance::from_container(
        &done.info,
        &r.record,
        Some(r.plugin),
        Status::Healthy,
        ctx.backend.client_address(),
    );
    if args.json {
        print_json(&view)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `reset TENANT [--tag T]`: its snapshot `T` again, or an empty database without a tag;
/// same URL either way.
async fn reset_tenant<B: ContainerBackend>(
    ctx: &Context<B>,
    t: &crate::tenant::TenantRecord,
    args: &ResetArgs,
) -> anyhow::Result<ExitCode> {
    let actions = match &args.tag {
        Some(tag) => vec![TenantAction::Restore(tag.clone())],
        None => vec![TenantAction::Drop, TenantAction::Create],
    };
    tenant_action(ctx, t, &actions, "reset", args.json).await
}

/// Runs tenant actions on its server with a progress line. Runs to its end when
/// interrupted, so the tenant is never left without its database.
async fn tenant_action<B: ContainerBackend>(
    ctx: &Context<B>,
    t: &crate::tenant::TenantRecord,
    actions: &[TenantAction],
    done: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let progress = Progress::new();
    let bar = progress.line(&t.name);
    let cancel = Cancel::default();
    let started = Instant::now();
    let report = |m: String| bar.set_message(escape(&m).into_owned());
    let work = crate::tenant::ops::reset(ctx, t, actions, &report);
    let view = match interruptible(&cancel, work).await {
        Ok(Ok(view)) => view,
        Ok(Err(code)) => return Ok(ExitCode::from(code)),
        Err(e) => {
            bar.abandon_with_message("failed");
            return Err(e);
        }
    };
    bar.finish_with_message(format!("{done} in {:.2} s", started.elapsed().as_secs_f64()));
    if json {
        print_json(&view)?;
    }
    Ok(ExitCode::SUCCESS)
}
