//! Finds plugins: the built-ins embedded in the binary and the `.wasm` files in the plugin
//! directory, loading each only when a command needs it.
//!
//! - Built-ins are known by id without loading; each is compiled on its first `get`.
//! - Pinned files (`plugins.lock`) are known by id from the lock; each is hash-checked and
//!   loaded on its first `get`. A pin that fails (changed bytes, missing file, a plugin whose
//!   own id is not the pinned one) makes that id unavailable with the reason, and only that
//!   id: it never falls back to a built-in of the same id, and other engines keep working.
//! - A pinned file may override a built-in (`plugin install --force`); using it is announced.
//! - Unpinned files must be loaded to learn their id, so they are loaded (all together) only
//!   for listings and for ids that are neither built-in nor pinned. One with a built-in's id
//!   is ignored with a warning: dropping a file in must not replace an engine.
//! - An unreadable or invalid lock makes every plugin-directory plugin unavailable (fail
//!   closed); built-ins keep working.

use super::lockfile::{self, Lock, Pin};
use super::{BUILTIN_PLUGINS, Plugin, PluginRuntime, PluginSource, sha256_hex};
use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// One available engine.
pub struct Entry {
    pub plugin: Plugin,
    /// True when a pinned file plugin replaces the built-in of the same id.
    pub overrides_builtin: bool,
    /// The install record of a file plugin; `None` for built-ins and unpinned files.
    pub pin: Option<Pin>,
}

/// An engine loaded on first use: the entry, or why its id is unavailable.
type Slot = OnceLock<Result<Entry, String>>;

/// A pin with its loaded entry or the reason its engine is unavailable.
pub type PinStatus<'a> = (&'a Pin, Result<&'a Entry, &'a str>);

struct Pinned {
    pin: Pin,
    slot: Slot,
}

/// The engines available to this process.
pub struct PluginRegistry {
    runtime: PluginRuntime,
    dir: Option<PathBuf>,
    builtins: Vec<(&'static str, &'static [u8], Slot)>,
    /// The lock's pins, or why the lock cannot be used.
    pins: Result<Vec<Pinned>, String>,
    unpinned: OnceLock<Vec<Entry>>,
    problems: Mutex<Vec<(PathBuf, String)>>,
    /// Warnings already printed (each is printed once per process).
    said: Mutex<HashSet<String>>,
}

impl PluginRegistry {
    /// A registry of the built-ins and the plugins in `plugin_dir` (a missing directory is
    /// fine). Only the lock is read here; plugins load when first needed.
    pub fn load(runtime: &PluginRuntime, plugin_dir: Option<&Path>) -> anyhow::Result<Self> {
        let pins = match plugin_dir {
            None => Ok(Vec::new()),
            Some(dir) => trusted_dir(dir).and_then(|()| {
                Lock::read(dir)
                    .map(|lock| {
                        lock.plugins
                            .into_iter()
                            .map(|pin| Pinned {
                                pin,
                                slot: OnceLock::new(),
                            })
                            .collect()
                    })
                    .map_err(|e| {
                        format!(
                            "{e:#}; the plugins in {} are unavailable until it is fixed or deleted \
                         (then reinstall them with `dbarena plugin install`)",
                            dir.display()
                        )
                    })
            }),
        };
        Ok(Self {
            runtime: runtime.clone(),
            dir: plugin_dir.map(Path::to_path_buf),
            builtins: BUILTIN_PLUGINS
                .iter()
                .map(|(id, wasm)| (*id, *wasm, OnceLock::new()))
                .collect(),
            pins,
            unpinned: OnceLock::new(),
            problems: Mutex::new(Vec::new()),
            said: Mutex::new(HashSet::new()),
        })
    }

    /// Plugin files that could not be used so far (each was also printed as a warning).
    pub fn problems(&self) -> Vec<(PathBuf, String)> {
        self.problems.lock().expect("not poisoned").clone()
    }

    /// Every available engine, in id order; loads all plugins.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        let mut entries: Vec<&Entry> = Vec::new();
        let mut taken: HashSet<&str> = HashSet::new();
        if let Ok(pins) = self.pins() {
            for pinned in pins {
                taken.insert(&pinned.pin.id);
                match self.pinned(pinned) {
                    Ok(entry) => entries.push(entry),
                    Err(why) => self.problem(self.pin_path(&pinned.pin), why.clone()),
                }
            }
        }
        for builtin in &self.builtins {
            if !taken.contains(builtin.0)
                && let Ok(entry) = self.builtin(builtin)
            {
                entries.push(entry);
            }
        }
        entries.extend(self.unpinned());
        entries.sort_by(|a, b| a.plugin.id().cmp(b.plugin.id()));
        for entry in &entries {
            self.announce(entry);
        }
        entries.into_iter()
    }

    /// The engine with `id`: an error saying why when it is unavailable (a pinned plugin that
    /// fails its checks), or listing the known ones when there is none.
    pub fn get(&self, id: &str) -> anyhow::Result<&Entry> {
        match self.lookup(id) {
            Some(Ok(entry)) => {
                self.announce(entry);
                Ok(entry)
            }
            Some(Err(why)) => Err(anyhow::anyhow!("engine '{id}' is unavailable: {why}")),
            None => {
                let known: Vec<&str> = self.iter().map(|e| e.plugin.id()).collect();
                let mut message = format!(
                    "unknown engine '{id}'; available: {} (see `dbarena engines`)",
                    known.join(", ")
                );
                if let Err(lock) = &self.pins {
                    message.push_str(&format!("; note: {lock}"));
                }
                Err(anyhow::anyhow!(message))
            }
        }
    }

    /// Whether `id` names an engine, available or not (loads unpinned files only when it is
    /// neither built-in nor pinned).
    pub fn knows(&self, id: &str) -> bool {
        self.lookup(id).is_some()
    }

    /// The lock's pins, each with its loaded entry or the reason it is unavailable; `Err`:
    /// why the lock itself cannot be used. For `plugin list` and `plugin verify`.
    pub fn pinned_status(&self) -> Result<Vec<PinStatus<'_>>, &str> {
        let pins = self.pins.as_ref().map_err(String::as_str)?;
        Ok(pins
            .iter()
            .map(|p| (&p.pin, self.pinned(p).map_err(String::as_str)))
            .collect())
    }

    /// The unpinned plugins of the directory (loading them); none when the lock is unusable.
    pub fn unpinned_entries(&self) -> impl Iterator<Item = &Entry> {
        self.unpinned().iter()
    }

    fn lookup(&self, id: &str) -> Option<Result<&Entry, &str>> {
        if let Ok(pins) = self.pins()
            && let Some(pinned) = pins.iter().find(|p| p.pin.id == id)
        {
            return Some(self.pinned(pinned).map_err(String::as_str));
        }
        if let Some(builtin) = self.builtins.iter().find(|b| b.0 == id) {
            // A dropped-in `ID.wasm` was most likely meant to replace this built-in: load the
            // unpinned files so the user hears why it is ignored.
            if let Some(dir) = &self.dir
                && dir.join(format!("{id}.wasm")).exists()
            {
                self.unpinned();
            }
            return Some(self.builtin(builtin).map_err(String::as_str));
        }
        self.unpinned().iter().find(|e| e.plugin.id() == id).map(Ok)
    }

    /// The pins, warning once when the lock cannot be used.
    fn pins(&self) -> Result<&[Pinned], ()> {
        match &self.pins {
            Ok(pins) => Ok(pins),
            Err(why) => {
                self.warn_once(why.clone());
                Err(())
            }
        }
    }

    fn builtin<'a>(
        &'a self,
        (id, wasm, slot): &'a (&'static str, &'static [u8], Slot),
    ) -> Result<&'a Entry, &'a String> {
        slot.get_or_init(|| {
            self.runtime
                .load(id, wasm, PluginSource::Builtin)
                .map(|plugin| Entry {
                    plugin,
                    overrides_builtin: false,
                    pin: None,
                })
                .map_err(|e| format!("built-in plugin {id} is broken (a dbarena bug): {e}"))
        })
        .as_ref()
    }

    fn pinned<'a>(&'a self, pinned: &'a Pinned) -> Result<&'a Entry, &'a String> {
        pinned
            .slot
            .get_or_init(|| {
                let dir = self.dir.as_deref().expect("pins come from a plugin directory");
                self.load_pinned(dir, &pinned.pin)
            })
            .as_ref()
    }

    /// Loads a pinned file: its bytes must hash to the pin and it must declare the pinned id.
    fn load_pinned(&self, dir: &Path, pin: &Pin) -> Result<Entry, String> {
        let path = dir.join(&pin.file);
        let remedy = format!(
            "reinstall it (`dbarena plugin install FILE --force`) or remove it (`dbarena plugin remove {}`)",
            pin.id
        );
        let wasm = read_plugin_file(&path).map_err(|e| {
            format!(
                "pinned plugin {} ({}) cannot be read: {e}; {remedy}",
                pin.id,
                path.display()
            )
        })?;
        let actual = sha256_hex(&wasm);
        if actual != pin.sha256 {
            return Err(format!(
                "plugin {} ({}) fails its hash check: installed with sha256 {}, now {actual}. \
                 The file changed after `dbarena plugin install`; {remedy}",
                pin.id,
                path.display(),
                pin.sha256,
            ));
        }
        let plugin = self
            .runtime
            .load_hashed(&pin.file, &wasm, actual, PluginSource::File(path.clone()))
            .map_err(|e| format!("{e}; {remedy}"))?;
        if plugin.id() != pin.id {
            return Err(format!(
                "{} is pinned as engine '{}' but the plugin declares '{}'; {remedy}",
                path.display(),
                pin.id,
                plugin.id()
            ));
        }
        Ok(Entry {
            overrides_builtin: BUILTIN_PLUGINS.iter().any(|(b, _)| *b == pin.id),
            plugin,
            pin: Some(pin.clone()),
        })
    }

    /// The directory's unpinned plugins, loaded on first use. A file that fails to load,
    /// or whose id is taken by a built-in, a pin or an earlier file, is skipped with a warning.
    fn unpinned(&self) -> &[Entry] {
        self.unpinned.get_or_init(|| {
            let (Some(dir), Ok(pins)) = (self.dir.as_deref(), self.pins()) else {
                return Vec::new();
            };
            let files = match plugin_files(dir) {
                Ok(files) => files,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
                Err(e) => {
                    self.problem(dir.to_path_buf(), format!("cannot read plugin directory: {e}"));
                    return Vec::new();
                }
            };
            let mut entries: Vec<Entry> = Vec::new();
            for path in files {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if pins.iter().any(|p| p.pin.file == name) {
                    continue;
                }
                let plugin = match read_plugin_file(&path)
                    .map_err(|e| format!("plugin {name}: cannot load: {e}"))
                    .and_then(|wasm| {
                        self.runtime
                            .load(&name, &wasm, PluginSource::File(path.clone()))
                            .map_err(|e| e.to_string())
                    }) {
                    Ok(plugin) => plugin,
                    Err(why) => {
                        self.problem(path, why);
                        continue;
                    }
                };
                let id = plugin.id().to_string();
                let why = if self.builtins.iter().any(|b| b.0 == id) {
                    Some(format!(
                        "ignored: it declares the built-in engine id '{id}', and only an installed \
                         plugin may replace a built-in; to use it, run `dbarena plugin install {} --force`",
                        path.display()
                    ))
                } else if pins.iter().any(|p| p.pin.id == id) {
                    Some(format!(
                        "ignored: engine id '{id}' is already provided by an installed plugin"
                    ))
                } else {
                    entries.iter().find(|e| e.plugin.id() == id).map(|first| {
                        format!(
                            "ignored: engine id '{id}' is already provided by {}",
                            first.plugin.source
                        )
                    })
                };
                match why {
                    Some(why) => self.problem(path, why),
                    None => entries.push(Entry {
                        plugin,
                        overrides_builtin: false,
                        pin: None,
                    }),
                }
            }
            entries
        })
    }

    fn pin_path(&self, pin: &Pin) -> PathBuf {
        self.dir.as_deref().unwrap_or(Path::new("")).join(&pin.file)
    }

    /// Records a plugin file that cannot be used, and warns about it (once).
    fn problem(&self, path: PathBuf, why: String) {
        if self.warn_once(format!("skipping plugin {}: {why}", path.display())) {
            self.problems.lock().expect("not poisoned").push((path, why));
        }
    }

    /// Says, once per process, that an engine comes from a plugin replacing the built-in.
    fn announce(&self, entry: &Entry) {
        if entry.overrides_builtin {
            self.warn_once(format!(
                "engine '{}' is the installed plugin {}, which replaces the built-in",
                entry.plugin.id(),
                entry.plugin.source
            ));
        }
    }

    /// Prints `message` as a warning unless it was already; true when it was printed.
    fn warn_once(&self, message: String) -> bool {
        let new = self.said.lock().expect("not poisoned").insert(message.clone());
        if new {
            crate::output::warn(message);
        }
        new
    }
}

/// Whether the plugin directory and its lock may be trusted: like the compiled-component
/// cache (whose check this is), they must be the user's and writable by nobody else, or
/// anyone who can write there picks the code dbarena runs. A missing directory is fine.
fn trusted_dir(dir: &Path) -> Result<(), String> {
    let refuse = |path: &Path, e: anyhow::Error| {
        Err(format!(
            "not loading the plugins in {}: {e:#}; if its content is what you installed, make it \
             private with `chmod go-w {}` (and yours with `chown`)",
            dir.display(),
            shell_words::quote(&path.display().to_string()),
        ))
    };
    match std::fs::metadata(dir) {
        Ok(meta) => super::cache::check_private_dir(dir, &meta).or_else(|e| refuse(dir, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read plugin directory {}: {e}", dir.display())),
    }
    let lock = dir.join(lockfile::LOCK_FILE);
    match std::fs::symlink_metadata(&lock) {
        Ok(meta) => super::cache::check_owner_and_mode(&lock, &meta, 0o022).or_else(|e| refuse(&lock, e)),
        Err(_) => Ok(()),
    }
}

fn plugin_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|ext| ext == "wasm")
                && p.file_name()
                    .is_some_and(|n| lockfile::check_file_name(&n.to_string_lossy()).is_ok())
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Largest plugin file accepted; real plugins are ~100 KB.
pub const MAX_PLUGIN_FILE_BYTES: u64 = 32 << 20;

/// Reads a plugin file through one descriptor: opened non-blocking (a FIFO cannot hang the
/// command), checked to be a regular file within the size cap, then read.
pub fn read_plugin_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    // A file someone else owns or may write is someone else's code (see `trusted_dir`).
    super::cache::check_owner_and_mode(path, &meta, 0o022).map_err(|e| {
        std::io::Error::other(format!(
            "{e:#}; if it is the plugin you installed, make it private with `chmod go-w {}` \
             (and yours with `chown`)",
            shell_words::quote(&path.display().to_string())
        ))
    })?;
    if meta.len() > MAX_PLUGIN_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "file is {} bytes (limit {MAX_PLUGIN_FILE_BYTES})",
            meta.len()
        )));
    }
    let mut wasm = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_PLUGIN_FILE_BYTES + 1).read_to_end(&mut wasm)?;
    if wasm.len() as u64 > MAX_PLUGIN_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "file grew beyond {MAX_PLUGIN_FILE_BYTES} bytes"
        )));
    }
    Ok(wasm)
}
