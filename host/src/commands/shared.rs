//! `dbarena create --shared`: a tenant on a shared server. The work is in
//! [`crate::tenant`]; this turns flags into it and prints the result.

use super::Context;
use crate::cancel::Cancel;
use crate::cli::CreateArgs;
use crate::container::ContainerBackend;
use crate::output::{Progress, escape, print_json};
use crate::provision::Journal;
use crate::tenant::ops::{self, TenantView};
use crate::tenant::server::PoolerChoice;
use anyhow::bail;
use std::process::ExitCode;

pub async fn create<B: ContainerBackend>(ctx: &Context<B>, args: CreateArgs) -> anyhow::Result<ExitCode> {
    if args.engines.len() != 1 {
        bail!("--shared creates one tenant at a time; give a single engine");
    }
    for (flag, set) in [
        ("--port", args.port.is_some()),
        ("--image", args.image.is_some()),
        ("--user", args.instance.user.is_some()),
        ("--password", args.instance.password.is_some()),
        ("--database", args.instance.database.is_some()),
        ("--persistent", args.instance.persistent),
    ] {
        if set {
            bail!("{flag} does not apply to a tenant (--shared): the shared server is shared");
        }
    }
    let mut signals = crate::signals::Signals::install();
    let progress = Progress::new();
    let bar = progress.line(args.name.as_deref().unwrap_or("tenant"));
    let journal = Journal::new();
    let cancel = Cancel::default();
    let choice = PoolerChoice {
        pool_mode: args.shared.pool_mode.clone(),
        image: args.shared.pooler_image.clone(),
        server: args.shared.server.clone(),
    };
    let report = |m: String| bar.set_message(escape(&m).into_owned());
    let work = ops::create(
        ctx,
        &args.engines[0],
        args.name.as_deref(),
        args.shared.max_connections,
        &choice,
        &journal,
        &cancel,
        &report,
    );
    tokio::pin!(work);
    let result = tokio::select! {
        r = &mut work => r,
        code = signals.recv() => {
            eprintln!("\ninterrupted: removing what this command created...");
            cancel.cancel();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), &mut work).await;
            journal.undo(&ctx.backend).await;
            return Ok(ExitCode::from(code));
        }
    };
    match result {
        Ok(view) => {
            journal.keep();
            bar.finish_with_message("ready");
            if args.json {
                print_json(&view)?;
            } else {
                print_tenant(&view);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            bar.abandon_with_message("failed");
            let left = journal.undo(&ctx.backend).await;
            if !left.is_empty() {
                return Err(e.context(format!("could not clean up: {}", left.join(", "))));
            }
            Err(e)
        }
    }
}

fn print_tenant(v: &TenantView) {
    println!(
        "{} (tenant on {}, {} {}) is ready",
        v.name, v.server, v.engine, v.version
    );
    if let Some(url) = &v.url {
        println!("  url         {}", escape(url));
    }
    if let Some(url) = &v.direct_url {
        println!("  direct_url  {}", escape(url));
    }
    println!("  user        {}", escape(&v.user));
    println!("  password    {}", escape(&v.password));
    println!("  database    {}", escape(&v.database));
    println!();
}
