//! `dbarena up` and `down`: the instances a project's `dbarena.toml` declares (see
//! [`crate::project`]), and the scope of `stop --all` / `destroy --all` inside a project.
//!
//! A project instance is named by its `[instances.NAME]` key and carries the project's
//! directory in its record; `up` creates the missing ones (in parallel, as `create`),
//! starts the stopped ones and leaves the running ones alone.

use super::Context;
use super::context::Managed;
use super::create::{Created, create_groups};
use crate::cli::{DownArgs, UpArgs};
use crate::container::{ContainerBackend, State};
use crate::instance::{Instance, InstanceRecord};
use crate::output::{escape, print_json};
use crate::project::{self, Project};
use anyhow::bail;
use std::process::ExitCode;

/// What `--all` acts on: one project's instances, or every instance.
pub(crate) struct Scope(Option<Project>);

impl Scope {
    pub(crate) fn includes(&self, record: &InstanceRecord) -> bool {
        self.0.as_ref().is_none_or(|p| p.owns(record))
    }

    pub(crate) fn is_everything(&self) -> bool {
        self.0.is_none()
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(p) => write!(f, " of project {} ({})", escape(&p.name), escape(&p.origin.id)),
            None => Ok(()),
        }
    }
}

/// Every instance `--all` acts on: inside a project the project's, unless `everywhere`.
pub(crate) async fn all_in_scope<B: ContainerBackend>(
    ctx: &Context<B>,
    everywhere: bool,
) -> anyhow::Result<(Vec<Managed>, Scope)> {
    let scope = Scope(if everywhere { None } else { project::current()? });
    if let Some(p) = &scope.0 {
        eprintln!(
            "--all: the instances of project {} ({}); add --everywhere for every instance",
            escape(&p.name),
            p.origin.file.display()
        );
    }
    let all = ctx.all_managed().await?;
    Ok((all.into_iter().filter(|m| scope.includes(&m.record)).collect(), scope))
}

/// The running instances of the current directory's project, in name order (`env` with
/// no name).
pub(crate) async fn project_instances<B: ContainerBackend>(ctx: &Context<B>) -> anyhow::Result<Vec<Instance>> {
    let Some(project) = project::current()? else {
        bail!(
            "give instance names, or run inside a project (a directory with a {})",
            project::FILE_NAME
        );
    };
    let all = ctx.all_managed().await?;
    let mut out = Vec::new();
    for name in project.instances.keys() {
        let Some(m) = all.iter().find(|m| &m.record.name == name && project.owns(&m.record)) else {
            bail!(
                "{name} of {} is not created yet: run `dbarena up`",
                project.origin.file.display()
            );
        };
        let i = ctx.instance(m).await;
        if i.port.is_none() {
            bail!("{name} is not running: run `dbarena up`");
        }
        out.push(i);
    }
    Ok(out)
}

/// What `up` did with one instance.
#[derive(serde::Serialize)]
struct UpEntry<'a> {
    /// `created`, `started` or `running` (left alone).
    action: &'static str,
    #[serde(flatten)]
    instance: &'a Instance,
}

pub async fn up<B: ContainerBackend>(ctx: &Context<B>, args: &UpArgs) -> anyhow::Result<ExitCode> {
    let project = project::required("up")?;
    project.check_exposure(args.publish_all_interfaces)?;
    let file = project.origin.file.display();
    if project.instances.is_empty() {
        bail!("{file}: declares no instances (add an [instances.NAME] table)");
    }
    let mut all = ctx.all_managed().await?;
    let mut to_create = Vec::new();
    let mut to_start = Vec::new();
    let mut running = Vec::new();
    for (name, entry) in &project.instances {
        let Some(at) = all.iter().position(|m| &m.record.name == name) else {
            to_create.push(project.create_args(name, entry));
            continue;
        };
        let m = all.swap_remove(at);
        if !project.owns(&m.record) {
            let owner = match &m.record.project {
                Some(other) => format!("project {}", escape(other)),
                None => "no project".into(),
            };
            bail!(
                "{file}: [instances.{name}]: an instance named {name} already exists and belongs to {owner}; \
                 destroy it or rename the entry"
            );
        }
        if m.record.engine != entry.engine {
            crate::output::warn(format_args!(
                "{name}: {file} says {} but the instance runs {}; `dbarena down` then `up` re-creates it",
                escape(&entry.engine),
                m.record.engine
            ));
        }
        if m.info.state == State::Running {
            running.push(m);
        } else {
            to_start.push(m);
        }
    }

    let mut done: Vec<(&'static str, Instance)> = Vec::new();
    let mut failed = false;
    if !to_create.is_empty() {
        let mut signals = crate::signals::Signals::install();
        match create_groups(ctx, &to_create, &mut signals).await? {
            Created::Done { instances, failures } => {
                done.extend(instances.into_iter().map(|i| ("created", i)));
                for f in &failures {
                    eprintln!("error: {}", escape(f));
                }
                failed |= !failures.is_empty();
            }
            Created::Interrupted(code) => return Ok(ExitCode::from(code)),
        }
    }
    if !to_start.is_empty() {
        let (started, start_failed) = super::lifecycle::start_all(ctx, to_start, args.timeout, false).await?;
        done.extend(started.into_iter().map(|i| ("started", i)));
        failed |= start_failed;
    }
    for m in &running {
        done.push(("running", ctx.instance(m).await));
    }
    done.sort_by(|a, b| a.1.name.cmp(&b.1.name));

    let of = |action: &str| -> Vec<&str> {
        done.iter()
            .filter(|(a, _)| *a == action)
            .map(|(_, i)| i.name.as_str())
            .collect()
    };
    let (created, started, left) = (of("created"), of("started"), of("running"));
    if created.is_empty() && started.is_empty() {
        eprintln!(
            "project {}: nothing to do, already running: {}",
            escape(&project.name),
            left.join(", ")
        );
    } else {
        let mut parts = Vec::new();
        for (what, names) in [("created", &created), ("started", &started), ("already running", &left)] {
            if !names.is_empty() {
                parts.push(format!("{what} {}", names.join(", ")));
            }
        }
        eprintln!("project {}: {}", escape(&project.name), parts.join("; "));
    }

    let instances: Vec<Instance> = done.iter().map(|(_, i)| i.clone()).collect();
    if args.json {
        let env: serde_json::Map<String, serde_json::Value> = super::env::merged(&instances)
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect();
        print_json(&serde_json::json!({
            "project": project.origin.id,
            "file": project.origin.file,
            "instances": done
                .iter()
                .map(|(action, instance)| UpEntry { action, instance })
                .collect::<Vec<_>>(),
            "env": env,
        }))?;
    } else {
        super::env::print(args.format, &instances)?;
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

pub async fn down<B: ContainerBackend>(ctx: &Context<B>, args: &DownArgs) -> anyhow::Result<ExitCode> {
    let project = project::required("down")?;
    let shown = format!("project {} ({})", escape(&project.name), escape(&project.origin.id));
    let scope = Scope(Some(project));
    let containers: Vec<Managed> = ctx
        .all_managed()
        .await?
        .into_iter()
        .filter(|m| scope.includes(&m.record))
        .collect();
    let volumes_by_instance = ctx.volumes_by_instance().await?;
    let names = super::destroy::names_in_scope(&containers, &volumes_by_instance, &scope);
    if names.is_empty() {
        eprintln!("{shown}: nothing to destroy");
        if args.json {
            print_json(&Vec::<()>::new())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    super::destroy::remove(
        ctx,
        &containers,
        &names,
        &volumes_by_instance,
        args.remove_volume,
        args.yes,
        args.json,
        &[],
    )
    .await
}
