//! One module per command; each turns parsed arguments into work and output.

mod bench;
mod client;
mod completions;
mod config;
pub(crate) mod context;
mod create;
pub(crate) mod destroy;
mod engines;
mod env;
mod gc;
mod images;
mod lifecycle;
mod list;
mod logs;
mod plugin;
mod run;
mod shared;
mod snapshot;
mod up;

use crate::cli::{Cli, Command};
use crate::paths;
use crate::plugin::{PluginRegistry, PluginRuntime};
use std::process::ExitCode;

pub use context::Context;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.clone();
    let client_host = cli.client_host.clone();
    match cli.command {
        Command::Engines(args) => engines::run(&args, config.as_deref()),
        Command::Bench(cmd) => bench::run(&cmd),
        Command::Plugin(cmd) => plugin::run(cmd),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
        Command::Config(cmd) => config::run(cmd, config.as_deref(), client_host.as_deref()),
        // Registry HTTP API only: no container engine needed.
        Command::Images(crate::cli::ImagesCommand::Tags { engine, filter, json }) => images::tags(
            &crate::config::Config::load(config.as_deref())?,
            &load_plugins()?,
            &engine,
            filter.as_deref(),
            json,
        ),
        command => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async move {
                let ctx = Context::new(config.as_deref(), client_host.as_deref()).await?;
                if !matches!(command, Command::Gc(_)) {
                    gc::reap(&ctx.backend).await;
                }
                match command {
                    Command::Create(args) => create::run(&ctx, args).await,
                    Command::Start(args) => lifecycle::start(&ctx, &args, false).await,
                    Command::Restart(args) => lifecycle::start(&ctx, &args, true).await,
                    Command::Stop(args) => lifecycle::stop(&ctx, &args).await,
                    Command::Destroy(args) => destroy::run(&ctx, &args).await,
                    Command::List(args) => list::list(&ctx, &args).await,
                    Command::Inspect(args) => list::inspect(&ctx, &args).await,
                    Command::Logs(args) => logs::run(&ctx, &args).await,
                    Command::Env(args) => env::env(&ctx, &args).await,
                    Command::Url(args) => env::url(&ctx, &args).await,
                    Command::Images(cmd) => images::run(&ctx, cmd).await,
                    Command::Snapshot(args) => snapshot::snapshot(&ctx, args).await,
                    Command::Snapshots(args) => snapshot::list(&ctx, args).await,
                    Command::Reset(args) => snapshot::reset(&ctx, args).await,
                    Command::Shell(args) => client::shell(&ctx, &args).await,
                    Command::Exec(args) => client::exec(&ctx, &args).await,
                    Command::Query(args) => client::query(&ctx, &args).await,
                    Command::Run(args) => run::run(&ctx, args).await,
                    Command::Gc(args) => gc::run(&ctx, &args).await,
                    Command::Up(args) => up::up(&ctx, &args).await,
                    Command::Down(args) => up::down(&ctx, &args).await,
                    Command::Engines(_) | Command::Bench(_) | Command::Plugin(_) => unreachable!("handled above"),
                    Command::Completions(_) | Command::Man(_) | Command::Config(_) => unreachable!("handled above"),
                }
            })
        }
    }
}

/// The available engine plugins. Nothing is compiled here: each plugin loads when a command
/// first needs it, and the registry warns (once each) about plugin files it cannot use.
pub fn load_plugins() -> anyhow::Result<PluginRegistry> {
    let runtime = PluginRuntime::new(paths::component_cache_dir())?;
    PluginRegistry::load(&runtime, paths::plugin_dir().as_deref())
}
