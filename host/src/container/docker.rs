//! [`DockerBackend`]: the [`ContainerBackend`] over the Docker Engine API (via `bollard`).
//!
//! Errors are mapped to [`BackendError`] by HTTP status and by what the call was about
//! (a 404 on create means the image is missing, on inspect the container). Idempotent
//! reads are retried on transient failures (connection reset, 5xx, timeouts); calls that
//! change state are not.

use super::{
    BackendError, ContainerBackend, ContainerDef, ContainerInfo, ExecOutput, ImageInfo, LogLine, Mount, PublishedPort,
    PullProgress, Result, State, VolumeInfo,
};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::exec::StartExecResults;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryStateEnum, ExecConfig, HostConfig, MountPoint, MountTmpfsOptions, MountType,
    PortBinding as DockerPortBinding, PortMap, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder, ListImagesOptions,
    ListVolumesOptionsBuilder, LogsOptions, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder, RemoveVolumeOptions, RestartContainerOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder,
};
use futures_util::stream::{self, BoxStream, StreamExt};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::time::Duration;

/// Attempts for idempotent calls, and the first backoff delay (doubled each time).
const RETRY_ATTEMPTS: u32 = 3;
const RETRY_FIRST_DELAY: Duration = Duration::from_millis(100);
/// The request timeout bollard uses unless a call needs longer (stop, restart).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `exec` waits for the engine to report the exit code once the output ended.
const EXEC_EXIT_WAIT: Duration = Duration::from_secs(10);

const HINT_DAEMON: &str = "is the Docker daemon running? (`docker info`)";
const HINT_PERMISSION: &str = "add your user to the docker group or run with sudo";

/// The Docker Engine backend. Cheap to clone (the client is reference-counted).
#[derive(Debug, Clone)]
pub struct DockerBackend {
    docker: Docker,
}

impl DockerBackend {
    /// Connects as the `docker` CLI would (`DOCKER_HOST`, else the local socket) and
    /// negotiates the API version with the daemon.
    pub async fn connect() -> Result<Self> {
        let (docker, endpoint) = match std::env::var("DOCKER_HOST") {
            Ok(host) if !host.trim().is_empty() => (Docker::connect_with_defaults(), host),
            _ => (
                Docker::connect_with_local_defaults(),
                "unix:///var/run/docker.sock".to_string(),
            ),
        };
        let docker = docker.map_err(|e| map_err(e, Subject::None))?;
        Self::with_client(docker).await.map_err(|e| with_endpoint(e, &endpoint))
    }

    /// Connects to the daemon on the Unix socket at `path` (with or without `unix://`).
    pub async fn connect_with_socket(path: &str) -> Result<Self> {
        let docker = Docker::connect_with_unix(path, DEFAULT_TIMEOUT.as_secs(), bollard::API_DEFAULT_VERSION)
            .map_err(|e| map_err(e, Subject::None))?;
        Self::with_client(docker).await.map_err(|e| with_endpoint(e, path))
    }

    /// Wraps an existing client, negotiating the API version (the daemon may be older
    /// than bollard's default version).
    pub async fn with_client(docker: Docker) -> Result<Self> {
        let docker = retry(|| docker.clone().negotiate_version())
            .await
            .map_err(|e| map_err(e, Subject::None))?;
        Ok(Self { docker })
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
        Ok(images
            .into_iter()
            .map(|i| ImageInfo {
                id: i.id,
                tags: i.repo_tags.into_iter().filter(|t| t != "<none>:<none>").collect(),
                size_bytes: i.size.max(0) as u64,
            })
            .collect())
    }

    /// A client whose request timeout outlasts a stop of `timeout`.
    fn client_for(&self, timeout: Duration) -> Docker {
        let needed = timeout + Duration::from_secs(30);
        if needed > self.docker.timeout() {
            self.docker.clone().with_timeout(needed)
        } else {
            self.docker.clone()
        }
    }
}

impl ContainerBackend for DockerBackend {
    async fn image_exists(&self, image: &str) -> Result<bool> {
        match retry(|| self.docker.inspect_image(image)).await {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(map_err(e, Subject::Image(image))),
        }
    }

    async fn pull_image(&self, image: &str, progress: &(dyn Fn(PullProgress) + Send + Sync)) -> Result<()> {
        let (repo, tag) = split_image_ref(image);
        let options = CreateImageOptionsBuilder::new().from_image(&repo).tag(&tag).build();
        let mut events = self.docker.create_image(Some(options), None, None);
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
        match self.docker.remove_image(image, Some(options), None).await {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(409) => Err(BackendError::Other(format!(
                "image {image} is in use: {}",
                server_message(&e)
            ))),
            Err(e) => Err(map_err(e, Subject::Image(image))),
        }
    }

    async fn create_container(&self, def: &ContainerDef) -> Result<String> {
        let mut exposed_ports: Vec<String> = Vec::new();
        let mut port_bindings: PortMap = HashMap::new();
        for p in &def.ports {
            let key = format!("{}/tcp", p.container_port);
            if !exposed_ports.contains(&key) {
                exposed_ports.push(key.clone());
            }
            port_bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(DockerPortBinding {
                    host_ip: Some(p.host_ip.clone()),
                    host_port: Some(p.host_port.map(|n| n.to_string()).unwrap_or_default()),
                });
        }
        let mounts = def
            .mounts
            .iter()
            .map(|m| match m {
                Mount::Volume { name, target } => bollard::models::Mount {
                    typ: Some(MountType::VOLUME),
                    source: Some(name.clone()),
                    target: Some(target.clone()),
                    ..Default::default()
                },
                Mount::Tmpfs { target, size_bytes } => bollard::models::Mount {
                    typ: Some(MountType::TMPFS),
                    target: Some(target.clone()),
                    tmpfs_options: Some(MountTmpfsOptions {
                        size_bytes: Some(i64::try_from(*size_bytes).unwrap_or(i64::MAX)),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            })
            .collect::<Vec<_>>();
        let body = ContainerCreateBody {
            image: Some(def.image.clone()),
            env: Some(def.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            entrypoint: def.entrypoint.clone(),
            cmd: (!def.cmd.is_empty()).then(|| def.cmd.clone()),
            labels: Some(def.labels.clone().into_iter().collect()),
            exposed_ports: Some(exposed_ports),
            host_config: Some(HostConfig {
                port_bindings: Some(port_bindings),
                mounts: Some(mounts),
                memory: def.memory_limit_bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new().name(&def.name).build();
        let created = self.docker.create_container(Some(options), body).await.map_err(|e| {
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
        self.docker
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
        match self.docker.remove_container(id, Some(options)).await {
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
        Ok(info_from_inspect(inspect))
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
        let infos = summaries.into_iter().map(|summary| async move {
            let mut info = info_from_summary(summary);
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
        let tail = tail.map_or_else(|| "all".to_string(), |n| n.to_string());
        let mut options = LogsOptionsBuilder::new();
        if let Some(since) = since {
            options = options.since(i32::try_from(since.max(0)).unwrap_or(i32::MAX));
        }
        let options = options
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .timestamps(false)
            .tail(&tail)
            .build();
        let state = LogState {
            docker: self.docker.clone(),
            id: id.to_string(),
            options,
            inner: None,
            received: false,
            attempt: 1,
            delay: RETRY_FIRST_DELAY,
            splitter: LineSplitter::default(),
            pending: VecDeque::new(),
            done: false,
        };
        stream::unfold(state, |mut st| async move {
            let item = st.next_item().await?;
            Some((item, st))
        })
        .boxed()
    }

    async fn exec(&self, id: &str, cmd: &[String], env: &[(String, String)]) -> Result<ExecOutput> {
        let config = ExecConfig {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            cmd: Some(cmd.to_vec()),
            env: (!env.is_empty()).then(|| env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_exec(id, config)
            .await
            .map_err(|e| map_err(e, Subject::Container(id)))?;
        let mut bytes = Vec::new();
        match self
            .docker
            .start_exec(&created.id, None)
            .await
            .map_err(|e| map_err(e, Subject::Container(id)))?
        {
            StartExecResults::Attached { mut output, input } => {
                drop(input);
                while let Some(chunk) = output.next().await {
                    let chunk = chunk.map_err(|e| map_err(e, Subject::Container(id)))?;
                    bytes.extend_from_slice(chunk.as_ref());
                }
            }
            StartExecResults::Detached => {}
        }
        // The exit code can lag a few milliseconds behind the end of the output.
        let deadline = tokio::time::Instant::now() + EXEC_EXIT_WAIT;
        loop {
            let inspect = retry(|| self.docker.inspect_exec(&created.id))
                .await
                .map_err(|e| map_err(e, Subject::Container(id)))?;
            if inspect.running != Some(true)
                && let Some(exit_code) = inspect.exit_code
            {
                return Ok(ExecOutput {
                    exit_code,
                    output: String::from_utf8_lossy(&bytes).into_owned(),
                });
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

    async fn create_volume(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<()> {
        let request = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.clone().into_iter().collect()),
            ..Default::default()
        };
        self.docker
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
        match self.docker.remove_volume(name, None::<RemoveVolumeOptions>).await {
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
            .map(|v| VolumeInfo {
                name: v.name,
                labels: v.labels.into_iter().collect(),
            })
            .collect())
    }
}

// ---------------------------------------------------------------------------- logs

/// State of a `logs` stream: the Docker stream (re-opened on a transient failure before
/// any output arrived), the partial lines per output stream and the lines ready to hand out.
struct LogState {
    docker: Docker,
    id: String,
    options: LogsOptions,
    inner: Option<BoxStream<'static, std::result::Result<LogOutput, DockerError>>>,
    received: bool,
    attempt: u32,
    delay: Duration,
    splitter: LineSplitter,
    pending: VecDeque<Result<LogLine>>,
    done: bool,
}

impl LogState {
    async fn next_item(&mut self) -> Option<Result<LogLine>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            let inner = self
                .inner
                .get_or_insert_with(|| self.docker.logs(&self.id, Some(self.options.clone())).boxed());
            match inner.next().await {
                Some(Ok(output)) => {
                    self.received = true;
                    let (stderr, bytes) = match output {
                        LogOutput::StdErr { message } => (true, message),
                        LogOutput::StdOut { message }
                        | LogOutput::Console { message }
                        | LogOutput::StdIn { message } => (false, message),
                    };
                    self.pending
                        .extend(self.splitter.push(stderr, &bytes).into_iter().map(Ok));
                }
                Some(Err(e)) => {
                    if !self.received && self.attempt < RETRY_ATTEMPTS && is_transient(&e) {
                        tracing::debug!(error = %e, attempt = self.attempt, "retrying docker logs");
                        self.inner = None;
                        self.attempt += 1;
                        tokio::time::sleep(self.delay).await;
                        self.delay *= 2;
                        continue;
                    }
                    self.done = true;
                    self.pending.extend(self.splitter.finish().into_iter().map(Ok));
                    self.pending.push_back(Err(map_err(e, Subject::Container(&self.id))));
                }
                None => {
                    self.done = true;
                    self.inner = None;
                    self.pending.extend(self.splitter.finish().into_iter().map(Ok));
                }
            }
        }
    }
}

/// Reassembles lines from chunks that may split or join them, separately for stdout
/// and stderr.
#[derive(Debug, Default)]
struct LineSplitter {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl LineSplitter {
    /// Adds a chunk and returns the lines it completed.
    fn push(&mut self, stderr: bool, chunk: &[u8]) -> Vec<LogLine> {
        let buf = if stderr { &mut self.stderr } else { &mut self.stdout };
        buf.extend_from_slice(chunk);
        let mut lines = Vec::new();
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            lines.push(LogLine {
                stderr,
                text: line_text(&line),
            });
        }
        lines
    }

    /// Flushes the partial last lines (stdout first).
    fn finish(&mut self) -> Vec<LogLine> {
        [(false, &mut self.stdout), (true, &mut self.stderr)]
            .into_iter()
            .filter(|(_, buf)| !buf.is_empty())
            .map(|(stderr, buf)| LogLine {
                stderr,
                text: line_text(&std::mem::take(buf)),
            })
            .collect()
    }
}

/// A line's text without its trailing `\n` / `\r\n`.
fn line_text(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

// ------------------------------------------------------------------ container info

fn info_from_inspect(c: ContainerInspectResponse) -> ContainerInfo {
    let config = c.config.unwrap_or_default();
    let state = c.state.unwrap_or_default();
    let status = state.status.map_or(State::Unknown, |s| match s {
        ContainerStateStatusEnum::CREATED => State::Created,
        ContainerStateStatusEnum::RUNNING => State::Running,
        ContainerStateStatusEnum::PAUSED => State::Paused,
        ContainerStateStatusEnum::RESTARTING => State::Restarting,
        ContainerStateStatusEnum::REMOVING => State::Removing,
        ContainerStateStatusEnum::EXITED => State::Exited,
        ContainerStateStatusEnum::DEAD => State::Dead,
        ContainerStateStatusEnum::STOPPING => State::Running,
        ContainerStateStatusEnum::EMPTY => State::Unknown,
    });
    let ports = c
        .network_settings
        .and_then(|n| n.ports)
        .map(published_ports)
        .unwrap_or_default();
    ContainerInfo {
        id: c.id.unwrap_or_default(),
        name: c
            .name
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default(),
        image: config.image.or(c.image).unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        state: status,
        exit_code: matches!(status, State::Exited | State::Dead)
            .then_some(state.exit_code)
            .flatten(),
        started_at: state.started_at.as_deref().and_then(parse_started_at),
        ports,
        volumes: volume_names(c.mounts.unwrap_or_default()),
    }
}

/// Built from the list summary: `started_at` is not in it (filled in by the caller for
/// running containers), the exit code is parsed from the status text.
fn info_from_summary(c: ContainerSummary) -> ContainerInfo {
    let state = c.state.map_or(State::Unknown, |s| match s {
        ContainerSummaryStateEnum::CREATED => State::Created,
        ContainerSummaryStateEnum::RUNNING => State::Running,
        ContainerSummaryStateEnum::PAUSED => State::Paused,
        ContainerSummaryStateEnum::RESTARTING => State::Restarting,
        ContainerSummaryStateEnum::REMOVING => State::Removing,
        ContainerSummaryStateEnum::EXITED => State::Exited,
        ContainerSummaryStateEnum::DEAD => State::Dead,
        ContainerSummaryStateEnum::STOPPING => State::Running,
        ContainerSummaryStateEnum::EMPTY => State::Unknown,
    });
    let mut ports: Vec<PublishedPort> = Vec::new();
    for p in c.ports.unwrap_or_default() {
        let is_tcp = p.typ.is_none_or(|t| t == bollard::models::PortSummaryTypeEnum::TCP);
        if let (true, Some(host_port)) = (is_tcp, p.public_port) {
            let port = PublishedPort {
                container_port: p.private_port,
                host_ip: p.ip.unwrap_or_default(),
                host_port,
            };
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
    }
    ports.sort_by(|a, b| (a.container_port, &a.host_ip).cmp(&(b.container_port, &b.host_ip)));
    ContainerInfo {
        id: c.id.unwrap_or_default(),
        name: c
            .names
            .and_then(|n| n.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default(),
        image: c.image.unwrap_or_default(),
        labels: c.labels.unwrap_or_default().into_iter().collect(),
        state,
        exit_code: if matches!(state, State::Exited | State::Dead) {
            c.status.as_deref().and_then(exit_code_from_status)
        } else {
            None
        },
        started_at: None,
        ports,
        volumes: volume_names(c.mounts.unwrap_or_default()),
    }
}

/// `"5432/tcp" -> [{HostIp, HostPort}]` as bound by the engine (tcp only, deduplicated).
fn published_ports(map: PortMap) -> Vec<PublishedPort> {
    let mut ports = Vec::new();
    for (key, bindings) in map {
        let Some(container_port) = key.strip_suffix("/tcp").and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        for b in bindings.unwrap_or_default() {
            let Some(host_port) = b.host_port.as_deref().and_then(|p| p.parse::<u16>().ok()) else {
                continue;
            };
            let port = PublishedPort {
                container_port,
                host_ip: b.host_ip.unwrap_or_default(),
                host_port,
            };
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
    }
    ports.sort_by(|a, b| (a.container_port, &a.host_ip).cmp(&(b.container_port, &b.host_ip)));
    ports
}

fn volume_names(mounts: Vec<MountPoint>) -> Vec<String> {
    mounts
        .into_iter()
        .filter(|m| m.typ.as_deref() == Some("volume"))
        .filter_map(|m| m.name)
        .collect()
}

/// RFC 3339 start time; Docker's zero time (`0001-01-01T00:00:00Z`) means never started.
fn parse_started_at(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    (chrono::Datelike::year(&t) > 1).then(|| t.with_timezone(&chrono::Utc))
}

/// `"Exited (137) 5 seconds ago"` -> 137.
fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest[..rest.find(')')?].parse().ok()
}

fn secs_i32(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

// ---------------------------------------------------------------------- images

/// Splits an image reference into repository and tag (or digest), for `from_image` and
/// `tag`: a registry host may carry a `:port`, and no tag means `latest` (Docker would
/// otherwise pull every tag).
fn split_image_ref(image: &str) -> (String, String) {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let last_component = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_component..].rfind(':') {
        Some(i) => (&name[..last_component + i], Some(&name[last_component + i + 1..])),
        None => (name, None),
    };
    let reference = digest.or(tag).unwrap_or("latest");
    (repo.to_string(), reference.to_string())
}

/// A failed pull: the image is not there (`ImageNotFound`), or anything else with
/// Docker's message (unreachable registry, auth...).
fn map_pull_err(e: DockerError, image: &str) -> BackendError {
    let message = match &e {
        DockerError::DockerResponseServerError { status_code: 404, .. } => {
            return BackendError::ImageNotFound(image.to_string());
        }
        DockerError::DockerResponseServerError { message, .. } => message.clone(),
        DockerError::DockerStreamError { error } => error.clone(),
        _ => return map_err(e, Subject::Image(image)),
    };
    let lower = message.to_lowercase();
    let not_found = [
        "manifest unknown",
        "not found",
        "pull access denied",
        "repository does not exist",
        "name unknown",
    ];
    if not_found.iter().any(|s| lower.contains(s)) {
        tracing::debug!(%image, %message, "image not found");
        BackendError::ImageNotFound(image.to_string())
    } else {
        BackendError::Other(format!("pulling {image}: {}", one_line(&message)))
    }
}

// ---------------------------------------------------------------------- errors

/// What a call was about, to tell what a 404 or 409 means.
#[derive(Debug, Clone, Copy)]
enum Subject<'a> {
    None,
    Container(&'a str),
    Volume(&'a str),
    Image(&'a str),
    Create { name: &'a str, image: &'a str },
}

fn map_err(e: DockerError, subject: Subject<'_>) -> BackendError {
    if let Some(mapped) = connection_error(&e) {
        return mapped;
    }
    match e {
        DockerError::DockerResponseServerError { status_code, message } => {
            let message = one_line(&message);
            if is_port_conflict(&message) {
                return BackendError::PortInUse {
                    port: port_from_message(&message),
                    message,
                };
            }
            match (status_code, subject) {
                (404, Subject::Container(n) | Subject::Volume(n)) => BackendError::NotFound(n.to_string()),
                (404, Subject::Image(image) | Subject::Create { image, .. }) => {
                    BackendError::ImageNotFound(image.to_string())
                }
                (409, Subject::Create { name, .. }) if message.contains("already in use") => {
                    BackendError::NameInUse(name.to_string())
                }
                _ if message.is_empty() => BackendError::Other(format!("Docker answered HTTP {status_code}")),
                _ => BackendError::Other(message),
            }
        }
        DockerError::DockerStreamError { error } => {
            let message = one_line(&error);
            if is_port_conflict(&message) {
                BackendError::PortInUse {
                    port: port_from_message(&message),
                    message,
                }
            } else {
                BackendError::Other(message)
            }
        }
        DockerError::SocketNotFoundError(path) => {
            BackendError::Unavailable(format!("no Docker socket at {path}: {HINT_DAEMON}"))
        }
        DockerError::RequestTimeoutError => {
            BackendError::Unavailable(format!("the Docker daemon did not answer in time: {HINT_DAEMON}"))
        }
        DockerError::HyperLegacyError { .. } | DockerError::HyperResponseError { .. } => {
            BackendError::Unavailable(format!(
                "lost the connection to the Docker daemon ({}): {HINT_DAEMON}",
                error_chain(&e)
            ))
        }
        other => BackendError::Other(error_chain(&other)),
    }
}

/// An error and its sources on one line, skipping a source its parent already shows.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = one_line(&e.to_string());
    let mut current = e.source();
    while let Some(err) = current {
        let part = one_line(&err.to_string());
        if !text.contains(&part) {
            text = format!("{text}: {part}");
        }
        current = err.source();
    }
    text
}

/// Says which daemon address a connection failure is about.
fn with_endpoint(e: BackendError, endpoint: &str) -> BackendError {
    match e {
        BackendError::Unavailable(m) if !m.contains(endpoint) => BackendError::Unavailable(format!("{endpoint}: {m}")),
        BackendError::PermissionDenied(m) if !m.contains(endpoint) => {
            BackendError::PermissionDenied(format!("{endpoint}: {m}"))
        }
        other => other,
    }
}

/// Transport failures: the daemon is not there, or the socket is not ours to use.
fn connection_error(e: &DockerError) -> Option<BackendError> {
    let io = transport_io_error(e)?;
    match io.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => Some(BackendError::Unavailable(
            format!("{}: {HINT_DAEMON}", one_line(&io.to_string())),
        )),
        std::io::ErrorKind::PermissionDenied => Some(BackendError::PermissionDenied(format!(
            "{}: {HINT_PERMISSION}",
            one_line(&io.to_string())
        ))),
        std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::ConnectionAborted
        | std::io::ErrorKind::BrokenPipe
        | std::io::ErrorKind::UnexpectedEof => Some(BackendError::Unavailable(format!(
            "connection to the Docker daemon lost ({}): {HINT_DAEMON}",
            one_line(&io.to_string())
        ))),
        _ => None,
    }
}

/// The I/O error behind a transport-level failure, if any.
fn transport_io_error(e: &DockerError) -> Option<&std::io::Error> {
    // `IOError` and `HyperResponseError` are `#[error(transparent)]`: their `source()` is
    // the wrapped error's source, so start the walk from the wrapped error itself.
    let mut current: Option<&(dyn std::error::Error + 'static)> = match e {
        DockerError::IOError { err } => return Some(err),
        DockerError::HyperResponseError { err } => Some(err),
        DockerError::HyperLegacyError { err } => Some(err),
        _ => return None,
    };
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        current = err.source();
    }
    None
}

/// Worth retrying for an idempotent call: a dropped connection, a timeout, a 5xx.
fn is_transient(e: &DockerError) -> bool {
    match e {
        DockerError::DockerResponseServerError { status_code, message } => {
            *status_code >= 500 && !is_port_conflict(message)
        }
        DockerError::RequestTimeoutError => true,
        DockerError::HyperResponseError { err } => {
            err.is_incomplete_message() || err.is_closed() || err.is_canceled() || err.is_timeout()
        }
        // Failed after connecting (connection closed before the answer, reset...).
        DockerError::HyperLegacyError { err } if !err.is_connect() => true,
        DockerError::HyperLegacyError { .. } | DockerError::IOError { .. } => transport_io_error(e).is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted
            )
        }),
        _ => false,
    }
}

/// Runs an idempotent call, retrying transient failures with exponential backoff.
async fn retry<T, F, Fut>(mut call: F) -> std::result::Result<T, DockerError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, DockerError>>,
{
    let mut delay = RETRY_FIRST_DELAY;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if attempt < RETRY_ATTEMPTS && is_transient(&e) => {
                tracing::debug!(error = %e, attempt, "retrying Docker API call");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            result => return result,
        }
    }
}

fn status_of(e: &DockerError) -> Option<u16> {
    match e {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn server_message(e: &DockerError) -> String {
    match e {
        DockerError::DockerResponseServerError { message, .. } => one_line(message),
        other => one_line(&other.to_string()),
    }
}

fn is_port_conflict(message: &str) -> bool {
    message.contains("port is already allocated") || message.contains("address already in use")
}

/// The host port in Docker's bind failures: `Bind for 127.0.0.1:5432 failed: port is
/// already allocated`, `listen tcp4 0.0.0.0:5432: bind: address already in use`.
fn port_from_message(message: &str) -> Option<u16> {
    let re = regex::Regex::new(r"(?:Bind for|listen (?:tcp|udp)[46]?) \S*:(\d+)").ok()?;
    re.captures(message)?.get(1)?.as_str().parse().ok()
}

/// Docker's messages can span lines; ours are one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_image_references() {
        let cases = [
            ("redis", ("redis", "latest")),
            ("redis:7", ("redis", "7")),
            ("library/redis:7.2-alpine", ("library/redis", "7.2-alpine")),
            (
                "127.0.0.1:5000/dbarena-test/redis:7",
                ("127.0.0.1:5000/dbarena-test/redis", "7"),
            ),
            (
                "127.0.0.1:5000/dbarena-test/redis",
                ("127.0.0.1:5000/dbarena-test/redis", "latest"),
            ),
            ("redis@sha256:abc", ("redis", "sha256:abc")),
            (
                "localhost:5000/redis:7@sha256:abc",
                ("localhost:5000/redis", "sha256:abc"),
            ),
        ];
        for (input, (repo, tag)) in cases {
            assert_eq!(split_image_ref(input), (repo.to_string(), tag.to_string()), "{input}");
        }
    }

    #[test]
    fn parses_ports_from_bind_failures() {
        let allocated = "driver failed programming external connectivity on endpoint x (abc): \
                         Bind for 127.0.0.1:5432 failed: port is already allocated";
        assert_eq!(port_from_message(allocated), Some(5432));
        let in_use = "driver failed programming external connectivity on endpoint x (abc): \
                      Error starting userland proxy: listen tcp4 127.0.0.1:40001: bind: \
                      address already in use";
        assert_eq!(port_from_message(in_use), Some(40001));
        assert_eq!(
            port_from_message("Bind for [::1]:6379 failed: port is already allocated"),
            Some(6379)
        );
        assert_eq!(port_from_message("address already in use"), None);
    }

    #[test]
    fn maps_statuses_by_subject() {
        let err = |status_code: u16, message: &str| DockerError::DockerResponseServerError {
            status_code,
            message: message.to_string(),
        };
        assert!(matches!(
            map_err(err(404, "No such container: x"), Subject::Container("x")),
            BackendError::NotFound(n) if n == "x"
        ));
        assert!(matches!(
            map_err(err(404, "No such image: i"), Subject::Create { name: "x", image: "i" }),
            BackendError::ImageNotFound(n) if n == "i"
        ));
        assert!(matches!(
            map_err(
                err(409, "Conflict. The container name \"/x\" is already in use by container \"a\"."),
                Subject::Create { name: "x", image: "i" }
            ),
            BackendError::NameInUse(n) if n == "x"
        ));
        assert!(matches!(
            map_err(
                err(
                    500,
                    "driver failed: Bind for 0.0.0.0:80 failed: port is already allocated"
                ),
                Subject::Container("x")
            ),
            BackendError::PortInUse { port: Some(80), .. }
        ));
        assert!(matches!(
            map_err(err(500, "something\nbroke"), Subject::None),
            BackendError::Other(m) if m == "something broke"
        ));
    }

    #[test]
    fn maps_socket_errors() {
        let io = |kind| DockerError::IOError {
            err: std::io::Error::from(kind),
        };
        assert!(matches!(
            map_err(io(std::io::ErrorKind::PermissionDenied), Subject::None),
            BackendError::PermissionDenied(m) if m.contains("docker group")
        ));
        assert!(matches!(
            map_err(io(std::io::ErrorKind::ConnectionRefused), Subject::None),
            BackendError::Unavailable(m) if m.contains("docker info")
        ));
        assert!(matches!(
            map_err(DockerError::SocketNotFoundError("/nope".into()), Subject::None),
            BackendError::Unavailable(_)
        ));
        assert!(is_transient(&io(std::io::ErrorKind::ConnectionReset)));
        assert!(!is_transient(&io(std::io::ErrorKind::ConnectionRefused)));
        assert!(is_transient(&DockerError::DockerResponseServerError {
            status_code: 502,
            message: String::new()
        }));
        assert!(!is_transient(&DockerError::DockerResponseServerError {
            status_code: 404,
            message: String::new()
        }));
    }

    #[test]
    fn maps_pull_errors() {
        let stream = |m: &str| DockerError::DockerStreamError { error: m.to_string() };
        assert!(matches!(
            map_pull_err(stream("manifest for x:1 not found: manifest unknown"), "x:1"),
            BackendError::ImageNotFound(_)
        ));
        assert!(matches!(
            map_pull_err(
                DockerError::DockerResponseServerError {
                    status_code: 500,
                    message: "Get \"https://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused".into()
                },
                "127.0.0.1:1/nope:1"
            ),
            BackendError::Other(m) if m.contains("connection refused")
        ));
    }

    #[test]
    fn splits_chunks_into_lines() {
        let mut s = LineSplitter::default();
        assert!(s.push(false, b"par").is_empty());
        let lines = s.push(false, b"tial\r\nsecond\nthi");
        assert_eq!(
            lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["partial", "second"]
        );
        let err = s.push(true, b"oops\n");
        assert_eq!(
            err,
            [LogLine {
                stderr: true,
                text: "oops".into()
            }]
        );
        assert_eq!(
            s.finish(),
            [LogLine {
                stderr: false,
                text: "thi".into()
            }]
        );
        assert!(s.finish().is_empty());
    }

    #[test]
    fn reads_status_details() {
        assert_eq!(exit_code_from_status("Exited (137) 5 seconds ago"), Some(137));
        assert_eq!(exit_code_from_status("Up 3 minutes"), None);
        assert_eq!(parse_started_at("0001-01-01T00:00:00Z"), None);
        assert!(parse_started_at("2024-05-01T10:00:00.123456789Z").is_some());
    }
}
