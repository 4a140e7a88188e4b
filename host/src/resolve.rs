//! Resolves what the user asked for (flags, the config file, the plugin's defaults) once,
//! into one [`ResolvedInstance`] that `create`, `engines` (preview), `images pull`, `start`
//! and `restart` all use, so they can never disagree about an instance's version, image,
//! credentials, memory, settings or timeout.

use crate::cli::InstanceArgs;
use crate::config::Config;
use crate::container::ImageRef;
use crate::instance::InstanceRecord;
use crate::plugin::bindings::{ContainerSpec, Mode, Options};
use crate::plugin::{Plugin, PluginFailure, PluginRegistry};
use anyhow::{Context as _, bail};
use rand::Rng;
use rand::distr::Alphanumeric;
use std::time::Duration;

/// Splits `postgres@16` into `("postgres", "16")`; no `@` means the default version ("").
pub fn split_engine_ref(reference: &str) -> (&str, &str) {
    reference.split_once('@').unwrap_or((reference, ""))
}

/// Parses a memory size such as `512m`, `2g` or `1GiB` (binary units, as Docker reads
/// them); `source` names where it came from (`--memory`, a config key) for the error.
pub fn parse_memory(size: &str, source: &str) -> anyhow::Result<u64> {
    let bytes = parse_size::Config::new()
        .with_binary()
        .parse_size(size)
        .map_err(|_| anyhow::anyhow!("invalid {source} '{size}': use a size like 512m or 2g"))?;
    const MIN: u64 = 6 << 20; // Docker refuses container limits below 6 MiB.
    if bytes < MIN {
        bail!("invalid {source} '{size}': Docker needs at least 6m");
    }
    Ok(bytes)
}

/// A 24-character password with upper, lower and digit characters (it satisfies SQL Server's
/// complexity rule) and nothing that needs quoting in a shell or URL.
pub fn generate_password() -> String {
    let mut rng = rand::rng();
    loop {
        let candidate: String = (&mut rng).sample_iter(&Alphanumeric).take(24).map(char::from).collect();
        let has = |f: fn(&char) -> bool| candidate.chars().any(|c| f(&c));
        if has(char::is_ascii_uppercase) && has(char::is_ascii_lowercase) && has(char::is_ascii_digit) {
            return candidate;
        }
    }
}

fn parse_env(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("invalid --env '{pair}': expected KEY=VALUE"),
        })
        .collect()
}

/// `--env` keys are checked here, before the plugin sees them: a key that is no
/// environment variable name is an error naming the flag (with the engine's closest
/// declared setting); a key the engine does not declare is a warning listing the ones it
/// does (engines may pass other keys on, e.g. any `REDIS_<NAME>`, so it is not refused).
fn check_env_keys(plugin: &Plugin, extra: &[(String, String)]) -> anyhow::Result<()> {
    if extra.is_empty() {
        return Ok(());
    }
    let known: Vec<String> = plugin
        .settings()
        .map(|s| s.into_iter().map(|s| s.name).collect())
        .unwrap_or_default();
    let near = |key: &str| {
        let squashed = key.to_ascii_uppercase().replace('-', "_");
        known
            .iter()
            .filter(|k| k.ends_with(&squashed) || strsim::damerau_levenshtein(k, &squashed) <= 2)
            .map(|k| format!("; did you mean {k}?"))
            .next()
            .unwrap_or_default()
    };
    let listed = if known.is_empty() {
        String::new()
    } else {
        format!(" (known: {})", known.join(", "))
    };
    for (key, _) in extra {
        let valid = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            bail!(
                "invalid --env '{}': the key must be a variable name (letters, digits, '_'){}{listed}",
                key.escape_debug(),
                near(key)
            );
        }
        if !known.is_empty() && !known.contains(key) {
            crate::output::warn(format_args!(
                "--env {key}: not a setting {} declares{}{listed}; passed on as is",
                plugin.id(),
                near(key)
            ));
        }
    }
    Ok(())
}

/// The flag a plugin's error field corresponds to, for messages that name what to fix.
fn flag_of(field: &str) -> String {
    match field {
        "version" => "ENGINE@VERSION".into(),
        "memory" => "--memory".into(),
        "env" => "--env".into(),
        other => format!("--{other}"),
    }
}

/// What one new instance is asked to be, from the command line.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `ENGINE` or `ENGINE@VERSION`.
    pub engine_ref: String,
    pub instance: InstanceArgs,
    pub image: Option<String>,
    pub port: Option<u16>,
    pub timeout: Option<u64>,
    pub publish_all_interfaces: bool,
}

/// One instance, fully resolved.
pub struct ResolvedInstance<'p> {
    pub plugin: &'p Plugin,
    /// What the instance is (and what its labels will say).
    pub record: InstanceRecord,
    /// The plugin's container spec for `record`, with `image` set to `record.image`.
    pub spec: ContainerSpec,
    pub timeout: Duration,
    pub publish_all_interfaces: bool,
    /// `--init` scripts this engine runs at first start (see [`crate::init`]).
    pub init: Vec<crate::init::InitScript>,
}

/// Resolves requests against the config file and the loaded plugins.
pub struct Resolver<'a> {
    pub config: &'a Config,
    pub registry: &'a PluginRegistry,
}

impl<'a> Resolver<'a> {
    pub fn new(config: &'a Config, registry: &'a PluginRegistry) -> Self {
        Self { config, registry }
    }

    /// A resolver for a command that acts on the config: `[engines.ID]` naming no
    /// available engine is an error when it is a near miss of one (a typo must not
    /// silently do nothing) and a warning otherwise (a shared config may configure a
    /// plugin this machine does not have).
    pub fn checked(config: &'a Config, registry: &'a PluginRegistry) -> anyhow::Result<Self> {
        for id in config.engines.keys() {
            if registry.knows(id) {
                continue;
            }
            let known: Vec<&str> = registry.iter().map(|e| e.plugin.id()).collect();
            let near = known.iter().find(|k| strsim::damerau_levenshtein(k, id) <= 2);
            match near {
                Some(near) => bail!(
                    "{}: [engines.{id}] names no available engine; did you mean [engines.{near}]?",
                    config.describe_source()
                ),
                None => crate::output::warn(format_args!(
                    "{}: [engines.{id}] names no installed engine (available: {}); ignored",
                    config.describe_source(),
                    known.join(", ")
                )),
            }
        }
        Ok(Self::new(config, registry))
    }

    /// The plugin and the canonical version (aliases and the config's default applied) of
    /// `ENGINE[@VERSION]`; an unknown engine or version is an error listing what exists.
    pub fn engine_version(&self, engine_ref: &str) -> anyhow::Result<(&'a Plugin, String)> {
        let (engine, version) = split_engine_ref(engine_ref);
        let plugin = &self.registry.get(engine)?.plugin;
        let info = plugin.info();
        let wanted = match version {
            "" => self
                .config
                .engine(engine)
                .and_then(|e| e.version.as_deref())
                .unwrap_or(&info.default_version),
            v => v,
        };
        let found = info
            .versions
            .iter()
            .find(|v| v.version == wanted || v.aliases.iter().any(|a| a == wanted))
            .ok_or_else(|| {
                let known: Vec<&str> = info.versions.iter().map(|v| v.version.as_str()).collect();
                anyhow::anyhow!(
                    "{engine} has no version '{wanted}'; available: {} (see `dbarena engines {engine}`)",
                    known.join(", ")
                )
            })?;
        Ok((plugin, found.version.clone()))
    }

    /// The image `ENGINE@VERSION` runs: the plugin's, with the config's mirror applied.
    pub fn image(&self, plugin: &Plugin, version: &str) -> anyhow::Result<String> {
        let info = plugin.info();
        let v = info
            .versions
            .iter()
            .find(|v| v.version == version)
            .with_context(|| format!("{} has no version '{version}'", info.id))?;
        self.override_image(&info.id, &format!("{}:{}", v.image_repository, v.image_tag), None)
    }

    /// `--image`, else the config's `[engines.ID] image` applied to `plugin_image` (a bare
    /// repository is a mirror and keeps the plugin's tag).
    fn override_image(&self, engine: &str, plugin_image: &str, flag: Option<&str>) -> anyhow::Result<String> {
        let parse = |text: &str, source: &str| ImageRef::parse(text).map_err(|e| anyhow::anyhow!("{source}: {e}"));
        let plugin = parse(plugin_image, &format!("plugin {engine}"))?;
        let image = match (flag, self.config.engine(engine).and_then(|e| e.image.as_deref())) {
            (Some(image), _) => parse(image, "--image")?,
            (None, Some(mirror)) => plugin.apply_override(&parse(
                mirror,
                &format!("{}: [engines.{engine}] image", self.config.describe_source()),
            )?),
            (None, None) => plugin,
        };
        Ok(image.to_string())
    }

    fn memory(&self, engine: &str, flag: Option<&str>) -> anyhow::Result<Option<u64>> {
        let source = self.config.describe_source();
        match (
            flag,
            self.config.engine(engine).and_then(|e| e.memory.as_deref()),
            self.config.defaults.memory.as_deref(),
        ) {
            (Some(m), _, _) => parse_memory(m, "--memory").map(Some),
            (None, Some(m), _) => parse_memory(m, &format!("{source}: [engines.{engine}] memory")).map(Some),
            (None, None, Some(m)) => parse_memory(m, &format!("{source}: [defaults] memory")).map(Some),
            (None, None, None) => Ok(None),
        }
    }

    /// The readiness timeout: the flag, else the config's, else the engine's own.
    pub fn timeout(&self, engine: &str, flag: Option<u64>, spec: &ContainerSpec) -> Duration {
        let secs = flag
            .or_else(|| self.config.engine(engine).and_then(|e| e.timeout))
            .or(self.config.defaults.timeout)
            .unwrap_or(spec.readiness.startup_timeout_secs as u64);
        Duration::from_secs(secs)
    }

    /// Resolves a new instance called `name`. `adopt` is the record of the persistent data
    /// the instance will serve (a volume left by an earlier instance of that name): its
    /// credentials are the only ones that data accepts, so they are reused, and a request
    /// the data cannot serve is an error rather than a URL that does not work.
    pub fn instance(
        &self,
        request: &Request,
        name: &str,
        adopt: Option<&InstanceRecord>,
    ) -> anyhow::Result<ResolvedInstance<'a>> {
        let (plugin, version) = self.engine_version(&request.engine_ref)?;
        let engine = plugin.id().to_string();
        let args = &request.instance;
        let durable = args.durable || self.config.defaults.durable.unwrap_or(false);
        let mut options = Options {
            version: version.clone(),
            user: args.user.clone(),
            password: args.password.clone().unwrap_or_else(generate_password),
            database: args.database.clone(),
            mode: if durable { Mode::Durable } else { Mode::Fast },
            persistent: args.persistent,
            memory_limit_bytes: self.memory(&engine, args.memory.as_deref())?,
            extra: parse_env(&args.env)?,
        };
        check_env_keys(plugin, &options.extra)?;
        if let Some(data) = adopt {
            check_adoptable(data, &engine, &version, args)?;
            options.user = Some(data.credentials.user.clone());
            options.password = data.credentials.password.clone();
            options.database = Some(data.credentials.database.clone());
        }
        let mut spec = plugin.container_spec(&options).map_err(|e| explain(e, &engine))?;
        let image = self.override_image(&engine, &spec.image, request.image.as_deref())?;
        spec.image = image.clone();
        let timeout = self.timeout(&engine, request.timeout, &spec);
        let record = InstanceRecord {
            name: name.to_string(),
            engine,
            version,
            plugin_version: plugin.info().plugin_version.clone(),
            image,
            mode: options.mode,
            persistent: options.persistent,
            credentials: spec.credentials.clone(),
            memory_limit_bytes: spec.memory_limit_bytes,
            extra_env: options.extra,
            requested_port: request.port,
            // No ports: an engine without a network protocol (validation allows it).
            container_port: spec.ports.first().copied().unwrap_or(0),
            created_at: chrono::Utc::now().to_rfc3339(),
            role: None,
            expires_at: None,
            project: None,
            lease: None,
        };
        Ok(ResolvedInstance {
            plugin,
            record,
            spec,
            timeout,
            publish_all_interfaces: request.publish_all_interfaces
                || self.config.defaults.publish_all_interfaces.unwrap_or(false),
            init: Vec::new(),
        })
    }

    /// An existing instance, from its record: the same spec and probes its create used.
    pub fn existing(&self, record: &InstanceRecord, timeout: Option<u64>) -> anyhow::Result<ResolvedInstance<'a>> {
        let plugin = &self
            .registry
            .get(&record.engine)
            .map_err(|_| {
                anyhow::anyhow!(
                    "instance {} uses engine '{}', which is not installed (see `dbarena engines`)",
                    record.name,
                    record.engine
                )
            })?
            .plugin;
        let mut spec = plugin
            .container_spec(&record.options())
            .map_err(|e| explain(e, &record.engine))?;
        if !record.image.is_empty() {
            spec.image = record.image.clone();
        }
        Ok(ResolvedInstance {
            plugin,
            record: record.clone(),
            timeout: self.timeout(&record.engine, timeout, &spec),
            spec,
            publish_all_interfaces: false,
            init: Vec::new(),
        })
    }
}

/// A plugin's refusal, worded with the flag the user gave.
fn explain(failure: PluginFailure, engine: &str) -> anyhow::Error {
    match failure {
        PluginFailure::Rejected {
            field: Some(field),
            message,
            ..
        } => anyhow::anyhow!("invalid {} for {engine}: {message}", flag_of(&field)),
        other => other.into(),
    }
}

/// Whether data made as `data` can serve a new instance of `engine@version` with `args`.
fn check_adoptable(data: &InstanceRecord, engine: &str, version: &str, args: &InstanceArgs) -> anyhow::Result<()> {
    let remedy = format!(
        "or delete the data first with `dbarena destroy {} --remove-volume`",
        data.name
    );
    if data.engine != engine || data.version != version {
        bail!(
            "the persistent data of '{}' was made by {} {}; {engine} {version} cannot serve it. \
             Create it as {}@{} {remedy}",
            data.name,
            data.engine,
            data.version,
            data.engine,
            data.version
        );
    }
    if data.credentials.password.is_empty() {
        bail!(
            "the persistent data of '{}' was made by an older dbarena that did not record its credentials; {remedy}",
            data.name
        );
    }
    let c = &data.credentials;
    for (flag, given, kept) in [
        ("--user", &args.user, &c.user),
        ("--password", &args.password, &c.password),
        ("--database", &args.database, &c.database),
    ] {
        if given.as_ref().is_some_and(|g| g != kept) {
            bail!(
                "the persistent data of '{}' keeps the credentials it was created with; {flag} cannot change them. \
                 Omit {flag} to reuse them, {remedy}",
                data.name
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::record::tests::sample;

    #[test]
    fn memory_sizes_use_binary_units_and_errors_name_the_source() {
        assert_eq!(parse_memory("512m", "--memory").unwrap(), 512 << 20);
        assert_eq!(parse_memory("2g", "--memory").unwrap(), 2 << 30);
        assert_eq!(parse_memory("1GiB", "--memory").unwrap(), 1 << 30);
        let err = parse_memory("10x", "--memory").unwrap_err().to_string();
        assert!(err.contains("--memory '10x'") && !err.contains("digit"), "{err}");
        assert!(parse_memory("1k", "--memory").unwrap_err().to_string().contains("6m"));
    }

    #[test]
    fn generated_passwords_are_strong_and_distinct() {
        let a = generate_password();
        assert_eq!(a.len(), 24);
        assert_ne!(a, generate_password());
    }

    #[test]
    fn env_pairs_need_a_key() {
        assert_eq!(parse_env(&["A=b=c".into()]).unwrap(), vec![("A".into(), "b=c".into())]);
        assert!(parse_env(&["=x".into()]).is_err());
        assert!(parse_env(&["noequals".into()]).is_err());
    }

    #[test]
    fn engine_refs_split_on_at() {
        assert_eq!(split_engine_ref("postgres@16"), ("postgres", "16"));
        assert_eq!(split_engine_ref("redis"), ("redis", ""));
    }

    #[test]
    fn adopted_data_keeps_its_engine_version_and_credentials() {
        let data = sample();
        let none = InstanceArgs::default();
        check_adoptable(&data, "postgres", "15", &none).unwrap();
        let same = InstanceArgs {
            user: Some("app user".into()),
            password: Some("p@ss:w/rd".into()),
            ..Default::default()
        };
        check_adoptable(&data, "postgres", "15", &same).unwrap();
        let err = check_adoptable(&data, "postgres", "16", &none).unwrap_err().to_string();
        assert!(err.contains("postgres 15") && err.contains("--remove-volume"), "{err}");
        assert!(check_adoptable(&data, "mysql", "15", &none).is_err());
        for args in [
            InstanceArgs {
                password: Some("other".into()),
                ..Default::default()
            },
            InstanceArgs {
                user: Some("other".into()),
                ..Default::default()
            },
            InstanceArgs {
                database: Some("other".into()),
                ..Default::default()
            },
        ] {
            let err = check_adoptable(&data, "postgres", "15", &args).unwrap_err().to_string();
            assert!(err.contains("cannot change them"), "{err}");
        }
        let mut old = sample();
        old.credentials.password.clear();
        assert!(check_adoptable(&old, "postgres", "15", &none).is_err());
    }
}
