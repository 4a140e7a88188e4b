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
    /// Where the config is looked up: (path, whether it must exist, what chose it).
    pub fn locate(explicit: Option<&Path>) -> (Option<PathBuf>, bool, &'static str) {
        match (explicit, std::env::var_os("DBARENA_CONFIG").filter(|v| !v.is_empty())) {
            (Some(p), _) => (Some(p.to_path_buf()), true, "--config"),
            (None, Some(p)) => (Some(PathBuf::from(p)), true, "$DBARENA_CONFIG"),
            (None, None) => (crate::paths::config_file(), false, "default location"),
        }
    }

    /// Loads the config from the first location that applies.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let (path, required, _) = Self::locate(explicit);
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

/// The keys of `[defaults]` and of each `[engines.ID]` table (kept in step with the
/// structs by a test), for `config check`'s did-you-mean.
pub const DEFAULTS_KEYS: &[&str] = &["publish-all-interfaces", "timeout", "durable", "memory", "client-host"];
pub const ENGINE_KEYS: &[&str] = &["image", "version", "timeout", "memory"];
const TOP_KEYS: &[&str] = &["defaults", "engines"];

/// Unknown keys in a parsed config file, each as "`key` ... did you mean `near`?".
pub fn unknown_keys(table: &toml::Table) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |section: &str, keys: &toml::Table, known: &[&str]| {
        for key in keys.keys() {
            if known.contains(&key.as_str()) {
                continue;
            }
            let near = known.iter().find(|k| strsim::damerau_levenshtein(k, key) <= 2);
            let hint = match near {
                Some(near) => format!("; did you mean `{near}`?"),
                None => format!("; known keys: {}", known.join(", ")),
            };
            problems.push(format!("unknown key `{section}{key}`{hint}"));
        }
    };
    check("", table, TOP_KEYS);
    if let Some(toml::Value::Table(defaults)) = table.get("defaults") {
        check("defaults.", defaults, DEFAULTS_KEYS);
    }
    if let Some(toml::Value::Table(engines)) = table.get("engines") {
        for (id, engine) in engines {
            if let toml::Value::Table(engine) = engine {
                check(&format!("engines.{id}."), engine, ENGINE_KEYS);
            }
        }
    }
    problems
}

/// Removes the keys [`unknown_keys`] reports, so the rest of a file can still be checked.
pub fn remove_unknown_keys(table: &mut toml::Table) {
    let keep = |known: &[&str], t: &mut toml::Table| t.retain(|k, _| known.contains(&k));
    keep(TOP_KEYS, table);
    if let Some(toml::Value::Table(defaults)) = table.get_mut("defaults") {
        keep(DEFAULTS_KEYS, defaults);
    }
    if let Some(toml::Value::Table(engines)) = table.get_mut("engines") {
        for (_, engine) in engines.iter_mut() {
            if let toml::Value::Table(engine) = engine {
                keep(ENGINE_KEYS, engine);
            }
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

    #[test]
    fn key_lists_match_the_structs() {
        let defaults: String = DEFAULTS_KEYS.iter().map(|k| format!("{k} = {}\n", sample(k))).collect();
        let engine: String = ENGINE_KEYS.iter().map(|k| format!("{k} = {}\n", sample(k))).collect();
        let text = format!("[defaults]\n{defaults}[engines.x]\n{engine}");
        let config: Config = toml::from_str(&text).unwrap();
        assert_eq!(config.defaults.timeout, Some(5));
        assert!(unknown_keys(&toml::from_str(&text).unwrap()).is_empty());
        fn sample(key: &str) -> &'static str {
            match key {
                "timeout" => "5",
                "durable" | "publish-all-interfaces" => "true",
                _ => "\"x\"",
            }
        }
    }

    #[test]
    fn unknown_keys_suggest_the_near_one() {
        let table: toml::Table = toml::from_str("[defualts]\n[engines.redis]\nimgae = \"x\"\nfoo = 1\n").unwrap();
        let problems = unknown_keys(&table);
        assert!(
            problems.contains(&"unknown key `defualts`; did you mean `defaults`?".to_string()),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("`engines.redis.imgae`; did you mean `image`?")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("`engines.redis.foo`; known keys: image")),
            "{problems:?}"
        );
    }
}
