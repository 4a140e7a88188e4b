//! What every container command works with: config, plugins, the container backend, and
//! the lookups several commands share (an instance by name, every instance, its status).

use crate::config::Config;
use crate::container::docker::DockerBackend;
use crate::container::{ContainerBackend, ContainerInfo, State};
use crate::instance::{Instance, InstanceRecord, Status, record};
use crate::plugin::PluginRegistry;
use crate::readiness::ReadinessCheck;
use crate::resolve::Resolver;
use anyhow::bail;
use std::collections::BTreeMap;
use std::time::Duration;

pub struct Context<B = DockerBackend> {
    pub config: Config,
    pub registry: PluginRegistry,
    pub backend: B,
}

/// A container dbarena made, with its record.
pub struct Managed {
    pub info: ContainerInfo,
    pub record: InstanceRecord,
}

/// Persistent data whose container is gone.
pub struct Orphan {
    pub record: InstanceRecord,
    pub volumes: Vec<String>,
}

impl Context<DockerBackend> {
    /// `client_host` (`--client-host`) overrides the config's `client-host`; either
    /// overrides the address the engine's endpoint implies.
    pub async fn new(config: Option<&std::path::Path>, client_host: Option<&str>) -> anyhow::Result<Self> {
        let config = Config::load(config)?;
        let registry = super::load_plugins()?;
        if let Some(h) = config.defaults.client_host.as_deref() {
            crate::container::endpoint::check_client_host(h)
                .map_err(|e| anyhow::anyhow!("config [defaults] client-host: {e}"))?;
        }
        let client_host = client_host.or(config.defaults.client_host.as_deref());
        let backend = DockerBackend::connect().await?.with_client_host(client_host);
        Ok(Self {
            config,
            registry,
            backend,
        })
    }
}

impl<B: ContainerBackend> Context<B> {
    /// The resolver of a command that creates or starts instances (checks the config once).
    pub fn resolver(&self) -> anyhow::Result<Resolver<'_>> {
        Resolver::checked(&self.config, &self.registry)
    }

    /// The dbarena container called `name`; anything else is refused.
    pub async fn managed(&self, name: &str) -> anyhow::Result<Managed> {
        let info = match self.backend.inspect_container(name).await {
            Ok(info) => info,
            Err(crate::container::BackendError::NotFound(_)) => {
                let known: Vec<String> = self
                    .backend
                    .list_containers(&[record::managed_filter()])
                    .await
                    .map(|all| all.into_iter().map(|c| c.name).collect())
                    .unwrap_or_default();
                let hint = match did_you_mean(name, &known) {
                    Some(close) => format!("did you mean '{close}'? "),
                    None => String::new(),
                };
                bail!(
                    "no instance named '{}' ({hint}see `dbarena list --all`)",
                    crate::output::escape(name)
                );
            }
            Err(e) => return Err(e.into()),
        };
        if !record::is_managed(&info.labels) {
            bail!("container '{name}' was not created by dbarena; refusing to touch it");
        }
        let record = InstanceRecord::from_labels(&info.labels).map_err(|e| anyhow::anyhow!("instance {name}: {e}"))?;
        Ok(Managed { info, record })
    }

    /// Every dbarena container, running or not, by name. Unreadable records are skipped
    /// with a warning (they are still removable by name).
    pub async fn all_managed(&self) -> anyhow::Result<Vec<Managed>> {
        let mut all: Vec<Managed> = self
            .backend
            .list_containers(&[record::managed_filter()])
            .await?
            .into_iter()
            .filter_map(|info| match InstanceRecord::from_labels(&info.labels) {
                Ok(record) => Some(Managed { info, record }),
                Err(e) => {
                    crate::output::warn(format_args!("container {}: {e}", info.name));
                    None
                }
            })
            .collect();
        all.sort_by(|a, b| a.record.name.cmp(&b.record.name));
        Ok(all)
    }

    /// dbarena's named volumes by instance name (one Docker call).
    pub async fn volumes_by_instance(&self) -> anyhow::Result<BTreeMap<String, Vec<crate::container::VolumeInfo>>> {
        let mut by_name: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for v in self.backend.list_volumes(&[record::managed_filter()]).await? {
            if let Some(name) = record::instance_name(&v.labels) {
                by_name.entry(name.to_string()).or_default().push(v);
            }
        }
        for volumes in by_name.values_mut() {
            volumes.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(by_name)
    }

    /// Persistent data whose instance has no container any more.
    pub async fn orphans(&self, containers: &[Managed]) -> anyhow::Result<Vec<Orphan>> {
        let mut orphans = Vec::new();
        for (name, volumes) in self.volumes_by_instance().await? {
            if containers.iter().any(|m| m.record.name == name) {
                continue;
            }
            let Some(first) = volumes.first() else { continue };
            match InstanceRecord::from_labels(&first.labels) {
                Ok(record) => orphans.push(Orphan {
                    record,
                    volumes: volumes.into_iter().map(|v| v.name).collect(),
                }),
                Err(e) => crate::output::warn(format_args!("volume {}: {e}", first.name)),
            }
        }
        Ok(orphans)
    }

    /// Status as users see it: running instances are probed once through their port, and
    /// the probe's handshake gives the version the server reports about itself.
    pub async fn status_of(&self, m: &Managed) -> (Status, Option<String>) {
        if m.info.state != State::Running {
            return (Status::Stopped, None);
        }
        let resolver = Resolver::new(&self.config, &self.registry);
        let Ok(resolved) = resolver.existing(&m.record, None) else {
            return (Status::Unhealthy, None);
        };
        let check = ReadinessCheck::new(
            &self.backend,
            resolved.plugin,
            &m.info,
            &m.record,
            &resolved.spec.readiness,
            Duration::ZERO,
            None,
        );
        if let Some(info) = check.accepts_clients().await {
            return (Status::Healthy, info.server_version);
        }
        let within_startup = m
            .info
            .started_at
            .is_some_and(|t| (chrono::Utc::now() - t).num_seconds() < resolved.timeout.as_secs() as i64);
        let status = if within_startup {
            Status::Starting
        } else {
            Status::Unhealthy
        };
        (status, None)
    }

    /// The user-facing view of an instance, with its current status and server version.
    pub async fn instance(&self, m: &Managed) -> Instance {
        let (status, server_version) = self.status_of(m).await;
        let plugin = self.registry.get(&m.record.engine).ok().map(|e| &e.plugin);
        let mut view = Instance::from_container(&m.info, &m.record, plugin, status, self.backend.client_address());
        view.server_version = server_version;
        view
    }
}

/// The known name closest to `name`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.as_str())
}

#[cfg(test)]
mod did_you_mean_tests {
    #[test]
    fn a_typo_finds_the_instance_and_nonsense_finds_nothing() {
        let known = vec!["dbarena-postgres-16-a3f9".to_string(), "cache".to_string()];
        assert_eq!(
            super::did_you_mean("dbarena-postgres-16-a3f8", &known),
            Some("dbarena-postgres-16-a3f9")
        );
        assert_eq!(super::did_you_mean("cahce", &known), Some("cache"));
        assert_eq!(super::did_you_mean("zzzz", &known), None);
    }
}
