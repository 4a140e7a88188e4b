//! `dbarena shell`, `exec` and `query`: the instance's clients (see [`crate::client`]).

use super::Context;
use crate::cli::{ExecArgs, QueryArgs, ShellArgs};
use crate::client::{self, exit_code_from, exit_code_of};
use crate::container::docker::{Attach, DockerBackend};
use crate::output::{escape, for_terminal};
use anyhow::{Context as _, bail};
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

/// The host's client when it is installed (and not `--container`), else the plugin's
/// client inside the container with a TTY.
pub async fn shell(ctx: &Context<DockerBackend>, args: &ShellArgs) -> anyhow::Result<ExitCode> {
    let target = client::target(ctx, &args.name).await?;
    if !args.container
        && let Some(mut cmd) = client::host_command(&target, &args.args)?
    {
        let status = cmd
            .status()
            .with_context(|| format!("cannot run {}", escape(&cmd.get_program().to_string_lossy())))?;
        return Ok(ExitCode::from(exit_code_of(status)));
    }
    let step = &target.commands.container_shell;
    let mut command = step.command.clone();
    command.extend(args.args.iter().cloned());
    let attach = Attach {
        tty: std::io::stdin().is_terminal() && std::io::stdout().is_terminal(),
        stdin: true,
    };
    let code = ctx
        .backend
        .exec_attached(&target.container_id, &command, &step.env, attach)
        .await?;
    Ok(ExitCode::from(exit_code_from(code)))
}

pub async fn exec(ctx: &Context<DockerBackend>, args: &ExecArgs) -> anyhow::Result<ExitCode> {
    let target = client::target(ctx, &args.name).await?;
    let attach = Attach {
        tty: args.tty,
        stdin: args.interactive,
    };
    let code = ctx
        .backend
        .exec_attached(&target.container_id, &args.command, &[], attach)
        .await?;
    Ok(ExitCode::from(exit_code_from(code)))
}

pub async fn query(ctx: &Context<DockerBackend>, args: &QueryArgs) -> anyhow::Result<ExitCode> {
    let text = match (&args.text, &args.file) {
        (Some(text), None) => text.clone().into_bytes(),
        (None, Some(file)) => std::fs::read(file).with_context(|| format!("--file {}: cannot read", file.display()))?,
        (None, None) if !std::io::stdin().is_terminal() => {
            let mut text = Vec::new();
            std::io::stdin()
                .read_to_end(&mut text)
                .context("cannot read the query from stdin")?;
            text
        }
        (None, None) => bail!("give the query as an argument, with --file FILE, or on stdin"),
        (Some(_), Some(_)) => unreachable!("clap rejects a query with --file"),
    };
    let target = client::target(ctx, &args.name).await?;
    let out = client::query(&ctx.backend, &target, &text).await?;
    // The client's own output (results, or the server's message) is passed through as is,
    // except that on a terminal its escapes are shown escaped (`--raw`: exact): the data is
    // anyone's who could write to the database.
    if out.exit_code == 0 {
        let escape = !args.raw && std::io::stdout().is_terminal();
        std::io::stdout().write_all(for_terminal(&out.output, escape).as_bytes())?;
    } else {
        let escape = !args.raw && std::io::stderr().is_terminal();
        std::io::stderr().write_all(for_terminal(&out.output, escape).as_bytes())?;
    }
    Ok(ExitCode::from(exit_code_from(out.exit_code)))
}
