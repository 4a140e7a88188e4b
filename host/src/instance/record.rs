//! The instance record: everything needed to re-create, restart or clone an instance,
//! stored as `io.dbarena.*` labels on its container and on each of its persistent volumes.
//! Docker is the only store, and this module is the only code that reads or writes those
//! labels: every other module works with [`InstanceRecord`].
//!
//! The record is versioned (`io.dbarena.record`): a reader accepts every version up to
//! [`RECORD_VERSION`] and fills what an older one could not say with defaults, so fields
//! can be added later without breaking instances made by an older dbarena.

use crate::plugin::bindings::{Credentials, Mode, Options};
use std::collections::BTreeMap;

/// The record layout this dbarena writes. 0 is the unversioned layout of dbarena 0.1
/// (no memory limit, extra env or image recorded).
pub const RECORD_VERSION: u32 = 1;

mod key {
    pub const MANAGED: &str = "io.dbarena.managed";
    pub const RECORD: &str = "io.dbarena.record";
    pub const NAME: &str = "io.dbarena.name";
    pub const ENGINE: &str = "io.dbarena.engine";
    pub const VERSION: &str = "io.dbarena.version";
    pub const PLUGIN_VERSION: &str = "io.dbarena.plugin-version";
    pub const IMAGE: &str = "io.dbarena.image";
    pub const PERSISTENT: &str = "io.dbarena.persistent";
    pub const MODE: &str = "io.dbarena.mode";
    pub const CREATED_AT: &str = "io.dbarena.created-at";
    pub const REQUESTED_PORT: &str = "io.dbarena.requested-port";
    pub const CONTAINER_PORT: &str = "io.dbarena.container-port";
    pub const USER: &str = "io.dbarena.user";
    pub const PASSWORD: &str = "io.dbarena.password";
    pub const DATABASE: &str = "io.dbarena.database";
    pub const MEMORY: &str = "io.dbarena.memory-bytes";
    /// The user's `--env` extras, as a JSON array of `[key, value]` pairs.
    pub const EXTRA_ENV: &str = "io.dbarena.extra-env";
    /// Set by one `create` process on what it makes, so its clean-up can tell its own
    /// objects from another process's of the same name.
    pub const OWNER: &str = "io.dbarena.owner";
    /// When the instance expires (`create --ttl`), Unix seconds; absent: never.
    pub const EXPIRES_AT: &str = "io.dbarena.expires-at";
    /// Volume only: the data path the volume is mounted at.
    pub const DATA_PATH: &str = "io.dbarena.data-path";
    /// What the instance is for beyond itself: `shared-server` (tenants live on it).
    pub const ROLE: &str = "io.dbarena.role";
    /// The project (`dbarena.toml`) the instance belongs to: its directory's canonical path.
    pub const PROJECT: &str = "io.dbarena.project";
    /// The `dbarena run` process the instance lives for ([`crate::lease`]); container only.
    pub const LEASE: &str = "io.dbarena.lease";
}

/// [`InstanceRecord::role`] of a shared server, which holds tenants.
pub const ROLE_SHARED_SERVER: &str = "shared-server";

/// The label filter that selects every dbarena object.
pub fn managed_filter() -> String {
    format!("{}=true", key::MANAGED)
}

/// The label filter that selects the objects of instance `name`.
pub fn name_filter(name: &str) -> String {
    format!("{}={name}", key::NAME)
}

/// The label filter that selects what one create process made.
pub fn owner_filter(token: &str) -> String {
    format!("{}={token}", key::OWNER)
}

/// The label filter that selects the instances with an expiry.
pub fn expiring_filter() -> String {
    key::EXPIRES_AT.to_string()
}

/// The label filter that selects the instances a `dbarena run` holds.
pub fn leased_filter() -> String {
    key::LEASE.to_string()
}

/// True when dbarena created the object carrying `labels`; nothing else is ever touched.
pub fn is_managed(labels: &BTreeMap<String, String>) -> bool {
    labels.get(key::MANAGED).map(String::as_str) == Some("true")
}

/// The instance name recorded on an object, if it is dbarena's.
pub fn instance_name(labels: &BTreeMap<String, String>) -> Option<&str> {
    is_managed(labels)
        .then(|| labels.get(key::NAME).map(String::as_str))
        .flatten()
}

/// The create process that made an object (see [`key::OWNER`]).
pub fn owner(labels: &BTreeMap<String, String>) -> Option<&str> {
    labels.get(key::OWNER).map(String::as_str)
}

/// Everything that shapes an instance: reading it back gives the same container spec
/// and the same readiness probes as the create that wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    pub name: String,
    pub engine: String,
    /// The engine version, canonical (an alias such as `latest` is resolved).
    pub version: String,
    pub plugin_version: String,
    /// The image the container runs, after `--image` and config overrides.
    pub image: String,
    pub mode: Mode,
    pub persistent: bool,
    pub credentials: Credentials,
    pub memory_limit_bytes: Option<u64>,
    /// The user's `--env` extras, in order.
    pub extra_env: Vec<(String, String)>,
    /// The host port the user asked for, when they did.
    pub requested_port: Option<u16>,
    /// The container port clients use (the spec's first port).
    pub container_port: u16,
    /// RFC 3339.
    pub created_at: String,
    /// What the instance is for beyond itself ([`ROLE_SHARED_SERVER`]); `None`: an
    /// ordinary instance. Added without a record version bump: older readers ignore it.
    pub role: Option<String>,
    /// `create --ttl`: when `dbarena gc` (and any command, for an ephemeral instance) may
    /// destroy it, Unix seconds.
    pub expires_at: Option<i64>,
    /// `dbarena up`: the canonical path of the directory holding the project's
    /// `dbarena.toml`; `None` for an instance made outside a project. Added without a
    /// record version bump: older readers ignore it.
    pub project: Option<String>,
    /// `dbarena run`: the lease of the process the instance lives for ([`crate::lease`]),
    /// so `gc` removes it once that process is gone. Never on a volume: persistent data
    /// outlives the run. Added without a record version bump: older readers ignore it.
    pub lease: Option<String>,
}

/// Why labels could not be read as a record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("not a dbarena object")]
    NotManaged,
    #[error("written by a newer dbarena (record version {0}, this one reads up to {RECORD_VERSION}); upgrade dbarena")]
    TooNew(u32),
    #[error("label {0} is missing or invalid")]
    Invalid(&'static str),
}

pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Fast => "fast",
        Mode::Durable => "durable",
    }
}

fn parse_mode(name: &str) -> Option<Mode> {
    match name {
        "fast" => Some(Mode::Fast),
        "durable" => Some(Mode::Durable),
        _ => None,
    }
}

impl InstanceRecord {
    /// The labels of the instance's container. `owner` marks what one create made.
    pub fn container_labels(&self, owner: Option<&str>) -> BTreeMap<String, String> {
        let c = &self.credentials;
        let mut labels: BTreeMap<String, String> = [
            (key::MANAGED, "true".to_string()),
            (key::RECORD, RECORD_VERSION.to_string()),
            (key::NAME, self.name.clone()),
            (key::ENGINE, self.engine.clone()),
            (key::VERSION, self.version.clone()),
            (key::PLUGIN_VERSION, self.plugin_version.clone()),
            (key::IMAGE, self.image.clone()),
            (key::PERSISTENT, self.persistent.to_string()),
            (key::MODE, mode_name(self.mode).to_string()),
            (key::CREATED_AT, self.created_at.clone()),
            (
                key::REQUESTED_PORT,
                self.requested_port.map(|p| p.to_string()).unwrap_or_default(),
            ),
            (key::CONTAINER_PORT, self.container_port.to_string()),
            (key::USER, c.user.clone()),
            (key::PASSWORD, c.password.clone()),
            (key::DATABASE, c.database.clone()),
            (
                key::MEMORY,
                self.memory_limit_bytes.map(|m| m.to_string()).unwrap_or_default(),
            ),
            (
                key::EXTRA_ENV,
                serde_json::to_string(&self.extra_env).expect("pairs of strings serialise"),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(owner) = owner {
            labels.insert(key::OWNER.into(), owner.into());
        }
        if let Some(role) = &self.role {
            labels.insert(key::ROLE.into(), role.clone());
        }
        if let Some(at) = self.expires_at {
            labels.insert(key::EXPIRES_AT.into(), at.to_string());
        }
        if let Some(project) = &self.project {
            labels.insert(key::PROJECT.into(), project.clone());
        }
        if let Some(lease) = &self.lease {
            labels.insert(key::LEASE.into(), lease.clone());
        }
        labels
    }

    /// The labels of the persistent volume mounted at `data_path`: the whole record, so a
    /// later create of the same name serves the data with the credentials it was made with.
    pub fn volume_labels(&self, data_path: &str, owner: Option<&str>) -> BTreeMap<String, String> {
        let mut labels = self.container_labels(owner);
        // A later create that reattaches the data is nobody's run.
        labels.remove(key::LEASE);
        labels.insert(key::DATA_PATH.into(), data_path.into());
        labels
    }

    /// Reads a record back from container or volume labels.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Result<Self, RecordError> {
        if !is_managed(labels) {
            return Err(RecordError::NotManaged);
        }
        let get = |k: &'static str| labels.get(k).map(String::as_str).unwrap_or("");
        let version: u32 = match get(key::RECORD) {
            "" => 0,
            v => v.parse().map_err(|_| RecordError::Invalid(key::RECORD))?,
        };
        if version > RECORD_VERSION {
            return Err(RecordError::TooNew(version));
        }
        let required = |k: &'static str| match get(k) {
            "" => Err(RecordError::Invalid(k)),
            v => Ok(v.to_string()),
        };
        let optional_number = |k: &'static str| -> Result<Option<u64>, RecordError> {
            match get(k) {
                "" => Ok(None),
                v => v.parse().map(Some).map_err(|_| RecordError::Invalid(k)),
            }
        };
        let extra_env = match get(key::EXTRA_ENV) {
            "" => Vec::new(),
            json => serde_json::from_str(json).map_err(|_| RecordError::Invalid(key::EXTRA_ENV))?,
        };
        let requested_port = optional_number(key::REQUESTED_PORT)?
            .map(|p| u16::try_from(p).map_err(|_| RecordError::Invalid(key::REQUESTED_PORT)))
            .transpose()?;
        Ok(Self {
            name: required(key::NAME)?,
            engine: required(key::ENGINE)?,
            version: get(key::VERSION).to_string(),
            plugin_version: get(key::PLUGIN_VERSION).to_string(),
            image: get(key::IMAGE).to_string(),
            mode: parse_mode(get(key::MODE)).unwrap_or(Mode::Fast),
            persistent: get(key::PERSISTENT) == "true",
            credentials: Credentials {
                user: get(key::USER).to_string(),
                password: get(key::PASSWORD).to_string(),
                database: get(key::DATABASE).to_string(),
            },
            memory_limit_bytes: optional_number(key::MEMORY)?,
            extra_env,
            requested_port,
            container_port: get(key::CONTAINER_PORT)
                .parse()
                .map_err(|_| RecordError::Invalid(key::CONTAINER_PORT))?,
            created_at: get(key::CREATED_AT).to_string(),
            role: Some(get(key::ROLE).to_string()).filter(|r| !r.is_empty()),
            expires_at: match get(key::EXPIRES_AT) {
                "" => None,
                v => Some(v.parse().map_err(|_| RecordError::Invalid(key::EXPIRES_AT))?),
            },
            project: Some(get(key::PROJECT).to_string()).filter(|p| !p.is_empty()),
            lease: Some(get(key::LEASE).to_string()).filter(|l| !l.is_empty()),
        })
    }

    /// The data path a volume's labels say it is mounted at.
    pub fn data_path(volume_labels: &BTreeMap<String, String>) -> Option<&str> {
        volume_labels.get(key::DATA_PATH).map(String::as_str)
    }

    /// The plugin options that reproduce this instance's container spec.
    pub fn options(&self) -> Options {
        Options {
            version: self.version.clone(),
            user: Some(self.credentials.user.clone()),
            password: self.credentials.password.clone(),
            database: Some(self.credentials.database.clone()),
            mode: self.mode,
            persistent: self.persistent,
            memory_limit_bytes: self.memory_limit_bytes,
            extra: self.extra_env.clone(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> InstanceRecord {
        InstanceRecord {
            name: "pg1".into(),
            engine: "postgres".into(),
            version: "15".into(),
            plugin_version: "0.1.0".into(),
            image: "dbarena-test/postgres:15".into(),
            mode: Mode::Durable,
            persistent: true,
            credentials: Credentials {
                user: "app user".into(),
                password: "p@ss:w/rd".into(),
                database: "shop".into(),
            },
            memory_limit_bytes: Some(512 << 20),
            extra_env: vec![("TZ".into(), "UTC".into()), ("A".into(), "b=c".into())],
            requested_port: Some(15432),
            container_port: 5432,
            created_at: "2026-11-22T07:00:00+00:00".into(),
            role: None,
            expires_at: Some(1_800_000_000),
            project: Some("/home/me/shop".into()),
            lease: None,
        }
    }

    #[test]
    fn a_record_round_trips_through_container_and_volume_labels() {
        let record = sample();
        assert_eq!(
            InstanceRecord::from_labels(&record.container_labels(None)).unwrap(),
            record
        );
        let volume = record.volume_labels("/var/lib/postgresql/data", Some("tok"));
        assert_eq!(InstanceRecord::from_labels(&volume).unwrap(), record);
        // A run's lease is on its container, never on the data that outlives it.
        let leased = InstanceRecord {
            lease: Some("m=1,b=2,ns=3,pid=4,start=5".into()),
            ..record.clone()
        };
        assert_eq!(
            InstanceRecord::from_labels(&leased.container_labels(None)).unwrap(),
            leased
        );
        let leased_volume = leased.volume_labels("/data", None);
        assert_eq!(InstanceRecord::from_labels(&leased_volume).unwrap().lease, None);
        assert_eq!(InstanceRecord::data_path(&volume), Some("/var/lib/postgresql/data"));
        assert_eq!(owner(&volume), Some("tok"));
    }

    #[test]
    fn the_record_gives_back_every_option_that_shapes_the_spec() {
        let opts = sample().options();
        assert_eq!(opts.memory_limit_bytes, Some(512 << 20));
        assert_eq!(opts.extra, sample().extra_env);
        assert_eq!(opts.user.as_deref(), Some("app user"));
        assert_eq!(opts.mode, Mode::Durable);
        assert!(opts.persistent);
    }

    #[test]
    fn unversioned_labels_of_dbarena_0_1_are_read_with_defaults() {
        let labels: BTreeMap<String, String> = [
            ("io.dbarena.managed", "true"),
            ("io.dbarena.name", "old"),
            ("io.dbarena.engine", "redis"),
            ("io.dbarena.version", "7"),
            ("io.dbarena.mode", "fast"),
            ("io.dbarena.container-port", "6379"),
            ("io.dbarena.requested-port", ""),
            ("io.dbarena.password", "pw"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let r = InstanceRecord::from_labels(&labels).unwrap();
        assert_eq!(
            (r.name.as_str(), r.engine.as_str(), r.container_port),
            ("old", "redis", 6379)
        );
        assert_eq!(r.memory_limit_bytes, None);
        assert!(r.extra_env.is_empty());
        assert_eq!(r.requested_port, None);
    }

    #[test]
    fn foreign_newer_and_corrupt_labels_are_refused() {
        assert!(matches!(
            InstanceRecord::from_labels(&BTreeMap::new()),
            Err(RecordError::NotManaged)
        ));
        let mut labels = sample().container_labels(None);
        labels.insert("io.dbarena.record".into(), "99".into());
        assert!(matches!(
            InstanceRecord::from_labels(&labels),
            Err(RecordError::TooNew(99))
        ));
        let mut labels = sample().container_labels(None);
        labels.insert("io.dbarena.extra-env".into(), "{not json".into());
        assert!(matches!(
            InstanceRecord::from_labels(&labels),
            Err(RecordError::Invalid(_))
        ));
        let mut labels = sample().container_labels(None);
        labels.insert("io.dbarena.requested-port".into(), "70000".into());
        assert!(InstanceRecord::from_labels(&labels).is_err());
    }
}
