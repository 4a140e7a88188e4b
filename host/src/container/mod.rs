//! The container runtime: what dbarena needs from a container engine, behind a trait so a
//! second backend (Kubernetes, Podman's own API) can be added without touching commands.
//! [`docker::DockerBackend`] is the implementation over the Docker Engine API;
//! [`fake::FakeBackend`] (tests only) an in-memory one, so host logic is unit-tested
//! without a daemon.

pub mod docker;
pub mod endpoint;
#[cfg(test)]
pub mod fake;
pub mod image_ref;
pub mod registry_api;
pub mod registry_auth;

pub use image_ref::{ImageRef, ImageRefError};

use futures_util::stream::BoxStream;
use std::collections::BTreeMap;
use std::time::Duration;
use thiserror::Error;

/// A container to create.
#[derive(Debug, Clone, Default)]
pub struct ContainerDef {
    pub name: String,
    pub image: String,
    pub env: Vec<(String, String)>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub ports: Vec<PortBinding>,
    pub mounts: Vec<Mount>,
    pub memory_limit_bytes: Option<u64>,
    /// Rotates the container's log at this size (keeping [`LOG_MAX_FILES`] files), so a
    /// chatty database cannot fill the disk; `None` keeps the daemon's setting. Applied
    /// only with the `json-file` and `local` log drivers, the ones that rotate.
    pub log_max_bytes: Option<u64>,
}

/// What callers put in [`ContainerDef::log_max_bytes`] unless told otherwise.
pub const DEFAULT_LOG_MAX_BYTES: u64 = 10 << 20;
/// Rotated log files kept per container when [`ContainerDef::log_max_bytes`] is set.
pub const LOG_MAX_FILES: u32 = 3;

/// Publishes `container_port` on `host_ip`; `host_port: None` lets the engine pick a free one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    pub container_port: u16,
    pub host_ip: String,
    pub host_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// A named volume (created beforehand with [`ContainerBackend::create_volume`]).
    Volume { name: String, target: String },
    /// A memory-backed filesystem, gone with the container.
    Tmpfs { target: String, size_bytes: u64 },
}

/// Lifecycle state as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Created,
    Running,
    Restarting,
    Paused,
    Exited,
    Dead,
    Removing,
    Unknown,
}

/// A published port as bound by the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    pub container_port: u16,
    pub host_ip: String,
    pub host_port: u16,
}

/// What the engine knows about one container.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    pub state: State,
    /// Exit code when exited.
    pub exit_code: Option<i64>,
    /// When the container last started (None if never).
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub ports: Vec<PublishedPort>,
    /// Names of the volumes mounted (named and anonymous).
    pub volumes: Vec<String>,
    /// The container's address on its (first) network, where other containers reach it
    /// (a pooler its server); only from inspect, `None` when not running.
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone)]
pub struct VolumeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub id: String,
    pub tags: Vec<String>,
    pub size_bytes: u64,
}

/// An image dbarena made (a warm-start template or a snapshot), found by its labels.
#[derive(Debug, Clone)]
pub struct LabelledImage {
    pub id: String,
    pub labels: BTreeMap<String, String>,
    /// Unix seconds.
    pub created: i64,
    pub size_bytes: u64,
}

/// Progress of an image pull, per layer.
#[derive(Debug, Clone)]
pub struct PullProgress {
    pub layer: String,
    pub status: String,
    pub current_bytes: u64,
    pub total_bytes: u64,
}

/// One line of container output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stderr: bool,
    pub text: String,
}

/// A command to run inside a running container.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecRequest<'a> {
    pub cmd: &'a [String],
    pub env: &'a [(String, String)],
    /// Written to the command's stdin, which is then closed; `None`: no stdin.
    pub stdin: Option<&'a [u8]>,
}

impl<'a> ExecRequest<'a> {
    pub fn new(cmd: &'a [String]) -> Self {
        ExecRequest {
            cmd,
            env: &[],
            stdin: None,
        }
    }
}

/// A file to copy into a container (see [`ContainerBackend::upload_files`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUpload {
    /// Absolute path inside the container; missing parent directories are created.
    pub path: String,
    pub content: Vec<u8>,
    /// Unix permission bits, e.g. 0o644.
    pub mode: u32,
}

/// Output kept per exec: more is cut (the end is kept), so a runaway command cannot
/// exhaust memory.
pub const MAX_EXEC_OUTPUT_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    /// stdout and stderr, interleaved.
    pub output: String,
}

/// Failures a command reacts to; everything else is [`BackendError::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BackendError {
    #[error("cannot reach the container engine: {0}")]
    Unavailable(String),
    #[error("permission denied on the container engine socket: {0}")]
    PermissionDenied(String),
    #[error("image {0} not found")]
    ImageNotFound(String),
    #[error("host port already in use: {message}")]
    PortInUse { port: Option<u16>, message: String },
    #[error("a container named {0} already exists")]
    NameInUse(String),
    #[error("no container or volume named {0}")]
    NotFound(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, BackendError>;

/// What dbarena needs from a container engine.
#[allow(async_fn_in_trait)]
pub trait ContainerBackend: Send + Sync {
    /// Where clients on this machine reach the ports this engine publishes: probes and
    /// printed URLs use it, and it decides which address ports are published on.
    fn client_address(&self) -> &endpoint::ClientAddress {
        &endpoint::LOCAL
    }

    /// A port free right now on `host_ip` of the engine's machine, so that a port dbarena
    /// picks is fixed in the container's binding and survives stop/start (a port left to
    /// Docker is chosen again at every start). `None` when this process cannot tell (a
    /// remote engine): Docker then chooses.
    fn free_host_port(&self, _host_ip: &str) -> Option<u16> {
        None
    }

    /// Whether `port` on `host_ip` is held by something right now (a published container
    /// port, another program), when this process can tell: a taken default port is then
    /// skipped without creating a container only to see its start fail. `None`: unknown.
    fn host_port_taken(&self, _host_ip: &str, _port: u16) -> Option<bool> {
        None
    }

    async fn image_exists(&self, image: &str) -> Result<bool>;
    /// Pulls `image`, reporting per-layer progress.
    async fn pull_image(&self, image: &str, progress: &(dyn Fn(PullProgress) + Send + Sync)) -> Result<()>;
    async fn remove_image(&self, image: &str) -> Result<()>;
    /// The id of a local image, `None` when it is not present.
    async fn image_id(&self, image: &str) -> Result<Option<String>>;
    /// Local images carrying all `labels` (`key=value` or `key`).
    async fn list_labelled_images(&self, labels: &[String]) -> Result<Vec<LabelledImage>>;
    /// Makes an image of container `id`'s filesystem (not its volumes), adding `labels`;
    /// returns the image id.
    async fn commit_container(&self, id: &str, labels: &BTreeMap<String, String>) -> Result<String>;
    /// Streams directory `path` of container `from` (volumes included; stopped or running)
    /// into container `to` at the same path, through the archive API; `to` must have
    /// `path`'s parent ([`Self::prepare_path`]).
    async fn copy_path(&self, from: &str, path: &str, to: &str) -> Result<()>;
    /// Makes the missing directories that `copy_path` to `path` unpacks into in container
    /// `id`.
    async fn prepare_path(&self, id: &str, path: &str) -> Result<()>;
    /// Freezes every process of a running container (`docker pause`), or thaws them.
    async fn set_paused(&self, id: &str, paused: bool) -> Result<()>;
    /// Renames a container (running or not).
    async fn rename_container(&self, id: &str, new_name: &str) -> Result<()>;
    /// Disconnects container `id` from its networks, which on Docker releases its published
    /// host ports while it keeps running (Podman keeps them until it stops); returns the
    /// networks for [`Self::attach_networks`].
    async fn detach_networks(&self, id: &str) -> Result<Vec<String>>;
    /// Connects container `id` to `networks` again (its port bindings apply at its next start).
    async fn attach_networks(&self, id: &str, networks: &[String]) -> Result<()>;

    /// Creates (does not start) a container; returns its id.
    async fn create_container(&self, def: &ContainerDef) -> Result<String>;
    async fn start_container(&self, id: &str) -> Result<()>;
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()>;
    async fn restart_container(&self, id: &str, timeout: Duration) -> Result<()>;
    /// Removes a container (forcefully) together with its anonymous volumes; named volumes stay.
    async fn remove_container(&self, id: &str) -> Result<()>;
    async fn inspect_container(&self, name_or_id: &str) -> Result<ContainerInfo>;
    /// Containers carrying all `labels` (`key=value` or `key`), running or not.
    async fn list_containers(&self, labels: &[String]) -> Result<Vec<ContainerInfo>>;

    /// Output lines, oldest first; `follow` keeps the stream open until the container stops;
    /// `since` (Unix seconds) skips older lines, e.g. those of a previous run.
    fn logs(
        &self,
        id: &str,
        follow: bool,
        tail: Option<usize>,
        since: Option<i64>,
    ) -> BoxStream<'static, Result<LogLine>>;
    /// Runs a command inside a running container and collects its output (at most
    /// [`MAX_EXEC_OUTPUT_BYTES`], the end kept).
    async fn exec(&self, id: &str, req: &ExecRequest<'_>) -> Result<ExecOutput>;
    /// Copies files into a container, created or running (owned by root).
    async fn upload_files(&self, id: &str, files: &[FileUpload]) -> Result<()>;

    async fn create_volume(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<()>;
    async fn inspect_volume(&self, name: &str) -> Result<Option<VolumeInfo>>;
    async fn remove_volume(&self, name: &str) -> Result<()>;
    async fn list_volumes(&self, labels: &[String]) -> Result<Vec<VolumeInfo>>;
}
