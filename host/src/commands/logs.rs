//! `dbarena logs`: the server's output, optionally followed.

use super::Context;
use crate::cli::LogsArgs;
use crate::container::ContainerBackend;
use futures_util::StreamExt;
use std::io::Write;
use std::process::ExitCode;

pub async fn run<B: ContainerBackend>(ctx: &Context<B>, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let info = ctx.managed(&args.name).await?;
    let mut lines = ctx.backend.logs(&info.info.id, args.follow, args.tail, None);
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    loop {
        let line = tokio::select! {
            line = lines.next() => line,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some(line) = line else { break };
        let line = line?;
        let out: &mut dyn Write = if line.stderr { &mut stderr } else { &mut stdout };
        if writeln!(out, "{}", line.text).is_err() {
            break; // closed pipe (e.g. `| head`)
        }
    }
    Ok(ExitCode::SUCCESS)
}
