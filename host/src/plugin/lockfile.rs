//! `plugins.lock` in the plugin directory: what `dbarena plugin install` pinned. Every load
//! re-checks a pinned file's sha256 and refuses a mismatch (fail closed); a `.wasm` dropped
//! in by hand is not in the lock and is shown as unpinned.
//!
//! The lock is input like any other file: every entry's `file` must be a plain `*.wasm` name
//! inside the plugin directory and every `id` an engine id, checked on read, so a crafted
//! lock cannot make `plugin remove` delete, or a load read, anything outside the directory.

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
            Ok(text) => {
                let lock: Self =
                    toml::from_str(&text).with_context(|| format!("corrupt plugin lock file {}", path.display()))?;
                lock.check()
                    .with_context(|| format!("corrupt plugin lock file {}", path.display()))?;
                Ok(lock)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Every entry names an engine id and a plain file in the directory, each at most once.
    pub fn check(&self) -> anyhow::Result<()> {
        for (i, pin) in self.plugins.iter().enumerate() {
            check_id(&pin.id)?;
            check_file_name(&pin.file).with_context(|| format!("plugin {}", pin.id))?;
            if self.plugins[..i].iter().any(|p| p.id == pin.id || p.file == pin.file) {
                anyhow::bail!("plugin {} ({}) is listed twice", pin.id, pin.file);
            }
        }
        Ok(())
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

/// An engine id as plugins must declare it (so also safe as a file name stem).
pub fn check_id(id: &str) -> anyhow::Result<()> {
    crate::plugin::validate::engine_id(id).map_err(|e| anyhow::anyhow!("{e}"))
}

/// A plain `*.wasm` file name: no directory part, no `..`, not hidden, no NUL.
pub fn check_file_name(file: &str) -> anyhow::Result<()> {
    let plain = !file.is_empty()
        && !file.starts_with('.')
        && !file.contains(['/', '\\', '\0'])
        && file.ends_with(".wasm")
        && file.len() <= 255
        && !file.chars().any(char::is_control);
    if !plain {
        anyhow::bail!(
            "file {:?} is not a plain .wasm file name inside the plugin directory",
            crate::plugin::validate::clip(file, 80)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(id: &str, file: &str) -> Pin {
        Pin {
            id: id.into(),
            file: file.into(),
            version: "1.0.0".into(),
            api_version: "0.3.0".into(),
            source: "x".into(),
            sha256: "00".into(),
            installed_at: "now".into(),
        }
    }

    fn lock_with(id: &str, file: &str) -> String {
        toml::to_string(&Lock {
            plugins: vec![pin(id, file)],
        })
        .unwrap()
    }

    #[test]
    fn entries_outside_the_directory_or_with_bad_ids_are_lock_errors() {
        let dir = tempfile::tempdir().unwrap();
        for (id, file) in [
            ("ok", "../victim.txt"),
            ("ok", "../x.wasm"),
            ("ok", "/etc/passwd.wasm"),
            ("ok", "a\\b.wasm"),
            ("ok", ".hidden.wasm"),
            ("ok", "x\0.wasm"),
            ("ok", "x.txt"),
            ("ok", ""),
            ("../x", "x.wasm"),
            ("Bad", "x.wasm"),
            ("", "x.wasm"),
        ] {
            std::fs::write(Lock::path(dir.path()), lock_with(id, file)).unwrap();
            let err = Lock::read(dir.path()).expect_err(&format!("{id:?} {file:?}"));
            assert!(format!("{err:#}").contains("corrupt plugin lock file"), "{err:#}");
        }
        std::fs::write(Lock::path(dir.path()), lock_with("my-db", "my-db.wasm")).unwrap();
        assert_eq!(Lock::read(dir.path()).unwrap().plugins[0].file, "my-db.wasm");
        let twice = Lock {
            plugins: vec![pin("my-db", "my-db.wasm"), pin("my-db", "other.wasm")],
        };
        std::fs::write(Lock::path(dir.path()), toml::to_string(&twice).unwrap()).unwrap();
        assert!(Lock::read(dir.path()).is_err());
    }
}
