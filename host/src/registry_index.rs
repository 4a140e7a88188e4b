//! The plugin registry index (`registry.toml`): known plugins and where to get them.

use anyhow::{Context, bail};
use serde::Deserialize;

const EMBEDDED: &str = crate::asset!("registry.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryEntry {
    pub id: String,
    pub version: String,
    pub api_version: String,
    /// "builtin", an https URL, or a local path.
    pub source: String,
    pub sha256: Option<String>,
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryIndex {
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<RegistryEntry>,
}

impl RegistryIndex {
    /// The index at `$DBARENA_REGISTRY`, else the one embedded at build time.
    pub fn load() -> anyhow::Result<Self> {
        let (text, origin) = match std::env::var_os("DBARENA_REGISTRY").filter(|v| !v.is_empty()) {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read registry {}", path.to_string_lossy()))?;
                (text, path.to_string_lossy().into_owned())
            }
            None => (EMBEDDED.to_string(), "the built-in registry".to_string()),
        };
        Self::parse(&text).with_context(|| format!("invalid registry index ({origin})"))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let index: Self = toml::from_str(text)?;
        for entry in &index.plugins {
            let remote = entry.source != "builtin";
            if remote
                && entry
                    .sha256
                    .as_deref()
                    .is_none_or(|h| h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                bail!(
                    "entry '{}' needs a sha256 (64 hex digits) for its source {}",
                    entry.id,
                    entry.source
                );
            }
        }
        Ok(index)
    }

    pub fn get(&self, id: &str) -> Option<&RegistryEntry> {
        self.plugins.iter().find(|e| e.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_registry_lists_every_builtin() {
        let index = RegistryIndex::parse(EMBEDDED).unwrap();
        for (id, _) in crate::plugin::BUILTIN_PLUGINS {
            let entry = index
                .get(id)
                .unwrap_or_else(|| panic!("{id} missing from registry.toml"));
            assert_eq!(entry.source, "builtin");
            assert_eq!(entry.api_version, crate::plugin::bindings::API_VERSION);
        }
    }

    #[test]
    fn remote_entries_must_be_pinned() {
        let unpinned =
            "[[plugin]]\nid='x'\nversion='1.0.0'\napi_version='0.1.0'\nsource='https://e.x/x.wasm'\ndescription='d'\n";
        assert!(
            RegistryIndex::parse(unpinned)
                .unwrap_err()
                .to_string()
                .contains("needs a sha256")
        );
    }
}
