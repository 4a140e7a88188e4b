//! A database instance as dbarena presents it: its [`record`] (what it was created as)
//! joined with what the container engine says now (state, ports, volumes).

pub mod lock;
pub mod naming;
pub mod record;

pub use naming::{generate_name, validate_name, volume_name};
pub use record::InstanceRecord;

use crate::container::endpoint::ClientAddress;
use crate::container::{ContainerInfo, State};
use crate::plugin::Plugin;
use crate::plugin::bindings::{ConnectionForm, Endpoint};
use serde::Serialize;

/// Health as users see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Running, not yet accepting clients, still within its start-up time.
    Starting,
    /// Running and accepting clients.
    Healthy,
    /// Running but not accepting clients past its start-up time.
    Unhealthy,
    /// Not running.
    Stopped,
    /// No container: only its persistent volume is left (`create` with the same name
    /// reattaches it; `destroy NAME --remove-volume` deletes it).
    Orphaned,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Starting => "starting",
            Status::Healthy => "healthy",
            Status::Unhealthy => "unhealthy",
            Status::Stopped => "stopped",
            Status::Orphaned => "volume only",
        })
    }
}

/// Everything `list`, `inspect` and `create --json` report about one instance.
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub name: String,
    pub engine: String,
    pub version: String,
    pub status: Status,
    pub host: String,
    pub port: Option<u16>,
    pub user: String,
    pub password: String,
    pub database: String,
    pub url: Option<String>,
    /// Client environment variables (e.g. PGHOST), as an object in JSON.
    pub env: std::collections::BTreeMap<String, String>,
    pub shell: Vec<String>,
    /// Other forms of the connection (JDBC URL, ADO.NET string...), from the plugin.
    pub connection_forms: Vec<ConnectionForm>,
    pub persistent: bool,
    pub mode: String,
    pub image: String,
    pub container_id: String,
    pub volumes: Vec<String>,
    pub created_at: Option<String>,
    pub started_at: Option<String>,
    pub uptime_secs: Option<i64>,
    pub plugin_version: String,
    /// Seconds until `create --ttl` expires it (negative: overdue for `dbarena gc`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<i64>,
    /// The server's own version, as its handshake reported it (when it was just proven).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// The project (`dbarena up`) the instance belongs to: its `dbarena.toml`'s directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// Where clients reach `record`'s instance running as `info`, if its port is published:
/// the engine's [`ClientAddress`] (this machine's loopback for a local engine, the
/// engine's host for a remote one, or the user's override) and the published port.
pub fn endpoint(info: &ContainerInfo, record: &InstanceRecord, client: &ClientAddress) -> Option<Endpoint> {
    let published = info.ports.iter().find(|p| p.container_port == record.container_port)?;
    Some(Endpoint {
        host: client.host_for(&published.host_ip),
        port: published.host_port,
        credentials: record.credentials.clone(),
    })
}

impl Instance {
    /// The version the server reports when it is not the one asked for: a pinned image
    /// (config or `--image`) can run another version than `ENGINE@VERSION` says.
    pub fn other_server_version(&self) -> Option<&str> {
        self.server_version
            .as_deref()
            .filter(|running| !same_version(&self.version, running))
    }

    /// Warns when the server runs another version than the one asked for.
    pub fn warn_other_server_version(&self) {
        if let Some(running) = self.other_server_version() {
            crate::output::warn(format_args!(
                "{}: asked for {} {} but the server reports {} (image {}): check the image pinned in the config or --image",
                self.name, self.engine, self.version, running, self.image
            ));
        }
    }

    /// The view of a container; `plugin` (when the engine is installed) formats the URL,
    /// `status` comes from a probe or the container state, `client` is where clients
    /// reach the engine's ports.
    pub fn from_container(
        info: &ContainerInfo,
        record: &InstanceRecord,
        plugin: Option<&Plugin>,
        status: Status,
        client: &ClientAddress,
    ) -> Self {
        let at = endpoint(info, record, client);
        let connection = match (plugin, &at) {
            (Some(plugin), Some(at)) => plugin.connection(at).map_err(|e| tracing::warn!("{e}")).ok(),
            _ => None,
        };
        let running = info.state == State::Running;
        let mut view = Self::base(record, status);
        view.host = at
            .as_ref()
            .map(|a| a.host.clone())
            .unwrap_or_else(|| client.host_for(""));
        view.port = at.as_ref().map(|a| a.port);
        view.url = connection.as_ref().map(|c| c.url.clone());
        view.env = connection
            .as_ref()
            .map(|c| c.env.iter().cloned().collect())
            .unwrap_or_default();
        view.shell = connection.map(|c| c.shell).unwrap_or_default();
        view.connection_forms = match (plugin, &at) {
            (Some(plugin), Some(at)) => plugin
                .connection_forms(at)
                .map_err(|e| tracing::warn!("{e}"))
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        // A container started from a warm-start template or snapshot runs that image's id;
        // the instance's image is the one its record names.
        if !info.labels.contains_key(crate::template::key::ORIGIN) {
            view.image = info.image.clone();
        }
        view.container_id = info.id.clone();
        view.volumes = info.volumes.clone();
        view.started_at = info.started_at.filter(|_| running).map(|t| t.to_rfc3339());
        view.uptime_secs = info
            .started_at
            .filter(|_| running)
            .map(|t| (chrono::Utc::now() - t).num_seconds());
        view
    }

    /// The view of a persistent volume whose container is gone.
    pub fn orphaned(record: &InstanceRecord, volumes: Vec<String>) -> Self {
        let mut view = Self::base(record, Status::Orphaned);
        view.volumes = volumes;
        view
    }

    fn base(record: &InstanceRecord, status: Status) -> Self {
        let c = &record.credentials;
        Instance {
            name: record.name.clone(),
            engine: record.engine.clone(),
            version: record.version.clone(),
            status,
            host: String::new(),
            port: None,
            user: c.user.clone(),
            password: c.password.clone(),
            database: c.database.clone(),
            url: None,
            env: Default::default(),
            shell: Vec::new(),
            connection_forms: Vec::new(),
            persistent: record.persistent,
            mode: record::mode_name(record.mode).to_string(),
            image: record.image.clone(),
            container_id: String::new(),
            volumes: Vec::new(),
            created_at: Some(record.created_at.clone()).filter(|s| !s.is_empty()),
            started_at: None,
            uptime_secs: None,
            plugin_version: record.plugin_version.clone(),
            expires_in_secs: record.expires_at.map(|at| at - chrono::Utc::now().timestamp()),
            server_version: None,
            project: record.project.clone(),
        }
    }
}

/// Whether the version a server reports (`16.4 (Debian 16.4-1)`, `8.0.36`) is the one asked
/// for (`16`, `8.0`): the request is a prefix ending at a version-part boundary.
fn same_version(requested: &str, running: &str) -> bool {
    running
        .strip_prefix(requested)
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod version_tests {
    #[test]
    fn versions_match_by_whole_parts() {
        assert!(super::same_version("16", "16.4 (Debian 16.4-1.pgdg120+1)"));
        assert!(super::same_version("8.0", "8.0.36"));
        assert!(super::same_version("7", "7"));
        assert!(!super::same_version("17", "15.8"));
        assert!(!super::same_version("1", "16.4"));
        assert!(!super::same_version("8.0", "10.11.6-MariaDB"));
    }
}
