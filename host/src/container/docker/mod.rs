//! [`DockerBackend`]: the [`ContainerBackend`] over the Docker Engine API (via `bollard`).
//!
//! Errors are mapped to [`BackendError`] by HTTP status and by what the call was about
//! (a 404 on create means the image is missing, on inspect the container). Idempotent
//! reads are retried on transient failures (connection reset, 5xx, timeouts); calls that
//! change state are not.
//!
//! This file holds the client and the trait's calls; [`convert`] maps bollard's models to
//! ours, [`logs`] turns the log stream into lines, [`errors`] maps errors and retries.

mod convert;
mod errors;
mod interactive;
mod logs;
mod ssh;

pub use interactive::Attach;

use self::convert::{create_body, info_from_inspect, info_from_summary, secs_i32};
use self::errors::{Subject, map_err, map_pull_err, retry, server_message, status_of, with_endpoint};
use super::endpoint::{self, ClientAddress, EngineEndpoint};
use super::{
    BackendError, ContainerBackend, ContainerDef, ContainerInfo, ExecOutput, ExecRequest, FileUpload, ImageInfo,
    ImageRef, LabelledImage, LogLine, MAX_EXEC_OUTPUT_BYTES, PullProgress, Result, State, VolumeInfo,
};
use bollard::Docker;
use bollard::exec::StartExecResults;
use bollard::models::{ExecConfig, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder, ListImagesOptions,
    ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, RemoveVolumeOptions,
    RestartContainerOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use futures_util::stream::{BoxStream, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long the first call (the API version negotiation) may take: an engine that
/// accepts connections and never answers fails every command in this time, with its
/// address, instead of hanging. Over ssh the connection itself is made within it too.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const SSH_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The request timeout of reads (inspect, list, version): quick calls on a live engine,
/// bounded so a daemon that stops answering later fails a command in this time. A timed
/// out call is not retried (three tries would triple the wait).
pub(super) const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Calls that change state (create, start, remove, exec, logs...): bollard bounds the
/// wait for the response's headers only, so a log or exec stream outlives it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);
/// Calls whose answer comes only when a transfer is done: pull (its first progress
/// line), commit (a snapshot of the data), archive uploads (init scripts, copies).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long `exec` waits for the engine to report the exit code once the output ended.
const EXEC_EXIT_WAIT: Duration = Duration::from_secs(10);
/// Log drivers that rotate by `max-size`/`max-file`; any other refuses those options.
const ROTATING_LOG_DRIVERS: [&str; 2] = ["json-file", "local"];

/// The Docker Engine backend. Cheap to clone (the client is reference-counted).
#[derive(Debug, Clone)]
pub struct DockerBackend {
    docker: Docker,
    /// Where the engine is (for messages); `None` for a client made elsewhere.
    endpoint: Option<EngineEndpoint>,
    /// Where clients on this machine reach the ports the engine publishes.
    client: ClientAddress,
    /// Whether the daemon's default log driver rotates; asked once, on the first create.
    rotating_logs: Arc<OnceCell<bool>>,
    /// Whether the engine is Podman; asked once, on the first call that reports images.
    podman: Arc<OnceCell<bool>>,
}

impl DockerBackend {
    /// The exit code of exec `exec_id` in container `id`, once its output has ended (the
    /// code can lag a few milliseconds behind).
    async fn exec_exit_code(&self, id: &str, exec_id: &str) -> Result<i64> {
        let deadline = tokio::time::Instant::now() + EXEC_EXIT_WAIT;
        loop {
            let inspect = retry(|| self.docker.inspect_exec(exec_id))
                .await
                .map_err(|e| map_err(e, Subject::Container(id)))?;
            if inspect.running != Some(true)
                && let Some(exit_code) = inspect.exit_code
            {
                return Ok(exit_code);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BackendError::Other(format!(
                    "exec in container {id} did not report an exit code within {}s",
                    EXEC_EXIT_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    /// Connects as the `docker` CLI would ([`endpoint::resolve`]: `DOCKER_HOST`, the Docker
    /// context, the local socket, else Podman's) and negotiates the API version.
    pub async fn connect() -> Result<Self> {
        let resolved = endpoint::resolve().map_err(BackendError::Unavailable)?;
        tracing::debug!(endpoint = %resolved.endpoint, source = %resolved.source, "container engine");
        Self::connect_to(&resolved.endpoint).await
    }

    /// Connects to `endpoint`; the client address follows from it (see
    /// [`Self::with_client_host`] for an override).
    pub async fn connect_to(endpoint: &EngineEndpoint) -> Result<Self> {
        let shown = endpoint.to_string();
        let docker = match endpoint {
            EngineEndpoint::Unix(path) => {
                Docker::connect_with_unix(&shown, READ_TIMEOUT.as_secs(), bollard::API_DEFAULT_VERSION)
                    .map_err(|e| with_endpoint(map_err(e, Subject::None), &path.display().to_string()))?
            }
            EngineEndpoint::Tcp { .. } => {
                // bollard would switch to TLS here; dbarena is built without it, so say so
                // rather than send plain HTTP to a TLS port.
                if std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty()) {
                    return Err(BackendError::Unavailable(format!(
                        "{shown}: DOCKER_TLS_VERIFY is set, but dbarena speaks only plain HTTP to tcp:// engines; \
                         use an ssh:// endpoint, or unset DOCKER_TLS_VERIFY for an engine on a trusted network"
                    )));
                }
                Docker::connect_with_http(&shown, READ_TIMEOUT.as_secs(), bollard::API_DEFAULT_VERSION)
                    .map_err(|e| map_err(e, Subject::None))?
            }
            EngineEndpoint::Ssh { .. } => ssh::connect(endpoint)?,
        };
        let within = match endpoint {
            EngineEndpoint::Ssh { .. } => SSH_CONNECT_TIMEOUT,
            _ => CONNECT_TIMEOUT,
        };
        let mut backend = Self::negotiated(docker, within, &format!("the Docker engine at {shown}"))
            .await
            .map_err(|e| match (e, endpoint) {
                (BackendError::Unavailable(m), EngineEndpoint::Ssh { .. }) => BackendError::Unavailable(format!(
                    "{shown}: {m}; ssh said why above (`ssh HOST docker system dial-stdio` must work without a prompt)"
                )),
                (e, _) => with_endpoint(e, &shown),
            })?;
        backend.client = ClientAddress::new(&ssh::real_host(endpoint), None);
        backend.endpoint = Some(endpoint.clone());
        Ok(backend)
    }

    /// Connects to the daemon on the Unix socket at `path` (with or without `unix://`).
    pub async fn connect_with_socket(path: &str) -> Result<Self> {
        let docker = Docker::connect_with_unix(path, READ_TIMEOUT.as_secs(), bollard::API_DEFAULT_VERSION)
            .map_err(|e| map_err(e, Subject::None))?;
        Self::negotiated(docker, CONNECT_TIMEOUT, &format!("the Docker engine at {path}"))
            .await
            .map_err(|e| with_endpoint(e, path))
    }

    /// Wraps an existing client, negotiating the API version (the daemon may be older
    /// than bollard's default version). Its ports count as local.
    pub async fn with_client(docker: Docker) -> Result<Self> {
        Self::negotiated(docker, CONNECT_TIMEOUT, "the Docker engine").await
    }

    /// [`Self::with_client`] with the negotiation bounded by `within`; reads then get
    /// [`READ_TIMEOUT`]. `shown` ("the Docker engine at X") names the engine in the error
    /// of one that accepts the connection and never answers.
    async fn negotiated(docker: Docker, within: Duration, shown: &str) -> Result<Self> {
        let docker = retry(|| docker.clone().with_timeout(within).negotiate_version())
            .await
            .map_err(|e| match e {
                bollard::errors::Error::RequestTimeoutError => BackendError::Unavailable(format!(
                    "{shown} accepted the connection but did not answer in {} s: \
                     is it hung or overloaded? (`docker info`; DOCKER_HOST or the Docker context chose it)",
                    within.as_secs()
                )),
                e => map_err(e, Subject::None),
            })?
            .with_timeout(READ_TIMEOUT);
        Ok(Self {
            docker,
            endpoint: None,
            client: endpoint::LOCAL.clone(),
            rotating_logs: Arc::default(),
            podman: Arc::default(),
        })
    }

    /// Clients reach published ports at `host` (NAT, tunnels) instead of the address the
    /// endpoint implies; `None` keeps that address.
    pub fn with_client_host(mut self, host: Option<&str>) -> Self {
        if host.is_some() {
            let local = EngineEndpoint::Unix(endpoint::DOCKER_SOCKET.into());
            self.client = ClientAddress::new(self.endpoint.as_ref().unwrap_or(&local), host);
        }
        self
    }

    /// The engine's address, when this backend connected by one.
    pub fn endpoint(&self) -> Option<&EngineEndpoint> {
        self.endpoint.as_ref()
    }

    /// The underlying bollard client, for calls the trait does not cover.
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// Checks the engine answers. Not in [`ContainerBackend`]: connecting already proves
    /// that (it negotiates the API version); tests use it to exercise the retry path.
    pub async fn ping(&self) -> Result<()> {
        retry(|| self.docker.ping())
            .await
            .map(drop)
            .map_err(|e| map_err(e, Subject::None))
    }

    /// Local images with their tags. Not in [`ContainerBackend`]: no command needs it.
    pub async fn list_images(&self) -> Result<Vec<ImageInfo>> {
        let images = retry(|| self.docker.list_images(None::<ListImagesOptions>))
            .await
            .map_err(|e| map_err(e, Subject::None))?;
        let mut infos = Vec::with_capacity(images.len());
        for i in images {
            let mut tags = Vec::new();
            for t in i.repo_tags.into_iter().filter(|t| t != "<none>:<none>") {
                tags.push(self.image_name(t).await);
            }
            infos.push(ImageInfo {
                id: i.id,
                tags,
                size_bytes: i.size.max(0) as u64,
            });
        }
        Ok(infos)
    }

    /// A client whose request timeout outlasts a stop of `timeout`.
    fn client_for(&self, timeout: Duration) -> Docker {
        self.docker
            .clone()
            .with_timeout(WRITE_TIMEOUT.max(timeout + Duration::from_secs(30)))
    }

    /// The client for calls that change state ([`WRITE_TIMEOUT`]).
    pub(super) fn writer(&self) -> Docker {
        self.docker.clone().with_timeout(WRITE_TIMEOUT)
    }

    /// The client for calls that answer when a transfer is done ([`TRANSFER_TIMEOUT`]).
    fn transfer(&self) -> Docker {
        self.docker.clone().with_timeout(TRANSFER_TIMEOUT)
    }

    /// Whether the engine is Podman's Docker-compatible API (its `/version` lists a
    /// "Podman Engine" component). Unknown counts as no.
    async fn is_podman(&self) -> bool {
        *self
            .podman
            .get_or_init(|| async {
                retry(|| self.docker.version()).await.is_ok_and(|v| {
                    v.components
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.name.starts_with("Podman"))
                })
            })
            .await
    }

    /// The image name as the user gave it: Podman reports local images without a
    /// registry as `localhost/NAME`, which Docker would read as a registry called
    /// `localhost`; dbarena compares names with those it asked for (`images prune`).
    async fn image_name(&self, name: String) -> String {
        match name.strip_prefix("localhost/") {
            Some(short) if self.is_podman().await => short.to_string(),
            _ => name,
        }
    }

    /// Whether [`ContainerDef::log_max_bytes`] can apply: the daemon's default log driver
    /// is one that rotates. Unknown (the info call failed) counts as no: a create must
    /// not fail over log rotation.
    async fn rotating_logs(&self) -> bool {
        *self
            .rotating_logs
            .get_or_init(|| async {
                match retry(|| self.docker.info()).await {
                    Ok(info) => info
                        .logging_driver
                        .is_some_and(|d| ROTATING_LOG_DRIVERS.contains(&d.as_str())),
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot read the daemon's log driver");
                        false
                    }
                }
            })
            .await
    }

    /// Creates directory `dir` and its missing parents in container `id` (root's, 0755),
    /// leaving existing ones untouched: the archive API unpacks only into an existing
    /// directory, and a data path outside the image's tree (e.g. a relocated `PGDATA`)
    /// has none yet in a staging container.
    async fn make_dirs(&self, id: &str, dir: &str) -> Result<()> {
        let mut missing = Vec::new();
        let mut at = dir.trim_end_matches('/');
        while !at.is_empty() {
            let options = bollard::query_parameters::ContainerArchiveInfoOptionsBuilder::default()
                .path(at)
                .build();
            match self.docker.get_container_archive_info(id, Some(options)).await {
                Ok(_) => break,
                Err(e) if status_of(&e) == Some(404) => missing.push(at),
                Err(e) => return Err(map_err(e, Subject::Container(id))),
            }
            at = at.rsplit_once('/').map_or("", |(parent, _)| parent);
        }
        if missing.is_empty() {
            return Ok(());
        }
        let mut builder = tar::Builder::new(Vec::new());
        for path in missing.iter().rev() {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
            builder
                .append_data(
                    &mut header,
                    format!("{}/", path.trim_start_matches('/')),
                    std::io::empty(),
                )
                .map_err(|e| BackendError::Other(format!("cannot pack directories for {id}: {e}")))?;
        }
        let archive = builder
            .into_inner()
            .map_err(|e| BackendError::Other(format!("cannot pack directories for {id}: {e}")))?;
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        self.writer()
            .upload_to_container(id, Some(options), bollard::body_full(archive.into()))
            .await
            .map_err(|e| map_err(e, Subject::Container(id)))
    }
}

impl ContainerBackend for DockerBackend {
    fn client_address(&self) -> &ClientAddress {
        &self.client
    }

    /// Only for an engine on this machine (its unix socket), whose ports are this
    /// machine's: the kernel names a free ephemeral port, released at once. A race with
    /// another program is a port conflict at start, which `create` retries.
    fn free_host_port(&self, host_ip: &str) -> Option<u16> {
        if !matches!(self.endpoint, Some(EngineEndpoint::Unix(_))) {
            return None;
        }
        let listener = std::net::TcpListener::bind((host_ip, 0)).ok()?;
        listener.local_addr().ok().map(|a| a.port())
    }

    fn host_port_taken(&self, host_ip: &str, port: u16) -> Option<bool> {
        if !matches!(self.endpoint, Some(EngineEndpoint::Unix(_))) {
            return None;
        }
        // Binding fails on a port a listener holds (docker-proxy listens on every published
        // port); the probe socket is closed at once.
        Some(std::net::TcpListener::bind((host_ip, port)).is_err())
    }

    async fn image_exists(&self, image: &str) -> Result<bool> {
        match retry(|| self.docker.inspect_image(image)).await {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(map_err(e, Subject::Image(image))),
        }
    }

    async fn pull_image(&self, image: &str, progress: &(dyn Fn(PullProgress) + Send + Sync)) -> Result<()> {
        let reference = ImageRef::parse(image).map_err(|e| BackendError::Other(e.to_string()))?;
        // Always with a tag (or digest): without one Docker pulls every tag.
        let options = CreateImageOptionsBuilder::new()
            .from_image(reference.repository())
            .tag(reference.pull_tag())
            .build();
        let mut events = self.transfer().create_image(Some(options), None, None);
        while let Some(event) = events.next().await {
            let event = event.map_err(|e| map_pull_err(e, image))?;
            // Layer events carry an id; "Already exists" and "Pull complete" have no byte counts.
            if let Some(layer) = event.id {
                let detail = event.progress_detail.unwrap_or_default();
                progress(PullProgress {
                    layer,
                    status: event.status.unwrap_or_default(),
                    current_bytes: detail.current.unwrap_or(0).max(0) as u64,
                    total_bytes: detail.total.unwrap_or(0).max(0) as u64,
                });
            }
        }
        Ok(())
    }

    async fn remove_image(&self, image: &str) -> Result<()> {
        let options = RemoveImageOptionsBuilder::new().force(false).build();
        match self.writer().remove_image(image, Some(options), None).await {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(409) => Err(BackendError::Other(format!(
                "image {image} is in use: {}",
                server_message(&e)
            ))),
            Err(e) => Err(map_err(e, Subject::Image(image))),
        }
    }

    async fn image_id(&self, image: &str) -> Result<Option<String>> {
        match retry(|| self.docker.inspect_image(image)).await {
            Ok(i) => Ok(i.id),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(map_err(e, Subject::Image(image))),
        }
    }

    async fn list_labelled_images(&self, labels: &[String]) -> Result<Vec<LabelledImage>> {
        let filters: HashMap<String, Vec<String>> = [("label".to_string(), labels.to_vec())].into();
        let options = bollard::query_parameters::ListImagesOptionsBuilder::new()
            .filters(&filters)
            .build();
        let images = retry(|| self.docker.list_images(Some(options.clone())))
            .await
            .map_err(|e| map_err(e, Subject::None))?;
        Ok(images
            .into_iter()
            .map(|i| LabelledImage {
                id: i.id,
                labels: i.labels.into_iter().collect(),
                created: i.created,
                size_bytes: i.size.max(0) as u64,
            })
            .collect())
    }

    async fn commit_container(&self, id: &str, labels: &BTreeMap<String, String>) -> Result<String> {
        let podman = self.is_podman().await;
        let mut options = bollard::query_parameters::CommitContainerOptionsBuilder::new()
            .container(id)
            .pause(false);
        // Podman 4's compatible commit ignores the body's config: the labels go as
        // `LABEL` changes, which it takes verbatim between the outer quotes; checked below.
        if podman {
            options = options.changes(&podman_label_changes(labels)?);
        }
        let config = bollard::models::ContainerConfig {
            labels: Some(labels.clone().into_iter().collect()),
            ..Default::default()
        };
        let image = self
            .transfer()
            .commit_container(options.build(), config)
            .await
            // Podman answers the bare hex digest, Docker and every listing `sha256:...`.
            .map(|r| {
                if r.id.contains(':') {
                    r.id
                } else {
                    format!("sha256:{}", r.id)
                }
            })
            .map_err(|e| map_err(e, Subject::Container(id)))?;
        if podman {
            let stored = retry(|| self.docker.inspect_image(&image))
                .await
                .map_err(|e| map_err(e, Subject::Image(&image)))?
                .config
                .and_then(|c| c.labels)
                .unwrap_or_default();
            if let Some((k, _)) = labels.iter().find(|(k, v)| stored.get(*k) != Some(*v)) {
                let _ = self.remove_image(&image).await;
                return Err(BackendError::Other(format!(
                    "Podman did not store label {k} of the committed image as given (it takes a commit's \
                     labels as LABEL instructions, verbatim between quotes: a value with quotes at its \
                     ends cannot be kept); no image was kept"
                )));
            }
        }
        Ok(image)
    }

    async fn copy_path(&self, from: &str, path: &str, to: &str) -> Result<()> {
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::new()
            .path(path)
            .build();
        let tar = self
            .writer()
            .download_from_container(from, Some(options))
            .map(|chunk| chunk.map_err(std::io::Error::other));
        let options = UploadToContainerOptionsBuilder::default()
            .path(&unpack_dir(path))
            .build();
        self.transfer()
            .upload_to_container(to, Some(options), bollard::body_try_stream(tar))
            .await
            .map_err(|e| map_err(e, Subject::Container(to)))
    }

    async fn prepare_path(&self, id: &str, path: &str) -> Result<()> {
        self.make_dirs(id, &unpack_dir(path)).await
    }

    async fn set_paused(&self, id: &str, paused: bool) -> Result<()> {
        let result = if paused {
            self.writer().pause_container(id).await
        } else {
            self.writer().unpause_container(id).await
        };
        result.map_err(|e| map_err(e, Subject::Container(id)))
    }

    async fn rename_container(&self, id: &str, new_name: &str) -> Result<()> {
        let options = bollard::query_parameters::RenameContainerOptionsBuilder::new()
            .name(new_name)
            .build();
        self.writer()
            .rename_container(id, options)
            .await
            .map_err(|e| map_err(e, Subject::Container(id)))
    }

    async fn detach_networks(&self, id: &str) -> Result<Vec<String>> {
        let inspect = retry(|| self.docker.inspect_container(id, None))
            .await
            .map_err(|e| map_err(e, Subject::Container(id)))?;
        let networks: Vec<String> = inspect
            .network_settings
            .and_then(|n| n.networks)
            .map(|n| n.into_keys().collect())
            .unwrap_or_default();
        for (i, network) in networks.iter().enumerate() {
            let request = bollard::models::NetworkDisconnectRequest {
                container: id.to_string(),
                force: Some(false),
            };
            if let Err(e) = self.writer().disconnect_network(network, request).await {
                // All or nothing: the ones already left are joined again.
                let _ = self.attach_networks(id, &networks[..i]).await;
                return Err(map_err(e, Subject::Container(id)));
            }
        }
        Ok(networks)
    }

    async fn attach_networks(&self, id: &str, networks: &[String]) -> Result<()> {
        for network in networks {
            let request = bollard::models::NetworkConnectRequest {
                container: id.to_string(),
                endpoint_config: None,
            };
            self.writer()
                .connect_network(network, request)
                .await
                .map_err(|e| map_err(e, Subject::Container(id)))?;
        }
        Ok(())
    }

    async fn create_container(&self, def: &ContainerDef) -> Result<String> {
        let rotate = def.log_max_bytes.is_some() && self.rotating_logs().await;
        let body = create_body(def, rotate);
        let options = CreateContainerOptionsBuilder::new().name(&def.name).build();
        let created = self.writer().create_container(Some(options), body).await.map_err(|e| {
            map_err(
                e,
                Subject::Create {
                    name: &def.name,
                    image: &def.image,
                },
            )
        })?;
        Ok(created.id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        self.writer()
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| map_err(e, Subject::Container(id)))
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()> {
        let options = StopContainerOptionsBuilder::new().t(secs_i32(timeout)).build();
        self.client_for(timeout)
            .stop_container(id, Some(options))
            .await
            .map_err(|e| map_err(e, Subject::Container(id)))
    }

    async fn restart_container(&self, id: &str, timeout: Duration) -> Result<()> {
        let options = RestartContainerOptionsBuilder::new().t(secs_i32(timeout)).build();
        self.client_for(timeout)
            .restart_container(id, Some(options))
            .await
            .map_err(|e| map_err(e, Subject::Container(id)))
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
        match self.writer().remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // Someone else is already removing it: the outcome is the one we want.
            Err(e) if status_of(&e) == Some(409) && server_message(&e).contains("in progress") => Ok(()),
            Err(e) => Err(map_err(e, Subject::Container(id))),
        }
    }

    async fn inspect_container(&self, name_or_id: &str) -> Result<ContainerInfo> {
        let inspect = retry(|| self.docker.inspect_container(name_or_id, None))
            .await
            .map_err(|e| map_err(e, Subject::Container(name_or_id)))?;
        let mut info = info_from_inspect(inspect);
        info.image = self.image_name(info.image).await;
        // Docker reports no ports for a container without a network; Podman keeps the
        // last bindings, which nothing listens on: the same answer from both.
        if matches!(info.state, State::Created | State::Exited | State::Dead) {
            info.ports.clear();
        }
        Ok(info)
    }

    async fn list_containers(&self, labels: &[String]) -> Result<Vec<ContainerInfo>> {
        let mut filters: HashMap<&str, Vec<String>> = HashMap::new();
        if !labels.is_empty() {
            filters.insert("label", labels.to_vec());
        }
        let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let summaries = retry(|| self.docker.list_containers(Some(options.clone())))
            .await
            .map_err(|e| map_err(e, Subject::None))?;
        let infos = summaries
            .into_iter()
            .filter(|s| has_labels(s.labels.as_ref(), labels))
            .map(|summary| async move {
                let mut info = info_from_summary(summary);
                info.image = self.image_name(info.image).await;
                if info.state == State::Running {
                    // Only inspect knows when it started; it may be gone already.
                    match self.inspect_container(&info.id).await {
                        Ok(inspected) => info.started_at = inspected.started_at,
                        Err(BackendError::NotFound(_)) => return Ok(None),
                        Err(e) => return Err(e),
                    }
                }
                Ok(Some(info))
            });
        let infos = futures_util::future::try_join_all(infos).await?;
        Ok(infos.into_iter().flatten().collect())
    }

    fn logs(
        &self,
        id: &str,
        follow: bool,
        tail: Option<usize>,
        since: Option<i64>,
    ) -> BoxStream<'static, Result<LogLine>> {
        logs::log_stream(self.writer(), id, follow, tail, since)
    }

    async fn exec(&self, id: &str, req: &ExecRequest<'_>) -> Result<ExecOutput> {
        let config = ExecConfig {
            attach_stdin: Some(req.stdin.is_some()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            cmd: Some(req.cmd.to_vec()),
            env: (!req.env.is_empty()).then(|| req.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            ..Default::default()
        };
        let created = self
            .writer()
            .create_exec(id, config)
            .await
            .map_err(|e| map_err(e, Subject::Container(id)))?;
        let mut bytes = Vec::new();
        match self
            .writer()
            .start_exec(&created.id, None)
            .await
            .map_err(|e| map_err(e, Subject::Container(id)))?
        {
            StartExecResults::Attached { mut output, mut input } => {
                // Stdin is written concurrently with reading output: a command that answers
                // as it reads would otherwise block on a full pipe.
                let stdin = req.stdin.map(<[u8]>::to_vec);
                let writer = async move {
                    use tokio::io::AsyncWriteExt;
                    if let Some(data) = stdin {
                        // A command that exits without reading all of stdin is not an error.
                        let _ = input.write_all(&data).await;
                    }
                    // Half-closing the attached stream is the command's end of input.
                    let _ = input.shutdown().await;
                };
                let reader = async {
                    while let Some(chunk) = output.next().await {
                        let chunk = chunk.map_err(|e| map_err(e, Subject::Container(id)))?;
                        bytes.extend_from_slice(chunk.as_ref());
                        if bytes.len() > 2 * MAX_EXEC_OUTPUT_BYTES {
                            bytes.drain(..bytes.len() - MAX_EXEC_OUTPUT_BYTES);
                        }
                    }
                    Ok::<(), BackendError>(())
                };
                let ((), read) = tokio::join!(writer, reader);
                read?;
                if bytes.len() > MAX_EXEC_OUTPUT_BYTES {
                    bytes.drain(..bytes.len() - MAX_EXEC_OUTPUT_BYTES);
                }
            }
            StartExecResults::Detached => {}
        }
        Ok(ExecOutput {
            exit_code: self.exec_exit_code(id, &created.id).await?,
            output: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    async fn upload_files(&self, id: &str, files: &[FileUpload]) -> Result<()> {
        let archive = tar_of(files).map_err(|e| BackendError::Other(format!("cannot pack files for {id}: {e}")))?;
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        self.transfer()
            .upload_to_container(id, Some(options), bollard::body_full(archive.into()))
            .await
            .map_err(|e| map_err(e, Subject::Container(id)))
    }

    async fn create_volume(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<()> {
        let request = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.clone().into_iter().collect()),
            ..Default::default()
        };
        self.writer()
            .create_volume(request)
            .await
            .map(drop)
            .map_err(|e| map_err(e, Subject::Volume(name)))
    }

    async fn inspect_volume(&self, name: &str) -> Result<Option<VolumeInfo>> {
        match retry(|| self.docker.inspect_volume(name)).await {
            Ok(v) => Ok(Some(VolumeInfo {
                name: v.name,
                labels: v.labels.into_iter().collect(),
            })),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(map_err(e, Subject::Volume(name))),
        }
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        match self.writer().remove_volume(name, None::<RemoveVolumeOptions>).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(409) => Err(BackendError::Other(format!(
                "volume {name} is in use: {}",
                server_message(&e)
            ))),
            Err(e) => Err(map_err(e, Subject::Volume(name))),
        }
    }

    async fn list_volumes(&self, labels: &[String]) -> Result<Vec<VolumeInfo>> {
        let mut filters: HashMap<&str, Vec<String>> = HashMap::new();
        if !labels.is_empty() {
            filters.insert("label", labels.to_vec());
        }
        let options = ListVolumesOptionsBuilder::new().filters(&filters).build();
        let listed = retry(|| self.docker.list_volumes(Some(options.clone())))
            .await
            .map_err(|e| map_err(e, Subject::None))?;
        Ok(listed
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter(|v| has_labels(Some(&v.labels), labels))
            .map(|v| VolumeInfo {
                name: v.name,
                labels: v.labels.into_iter().collect(),
            })
            .collect())
    }
}

/// `labels` as the `LABEL` instructions of a Podman commit; a line break cannot be carried.
fn podman_label_changes(labels: &BTreeMap<String, String>) -> Result<String> {
    let mut changes = Vec::new();
    for (k, v) in labels {
        if k.contains(['\n', '\r', '"', '=']) || v.contains(['\n', '\r']) {
            return Err(BackendError::Other(format!("label {k} cannot be committed on Podman")));
        }
        changes.push(format!("LABEL \"{k}\"=\"{v}\""));
    }
    Ok(changes.join("\n"))
}

/// Whether `labels` carry every filter (`key=value` or `key`). The engine filters already;
/// this makes "all of them" hold on engines that match any of several label filters
/// (Podman 4's volume list does).
fn has_labels(labels: Option<&HashMap<String, String>>, filters: &[String]) -> bool {
    filters.iter().all(|f| {
        let (key, value) = match f.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (f.as_str(), None),
        };
        labels
            .and_then(|l| l.get(key))
            .is_some_and(|v| value.is_none_or(|want| v == want))
    })
}

/// A tar archive of `files`, paths relative to `/` (Docker creates missing parents).
fn tar_of(files: &[FileUpload]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for file in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(file.content.len() as u64);
        header.set_mode(file.mode);
        header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, file.path.trim_start_matches('/'), file.content.as_slice())?;
    }
    builder.into_inner()
}

/// Where the archive of directory `path` unpacks: its top entry is the directory itself.
fn unpack_dir(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((parent, _)) => parent.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_filters_all_apply() {
        let labels: HashMap<String, String> = [("a", "1"), ("b", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let f = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(has_labels(Some(&labels), &f(&["a=1", "b"])));
        assert!(!has_labels(Some(&labels), &f(&["a=1", "b=3"])));
        assert!(!has_labels(Some(&labels), &f(&["c"])));
        assert!(has_labels(None, &[]));
        assert!(!has_labels(None, &f(&["a"])));
    }
}
