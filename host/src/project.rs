//! Projects: a `dbarena.toml` at a repository's root declares named instances, found from
//! the current directory upwards like `Cargo.toml`. This module finds and parses the file
//! and turns each `[instances.NAME]` entry into the same [`CreateArgs`] `create` takes, so
//! a project instance is resolved exactly as the command line would resolve it.
//!
//! ```toml
//! [instances.db]
//! engine = "postgres"
//! version = "16"
//! init = ["db/schema.sql", "db/seed"]   # relative to this file's directory
//!
//! [instances.cache]
//! engine = "redis"
//! ```

use crate::cli::{CreateArgs, InstanceArgs};
use crate::instance::validate_name;
use anyhow::{Context as _, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The project file's name.
pub const FILE_NAME: &str = "dbarena.toml";

/// Largest project file read (it is a handful of tables).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Which project an instance belongs to, carried from `up` into `create` (and its record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The canonical path of the directory holding `dbarena.toml`: the project's identity.
    pub id: String,
    /// The project file, for messages.
    pub file: PathBuf,
}

/// A parsed `dbarena.toml`.
#[derive(Debug, Clone)]
pub struct Project {
    pub origin: Origin,
    /// The directory's name, for messages.
    pub name: String,
    /// The declared instances by name (their instance names), in name order.
    pub instances: BTreeMap<String, Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    instances: BTreeMap<String, Entry>,
}

/// `init = "file"` or `init = ["file", "dir"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Paths {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

/// One `[instances.NAME]` table: the engine and `create`'s options, by their flag names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Entry {
    pub engine: String,
    pub version: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: Option<String>,
    #[serde(default)]
    pub durable: bool,
    #[serde(default)]
    pub persistent: bool,
    pub memory: Option<String>,
    pub port: Option<u16>,
    pub image: Option<String>,
    pub timeout: Option<u64>,
    /// A lifetime such as `2h` (as `--ttl`).
    pub ttl: Option<String>,
    pub init: Option<Paths>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub publish_all_interfaces: bool,
}

/// The nearest `dbarena.toml` in `start` or one of its parents.
pub fn find(start: &Path) -> Option<PathBuf> {
    start.ancestors().map(|d| d.join(FILE_NAME)).find(|f| f.is_file())
}

/// The project of the current directory, if it is inside one.
pub fn current() -> anyhow::Result<Option<Project>> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    find(&cwd).map(|f| load(&f)).transpose()
}

/// The project of the current directory, or an error saying how to make one.
pub fn required(command: &str) -> anyhow::Result<Project> {
    match current()? {
        Some(p) => Ok(p),
        None => bail!(
            "`dbarena {command}` needs a {FILE_NAME} in the current directory or a parent \
             (see README: Projects)"
        ),
    }
}

/// Reads and validates the project file `file`; errors name the file and the key.
pub fn load(file: &Path) -> anyhow::Result<Project> {
    let shown = file.display();
    let size = std::fs::metadata(file).with_context(|| format!("{shown}"))?.len();
    if size > MAX_FILE_BYTES {
        bail!("{shown}: larger than {} KiB; not a project file", MAX_FILE_BYTES >> 10);
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("{shown}"))?;
    let dir = file
        .parent()
        .with_context(|| format!("{shown}: has no directory"))?
        .canonicalize()
        .with_context(|| format!("{shown}"))?;
    parse(&text, &dir, file)
}

/// Parses the text of a project file that lives in the canonical directory `dir`.
fn parse(text: &str, dir: &Path, file: &Path) -> anyhow::Result<Project> {
    let shown = file.display();
    let parsed: File = toml::from_str(text).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let id = dir
        .to_str()
        .with_context(|| format!("{shown}: the directory's path is not UTF-8"))?
        .to_string();
    let mut instances = parsed.instances;
    for (name, entry) in &mut instances {
        let at = || format!("{shown}: [instances.{}]", name.escape_debug());
        validate_name(name).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        if entry.engine.contains('@') {
            bail!("{}: engine: give the version as `version = \"...\"`", at());
        }
        // 0 would be no time at all to become ready: a mistake, never the server's fault.
        if entry.timeout == Some(0) {
            bail!("{}: timeout: must be at least 1 (seconds)", at());
        }
        if let Some(ttl) = &entry.ttl {
            crate::cli::parse_ttl(ttl).map_err(|e| anyhow::anyhow!("{}: ttl '{}': {e}", at(), ttl.escape_debug()))?;
        }
        for key in entry.env.keys() {
            if key.is_empty() || key.contains('=') {
                bail!("{}: env: invalid key '{}'", at(), key.escape_debug());
            }
        }
        // Relative init paths are the project's, wherever `up` runs from.
        entry.init = entry.init.take().map(|p| {
            let absolute = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
            match p {
                Paths::One(p) => Paths::Many(vec![absolute(p)]),
                Paths::Many(list) => Paths::Many(list.into_iter().map(absolute).collect()),
            }
        });
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    Ok(Project {
        origin: Origin {
            id,
            file: file.to_path_buf(),
        },
        name,
        instances,
    })
}

impl Project {
    /// Refuses a file that publishes an instance on every interface unless the user
    /// `confirmed` it (`up --publish-all-interfaces`): the file comes with a cloned
    /// repository, and so does the password in it.
    pub fn check_exposure(&self, confirmed: bool) -> anyhow::Result<()> {
        if confirmed {
            return Ok(());
        }
        if let Some(name) = self
            .instances
            .iter()
            .find_map(|(name, e)| e.publish_all_interfaces.then_some(name))
        {
            bail!(
                "{}: [instances.{name}]: publish-all-interfaces = true would make the database reachable from \
                 the network (every interface of this machine), and a project file cannot decide that for you; \
                 confirm with `dbarena up --publish-all-interfaces`, or remove the field",
                self.origin.file.display()
            );
        }
        Ok(())
    }

    /// The `create` arguments of the instance declared as `name`.
    pub fn create_args(&self, name: &str, entry: &Entry) -> CreateArgs {
        let engine = match &entry.version {
            Some(v) => format!("{}@{v}", entry.engine),
            None => entry.engine.clone(),
        };
        let init = match &entry.init {
            Some(Paths::One(p)) => vec![p.clone()],
            Some(Paths::Many(list)) => list.clone(),
            None => Vec::new(),
        };
        CreateArgs {
            engines: vec![engine],
            name: Some(name.to_string()),
            port: entry.port,
            image: entry.image.clone(),
            timeout: entry.timeout,
            publish_all_interfaces: entry.publish_all_interfaces,
            keep_on_failure: false,
            cold: false,
            from: None,
            // Validated by `parse`.
            ttl: entry.ttl.as_deref().and_then(|t| crate::cli::parse_ttl(t).ok()),
            init,
            json: false,
            instance: InstanceArgs {
                user: entry.user.clone(),
                password: entry.password.clone(),
                database: entry.database.clone(),
                durable: entry.durable,
                persistent: entry.persistent,
                memory: entry.memory.clone(),
                env: entry.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            },
            shared: Default::default(),
            project: Some(self.origin.clone()),
            lease: None,
        }
    }

    /// True when `record` belongs to this project.
    pub fn owns(&self, record: &crate::instance::InstanceRecord) -> bool {
        record.project.as_deref() == Some(self.origin.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> anyhow::Result<Project> {
        parse(text, Path::new("/repo/app"), Path::new("/repo/app/dbarena.toml"))
    }

    #[test]
    fn the_nearest_file_upwards_is_found() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(find(&deep), None);
        std::fs::write(root.path().join(FILE_NAME), "").unwrap();
        assert_eq!(find(&deep), Some(root.path().join(FILE_NAME)));
        std::fs::write(root.path().join("a").join(FILE_NAME), "").unwrap();
        assert_eq!(find(&deep), Some(root.path().join("a").join(FILE_NAME)));
        // A directory of that name is not a project file.
        std::fs::create_dir(deep.join(FILE_NAME)).unwrap();
        assert_eq!(find(&deep), Some(root.path().join("a").join(FILE_NAME)));
    }

    #[test]
    fn entries_become_create_arguments() {
        let p = parse_text(
            r#"
            [instances.db]
            engine = "postgres"
            version = "16"
            user = "app"
            persistent = true
            ttl = "2h"
            init = "db/schema.sql"
            env = { TZ = "UTC" }

            [instances.cache]
            engine = "redis"
            init = ["/abs/seed.redis", "seed"]
            "#,
        )
        .unwrap();
        assert_eq!(p.origin.id, "/repo/app");
        assert_eq!(p.name, "app");
        let names: Vec<&str> = p.instances.keys().map(String::as_str).collect();
        assert_eq!(names, ["cache", "db"]);
        let db = p.create_args("db", &p.instances["db"]);
        assert_eq!(db.engines, ["postgres@16"]);
        assert_eq!(db.name.as_deref(), Some("db"));
        assert_eq!(db.instance.user.as_deref(), Some("app"));
        assert!(db.instance.persistent);
        assert_eq!(db.ttl, Some(std::time::Duration::from_secs(7200)));
        assert_eq!(db.init, [PathBuf::from("/repo/app/db/schema.sql")]);
        assert_eq!(db.instance.env, ["TZ=UTC"]);
        assert_eq!(db.project.as_ref().map(|o| o.id.as_str()), Some("/repo/app"));
        let cache = p.create_args("cache", &p.instances["cache"]);
        assert_eq!(cache.engines, ["redis"]);
        assert_eq!(
            cache.init,
            [PathBuf::from("/abs/seed.redis"), PathBuf::from("/repo/app/seed")]
        );
        assert!(parse_text("").unwrap().instances.is_empty());
    }

    #[test]
    fn publishing_on_every_interface_needs_the_users_confirmation() {
        let p = parse_text("[instances.db]\nengine = \"postgres\"\npublish-all-interfaces = true\n").unwrap();
        let e = format!("{:#}", p.check_exposure(false).unwrap_err());
        assert!(
            e.contains("/repo/app/dbarena.toml: [instances.db]: publish-all-interfaces")
                && e.contains("dbarena up --publish-all-interfaces"),
            "{e}"
        );
        assert!(p.check_exposure(true).is_ok());
        assert!(
            parse_text("[instances.db]\nengine = \"redis\"\n")
                .unwrap()
                .check_exposure(false)
                .is_ok()
        );
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let e = format!(
            "{:#}",
            parse_text("[instances.db]\nengine = \"postgres\"\nversoin = \"16\"\n").unwrap_err()
        );
        assert!(e.contains("/repo/app/dbarena.toml") && e.contains("versoin"), "{e}");
        let e = format!(
            "{:#}",
            parse_text("[instance.db]\nengine = \"postgres\"\n").unwrap_err()
        );
        assert!(e.contains("dbarena.toml") && e.contains("instance"), "{e}");
        let e = format!("{:#}", parse_text("[instances.db]\nversion = \"16\"\n").unwrap_err());
        assert!(e.contains("engine"), "{e}");
        let e = format!(
            "{:#}",
            parse_text("[instances.\"bad name\"]\nengine = \"redis\"\n").unwrap_err()
        );
        assert!(e.contains("[instances.bad name]"), "{e}");
        let e = format!(
            "{:#}",
            parse_text("[instances.db]\nengine = \"redis\"\nttl = \"soon\"\n").unwrap_err()
        );
        assert!(e.contains("[instances.db]: ttl 'soon'"), "{e}");
        let e = format!(
            "{:#}",
            parse_text("[instances.db]\nengine = \"postgres@16\"\n").unwrap_err()
        );
        assert!(e.contains("version ="), "{e}");
        let e = format!(
            "{:#}",
            parse_text("[instances.db]\nengine = \"postgres\"\ntimeout = 0\n").unwrap_err()
        );
        assert!(
            e.contains("dbarena.toml: [instances.db]: timeout: must be at least 1"),
            "{e}"
        );
        assert!(parse_text("[instances.db]\nengine = \"postgres\"\ntimeout = 1\n").is_ok());
    }
}
