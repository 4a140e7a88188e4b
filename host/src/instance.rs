//! A database instance as dbarena presents it, read back from a container's labels and
//! state (Docker is the only record), plus naming rules.

use crate::container::{ContainerInfo, State, labels};
use crate::plugin::Plugin;
use crate::plugin::bindings::{Credentials, Endpoint};
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
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Starting => "starting",
            Status::Healthy => "healthy",
            Status::Unhealthy => "unhealthy",
            Status::Stopped => "stopped",
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
    pub persistent: bool,
    pub mode: String,
    pub image: String,
    pub container_id: String,
    pub volumes: Vec<String>,
    pub created_at: Option<String>,
    pub started_at: Option<String>,
    pub uptime_secs: Option<i64>,
    pub plugin_version: String,
}

fn label<'a>(info: &'a ContainerInfo, key: &str) -> &'a str {
    info.labels.get(key).map(String::as_str).unwrap_or("")
}

/// True when dbarena created this container (it never touches any other).
pub fn is_managed(info: &ContainerInfo) -> bool {
    label(info, labels::MANAGED) == "true"
}

/// The credentials recorded on the container.
pub fn credentials(info: &ContainerInfo) -> Credentials {
    Credentials {
        user: label(info, labels::USER).to_string(),
        password: label(info, labels::PASSWORD).to_string(),
        database: label(info, labels::DATABASE).to_string(),
    }
}

/// The host address clients use for a port bound to `host_ip`.
pub fn client_host(host_ip: &str) -> String {
    match host_ip {
        "" | "0.0.0.0" | "::" => "127.0.0.1".to_string(),
        ip => ip.to_string(),
    }
}

impl Instance {
    /// Builds the view from the container; `plugin` (when the engine is still installed)
    /// formats the URL, `status` comes from a probe or the container state.
    pub fn from_container(info: &ContainerInfo, plugin: Option<&Plugin>, status: Status) -> Self {
        let container_port: Option<u16> = label(info, labels::CONTAINER_PORT).parse().ok();
        let published = info.ports.iter().find(|p| Some(p.container_port) == container_port);
        let host = published
            .map(|p| client_host(&p.host_ip))
            .unwrap_or_else(|| "127.0.0.1".into());
        let port = published.map(|p| p.host_port);
        let creds = credentials(info);
        let connection = match (plugin, port) {
            (Some(plugin), Some(port)) => plugin
                .connection(&Endpoint {
                    host: host.clone(),
                    port,
                    credentials: creds.clone(),
                })
                .map_err(|e| tracing::warn!("{e}"))
                .ok(),
            _ => None,
        };
        let now = chrono::Utc::now();
        Instance {
            name: info.name.clone(),
            engine: label(info, labels::ENGINE).to_string(),
            version: label(info, labels::VERSION).to_string(),
            status,
            host,
            port,
            user: creds.user,
            password: creds.password,
            database: creds.database,
            url: connection.as_ref().map(|c| c.url.clone()),
            env: connection
                .as_ref()
                .map(|c| c.env.iter().cloned().collect())
                .unwrap_or_default(),
            shell: connection.map(|c| c.shell).unwrap_or_default(),
            persistent: label(info, labels::PERSISTENT) == "true",
            mode: label(info, labels::MODE).to_string(),
            image: info.image.clone(),
            container_id: info.id.clone(),
            volumes: info.volumes.clone(),
            created_at: Some(label(info, labels::CREATED_AT).to_string()).filter(|s| !s.is_empty()),
            started_at: info
                .started_at
                .filter(|_| info.state == State::Running)
                .map(|t| t.to_rfc3339()),
            uptime_secs: info
                .started_at
                .filter(|_| info.state == State::Running)
                .map(|t| (now - t).num_seconds()),
            plugin_version: label(info, labels::PLUGIN_VERSION).to_string(),
        }
    }
}

/// Container names Docker accepts, kept short enough for volume names derived from them.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        anyhow::bail!(
            "invalid --name '{name}': use letters, digits, '_', '.', '-' (up to 64, starting with a letter or digit)"
        )
    }
}

/// A fresh name like `dbarena-postgres-16-a3f9`.
pub fn generate_name(engine: &str, version: &str) -> String {
    let suffix: u16 = rand::random();
    let version: String = version
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("dbarena-{engine}-{version}-{suffix:04x}")
}

/// The named volume that holds data path number `index` of instance `name`.
pub fn volume_name(name: &str, index: usize) -> String {
    if index == 0 {
        format!("{name}-data")
    } else {
        format!("{name}-data-{index}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_valid_and_distinct() {
        let a = generate_name("postgres", "16");
        assert!(
            a.starts_with("dbarena-postgres-16-") && a.len() == "dbarena-postgres-16-".len() + 4,
            "{a}"
        );
        validate_name(&a).unwrap();
        assert!(validate_name("-bad").is_err());
        assert!(validate_name("bad name").is_err());
        assert_eq!(generate_name("mysql", "8.4").split('-').nth(2), Some("8"));
    }
}
