//! `dbarena plugin new|test|install|list|remove|verify`.

use crate::cli::PluginCommand;
use crate::output::{escape, print_json, table};
use crate::paths;
use crate::plugin::lockfile::{Lock, Pin};
use crate::plugin::lockfile::{check_file_name, check_id};
use crate::plugin::{BUILTIN_PLUGINS, PluginRuntime, PluginSource, conformance, sha256_hex, write_atomically};
use crate::registry_index::RegistryIndex;
use crate::scaffold::{self, SdkSource};
use anyhow::{Context, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(cmd: PluginCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginCommand::New { id, dir, sdk_path } => new(&id, dir, sdk_path),
        PluginCommand::Test { file, json } => test(&file, json),
        PluginCommand::Install { source, sha256, force } => install(&source, sha256.as_deref(), force),
        PluginCommand::List { json } => list(json),
        PluginCommand::Remove { id } => remove(&id),
        PluginCommand::Verify { json } => verify(json),
    }
}

fn plugin_dir() -> anyhow::Result<PathBuf> {
    paths::plugin_dir().context("cannot determine the plugin directory; set DBARENA_PLUGIN_DIR")
}

fn runtime() -> anyhow::Result<PluginRuntime> {
    PluginRuntime::new(paths::component_cache_dir())
}

fn new(id: &str, dir: Option<PathBuf>, sdk_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let parent = dir.unwrap_or_else(|| PathBuf::from("."));
    let sdk = match &sdk_path {
        Some(p) => SdkSource::Path(p),
        None => SdkSource::Vendored,
    };
    let crate_dir = scaffold::new_plugin(id, &parent, sdk)?;
    let file = format!("dbarena_plugin_{}.wasm", id.replace('-', "_"));
    println!("created plugin crate {}", crate_dir.display());
    println!("next:");
    println!("  cd {}", crate_dir.display());
    println!("  cargo build --release --target wasm32-wasip2");
    println!("  dbarena plugin test target/wasm32-wasip2/release/{file}");
    println!("  dbarena plugin install target/wasm32-wasip2/release/{file}");
    Ok(ExitCode::SUCCESS)
}

fn test(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let wasm = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let label = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let report = match runtime()?.load(&label, &wasm, PluginSource::File(file.to_path_buf())) {
        Ok(plugin) => conformance::run(&plugin),
        Err(e) => conformance::Report {
            plugin: label,
            checks: vec![conformance::Check {
                name: "loads in the sandbox with a valid identity",
                passed: false,
                detail: e.to_string(),
            }],
        },
    };
    if json {
        print_json(&report)?;
    } else {
        println!("{}", escape(&report.to_string()));
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Reads a plugin from a path, an https URL, or a registry entry; returns the bytes, where
/// they came from, and the hash the source itself pins (a registry entry's).
fn fetch(source: &str) -> anyhow::Result<(Vec<u8>, String, Option<String>)> {
    if source.starts_with("http://") {
        bail!("refusing plain http:// ({source}): plugins run in dbarena, fetch them over https://");
    }
    if source.starts_with("https://") {
        return Ok((download(source)?, source.to_string(), None));
    }
    let path = Path::new(source);
    if path.exists() {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {source}"))?;
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        return Ok((bytes, absolute.display().to_string(), None));
    }
    let index = RegistryIndex::load()?;
    let Some(entry) = index.get(source) else {
        bail!("'{source}' is not a file, an https:// URL, or a plugin in the registry (see registry.toml)");
    };
    if entry.source == "builtin" {
        bail!("{} is built into dbarena already; nothing to install", entry.id);
    }
    let (bytes, origin, _) = fetch(&entry.source)?;
    Ok((bytes, format!("registry:{} ({origin})", entry.id), entry.sha256.clone()))
}

const MAX_DOWNLOAD_BYTES: u64 = 32 << 20;

fn download(url: &str) -> anyhow::Result<Vec<u8>> {
    let mut response = ureq::get(url).call().with_context(|| format!("downloading {url}"))?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_DOWNLOAD_BYTES)
        .read_to_vec()
        .with_context(|| format!("downloading {url}"))
}

fn install(source: &str, expected: Option<&str>, force: bool) -> anyhow::Result<ExitCode> {
    let (wasm, origin, pinned_by_source) = fetch(source)?;
    let actual = sha256_hex(&wasm);
    for (who, want) in [("--sha256", expected), ("the registry", pinned_by_source.as_deref())] {
        if let Some(want) = want
            && !want.eq_ignore_ascii_case(&actual)
        {
            bail!("sha256 mismatch for {source}: {who} expects {want}, the file has {actual}; not installed");
        }
    }
    let label = Path::new(source)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let plugin = runtime()?.load(&label, &wasm, PluginSource::File(PathBuf::from(source)))?;
    let report = conformance::run(&plugin);
    if !report.passed() {
        bail!("{report}\nnot installed: the plugin fails the conformance suite");
    }
    let dir = plugin_dir()?;
    let mut lock = Lock::read(&dir)?;
    let id = plugin.id().to_string();
    let file = format!("{id}.wasm");
    check_file_name(&file)?;
    let replaces_builtin = BUILTIN_PLUGINS.iter().any(|(b, _)| *b == id);
    if !force && replaces_builtin {
        bail!("'{id}' is a built-in engine; pass --force to replace the built-in with this plugin");
    }
    if !force && (lock.by_id(&id).is_some() || dir.join(&file).exists()) {
        bail!(
            "a plugin '{id}' is already installed in {}; pass --force to replace it",
            dir.display()
        );
    }
    write_atomically(&dir, &dir.join(&file), &wasm)?;
    lock.upsert(Pin {
        id: id.clone(),
        file,
        version: plugin.info().plugin_version.clone(),
        api_version: plugin.api_version.clone(),
        source: origin,
        sha256: actual.clone(),
        installed_at: chrono::Utc::now().to_rfc3339(),
    });
    lock.write(&dir)?;
    println!(
        "installed {id} {} (api {}) sha256 {actual}{}",
        escape(&plugin.info().plugin_version),
        plugin.api_version,
        if replaces_builtin {
            "; it replaces the built-in engine (`dbarena plugin remove` restores it)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Listed {
    id: String,
    file: String,
    version: String,
    api_version: String,
    pinned: bool,
    sha256: String,
    source: String,
    /// Why a pinned plugin cannot be used (its engine is unavailable); `None` when it can.
    problem: Option<String>,
}

fn list(json: bool) -> anyhow::Result<ExitCode> {
    let registry = super::load_plugins()?;
    let dir = plugin_dir()?;
    let mut rows: Vec<Listed> = Vec::new();
    // An unusable lock was already reported as a warning: nothing in the directory is used.
    if let Ok(pins) = registry.pinned_status() {
        for (pin, loaded) in pins {
            rows.push(Listed {
                id: pin.id.clone(),
                file: dir.join(&pin.file).display().to_string(),
                version: pin.version.clone(),
                api_version: pin.api_version.clone(),
                pinned: true,
                sha256: pin.sha256.clone(),
                source: pin.source.clone(),
                problem: loaded.err().map(str::to_string),
            });
        }
    }
    for entry in registry.unpinned_entries() {
        rows.push(Listed {
            id: entry.plugin.id().to_string(),
            file: entry.plugin.source.to_string(),
            version: entry.plugin.info().plugin_version.clone(),
            api_version: entry.plugin.api_version.clone(),
            pinned: false,
            sha256: entry.plugin.sha256.clone(),
            source: "dropped in (unpinned)".into(),
            problem: None,
        });
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!(
            "no plugins in {} (built-in engines: `dbarena engines`)",
            escape(&dir.display().to_string())
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(["ID", "VERSION", "API", "PINNED", "SOURCE", "FILE"]);
    for r in rows {
        let pinned = match (&r.problem, r.pinned) {
            (Some(_), _) => "UNAVAILABLE (see `dbarena plugin verify`)",
            (None, true) => "yes",
            (None, false) => "no",
        };
        t.add_row(
            [r.id, r.version, r.api_version, pinned.into(), r.source, r.file].map(|cell| escape(&cell).into_owned()),
        );
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

/// Removes an installed plugin: its file and its pin. Works when the lock is unusable too
/// (it is the way out): the id's entries are dropped from the lock's TOML as far as it parses.
/// Only plain file names inside the plugin directory are ever deleted.
fn remove(id: &str) -> anyhow::Result<ExitCode> {
    check_id(id).with_context(|| format!("'{}' is not an engine id", escape(id)))?;
    let dir = plugin_dir()?;
    let default_file = format!("{id}.wasm");
    let lock = match Lock::read(&dir) {
        Ok(lock) => lock,
        Err(e) => return remove_with_unusable_lock(&dir, id, e),
    };
    let file = match lock.by_id(id) {
        Some(pin) => pin.file.clone(),
        None if dir.join(&default_file).exists() => default_file,
        None => bail!(
            "no installed plugin '{id}' in {} (see `dbarena plugin list`)",
            dir.display()
        ),
    };
    delete_plugin_file(&dir, &file)?;
    let mut lock = lock;
    lock.plugins.retain(|p| p.id != id);
    lock.write(&dir)?;
    println!("removed plugin {id}");
    Ok(ExitCode::SUCCESS)
}

/// Deletes `file` (a checked plain name) from `dir`; already gone is fine.
fn delete_plugin_file(dir: &Path, file: &str) -> anyhow::Result<bool> {
    check_file_name(file)?;
    match std::fs::remove_file(dir.join(file)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {file}")),
    }
}

fn remove_with_unusable_lock(dir: &Path, id: &str, lock_error: anyhow::Error) -> anyhow::Result<ExitCode> {
    let path = Lock::path(dir);
    let text = std::fs::read_to_string(&path).with_context(|| format!("{lock_error:#}"))?;
    let mut table: toml::Table = text
        .parse()
        .with_context(|| format!("{lock_error:#}; fix or delete {} by hand", path.display()))?;
    let mut dropped = 0;
    let mut files = vec![format!("{id}.wasm")];
    if let Some(toml::Value::Array(pins)) = table.get_mut("plugin") {
        let before = pins.len();
        pins.retain(|pin| {
            let ours = pin.get("id").and_then(toml::Value::as_str) == Some(id);
            if ours && let Some(file) = pin.get("file").and_then(toml::Value::as_str) {
                files.push(file.to_string());
            }
            !ours
        });
        dropped = before - pins.len();
    }
    let mut deleted = false;
    for file in files.iter().filter(|f| check_file_name(f).is_ok()) {
        deleted |= delete_plugin_file(dir, file)?;
    }
    if dropped == 0 && !deleted {
        bail!("no installed plugin '{id}' in {}; {lock_error:#}", dir.display());
    }
    let text = format!(
        "# Written by `dbarena plugin install`; every load checks these sha256 pins.\n{}",
        toml::to_string_pretty(&table)?
    );
    write_atomically(dir, &path, text.as_bytes())?;
    println!("removed plugin {id}");
    if let Err(e) = Lock::read(dir) {
        crate::output::warn(format_args!("{e:#}"));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Verified {
    id: String,
    file: String,
    ok: bool,
    problem: Option<String>,
}

/// Checks every pin: the file's hash, that it loads, and that it declares the pinned id.
fn verify(json: bool) -> anyhow::Result<ExitCode> {
    let registry = super::load_plugins()?;
    let results: Vec<Verified> = match registry.pinned_status() {
        Ok(pins) => pins
            .into_iter()
            .map(|(pin, loaded)| Verified {
                id: pin.id.clone(),
                file: pin.file.clone(),
                ok: loaded.is_ok(),
                problem: loaded.err().map(str::to_string),
            })
            .collect(),
        Err(lock) => vec![Verified {
            id: String::new(),
            file: crate::plugin::lockfile::LOCK_FILE.into(),
            ok: false,
            problem: Some(lock.to_string()),
        }],
    };
    let failed = results.iter().filter(|r| !r.ok).count();
    if json {
        print_json(&results)?;
    } else {
        for r in &results {
            let line = match &r.problem {
                None => format!("ok    {} ({})", r.id, r.file),
                Some(p) => format!("FAIL  {} ({}): {p}", r.id, r.file),
            };
            println!("{}", escape(&line));
        }
        println!("{} verified, {failed} failed", results.len() - failed);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
