//! `dbarena logs`: the server's output, optionally followed.

use super::Context;
use crate::cli::LogsArgs;
use crate::container::ContainerBackend;
use crate::output::for_terminal;
use futures_util::StreamExt;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

pub async fn run<B: ContainerBackend>(ctx: &Context<B>, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let info = ctx.managed(&args.name).await?;
    let mut lines = ctx.backend.logs(&info.info.id, args.follow, args.tail, None);
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    // Any client can put text in a server's log (postgres logs a bad user name verbatim):
    // on a terminal its escapes (OSC 52 clipboard writes, title changes) are shown escaped.
    let escape_out = !args.raw && stdout.is_terminal();
    let escape_err = !args.raw && stderr.is_terminal();
    loop {
        let line = tokio::select! {
            line = lines.next() => line,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some(line) = line else { break };
        let line = line?;
        let (out, escape): (&mut dyn Write, bool) = if line.stderr {
            (&mut stderr, escape_err)
        } else {
            (&mut stdout, escape_out)
        };
        if writeln!(out, "{}", for_terminal(&line.text, escape)).is_err() {
            break; // closed pipe (e.g. `| head`)
        }
    }
    Ok(ExitCode::SUCCESS)
}
