//! `dbarena engines`: what engines exist, where they come from, and what they would run.

use crate::cli::EnginesArgs;
use crate::config::Config;
use crate::output::{escape, print_json, table};
use crate::plugin::Entry;
use crate::plugin::bindings::{ConnectionInfo, ContainerSpec, Endpoint, Probe, Setting};
use crate::resolve::{Request, Resolver};
use serde::Serialize;
use std::process::ExitCode;

#[derive(Serialize)]
struct EngineSummary<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    versions: Vec<&'a str>,
    default_version: &'a str,
    images: Vec<String>,
    default_port: u16,
    source: String,
    overrides_builtin: bool,
    plugin_version: &'a str,
    api_version: &'a str,
    sha256: &'a str,
    documentation_url: &'a str,
}

fn summary(entry: &Entry) -> EngineSummary<'_> {
    let p = &entry.plugin;
    let info = p.info();
    EngineSummary {
        id: &info.id,
        name: &info.display_name,
        description: &info.description,
        versions: info.versions.iter().map(|v| v.version.as_str()).collect(),
        default_version: &info.default_version,
        images: info
            .versions
            .iter()
            .map(|v| format!("{}:{}", v.image_repository, v.image_tag))
            .collect(),
        default_port: info.default_port,
        source: p.source.to_string(),
        overrides_builtin: entry.overrides_builtin,
        plugin_version: &info.plugin_version,
        api_version: &p.api_version,
        sha256: &p.sha256,
        documentation_url: &info.documentation_url,
    }
}

pub fn run(args: &EnginesArgs, config: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let registry = super::load_plugins()?;
    if let Some(reference) = &args.engine {
        return show(&registry, reference, args, &Config::load(config)?);
    }
    let summaries: Vec<EngineSummary> = registry.iter().map(summary).collect();
    if args.json {
        print_json(&summaries)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(["ENGINE", "NAME", "VERSIONS", "PORT", "SOURCE", "PLUGIN"]);
    for s in &summaries {
        let versions: Vec<String> = s
            .versions
            .iter()
            .map(|v| {
                if *v == s.default_version {
                    format!("{v}*")
                } else {
                    v.to_string()
                }
            })
            .collect();
        let source = if s.overrides_builtin {
            format!("{} (overrides built-in)", s.source)
        } else {
            s.source.clone()
        };
        t.add_row(
            [
                s.id.to_string(),
                s.name.to_string(),
                versions.join(" "),
                s.default_port.to_string(),
                source,
                format!("{} (api {})", s.plugin_version, s.api_version),
            ]
            .map(|cell| escape(&cell).into_owned()),
        );
    }
    println!("{t}\n* default version");
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct EngineDetail<'a> {
    engine: EngineSummary<'a>,
    spec: ContainerSpec,
    /// Connection info as it would look with the engine's port published on 127.0.0.1.
    connection: ConnectionInfo,
    /// Engine-specific `--env` settings the plugin documents.
    settings: Vec<Setting>,
}

fn show(
    registry: &crate::plugin::PluginRegistry,
    reference: &str,
    args: &EnginesArgs,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    // Exactly what `create` would run with these options and this config.
    let request = Request {
        engine_ref: reference.to_string(),
        instance: args.instance.clone(),
        ..Default::default()
    };
    let resolved = Resolver::checked(config, registry)?.instance(&request, "preview", None)?;
    let plugin = resolved.plugin;
    let entry = registry.get(plugin.id())?;
    let spec = resolved.spec;
    let connection = plugin.connection(&Endpoint {
        host: "127.0.0.1".into(),
        port: plugin.info().default_port,
        credentials: spec.credentials.clone(),
    })?;
    let settings = plugin.settings()?;
    let detail = EngineDetail {
        engine: summary(entry),
        spec,
        connection,
        settings,
    };
    if args.json {
        print_json(&detail)?;
    } else {
        print_detail(&detail);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_detail(d: &EngineDetail) {
    let e = &d.engine;
    let s = &d.spec;
    let mut t = table(["", ""]);
    let source = match e.overrides_builtin {
        true => format!("{} (overrides built-in)", e.source),
        false => e.source.clone(),
    };
    let rows: Vec<(&str, String)> = vec![
        ("engine", format!("{} ({})", e.name, e.id)),
        ("description", e.description.to_string()),
        (
            "versions",
            format!("{} (default {})", e.versions.join(", "), e.default_version),
        ),
        (
            "plugin",
            format!("{} api {} from {source}", e.plugin_version, e.api_version),
        ),
        ("docs", e.documentation_url.to_string()),
        ("image", s.image.clone()),
        ("command", shell_words::join(&s.cmd)),
        (
            "entrypoint",
            s.entrypoint
                .as_deref()
                .map(shell_words::join)
                .unwrap_or_else(|| "(image default)".into()),
        ),
        (
            "env",
            s.env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        ("data paths", s.data_paths.join(", ")),
        (
            "tmpfs",
            match s.tmpfs.is_empty() {
                true => "(none)".into(),
                false => s
                    .tmpfs
                    .iter()
                    .map(|t| format!("{} ({})", t.path, crate::output::bytes(t.size_bytes)))
                    .collect::<Vec<_>>()
                    .join("\n"),
            },
        ),
        (
            "memory limit",
            s.memory_limit_bytes
                .map(crate::output::bytes)
                .unwrap_or_else(|| "(none)".into()),
        ),
        (
            "ports",
            s.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", "),
        ),
        (
            "user / database",
            format!("{} / {}", s.credentials.user, s.credentials.database),
        ),
        ("readiness", readiness_lines(s)),
        ("url", d.connection.url.clone()),
        ("shell", shell_words::join(&d.connection.shell)),
        ("settings (--env)", settings_lines(&d.settings)),
    ];
    for (k, v) in rows {
        t.add_row([k.to_string(), escape(&v).into_owned()]);
    }
    println!("{t}");
}

fn settings_lines(settings: &[Setting]) -> String {
    if settings.is_empty() {
        return "(none documented)".into();
    }
    settings
        .iter()
        .map(|s| {
            let default = s
                .default_value
                .as_deref()
                .map(|d| format!(" [default {d}]"))
                .unwrap_or_default();
            let example = s
                .example
                .as_deref()
                .map(|e| format!(", e.g. {}={e}", s.name))
                .unwrap_or_default();
            format!("{}: {}{default}{example}", s.name, s.description)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn readiness_lines(s: &ContainerSpec) -> String {
    let mut lines: Vec<String> = s
        .readiness
        .probes
        .iter()
        .enumerate()
        .map(|(i, p)| match p {
            Probe::Handshake(h) => format!("{}. handshake on port {}: {}", i + 1, h.container_port, h.description),
            Probe::LogLine(l) => format!("{}. log line /{}/ x{}", i + 1, l.pattern, l.count),
            Probe::Exec(x) => format!("{}. exec {}", i + 1, shell_words::join(&x.command)),
        })
        .collect();
    lines.push(format!(
        "first start may take up to {} s",
        s.readiness.startup_timeout_secs
    ));
    lines.join("\n")
}
