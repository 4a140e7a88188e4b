//! The user's config file: defaults and per-engine overrides (image mirrors, versions).
//!
//! Looked up as `--config FILE`, else `$DBARENA_CONFIG`, else `<XDG config>/dbarena/config.toml`
//! (optional). Unknown keys are errors, so a typo never silently does nothing.

use anyhow::Context;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the config was read from (None: built-in defaults).
    #[serde(skip)]
    pub source: Option<PathBuf>,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub engines: BTreeMap<String, EngineConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Defaults {
    /// Publish ports on all interfaces instead of 127.0.0.1.
    pub publish_all_interfaces: Option<bool>,
    /// Readiness timeout in seconds, instead of each engine's own.
    pub timeout: Option<u64>,
    /// Use the engines' durable settings by default.
    pub durable: Option<bool>,
    /// Default memory limit, e.g. "1g".
    pub memory: Option<String>,
    /// Address clients use to reach published ports (`--client-host` overrides it).
    pub client_host: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EngineConfig {
    /// Image to use instead of the plugin's: a repository (the tag still follows the
    /// requested version) or a full reference with tag or digest (used as is).
    pub image: Option<String>,
    /// Version used when none is given (`postgres` instead of `postgres@16`).
    pub version: Option<String>,
    pub timeout: Option<u64>,
    pub memory: Option<String>,
    /// Image of the connection pooler in front of a shared server (`--pooler-image`).
    pub pooler_image: Option<String>,
}

impl Config {
    /// Loads the config from the first location that applies.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let (path, required) = match (explicit, std::env::var_os("DBARENA_CONFIG").filter(|v| !v.is_empty())) {
            (Some(p), _) => (Some(p.to_path_buf()), true),
            (None, Some(p)) => (Some(PathBuf::from(p)), true),
            (None, None) => (crate::paths::config_file(), false),
        };
        let Some(path) = path else { return Ok(Self::default()) };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut config: Self =
                    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))?;
                config.source = Some(path);
                Ok(config)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read config file {}", path.display())),
        }
    }

    pub fn engine(&self, id: &str) -> Option<&EngineConfig> {
        self.engines.get(id)
    }

    /// "config file PATH", for messages that name where a value came from.
    pub fn describe_source(&self) -> String {
        match &self.source {
            Some(path) => format!("config file {}", path.display()),
            None => "config".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected() {
        let err = toml::from_str::<Config>("[engines.postgres]\nimgae = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("imgae"), "{err}");
        let ok: Config = toml::from_str("[defaults]\ntimeout = 30\n[engines.redis]\nimage = \"m/redis\"\n").unwrap();
        assert_eq!(ok.engine("redis").unwrap().image.as_deref(), Some("m/redis"));
    }
}
