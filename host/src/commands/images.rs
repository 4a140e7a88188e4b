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
        ImagesCommand::Tags { engine, filter, json } => {
            tags(&ctx.config, &ctx.registry, &engine, filter.as_deref(), json)
        }
    }
}

/// What `images pull` pulls for one engine: `ENGINE[@VERSION]`, and the image an entry of
/// `dbarena.toml` pins with `image =` (else the one the config and plugin give).
type Wanted = (String, Option<String>);

/// The engines the current directory's `dbarena.toml` declares, with their pinned images.
fn project_engines() -> anyhow::Result<Vec<Wanted>> {
    let Some(project) = crate::project::current()? else {
        return Ok(Vec::new());
    };
    let mut engines: Vec<Wanted> = project
        .instances
        .iter()
        .map(|(name, entry)| {
            let mut args = project.create_args(name, entry);
            (args.engines.remove(0), args.image.take())
        })
        .collect();
    engines.sort();
    engines.dedup();
    Ok(engines)
}

/// What `images pull` with no names pulls: the project's engines and every engine the
/// config configures (`[engines.ID]`, at its configured version). Never every engine's
/// default: SQL Server alone is ~1.5 GB.
fn default_pulls<B: ContainerBackend>(ctx: &Context<B>) -> anyhow::Result<Vec<Wanted>> {
    let mut wanted = project_engines()?;
    for id in ctx.config.engines.keys() {
        if ctx.registry.knows(id) && !wanted.iter().any(|(e, _)| e == id) {
            wanted.push((id.clone(), None));
        }
    }
    if wanted.is_empty() {
        let where_ = ctx
            .config
            .source
            .as_ref()
            .map_or("no config file".to_string(), |p| format!("none in {}", p.display()));
        anyhow::bail!(
            "name the engines to pull, e.g. `dbarena images pull postgres redis@7` \
             (with no names, the engines the config file configures under [engines.ID] are pulled: {where_})"
        );
    }
    Ok(wanted)
}

#[derive(Serialize)]
struct TagRow {
    tag: String,
    /// The engine version this tag is the image of, if the plugin knows it.
    known_version: Option<String>,
}

/// `images tags ENGINE`: the engine's image repository (the config's mirror applied) as its
/// registry lists it, each tag marked with the plugin version it is the image of. Needs no
/// container engine.
pub fn tags(
    config: &crate::config::Config,
    registry: &crate::plugin::PluginRegistry,
    engine: &str,
    filter: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use crate::container::ImageRef;
    use crate::container::registry_api::{RepoLocation, list_tags};
    let resolver = crate::resolve::Resolver::checked(config, registry)?;
    let (plugin, version) = resolver.engine_version(engine)?;
    let image = ImageRef::parse(&resolver.image(plugin, &version)?)?;
    let pattern = filter
        .map(|f| glob::Pattern::new(f).map_err(|e| anyhow::anyhow!("invalid --filter '{f}': {e}")))
        .transpose()?;
    // Tags of the versions the plugin knows, in the repository this listing reads.
    let mut known: HashMap<String, String> = HashMap::new();
    for v in &plugin.info().versions {
        if let Ok(other) = ImageRef::parse(&resolver.image(plugin, &v.version)?)
            && other.repository() == image.repository()
            && let Some(tag) = other.tag()
        {
            known.insert(tag.to_string(), v.version.clone());
        }
    }
    let location = RepoLocation::of(&image);
    let rows: Vec<TagRow> = list_tags(&location)
        .map_err(|e| anyhow::anyhow!("listing the tags of {}: {e:#}", image.repository()))?
        .into_iter()
        .filter(|t| pattern.as_ref().is_none_or(|p| p.matches(t)))
        .map(|tag| TagRow {
            known_version: known.get(&tag).cloned(),
            tag,
        })
        .collect();
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} ({} tags)", output::escape(image.repository()), rows.len());
    let mut t = table(["TAG", "DBARENA VERSION"]);
    for r in &rows {
        t.add_row([
            output::escape(&r.tag).into_owned(),
            r.known_version
                .as_deref()
                .map_or("-".into(), |v| format!("{}@{}", plugin.id(), output::escape(v))),
        ]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

async fn pull<B: ContainerBackend>(ctx: &Context<B>, engines: &[String]) -> anyhow::Result<ExitCode> {
    // The same resolution as `create`: the config's version and mirror apply.
    let resolver = ctx.resolver()?;
    let mut wanted = BTreeSet::new();
    let requested = if engines.is_empty() {
        default_pulls(ctx)?
    } else {
        engines.iter().map(|e| (e.clone(), None)).collect()
    };
    for (reference, pinned) in requested {
        let (plugin, version) = resolver.engine_version(&reference)?;
        wanted.insert(match pinned {
            Some(image) => crate::container::ImageRef::parse(&image)
                .map_err(|e| anyhow::anyhow!("image '{}' of {reference}: {e}", output::escape(&image)))?
                .to_string(),
            None => resolver.image(plugin, &version)?,
        });
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
        let present_before = ctx.backend.image_exists(&image).await.unwrap_or(true);
        let result = ctx.backend.pull_image(&image, &report).await;
        if result.is_ok() && !present_before {
            crate::provision::pulled::record(&image);
        }
        for bar in bars.lock().unwrap().values() {
            bar.finish();
        }
        match result {
            Ok(()) => println!("pulled {image}"),
            Err(e) => {
                let e = crate::provision::pull::pull_error(&image, e);
                eprintln!("error: {}", output::escape(&format!("{e:#}")));
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
    // Only images dbarena's own pulls made present (recorded per engine): an image the
    // user pulled, even an engine's, is not ours to remove.
    let mut candidates = Vec::new();
    for image in crate::provision::pulled::recorded() {
        if in_use.contains(&image) {
            continue;
        }
        if ctx.backend.image_exists(&image).await? {
            candidates.push(image);
        } else {
            crate::provision::pulled::forget(&image);
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
            Ok(()) => {
                crate::provision::pulled::forget(&image);
                println!("removed {image}");
            }
            Err(e) => {
                output::warn(format_args!("{image}: {e}"));
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
