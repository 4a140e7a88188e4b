//! `dbarena list` and `dbarena inspect`.

use super::Context;
use crate::cli::{InspectArgs, ListArgs};
use crate::container::{ContainerBackend, State};
use crate::instance::Instance;
use crate::output::{escape, print_json, table};
use futures_util::future::join_all;
use std::process::ExitCode;

pub async fn list<B: ContainerBackend>(ctx: &Context<B>, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let all = ctx.all_managed().await?;
    let shown = all.iter().filter(|m| args.all || m.info.state == State::Running);
    let mut instances: Vec<Instance> = join_all(shown.map(|m| ctx.instance(m))).await;
    if args.all {
        // Persistent data whose container is gone is an instance too: `create` with its
        // name reattaches it, `destroy --remove-volume` deletes it.
        for orphan in ctx.orphans(&all).await? {
            instances.push(Instance::orphaned(&orphan.record, orphan.volumes));
        }
        instances.sort_by(|a, b| a.name.cmp(&b.name));
    }
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
    // The time left of `create --ttl`, only when some instance has one.
    let with_ttl = instances.iter().any(|i| i.expires_in_secs.is_some());
    let columns = [
        "NAME",
        "ENGINE",
        "VERSION",
        "STATUS",
        "PORT",
        "UPTIME",
        "PERSISTENT",
        "EXPIRES IN",
    ];
    let mut t = if with_ttl {
        table(columns)
    } else {
        table(*columns.first_chunk::<7>().expect("8 columns"))
    };
    for i in &instances {
        let mut row = vec![
            i.name.clone(),
            i.engine.clone(),
            i.version.clone(),
            i.status.to_string(),
            i.port.map(|p| format!("{}:{p}", i.host)).unwrap_or_else(|| "-".into()),
            i.uptime_secs
                .map(|s| humantime::format_duration(std::time::Duration::from_secs(s.max(0) as u64)).to_string())
                .unwrap_or_else(|| "-".into()),
            if i.persistent { "yes".into() } else { "no".into() },
        ];
        if with_ttl {
            row.push(time_left(i.expires_in_secs));
        }
        t.add_row(row);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

/// `create --ttl` time left, for the table.
fn time_left(secs: Option<i64>) -> String {
    match secs {
        None => "-".into(),
        Some(s) if s <= 0 => "expired".into(),
        Some(s) => humantime::format_duration(std::time::Duration::from_secs(s as u64)).to_string(),
    }
}

pub async fn inspect<B: ContainerBackend>(ctx: &Context<B>, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let i = match ctx.managed(&args.name).await {
        Ok(m) => ctx.instance(&m).await,
        Err(e) => {
            let all = ctx.all_managed().await?;
            let orphan = ctx
                .orphans(&all)
                .await?
                .into_iter()
                .find(|o| o.record.name == args.name);
            match orphan {
                Some(o) => Instance::orphaned(&o.record, o.volumes),
                None => return Err(e),
            }
        }
    };
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
        ("url", escape(i.url.as_deref().unwrap_or_default()).into_owned()),
        ("host", i.host.clone()),
        ("port", i.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into())),
        ("user", escape(&i.user).into_owned()),
        ("password", escape(&i.password).into_owned()),
        ("database", escape(&i.database).into_owned()),
        ("mode", i.mode.clone()),
        ("persistent", i.persistent.to_string()),
        ("image", i.image.clone()),
        ("container", i.container_id.chars().take(12).collect()),
        ("volumes", i.volumes.join("\n")),
        ("created", i.created_at.clone().unwrap_or_default()),
        ("started", i.started_at.clone().unwrap_or_else(|| "-".into())),
        (
            "shell",
            escape(&shell_words::join(
                ["docker", "exec", "-it", i.name.as_str()]
                    .into_iter()
                    .chain(i.shell.iter().map(String::as_str)),
            ))
            .into_owned(),
        ),
    ];
    rows.extend(
        i.env
            .iter()
            .map(|(k, v)| ("env", escape(&format!("{k}={v}")).into_owned())),
    );
    for (k, v) in rows {
        t.add_row([k.to_string(), v]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}
