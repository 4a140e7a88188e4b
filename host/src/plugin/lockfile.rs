//! `plugins.lock` in the plugin directory: what `dbarena plugin install` pinned. Every load
//! re-checks a pinned file's sha256 and refuses a mismatch (fail closed); a `.wasm` dropped
//! in by hand is not in the lock and is shown as unpinned.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = "plugins.lock";

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Lock {
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<Pin>,
}

/// One installed plugin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pin {
    pub id: String,
    /// File name inside the plugin directory.
    pub file: String,
    pub version: String,
    pub api_version: String,
    /// Where it was installed from: a path, an https URL, or `registry:<id>`.
    pub source: String,
    pub sha256: String,
    pub installed_at: String,
}

impl Lock {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(LOCK_FILE)
    }

    /// Reads the lock of `dir`; no lock file means nothing is pinned.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = Self::path(dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("corrupt plugin lock file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the lock atomically (temporary file, then rename).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let text = format!(
            "# Written by `dbarena plugin install`; every load checks these sha256 pins.\n{}",
            toml::to_string_pretty(self)?
        );
        crate::plugin::write_atomically(dir, &Self::path(dir), text.as_bytes())
    }

    pub fn by_file(&self, file: &str) -> Option<&Pin> {
        self.plugins.iter().find(|p| p.file == file)
    }

    pub fn by_id(&self, id: &str) -> Option<&Pin> {
        self.plugins.iter().find(|p| p.id == id)
    }

    /// Adds or replaces the pin for `pin.id`.
    pub fn upsert(&mut self, pin: Pin) {
        self.plugins.retain(|p| p.id != pin.id && p.file != pin.file);
        self.plugins.push(pin);
        self.plugins.sort_by(|a, b| a.id.cmp(&b.id));
    }
}
