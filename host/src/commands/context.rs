//! What every container command works with: config, plugins, the container backend, and
//! the operations several commands share (finding an instance, waiting for readiness).

use crate::config::Config;
use crate::container::docker::DockerBackend;
use crate::container::{ContainerBackend, ContainerInfo, State, labels};
use crate::instance::{self, Instance, Status};
use crate::plugin::bindings::{ContainerSpec, Mode, Options};
use crate::plugin::{Plugin, PluginRegistry};
use crate::readiness::ReadinessCheck;
use anyhow::{Context as _, bail};
use std::time::Duration;

pub struct Context<B = DockerBackend> {
    pub config: Config,
    pub registry: PluginRegistry,
    pub backend: B,
}

impl Context<DockerBackend> {
    pub async fn new(config: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let config = Config::load(config)?;
        let registry = super::load_plugins()?;
        let backend = DockerBackend::connect().await?;
        Ok(Self {
            config,
            registry,
            backend,
        })
    }
}

impl<B: ContainerBackend> Context<B> {
    /// The dbarena container called `name`; anything else is refused.
    pub async fn managed(&self, name: &str) -> anyhow::Result<ContainerInfo> {
        let info = self.backend.inspect_container(name).await.map_err(|e| match e {
            crate::container::BackendError::NotFound(_) => {
                anyhow::anyhow!("no instance named '{name}' (see `dbarena list --all`)")
            }
            e => e.into(),
        })?;
        if !instance::is_managed(&info) {
            bail!("container '{name}' was not created by dbarena; refusing to touch it");
        }
        Ok(info)
    }

    /// Every dbarena container, running or not.
    pub async fn all_managed(&self) -> anyhow::Result<Vec<ContainerInfo>> {
        let mut all = self.backend.list_containers(&[labels::managed_filter()]).await?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    pub fn plugin(&self, engine: &str) -> Option<&Plugin> {
        self.registry.get(engine).ok().map(|e| &e.plugin)
    }

    /// Re-derives the container spec of an existing instance from its labels, for its
    /// readiness probes (the plugin is pure, so the same options give the same probes).
    pub fn spec_of(&self, info: &ContainerInfo) -> anyhow::Result<(&Plugin, ContainerSpec)> {
        let engine = info.labels.get(labels::ENGINE).map(String::as_str).unwrap_or_default();
        let plugin = self
            .plugin(engine)
            .with_context(|| format!("instance {} uses engine '{engine}', which is not installed", info.name))?;
        let creds = instance::credentials(info);
        let label = |k: &str| info.labels.get(k).cloned().unwrap_or_default();
        let opts = Options {
            version: label(labels::VERSION),
            user: Some(creds.user),
            password: creds.password,
            database: Some(creds.database),
            mode: if label(labels::MODE) == "durable" {
                Mode::Durable
            } else {
                Mode::Fast
            },
            persistent: label(labels::PERSISTENT) == "true",
            memory_limit_bytes: None,
            extra: Vec::new(),
        };
        Ok((plugin, plugin.container_spec(&opts)?))
    }

    /// The readiness timeout: the flag, else config, else the engine's own.
    pub fn timeout_for(&self, engine: &str, flag: Option<u64>, spec: &ContainerSpec) -> Duration {
        let secs = flag
            .or_else(|| self.config.engine(engine).and_then(|e| e.timeout))
            .or(self.config.defaults.timeout)
            .unwrap_or(spec.readiness.startup_timeout_secs as u64);
        Duration::from_secs(secs)
    }

    fn readiness_check<'a>(
        &'a self,
        info: &'a ContainerInfo,
        plugin: &'a Plugin,
        spec: &'a ContainerSpec,
        timeout: Duration,
        since: Option<i64>,
    ) -> ReadinessCheck<'a, B> {
        ReadinessCheck {
            backend: &self.backend,
            plugin,
            container_id: &info.id,
            readiness: &spec.readiness,
            credentials: instance::credentials(info),
            host: instance::client_host(info.ports.first().map(|p| p.host_ip.as_str()).unwrap_or("")),
            ports: &info.ports,
            timeout,
            since,
        }
    }

    /// Waits until `info`'s database accepts clients; on failure the error carries the
    /// last lines of its log.
    pub async fn wait_ready(
        &self,
        info: &ContainerInfo,
        plugin: &Plugin,
        spec: &ContainerSpec,
        timeout: Duration,
        since: Option<i64>,
        progress: &(dyn Fn(&str) + Send + Sync),
    ) -> anyhow::Result<Duration> {
        match self
            .readiness_check(info, plugin, spec, timeout, since)
            .wait(progress)
            .await
        {
            Ok(took) => Ok(took),
            Err(e) => {
                let tail = self.last_log_lines(&info.id, 20).await;
                Err(anyhow::anyhow!("{}: {e}{tail}", info.name))
            }
        }
    }

    /// The last `n` log lines, formatted for an error message ("" if there are none).
    pub async fn last_log_lines(&self, id: &str, n: usize) -> String {
        use futures_util::StreamExt;
        let lines: Vec<String> = self
            .backend
            .logs(id, false, Some(n), None)
            .filter_map(|l| async move { l.ok().map(|l| format!("  | {}", l.text)) })
            .collect()
            .await;
        if lines.is_empty() {
            String::new()
        } else {
            format!("\nlast log lines:\n{}", lines.join("\n"))
        }
    }

    /// Status as users see it: running instances are probed once through their port.
    pub async fn status_of(&self, info: &ContainerInfo) -> Status {
        if info.state != State::Running {
            return Status::Stopped;
        }
        let Ok((plugin, spec)) = self.spec_of(info) else {
            return Status::Unhealthy;
        };
        let check = self.readiness_check(info, plugin, &spec, Duration::ZERO, None);
        if check.accepts_clients().await {
            return Status::Healthy;
        }
        let within_startup = info
            .started_at
            .is_some_and(|t| (chrono::Utc::now() - t).num_seconds() < spec.readiness.startup_timeout_secs as i64);
        if within_startup {
            Status::Starting
        } else {
            Status::Unhealthy
        }
    }

    /// The user-facing view of an instance, with its current status.
    pub async fn instance(&self, info: &ContainerInfo) -> Instance {
        let status = self.status_of(info).await;
        let engine = info.labels.get(labels::ENGINE).map(String::as_str).unwrap_or_default();
        Instance::from_container(info, self.plugin(engine), status)
    }
}
