//! `dbarena images pull|list|prune`: the images engine plugins name (after config overrides).

use super::Context;
use crate::cli::ImagesCommand;
use crate::container::{ContainerBackend, PullProgress};
use crate::instance::record;
use crate::output::{self, print_json, table};
use crate::template::{self, warm::short};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Mutex;

#[derive(Serialize)]
struct EngineImage {
    engine: String,
    version: String,
    image: String,
    present: bool,
    /// "engine", or "template" for a warm-start template (see README, Warm starts).
    kind: &'static str,
}

/// The image each engine version runs, with the config's mirror applied.
fn engine_images<B: ContainerBackend>(ctx: &Context<B>) -> anyhow::Result<Vec<(String, String, String)>> {
    let resolver = ctx.resolver()?;
    let mut all = Vec::new();
    for entry in ctx.registry.iter() {
        let info = entry.plugin.info();
        for v in &info.versions {
            let image = resolver.image(&entry.plugin, &v.version)?;
            all.push((info.id.clone(), v.version.clone(), image));
        }
    }
    Ok(all)
}

pub async fn run<B: ContainerBackend>(ctx: &Context<B>, cmd: ImagesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ImagesCommand::Pull { engines } => pull(ctx, &engines).await,
        ImagesCommand::List { json } => list(ctx, json).await,
        ImagesCommand::Prune { yes } => prune(ctx, yes).await,
    }
}

async fn pull<B: ContainerBackend>(ctx: &Context<B>, engines: &[String]) -> anyhow::Result<ExitCode> {
    // The same resolution as `create`: the config's version and mirror apply.
    let resolver = ctx.resolver()?;
    let mut wanted = BTreeSet::new();
    let defaults: Vec<String> = ctx.registry.iter().map(|e| e.plugin.id().to_string()).collect();
    let requested = if engines.is_empty() { &defaults[..] } else { engines };
    for reference in requested {
        let (plugin, version) = resolver.engine_version(reference)?;
        wanted.insert(resolver.image(plugin, &version)?);
    }
    let interactive = std::io::stderr().is_terminal();
    let multi = MultiProgress::new();
    let style =
        ProgressStyle::with_template("{prefix:.bold} {wide_bar} {bytes}/{total_bytes} {msg}").expect("valid template");
    let mut failed = false;
    for image in wanted {
        let bars: Mutex<HashMap<String, ProgressBar>> = Mutex::new(HashMap::new());
        let statuses: Mutex<HashMap<String, String>> = Mutex::new(HashMap::new());
        let report = |p: PullProgress| {
            if !interactive {
                // Without a terminal, print each layer's status changes as plain lines.
                let mut statuses = statuses.lock().unwrap();
                if statuses.get(&p.layer) != Some(&p.status) {
                    eprintln!("{image} {}: {}", p.layer, p.status);
                    statuses.insert(p.layer.clone(), p.status.clone());
                }
                return;
            }
            let mut bars = bars.lock().unwrap();
            let bar = bars.entry(p.layer.clone()).or_insert_with(|| {
                let bar = multi.add(ProgressBar::new(0));
                bar.set_style(style.clone());
                bar.set_prefix(format!("{image} {}", p.layer.chars().take(12).collect::<String>()));
                bar
            });
            if p.total_bytes > 0 {
                bar.set_length(p.total_bytes);
                bar.set_position(p.current_bytes);
            }
            bar.set_message(p.status);
        };
        let result = ctx.backend.pull_image(&image, &report).await;
        for bar in bars.lock().unwrap().values() {
            bar.finish();
        }
        match result {
            Ok(()) => println!("pulled {image}"),
            Err(e) => {
                eprintln!("error: pulling {image}: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

async fn list<B: ContainerBackend>(ctx: &Context<B>, json: bool) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for (engine, version, image) in engine_images(ctx)? {
        let present = ctx.backend.image_exists(&image).await?;
        rows.push(EngineImage {
            engine,
            version,
            image,
            present,
            kind: "engine",
        });
    }
    for t in template::all_templates(&ctx.backend).await? {
        let label = |k: &str| t.labels.get(k).cloned().unwrap_or_default();
        rows.push(EngineImage {
            engine: label(template::key::ENGINE),
            version: label(template::key::VERSION),
            image: t.id.clone(),
            present: true,
            kind: "template",
        });
    }
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(["ENGINE", "VERSION", "IMAGE", "PRESENT"]);
    for r in &rows {
        let image = match r.kind {
            "template" => format!("template {}", short(&r.image)),
            _ => r.image.clone(),
        };
        t.add_row([
            output::escape(&r.engine).into_owned(),
            output::escape(&r.version).into_owned(),
            image,
            if r.present { "yes" } else { "-" }.to_string(),
        ]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

async fn prune<B: ContainerBackend>(ctx: &Context<B>, yes: bool) -> anyhow::Result<ExitCode> {
    let containers = ctx.backend.list_containers(&[record::managed_filter()]).await?;
    // An instance started from a template runs the template's id, and needs its engine image.
    let in_use: BTreeSet<String> = containers
        .iter()
        .map(|c| c.image.clone())
        .chain(containers.iter().filter_map(|c| {
            crate::instance::InstanceRecord::from_labels(&c.labels)
                .ok()
                .map(|r| r.image)
        }))
        .collect();
    let mut candidates = Vec::new();
    for (_, _, image) in engine_images(ctx)? {
        if !in_use.contains(&image) && ctx.backend.image_exists(&image).await? && !candidates.contains(&image) {
            candidates.push(image);
        }
    }
    // Warm-start templates no container runs (they are remade on demand).
    for t in template::all_templates(&ctx.backend).await? {
        if !in_use.contains(&t.id) {
            candidates.push(t.id);
        }
    }
    if candidates.is_empty() {
        println!("nothing to prune");
        return Ok(ExitCode::SUCCESS);
    }
    if !yes {
        super::destroy::confirm(&format!(
            "Remove {} image(s): {}?",
            candidates.len(),
            candidates.join(", ")
        ))?;
    }
    let mut failed = false;
    for image in candidates {
        match ctx.backend.remove_image(&image).await {
            Ok(()) => println!("removed {image}"),
            Err(e) => {
                output::warn(format_args!("{image}: {e}"));
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
