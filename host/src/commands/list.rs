//! `dbarena list` and `dbarena inspect`.

use super::Context;
use crate::cli::{InspectArgs, ListArgs};
use crate::container::{ContainerBackend, State};
use crate::instance::Instance;
use crate::output::{print_json, table};
use futures_util::future::join_all;
use std::process::ExitCode;

pub async fn list<B: ContainerBackend>(ctx: &Context<B>, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let containers: Vec<_> = ctx
        .all_managed()
        .await?
        .into_iter()
        .filter(|c| args.all || c.state == State::Running)
        .collect();
    let instances: Vec<Instance> = join_all(containers.iter().map(|c| ctx.instance(c))).await;
    if args.json {
        print_json(&instances)?;
        return Ok(ExitCode::SUCCESS);
    }
    if instances.is_empty() {
        println!(
            "no instances{} (create one with `dbarena create postgres`)",
            if args.all {
                ""
            } else {
                " running; --all shows stopped ones"
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(["NAME", "ENGINE", "VERSION", "STATUS", "PORT", "UPTIME", "PERSISTENT"]);
    for i in &instances {
        t.add_row([
            i.name.clone(),
            i.engine.clone(),
            i.version.clone(),
            i.status.to_string(),
            i.port.map(|p| format!("{}:{p}", i.host)).unwrap_or_else(|| "-".into()),
            i.uptime_secs
                .map(|s| humantime::format_duration(std::time::Duration::from_secs(s.max(0) as u64)).to_string())
                .unwrap_or_else(|| "-".into()),
            if i.persistent { "yes".into() } else { "no".into() },
        ]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

pub async fn inspect<B: ContainerBackend>(ctx: &Context<B>, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let info = ctx.managed(&args.name).await?;
    let i = ctx.instance(&info).await;
    if args.json {
        print_json(&i)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(["", ""]);
    let mut rows: Vec<(&str, String)> = vec![
        ("name", i.name.clone()),
        (
            "engine",
            format!("{} {} (plugin {})", i.engine, i.version, i.plugin_version),
        ),
        ("status", i.status.to_string()),
        ("url", i.url.clone().unwrap_or_default()),
        ("host", i.host.clone()),
        ("port", i.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into())),
        ("user", i.user.clone()),
        ("password", i.password.clone()),
        ("database", i.database.clone()),
        ("mode", i.mode.clone()),
        ("persistent", i.persistent.to_string()),
        ("image", i.image.clone()),
        ("container", i.container_id.chars().take(12).collect()),
        ("volumes", i.volumes.join("\n")),
        ("created", i.created_at.clone().unwrap_or_default()),
        ("started", i.started_at.clone().unwrap_or_else(|| "-".into())),
        ("shell", format!("docker exec -it {} {}", i.name, i.shell.join(" "))),
    ];
    rows.extend(i.env.iter().map(|(k, v)| ("env", format!("{k}={v}"))));
    for (k, v) in rows {
        t.add_row([k.to_string(), v]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}
