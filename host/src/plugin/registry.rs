//! Finds plugins: the built-ins embedded in the binary, then `.wasm` files in the plugin
//! directory. A file plugin with a built-in's id replaces the built-in.

use super::lockfile::{Lock, Pin};
use super::{BUILTIN_PLUGINS, Plugin, PluginFailure, PluginRuntime, PluginSource, sha256_hex};
use anyhow::bail;
use std::path::{Path, PathBuf};

/// One available engine.
pub struct Entry {
    pub plugin: Plugin,
    /// True when a file plugin replaced the built-in of the same id.
    pub overrides_builtin: bool,
    /// The install record of a file plugin; `None` for built-ins and unpinned files.
    pub pin: Option<Pin>,
}

/// The engines available to this process, in id order.
pub struct PluginRegistry {
    entries: Vec<Entry>,
    /// Plugin files that could not be used; shown as warnings, never fatal for the others.
    pub problems: Vec<(PathBuf, String)>,
}

impl PluginRegistry {
    /// Loads the built-ins and every `*.wasm` in `plugin_dir` (a missing directory is fine).
    pub fn load(runtime: &PluginRuntime, plugin_dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut entries = Vec::new();
        for (name, wasm) in BUILTIN_PLUGINS {
            let plugin = runtime
                .load(name, wasm, PluginSource::Builtin)
                .map_err(|e| anyhow::anyhow!("built-in plugin {name} is broken (a dbarena bug): {e}"))?;
            entries.push(Entry {
                plugin,
                overrides_builtin: false,
                pin: None,
            });
        }
        let mut registry = Self {
            entries,
            problems: Vec::new(),
        };
        if let Some(dir) = plugin_dir {
            registry.load_dir(runtime, dir)?;
        }
        registry.entries.sort_by(|a, b| a.plugin.id().cmp(b.plugin.id()));
        Ok(registry)
    }

    /// Loads the directory's plugins. A file that fails to load is skipped with a warning,
    /// but a pinned file whose hash changed fails the whole load: it was tampered with.
    fn load_dir(&mut self, runtime: &PluginRuntime, dir: &Path) -> anyhow::Result<()> {
        let files = match plugin_files(dir) {
            Ok(files) => files,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                self.problems
                    .push((dir.to_path_buf(), format!("cannot read plugin directory: {e}")));
                return Ok(());
            }
        };
        let lock = Lock::read(dir)?;
        for path in files {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let pin = lock.by_file(&name).cloned();
            match load_file(runtime, &path, pin.as_ref()) {
                Ok(plugin) => self.add_file_plugin(path, plugin, pin),
                Err(LoadError::Tampered(message)) => bail!(message),
                Err(LoadError::Failed(e)) => self.problems.push((path, e.to_string())),
            }
        }
        for pin in &lock.plugins {
            if !dir.join(&pin.file).is_file() {
                self.problems
                    .push((dir.join(&pin.file), format!("pinned plugin {} is missing", pin.id)));
            }
        }
        Ok(())
    }

    fn add_file_plugin(&mut self, path: PathBuf, plugin: Plugin, pin: Option<Pin>) {
        match self.entries.iter().position(|e| e.plugin.id() == plugin.id()) {
            None => self.entries.push(Entry {
                plugin,
                overrides_builtin: false,
                pin,
            }),
            Some(i) if self.entries[i].plugin.source == PluginSource::Builtin => {
                tracing::info!("plugin {} from {} overrides the built-in", plugin.id(), path.display());
                self.entries[i] = Entry {
                    plugin,
                    overrides_builtin: true,
                    pin,
                };
            }
            Some(i) => {
                let kept = self.entries[i].plugin.source.to_string();
                let id = plugin.id().to_string();
                self.problems
                    .push((path, format!("ignored: engine id '{id}' is already provided by {kept}")));
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// The engine with `id`, or an error listing the known ones.
    pub fn get(&self, id: &str) -> anyhow::Result<&Entry> {
        self.entries.iter().find(|e| e.plugin.id() == id).ok_or_else(|| {
            let known: Vec<&str> = self.entries.iter().map(|e| e.plugin.id()).collect();
            anyhow::anyhow!(
                "unknown engine '{id}'; available: {} (see `dbarena engines`)",
                known.join(", ")
            )
        })
    }
}

fn plugin_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "wasm") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Largest plugin file accepted; real plugins are ~100 KB.
const MAX_PLUGIN_FILE_BYTES: u64 = 32 << 20;

enum LoadError {
    /// A pinned file's bytes no longer match its pin.
    Tampered(String),
    Failed(PluginFailure),
}

/// Loads one plugin file, checking it against its pin first when it has one.
fn load_file(runtime: &PluginRuntime, path: &Path, pin: Option<&Pin>) -> Result<Plugin, LoadError> {
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fail = |reason: String| {
        LoadError::Failed(PluginFailure::Load {
            plugin: label.clone(),
            reason,
        })
    };
    let size = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?.len();
    if size > MAX_PLUGIN_FILE_BYTES {
        return Err(fail(format!("file is {size} bytes (limit {MAX_PLUGIN_FILE_BYTES})")));
    }
    let wasm = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    if let Some(pin) = pin {
        let actual = sha256_hex(&wasm);
        if actual != pin.sha256 {
            return Err(LoadError::Tampered(format!(
                "plugin {} ({}) fails its hash check: installed with sha256 {}, now {actual}. \
                 The file changed after `dbarena plugin install`; reinstall it, or remove it with \
                 `dbarena plugin remove {}`",
                pin.id,
                path.display(),
                pin.sha256,
                pin.id
            )));
        }
    }
    runtime
        .load(&label, &wasm, PluginSource::File(path.to_path_buf()))
        .map_err(LoadError::Failed)
}
