//! `dbarena plugin new|test|install|list|remove|verify`.

use crate::cli::PluginCommand;
use crate::output::{print_json, table};
use crate::paths;
use crate::plugin::lockfile::{Lock, Pin};
use crate::plugin::{PluginRuntime, PluginSource, conformance, sha256_hex, write_atomically};
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
        println!("{report}");
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
        "installed {id} {} (api {}) sha256 {actual}",
        plugin.info().plugin_version,
        plugin.api_version
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
}

fn list(json: bool) -> anyhow::Result<ExitCode> {
    let registry = super::load_plugins()?;
    let rows: Vec<Listed> = registry
        .iter()
        .filter_map(|entry| match &entry.plugin.source {
            PluginSource::Builtin => None,
            PluginSource::File(path) => Some(Listed {
                id: entry.plugin.id().to_string(),
                file: path.display().to_string(),
                version: entry.plugin.info().plugin_version.clone(),
                api_version: entry.plugin.api_version.clone(),
                pinned: entry.pin.is_some(),
                sha256: entry.plugin.sha256.clone(),
                source: entry
                    .pin
                    .as_ref()
                    .map(|p| p.source.clone())
                    .unwrap_or_else(|| "dropped in (unpinned)".into()),
            }),
        })
        .collect();
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!(
            "no plugins in {} (built-in engines: `dbarena engines`)",
            plugin_dir()?.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(["ID", "VERSION", "API", "PINNED", "SOURCE", "FILE"]);
    for r in rows {
        t.add_row([
            r.id,
            r.version,
            r.api_version,
            if r.pinned { "yes" } else { "no" }.into(),
            r.source,
            r.file,
        ]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

fn remove(id: &str) -> anyhow::Result<ExitCode> {
    let dir = plugin_dir()?;
    let mut lock = Lock::read(&dir)?;
    let file = match lock.by_id(id) {
        Some(pin) => pin.file.clone(),
        None if dir.join(format!("{id}.wasm")).exists() => format!("{id}.wasm"),
        None => bail!(
            "no installed plugin '{id}' in {} (see `dbarena plugin list`)",
            dir.display()
        ),
    };
    match std::fs::remove_file(dir.join(&file)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {file}")),
    }
    lock.plugins.retain(|p| p.id != id);
    lock.write(&dir)?;
    println!("removed plugin {id}");
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Verified {
    id: String,
    file: String,
    ok: bool,
    problem: Option<String>,
}

fn verify(json: bool) -> anyhow::Result<ExitCode> {
    let dir = plugin_dir()?;
    let lock = Lock::read(&dir)?;
    let results: Vec<Verified> = lock
        .plugins
        .iter()
        .map(|pin| {
            let problem = match std::fs::read(dir.join(&pin.file)) {
                Err(e) => Some(format!("cannot read: {e}")),
                Ok(bytes) => {
                    let actual = sha256_hex(&bytes);
                    (actual != pin.sha256).then(|| format!("sha256 mismatch: pinned {}, file has {actual}", pin.sha256))
                }
            };
            Verified {
                id: pin.id.clone(),
                file: pin.file.clone(),
                ok: problem.is_none(),
                problem,
            }
        })
        .collect();
    let failed = results.iter().filter(|r| !r.ok).count();
    if json {
        print_json(&results)?;
    } else {
        for r in &results {
            match &r.problem {
                None => println!("ok    {} ({})", r.id, r.file),
                Some(p) => println!("FAIL  {} ({}): {p}", r.id, r.file),
            }
        }
        println!("{} verified, {failed} failed", results.len() - failed);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
