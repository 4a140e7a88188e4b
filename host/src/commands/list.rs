//! `dbarena list` and `dbarena inspect`.

use super::Context;
use crate::cli::{InspectArgs, ListArgs};
use crate::container::{ContainerBackend, State};
use crate::instance::Instance;
use crate::output::{escape, print_json, table};
use futures_util::future::join_all;
use std::io::IsTerminal;
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
    for m in all.iter().filter(|m| super::gc::is_abandoned(&m.record)) {
        crate::output::warn(format_args!(
            "{} was made by a `dbarena run` that is gone (killed); `dbarena gc` removes it{}",
            m.record.name,
            if m.record.persistent {
                " and keeps its volume"
            } else {
                ""
            }
        ));
    }
    let tenants = crate::tenant::ops::views(ctx).await?;
    if args.quiet {
        for name in instances.iter().map(|i| &i.name).chain(tenants.iter().map(|t| &t.name)) {
            println!("{name}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(template) = &args.format {
        for i in &instances {
            println!("{}", fill(template, i)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        // One array: instances, then tenants (`"kind": "tenant"`).
        let mut all = serde_json::to_value(&instances)?;
        if let Some(items) = all.as_array_mut() {
            items.extend(tenants.iter().filter_map(|t| serde_json::to_value(t).ok()));
        }
        print_json(&all)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !tenants.is_empty() {
        print_tenants(&tenants);
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
    // Only a terminal has a width; piped tables are never cut.
    let width = (!args.wide && std::io::stdout().is_terminal())
        .then(|| terminal_size::terminal_size().map(|(w, _)| w.0 as usize))
        .flatten();
    print!("{}", render(&instances, args.wide, width));
    Ok(ExitCode::SUCCESS)
}

/// The `list` table: plain columns two spaces apart (no borders, so nothing wraps
/// mid-cell). The narrow form shows the port alone when clients reach it on this
/// machine's loopback and a compact uptime; when `width` is still exceeded it drops
/// UPTIME, then DATA, and as a last resort shortens names with an ellipsis, saying so.
pub fn render(instances: &[Instance], wide: bool, width: Option<usize>) -> String {
    let mut header = vec!["NAME", "ENGINE", "STATUS", "PORT", "UPTIME", "DATA"];
    // The time left of `create --ttl`, only when some instance has one.
    let with_ttl = instances.iter().any(|i| i.expires_in_secs.is_some());
    if with_ttl {
        header.push("EXPIRES IN");
    }
    if wide {
        header.extend(["IMAGE", "URL"]);
    }
    let mut rows: Vec<Vec<String>> = instances
        .iter()
        .map(|i| {
            let port = match i.port {
                None => "-".to_string(),
                Some(p) if !wide && (i.host == "127.0.0.1" || i.host == "localhost") => p.to_string(),
                Some(p) if i.host.contains(':') => format!("[{}]:{p}", i.host),
                Some(p) => format!("{}:{p}", i.host),
            };
            let uptime = i.uptime_secs.map(|s| s.max(0) as u64);
            // The version the server really runs, when it is not the one asked for.
            let engine = match i.other_server_version() {
                Some(running) => {
                    let running = running.split_whitespace().next().unwrap_or(running);
                    format!("{} {}*", i.engine, escape(running))
                }
                None => format!("{} {}", i.engine, i.version),
            };
            let mut row = vec![
                i.name.clone(),
                engine,
                i.status.to_string(),
                port,
                match uptime {
                    None => "-".into(),
                    Some(s) if wide => humantime::format_duration(std::time::Duration::from_secs(s)).to_string(),
                    Some(s) => compact_duration(s),
                },
                if i.persistent { "volume" } else { "temp" }.to_string(),
            ];
            if with_ttl {
                row.push(match i.expires_in_secs {
                    None => "-".into(),
                    Some(s) if s <= 0 => "expired".into(),
                    Some(s) if wide => humantime::format_duration(std::time::Duration::from_secs(s as u64)).to_string(),
                    Some(s) => compact_duration(s as u64),
                });
            }
            if wide {
                row.push(i.image.clone());
                row.push(escape(&redact_url(i.url.as_deref().unwrap_or("-"))).into_owned());
            }
            row
        })
        .collect();
    let mut note = "";
    if let Some(width) = width {
        for drop in ["UPTIME", "DATA"] {
            if line_width(&header, &rows) <= width {
                break;
            }
            let at = header.iter().position(|h| *h == drop).expect("known column");
            header.remove(at);
            rows.iter_mut().for_each(|r| {
                r.remove(at);
            });
        }
        let over = line_width(&header, &rows).saturating_sub(width);
        if over > 0 {
            let names = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0);
            let keep = names.saturating_sub(over).max(8);
            for r in &mut rows {
                if r[0].chars().count() > keep {
                    r[0] = r[0].chars().take(keep - 1).chain(['…']).collect();
                }
            }
            note = "(names shortened to fit; `list --wide` or `list -q` shows them in full)\n";
        }
    }
    let mut out = columns(&header, rows);
    out.push_str(note);
    if instances.iter().any(|i| i.other_server_version().is_some()) {
        out.push_str("* the server runs another version than asked for (see `dbarena inspect NAME`)\n");
    }
    out
}

/// `url` with its password hidden: tables are for looking at, and land in screenshots,
/// shared terminals and CI logs; `url`, `env` and `inspect` show it in full.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("****"));
            parsed.to_string()
        }
        Ok(_) => url.to_string(),
        // Not a URL: hide anything between `://user:` and the last `@`.
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if scheme < at => {
                let authority = &url[scheme + 3..at];
                match authority.split_once(':') {
                    Some((user, _)) => format!("{}://{user}:****{}", &url[..scheme], &url[at..]),
                    None => url.to_string(),
                }
            }
            _ => url.to_string(),
        },
    }
}

/// Plain columns two spaces apart, left-aligned, a header line first.
fn columns(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for cells in std::iter::once(header.iter().map(|h| h.to_string()).collect::<Vec<_>>()).chain(rows) {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn line_width(header: &[&str], rows: &[Vec<String>]) -> usize {
    let widths = (0..header.len()).map(|c| {
        rows.iter()
            .map(|r| r[c].chars().count())
            .chain([header[c].len()])
            .max()
            .unwrap_or(0)
    });
    widths.sum::<usize>() + 2 * header.len().saturating_sub(1)
}

/// `45s`, `12m`, `3h`, `2d`: the largest whole unit, as `docker ps` rounds.
fn compact_duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// `template` with each `{field}` replaced by that field of the instance's JSON form
/// (strings bare, null empty, others as JSON). Unknown fields are an error naming the
/// known ones; `{{` and `}}` are literal braces.
pub fn fill(template: &str, instance: &Instance) -> anyhow::Result<String> {
    let value = serde_json::to_value(instance)?;
    let fields = value.as_object().expect("an instance serialises as an object");
    let mut out = String::new();
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        let Some(end) = tail.find('}').filter(|_| tail.starts_with('{')) else {
            anyhow::bail!(
                "--format: unmatched brace in '{}' (write {{{{ or }}}} for a literal one)",
                escape(template)
            );
        };
        let key = tail[1..end].trim();
        // Optional fields are left out of the JSON when unknown: empty here, not an error.
        let optional = key == "server_version";
        match fields.get(key).or(optional.then_some(&serde_json::Value::Null)) {
            Some(serde_json::Value::String(s)) => out.push_str(&escape(s)),
            Some(serde_json::Value::Null) => {}
            Some(v) => out.push_str(&escape(&v.to_string())),
            None => anyhow::bail!(
                "--format: unknown field '{}'; known fields: {}",
                escape(key),
                fields.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn print_tenants(tenants: &[crate::tenant::ops::TenantView]) {
    println!("{}", tenant_table(tenants));
}

/// The `list` table of tenants; URLs without their passwords ([`redact_url`]).
fn tenant_table(tenants: &[crate::tenant::ops::TenantView]) -> String {
    let rows: Vec<Vec<String>> = tenants
        .iter()
        .map(|v| {
            vec![
                v.name.clone(),
                v.server.clone(),
                format!("{} {}", v.engine, v.version),
                v.status.clone(),
                escape(&v.database).into_owned(),
                escape(&redact_url(v.url.as_deref().unwrap_or("-"))).into_owned(),
            ]
        })
        .collect();
    columns(&["TENANT", "SERVER", "ENGINE", "STATUS", "DATABASE", "URL"], rows)
}

/// `inspect TENANT`: its connection (pooled and direct), server and limits.
fn inspect_tenant(t: &crate::tenant::ops::TenantView, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(t)?;
        return Ok(ExitCode::SUCCESS);
    }
    let optional = |v: &Option<String>| escape(v.as_deref().unwrap_or("-")).into_owned();
    let rows = [
        ("name", t.name.clone()),
        ("kind", format!("tenant on {}", t.server)),
        ("engine", format!("{} {}", t.engine, t.version)),
        ("status", t.status.clone()),
        ("url", optional(&t.url)),
        ("direct_url", optional(&t.direct_url)),
        ("user", escape(&t.user).into_owned()),
        ("password", escape(&t.password).into_owned()),
        ("database", escape(&t.database).into_owned()),
        (
            "max_connections",
            t.max_connections.map_or("-".into(), |n| n.to_string()),
        ),
        ("created", t.created_at.clone()),
    ];
    let mut out = table(["", ""]);
    for (k, v) in rows {
        out.add_row([k.to_string(), v]);
    }
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}

pub async fn inspect<B: ContainerBackend>(ctx: &Context<B>, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let i = match ctx.managed(&args.name).await {
        Ok(m) => ctx.instance(&m).await,
        Err(e) => {
            if let Some(t) = crate::tenant::ops::find_view(ctx, &args.name).await? {
                return inspect_tenant(&t, args.json);
            }
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
        (
            "server",
            match (&i.server_version, i.other_server_version()) {
                (_, Some(running)) => format!("{} (asked for {})", escape(running), i.version),
                (Some(running), None) => escape(running).into_owned(),
                (None, None) => "-".into(),
            },
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
    if let Some(project) = &i.project {
        rows.push(("project", escape(project).into_owned()));
    }
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

#[cfg(test)]
mod tests {
    use super::{fill, redact_url, render, tenant_table};

    #[test]
    fn table_urls_hide_the_password() {
        assert_eq!(
            redact_url("postgresql://app:s3cr%40t@127.0.0.1:5432/app?sslmode=disable"),
            "postgresql://app:****@127.0.0.1:5432/app?sslmode=disable"
        );
        assert_eq!(
            redact_url("redis://:hunter2@127.0.0.1:6379/0"),
            "redis://:****@127.0.0.1:6379/0"
        );
        assert_eq!(redact_url("mysql://root@h:3306/db"), "mysql://root@h:3306/db");
        assert_eq!(redact_url("-"), "-");
        // Not parseable as a URL (a space in the host): still hidden.
        assert_eq!(redact_url("x://u:pw@bad host:1"), "x://u:****@bad host:1");
        let table = render(&[instance("pg", "postgres", "16", 5432)], true, None);
        assert!(table.contains("postgres://u:****@127.0.0.1:5432/d"), "{table}");
        assert!(!table.contains(":p@"), "{table}");
        let tenant = crate::tenant::ops::TenantView {
            name: "t1".into(),
            kind: "tenant",
            server: "dbarena-shared-postgres-16".into(),
            engine: "postgres".into(),
            version: "16".into(),
            status: "healthy".into(),
            url: Some("postgresql://t1:tenant-S3cret@127.0.0.1:6432/t1".into()),
            direct_url: None,
            host: None,
            port: None,
            user: "t1".into(),
            password: "tenant-S3cret".into(),
            database: "t1".into(),
            max_connections: None,
            env: Default::default(),
            created_at: String::new(),
        };
        let table = tenant_table(&[tenant]);
        assert!(
            table.contains("postgresql://t1:****@127.0.0.1:6432/t1") && !table.contains("tenant-S3cret"),
            "{table}"
        );
    }
    use crate::instance::{Instance, Status};

    fn instance(name: &str, engine: &str, version: &str, port: u16) -> Instance {
        Instance {
            name: name.into(),
            engine: engine.into(),
            version: version.into(),
            status: Status::Healthy,
            host: "127.0.0.1".into(),
            port: Some(port),
            user: "u".into(),
            password: "p".into(),
            database: "d".into(),
            url: Some(format!("postgres://u:p@127.0.0.1:{port}/d")),
            env: Default::default(),
            shell: Vec::new(),
            connection_forms: Vec::new(),
            persistent: false,
            mode: "fast".into(),
            image: format!("{engine}:{version}"),
            container_id: "0123456789abcdef".into(),
            volumes: Vec::new(),
            created_at: None,
            started_at: None,
            uptime_secs: Some(7_300),
            expires_in_secs: None,
            plugin_version: "0.3.0".into(),
            server_version: None,
            project: None,
        }
    }

    #[test]
    fn the_default_table_fits_80_columns_without_cutting_generated_names() {
        let rows = [
            instance("dbarena-sqlserver-2022-a3f9", "sqlserver", "2022", 32786),
            instance("dbarena-postgres-16-0b1c", "postgres", "16", 32801),
        ];
        let out = render(&rows, false, Some(80));
        assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");
        assert!(out.contains("dbarena-sqlserver-2022-a3f9  sqlserver 2022"), "{out}");
        assert!(out.contains(" 32786 ") && !out.contains("127.0.0.1:"), "{out}");
        assert!(out.contains(" 2h "), "{out}");
        assert!(!out.contains('…'), "{out}");
    }

    #[test]
    fn long_names_are_shortened_on_narrow_terminals_and_full_with_wide() {
        let rows = [instance(&"n".repeat(64), "postgres", "16", 5432)];
        let out = render(&rows, false, Some(80));
        assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");
        assert!(out.contains('…') && out.contains("--wide"), "{out}");
        let wide = render(&rows, true, None);
        assert!(wide.contains(&"n".repeat(64)) && wide.contains("127.0.0.1:5432") && wide.contains("URL"));
    }

    #[test]
    fn a_server_running_another_version_is_shown_and_explained() {
        let mut pinned = instance("pg", "postgres", "17", 5432);
        pinned.server_version = Some("15.8 (Debian 15.8-1)".into());
        let mut same = instance("pg2", "postgres", "15", 5433);
        same.server_version = Some("15.8".into());
        let out = render(&[pinned, same], false, Some(80));
        assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");
        assert!(out.contains("postgres 15.8*") && out.contains("postgres 15 "), "{out}");
        assert!(out.contains("* the server runs another version"), "{out}");
        let plain = render(&[instance("r", "redis", "7", 6379)], false, Some(80));
        assert!(!plain.contains('*'), "{plain}");
    }

    #[test]
    fn format_fills_fields_and_names_unknown_ones() {
        let i = instance("a", "redis", "7", 6379);
        assert_eq!(fill("{name} {port} {server_version}{{x}}", &i).unwrap(), "a 6379 {x}");
        let err = fill("{nmae}", &i).unwrap_err().to_string();
        assert!(err.contains("unknown field 'nmae'") && err.contains("name, "), "{err}");
        assert!(fill("{name", &i).is_err());
    }
}
