//! Finds plugins: the built-ins embedded in the binary, then `.wasm` files in the plugin
//! directory. A file plugin with a built-in's id replaces the built-in.

use super::{BUILTIN_PLUGINS, Plugin, PluginFailure, PluginRuntime, PluginSource};
use std::path::{Path, PathBuf};

/// One available engine.
pub struct Entry {
    pub plugin: Plugin,
    /// True when a file plugin replaced the built-in of the same id.
    pub overrides_builtin: bool,
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
            });
        }
        let mut registry = Self {
            entries,
            problems: Vec::new(),
        };
        if let Some(dir) = plugin_dir {
            registry.load_dir(runtime, dir);
        }
        registry.entries.sort_by(|a, b| a.plugin.id().cmp(b.plugin.id()));
        Ok(registry)
    }

    fn load_dir(&mut self, runtime: &PluginRuntime, dir: &Path) {
        let files = match plugin_files(dir) {
            Ok(files) => files,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                self.problems
                    .push((dir.to_path_buf(), format!("cannot read plugin directory: {e}")));
                return;
            }
        };
        for path in files {
            match load_file(runtime, &path) {
                Ok(plugin) => self.add_file_plugin(path, plugin),
                Err(e) => self.problems.push((path, e.to_string())),
            }
        }
    }

    fn add_file_plugin(&mut self, path: PathBuf, plugin: Plugin) {
        match self.entries.iter().position(|e| e.plugin.id() == plugin.id()) {
            None => self.entries.push(Entry {
                plugin,
                overrides_builtin: false,
            }),
            Some(i) if self.entries[i].plugin.source == PluginSource::Builtin => {
                tracing::info!("plugin {} from {} overrides the built-in", plugin.id(), path.display());
                self.entries[i] = Entry {
                    plugin,
                    overrides_builtin: true,
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

fn load_file(runtime: &PluginRuntime, path: &Path) -> Result<Plugin, PluginFailure> {
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fail = |reason: String| PluginFailure::Load {
        plugin: label.clone(),
        reason,
    };
    let size = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?.len();
    if size > MAX_PLUGIN_FILE_BYTES {
        return Err(fail(format!("file is {size} bytes (limit {MAX_PLUGIN_FILE_BYTES})")));
    }
    let wasm = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    runtime.load(&label, &wasm, PluginSource::File(path.to_path_buf()))
}
