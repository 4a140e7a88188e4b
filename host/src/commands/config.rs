//! `dbarena config show|check`: the effective settings with where each came from, and a
//! validation of the config file that reports every problem at once, naming file and key.
//! Both resolve through [`Resolver`] as `create` does, so they cannot disagree with it.

use crate::cli::ConfigCommand;
use crate::config::{self, Config};
use crate::output::{escape, print_json};
use crate::resolve::{Resolver, parse_memory};
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;

#[derive(Serialize)]
struct Setting {
    key: String,
    value: String,
    /// `FILE [section] key`, `--flag`, `$ENV`, `default`, `plugin NAME`.
    source: String,
}

pub fn run(cmd: ConfigCommand, explicit: Option<&Path>, client_host: Option<&str>) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Show { json } => show(explicit, client_host, json),
        ConfigCommand::Check => check(explicit),
    }
}

fn show(explicit: Option<&Path>, client_host: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(explicit)?;
    let registry = super::load_plugins()?;
    let resolver = Resolver::checked(&config, &registry)?;
    let file = config.source.as_ref().map(|p| p.display().to_string());
    let from_file = |key: &str| format!("{} {key}", file.as_deref().unwrap_or("config"));
    let mut rows = Vec::new();
    let mut add = |key: &str, value: String, source: String| {
        rows.push(Setting {
            key: key.into(),
            value,
            source,
        })
    };

    let (path, _, chosen_by) = Config::locate(explicit);
    add(
        "config-file",
        path.as_ref().map_or("(none)".into(), |p| p.display().to_string()),
        match &config.source {
            Some(_) => chosen_by.to_string(),
            None => format!("{chosen_by} (no file there: defaults apply)"),
        },
    );
    match crate::container::endpoint::resolve() {
        Ok(r) => add("engine-endpoint", r.endpoint.to_string(), r.source.to_string()),
        Err(e) => add("engine-endpoint", format!("(none: {e})"), "default".into()),
    }
    add(
        "plugin-dir",
        crate::paths::plugin_dir().map_or("(none)".into(), |p| p.display().to_string()),
        "default".into(),
    );

    let d = &config.defaults;
    let env_client_host = std::env::var("DBARENA_CLIENT_HOST").ok().filter(|v| !v.is_empty());
    let (value, source) = match (client_host, &d.client_host) {
        (Some(h), _) if env_client_host.as_deref() == Some(h) => (h.to_string(), "$DBARENA_CLIENT_HOST".into()),
        (Some(h), _) => (h.to_string(), "--client-host".into()),
        (None, Some(h)) => (h.clone(), from_file("[defaults] client-host")),
        (None, None) => ("(the engine endpoint's address)".into(), "default".into()),
    };
    add("client-host", value, source);
    let opt = |v: Option<String>, key: &str, default: &str| match v {
        Some(v) => (v, from_file(&format!("[defaults] {key}"))),
        None => (default.to_string(), "default".to_string()),
    };
    for (key, value, default) in [
        (
            "publish-all-interfaces",
            d.publish_all_interfaces.map(|b| b.to_string()),
            "false",
        ),
        ("durable", d.durable.map(|b| b.to_string()), "false"),
        ("timeout", d.timeout.map(|t| format!("{t}s")), "(each engine's own)"),
        ("memory", d.memory.clone(), "(no limit)"),
    ] {
        let (v, s) = opt(value, key, default);
        add(&format!("defaults.{key}"), v, s);
    }

    for entry in registry.iter() {
        let plugin = &entry.plugin;
        let id = plugin.id().to_string();
        let engine = config.engine(&id);
        let section = format!("[engines.{id}]");
        let (_, version) = resolver.engine_version(&id)?;
        let version_source = match engine.and_then(|e| e.version.as_ref()) {
            Some(_) => from_file(&format!("{section} version")),
            None => format!("plugin {id}"),
        };
        add(&format!("engines.{id}.version"), version.clone(), version_source);
        let image_source = match engine.and_then(|e| e.image.as_ref()) {
            Some(_) => from_file(&format!("{section} image")),
            None => format!("plugin {id}"),
        };
        add(
            &format!("engines.{id}.image"),
            resolver.image(plugin, &version)?,
            image_source,
        );
        for (key, own, default) in [
            (
                "timeout",
                engine.and_then(|e| e.timeout).map(|t| format!("{t}s")),
                d.timeout.map(|t| format!("{t}s")),
            ),
            ("memory", engine.and_then(|e| e.memory.clone()), d.memory.clone()),
        ] {
            let (value, source) = match (own, default) {
                (Some(v), _) => (v, from_file(&format!("{section} {key}"))),
                (None, Some(v)) => (v, from_file(&format!("[defaults] {key}"))),
                (None, None) => (
                    if key == "timeout" {
                        "(the engine's own)"
                    } else {
                        "(no limit)"
                    }
                    .into(),
                    "default".into(),
                ),
            };
            add(&format!("engines.{id}.{key}"), value, source);
        }
    }

    if json {
        print_json(&rows)?;
    } else {
        // `key = value  # source`, aligned: fits a terminal where a table would not.
        let width = |f: fn(&Setting) -> usize| rows.iter().map(f).max().unwrap_or(0);
        let (kw, vw) = (width(|r| r.key.len()), width(|r| r.value.len()));
        for r in &rows {
            println!(
                "{:kw$} = {:vw$}  # {}",
                escape(&r.key),
                escape(&r.value),
                escape(&r.source)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every problem in the config file, each naming the file and the key; exit 1 if any.
fn check(explicit: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (path, required, chosen_by) = Config::locate(explicit);
    let Some(path) = path else {
        println!("no config file location (no home directory); defaults apply");
        return Ok(ExitCode::SUCCESS);
    };
    let shown = escape(&path.display().to_string()).into_owned();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            println!("no config file at {shown} ({chosen_by}); defaults apply");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => anyhow::bail!("cannot read config file {shown} ({chosen_by}): {e}"),
    };
    let problems = problems(&path, &text);
    if problems.is_empty() {
        println!("{shown}: ok");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        eprintln!("error: {shown}: {}", escape(p));
    }
    eprintln!("{} problem(s) in {shown}", problems.len());
    Ok(ExitCode::FAILURE)
}

fn problems(path: &Path, text: &str) -> Vec<String> {
    let mut table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => return vec![format!("not valid TOML: {e}")],
    };
    let mut problems = config::unknown_keys(&table);
    // The rest is still checked, so one run reports everything.
    config::remove_unknown_keys(&mut table);
    let mut config: Config = match toml::Value::Table(table).try_into() {
        Ok(c) => c,
        Err(e) => {
            // Wrong types: toml names the key; parsing the text as it is also gives the line.
            let with_line = problems
                .is_empty()
                .then(|| toml::from_str::<Config>(text).err().map(|e| e.to_string()))
                .flatten();
            problems.push(with_line.unwrap_or_else(|| e.to_string()));
            return problems;
        }
    };
    config.source = Some(path.to_path_buf());
    // Messages below name the file already; `config check` prints it once per line.
    let prefix = format!("{}: ", config.describe_source());
    let mut problems = Problems {
        list: problems,
        prefix: &prefix,
    };
    let registry = match super::load_plugins() {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!("cannot load the engine plugins to check engines: {e:#}"));
            return problems.list;
        }
    };
    // Near misses of an engine id are errors, other unknown engines warnings (as for `create`).
    let resolver = match Resolver::checked(&config, &registry) {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!("{e:#}"));
            Resolver::new(&config, &registry)
        }
    };
    let d = &config.defaults;
    if d.timeout == Some(0) {
        problems.push("[defaults] timeout: must be at least 1 (seconds)".into());
    }
    if let Some(m) = &d.memory
        && let Err(e) = parse_memory(m, "[defaults] memory")
    {
        problems.push(e.to_string());
    }
    for (id, engine) in &config.engines {
        if !registry.knows(id) {
            continue; // warned about by Resolver::checked
        }
        let section = format!("[engines.{id}]");
        if engine.timeout == Some(0) {
            problems.push(format!("{section} timeout: must be at least 1 (seconds)"));
        }
        if let Some(m) = &engine.memory
            && let Err(e) = parse_memory(m, &format!("{section} memory"))
        {
            problems.push(e.to_string());
        }
        match resolver.engine_version(id) {
            Ok((plugin, version)) => {
                if let Err(e) = resolver.image(plugin, &version) {
                    problems.push(format!("{e:#}"));
                }
            }
            Err(e) => problems.push(format!("{section} version: {e:#}")),
        }
    }
    problems.list
}

/// Problems found so far, without the "config file PATH: " prefix the resolver adds.
struct Problems<'a> {
    list: Vec<String>,
    prefix: &'a str,
}

impl Problems<'_> {
    fn push(&mut self, message: String) {
        let message = message.strip_prefix(self.prefix).map(str::to_string).unwrap_or(message);
        self.list.push(message);
    }
}
