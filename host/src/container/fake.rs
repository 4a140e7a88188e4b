//! [`FakeBackend`]: an in-memory [`ContainerBackend`] for unit tests of host logic (create
//! and its undo, port choice, volumes, readiness) without a Docker daemon.
//!
//! It keeps Docker's semantics where host logic depends on them: names are unique
//! (`NameInUse`), create needs the image locally (`ImageNotFound`) and creates anonymous
//! volumes for the image's `VOLUME`s, host ports are bound on start (`PortInUse` for a port
//! taken on the "host" or by another running container; a Docker-picked port when
//! `host_port` is `None`) and released on stop, removal takes anonymous volumes with it,
//! a volume or image in use cannot be removed. Logs and exec output are scripted, and any
//! operation can be made to fail the next N times ([`FakeBackend::fail_next`]). Every call
//! is recorded ([`FakeBackend::calls`]).

use super::{
    BackendError, ContainerBackend, ContainerDef, ContainerInfo, ExecOutput, ExecRequest, FileUpload, ImageRef,
    LabelledImage, LogLine, Mount, PublishedPort, PullProgress, Result, State, VolumeInfo,
};
use futures_util::stream::{self, BoxStream, StreamExt};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// First port handed out when the engine picks one (Docker's ephemeral range starts here).
const FIRST_DYNAMIC_PORT: u16 = 32768;
/// How often a followed log stream looks for new lines or a stopped container.
const FOLLOW_POLL: Duration = Duration::from_millis(5);

/// A [`ContainerBackend`] operation, to inject faults into and to read the call log by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    ImageExists,
    PullImage,
    RemoveImage,
    CreateContainer,
    StartContainer,
    StopContainer,
    RestartContainer,
    RemoveContainer,
    InspectContainer,
    ListContainers,
    Logs,
    Exec,
    UploadFiles,
    CreateVolume,
    InspectVolume,
    RemoveVolume,
    ListVolumes,
    ImageId,
    ListLabelledImages,
    CommitContainer,
    CopyPath,
    RenameContainer,
    SetPaused,
    DetachNetworks,
    AttachNetworks,
}

/// One recorded call: the operation, what it was about (container name or id as passed,
/// image, volume name, or the label filters joined by `,`) and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub op: Op,
    pub target: String,
    pub ok: bool,
}

/// The in-memory engine. Cheap to clone; clones share state.
#[derive(Debug, Clone, Default)]
pub struct FakeBackend {
    state: Arc<Mutex<FakeState>>,
}

#[derive(Debug, Default)]
struct FakeState {
    /// In creation order.
    containers: Vec<FakeContainer>,
    volumes: BTreeMap<String, FakeVolume>,
    /// Local images by canonical reference, with the `VOLUME` targets each declares.
    images: BTreeMap<String, Vec<String>>,
    /// Images a pull can fetch (canonical reference → `VOLUME` targets).
    registry: BTreeMap<String, Vec<String>>,
    /// Host ports held by something other than a container.
    taken_ports: BTreeSet<u16>,
    next_dynamic_port: u16,
    next_id: u64,
    faults: HashMap<Op, VecDeque<BackendError>>,
    calls: Vec<Call>,
    /// Log lines by container name, with the Unix second each was written.
    logs: HashMap<String, Vec<(i64, LogLine)>>,
    /// Exec replies by command; the last one repeats.
    exec: HashMap<Vec<String>, VecDeque<ExecOutput>>,
    /// Committed images by id: labels, and the files they carry.
    committed: BTreeMap<String, (LabelledImage, BTreeMap<String, Vec<u8>>)>,
    /// Like Podman: a container keeps its published ports without a network, until it stops.
    ports_outlive_networks: bool,
}

#[derive(Debug, Clone)]
struct FakeContainer {
    id: String,
    def: ContainerDef,
    state: State,
    exit_code: Option<i64>,
    started_at: Option<chrono::DateTime<chrono::Utc>>,
    ports: Vec<PublishedPort>,
    /// Named volumes first, then the anonymous ones created for the image.
    volumes: Vec<String>,
    anonymous: Vec<String>,
    /// Files uploaded into the container, by path.
    files: BTreeMap<String, Vec<u8>>,
    /// The stdin of every exec, in order.
    exec_stdin: Vec<Option<Vec<u8>>>,
    /// Disconnected from its network: a start publishes no ports.
    detached: bool,
}

#[derive(Debug, Clone)]
struct FakeVolume {
    labels: BTreeMap<String, String>,
}

impl FakeContainer {
    fn info(&self) -> ContainerInfo {
        ContainerInfo {
            id: self.id.clone(),
            name: self.def.name.clone(),
            image: self.def.image.clone(),
            labels: self.def.labels.clone(),
            state: self.state,
            exit_code: self.exit_code,
            started_at: self.started_at,
            ports: self.ports.clone(),
            volumes: self.volumes.clone(),
            ip_address: (self.state == State::Running).then(|| "10.88.0.2".to_string()),
        }
    }

    fn uses_volume(&self, name: &str) -> bool {
        self.volumes.iter().any(|v| v == name)
    }
}

/// `key=value` or `key`, as Docker's `label` filter.
fn labels_match(labels: &BTreeMap<String, String>, filters: &[String]) -> bool {
    filters.iter().all(|f| match f.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(f.as_str()),
    })
}

/// A stable fake image id for `key`.
fn fxhash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// The key images are stored under: `redis`, `redis:latest` and `library/redis` are one image.
fn image_key(image: &str) -> Result<String> {
    ImageRef::parse(image)
        .map(|r| r.canonical())
        .map_err(|e| BackendError::Other(e.to_string()))
}

impl FakeState {
    /// Records the call and pops an injected fault for it, if any.
    fn enter(&mut self, op: Op, target: &str) -> Result<()> {
        let fault = self.faults.get_mut(&op).and_then(VecDeque::pop_front);
        self.calls.push(Call {
            op,
            target: target.to_string(),
            ok: fault.is_none(),
        });
        fault.map_or(Ok(()), Err)
    }

    /// Marks the last recorded call as failed when `result` is an error.
    fn leave<T>(&mut self, result: Result<T>) -> Result<T> {
        if result.is_err()
            && let Some(last) = self.calls.last_mut()
        {
            last.ok = false;
        }
        result
    }

    fn index(&self, name_or_id: &str) -> Option<usize> {
        self.containers
            .iter()
            .position(|c| c.id == name_or_id || c.def.name == name_or_id)
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        // 64 hex digits like Docker's, distinct in their first 12 (the short id).
        let n = self.next_id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        format!("{n:016x}{:048x}", self.next_id)
    }

    /// Whether `port` on `ip` is held by the host or by a running container other than `except`.
    fn port_busy(&self, ip: &str, port: u16, except: usize) -> bool {
        self.taken_ports.contains(&port)
            || self.containers.iter().enumerate().any(|(i, c)| {
                i != except
                    && c.ports
                        .iter()
                        .any(|p| p.host_port == port && (p.host_ip == ip || p.host_ip == "0.0.0.0" || ip == "0.0.0.0"))
            })
    }

    /// Docker's create: a unique name, a local image, named volumes created on demand and
    /// anonymous ones for the image's `VOLUME`s not covered by a mount.
    fn create(&mut self, def: &ContainerDef) -> Result<String> {
        if self.index(&def.name).is_some() {
            return Err(BackendError::NameInUse(def.name.clone()));
        }
        let image_volumes = self
            .images
            .get(&image_key(&def.image)?)
            .cloned()
            .ok_or_else(|| BackendError::ImageNotFound(def.image.clone()))?;
        let mut volumes = Vec::new();
        for m in &def.mounts {
            if let Mount::Volume { name, .. } = m {
                // Docker creates a missing named volume, without labels.
                self.volumes.entry(name.clone()).or_insert_with(|| FakeVolume {
                    labels: BTreeMap::new(),
                });
                volumes.push(name.clone());
            }
        }
        let mounted = |target: &str| {
            def.mounts.iter().any(|m| match m {
                Mount::Volume { target: t, .. } | Mount::Tmpfs { target: t, .. } => t == target,
            })
        };
        let mut anonymous = Vec::new();
        for target in image_volumes.iter().filter(|t| !mounted(t)) {
            let name = self.new_id();
            tracing::trace!(%name, %target, "fake anonymous volume");
            self.volumes.insert(
                name.clone(),
                FakeVolume {
                    labels: BTreeMap::from([("com.docker.volume.anonymous".to_string(), String::new())]),
                },
            );
            anonymous.push(name);
        }
        volumes.extend(anonymous.iter().cloned());
        let id = self.new_id();
        self.containers.push(FakeContainer {
            id: id.clone(),
            def: def.clone(),
            state: State::Created,
            exit_code: None,
            started_at: None,
            ports: Vec::new(),
            volumes,
            anonymous,
            files: BTreeMap::new(),
            exec_stdin: Vec::new(),
            detached: false,
        });
        Ok(id)
    }

    /// Binds the container's ports and marks it running, as Docker's start does.
    fn start(&mut self, i: usize) -> Result<()> {
        if self.containers[i].state == State::Running {
            return Ok(());
        }
        let mut bound: Vec<PublishedPort> = Vec::new();
        let ports = if self.containers[i].detached {
            Vec::new()
        } else {
            self.containers[i].def.ports.clone()
        };
        for p in ports {
            let busy = |st: &Self, port| st.port_busy(&p.host_ip, port, i) || bound.iter().any(|b| b.host_port == port);
            let host_port = match p.host_port {
                Some(port) if busy(self, port) => {
                    return Err(BackendError::PortInUse {
                        port: Some(port),
                        message: format!(
                            "driver failed programming external connectivity on endpoint {}: \
                             Bind for {}:{port} failed: port is already allocated",
                            self.containers[i].def.name, p.host_ip
                        ),
                    });
                }
                Some(port) => port,
                None => loop {
                    let port = self.next_dynamic_port.max(FIRST_DYNAMIC_PORT);
                    self.next_dynamic_port = port.checked_add(1).unwrap_or(FIRST_DYNAMIC_PORT);
                    if !busy(self, port) {
                        break port;
                    }
                },
            };
            bound.push(PublishedPort {
                container_port: p.container_port,
                host_ip: p.host_ip.clone(),
                host_port,
            });
        }
        bound.sort_by(|a, b| (a.container_port, &a.host_ip).cmp(&(b.container_port, &b.host_ip)));
        let c = &mut self.containers[i];
        c.ports = bound;
        c.state = State::Running;
        c.exit_code = None;
        c.started_at = Some(chrono::Utc::now());
        Ok(())
    }

    fn stop(&mut self, i: usize, exit_code: i64) {
        let c = &mut self.containers[i];
        if matches!(c.state, State::Running | State::Restarting | State::Paused) {
            c.state = State::Exited;
            c.exit_code = Some(exit_code);
            c.ports.clear();
        }
    }
}

impl FakeBackend {
    /// An engine with no images, containers or volumes, and every host port free.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        // A test that panicked while holding the lock has failed already; keep the state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a call of `op` on container `name_or_id` and runs `f` on it, unless a fault
    /// is injected or there is no such container (`NotFound`).
    fn on_container<T>(
        &self,
        op: Op,
        name_or_id: &str,
        f: impl FnOnce(&mut FakeState, usize) -> Result<T>,
    ) -> Result<T> {
        let mut st = self.lock();
        st.enter(op, name_or_id)?;
        let result = match st.index(name_or_id) {
            Some(i) => f(&mut st, i),
            None => Err(BackendError::NotFound(name_or_id.to_string())),
        };
        st.leave(result)
    }

    // ------------------------------------------------------------------ set-up

    /// Makes `image` present locally, as if pulled; `volumes` are its `VOLUME` targets
    /// (each container of it gets an anonymous volume there).
    pub fn add_image(&self, image: &str, volumes: &[&str]) {
        let key = image_key(image).expect("a valid image reference");
        self.lock()
            .images
            .insert(key, volumes.iter().map(|v| v.to_string()).collect());
    }

    /// Makes `image` pullable (present in its registry), not present locally.
    pub fn add_registry_image(&self, image: &str, volumes: &[&str]) {
        let key = image_key(image).expect("a valid image reference");
        self.lock()
            .registry
            .insert(key, volumes.iter().map(|v| v.to_string()).collect());
    }

    /// Marks host `port` as held by another program: binding it fails with `PortInUse`.
    pub fn take_host_port(&self, port: u16) {
        self.lock().taken_ports.insert(port);
    }

    pub fn release_host_port(&self, port: u16) {
        self.lock().taken_ports.remove(&port);
    }

    /// Makes a container disconnected from its network keep its ports until it stops, as
    /// Podman does.
    pub fn keep_ports_without_network(&self) {
        self.lock().ports_outlive_networks = true;
    }

    /// Sets the next port the engine picks for `host_port: None` (default 32768).
    pub fn set_next_dynamic_port(&self, port: u16) {
        self.lock().next_dynamic_port = port;
    }

    /// Appends a line to the output of the container named `name` (it need not exist yet:
    /// lines scripted before create are its first output). Removal clears them.
    pub fn push_log(&self, name: &str, stderr: bool, text: &str) {
        let now = chrono::Utc::now().timestamp();
        self.lock().logs.entry(name.to_string()).or_default().push((
            now,
            LogLine {
                stderr,
                text: text.to_string(),
            },
        ));
    }

    /// The files uploaded into container `name_or_id`, by path.
    pub fn files_of(&self, name_or_id: &str) -> BTreeMap<String, Vec<u8>> {
        let st = self.lock();
        st.index(name_or_id)
            .map(|i| st.containers[i].files.clone())
            .unwrap_or_default()
    }

    /// The stdin each exec in container `name_or_id` was given, in order.
    pub fn exec_stdin_of(&self, name_or_id: &str) -> Vec<Option<Vec<u8>>> {
        let st = self.lock();
        st.index(name_or_id)
            .map(|i| st.containers[i].exec_stdin.clone())
            .unwrap_or_default()
    }

    /// Queues the reply to `exec` of exactly `cmd`; replies are used in order and the last
    /// one repeats (e.g. "not ready" twice, then "ready"). An unscripted command exits 127.
    pub fn push_exec(&self, cmd: &[&str], exit_code: i64, output: &str) {
        self.lock()
            .exec
            .entry(cmd.iter().map(|s| s.to_string()).collect())
            .or_default()
            .push_back(ExecOutput {
                exit_code,
                output: output.to_string(),
            });
    }

    /// Makes the container exit on its own (a crash, or its main process ending) with
    /// `exit_code`, releasing its ports; returns false if there is no such container.
    pub fn exit_container(&self, name_or_id: &str, exit_code: i64) -> bool {
        let mut st = self.lock();
        match st.index(name_or_id) {
            Some(i) => {
                st.stop(i, exit_code);
                true
            }
            None => false,
        }
    }

    // --------------------------------------------------------- fault injection

    /// Makes the next `times` calls of `op` fail with `error` before doing anything
    /// (they are still recorded, with `ok: false`). Faults for one op queue up in order.
    pub fn fail_next(&self, op: Op, times: usize, error: BackendError) {
        let mut st = self.lock();
        let queue = st.faults.entry(op).or_default();
        queue.extend(std::iter::repeat_n(error, times));
    }

    /// Drops the injected faults not yet used.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    // --------------------------------------------------------------- inspection

    /// Every container that exists, in creation order.
    pub fn containers(&self) -> Vec<ContainerInfo> {
        self.lock().containers.iter().map(FakeContainer::info).collect()
    }

    /// The definition a container was created from (env, mounts, limits...).
    pub fn container_def(&self, name_or_id: &str) -> Option<ContainerDef> {
        let st = self.lock();
        st.index(name_or_id).map(|i| st.containers[i].def.clone())
    }

    /// Every volume that exists (named and anonymous), by name.
    pub fn volumes(&self) -> Vec<VolumeInfo> {
        self.lock()
            .volumes
            .iter()
            .map(|(name, v)| VolumeInfo {
                name: name.clone(),
                labels: v.labels.clone(),
            })
            .collect()
    }

    /// Local images, in canonical form (`docker.io/library/redis:7`).
    pub fn images(&self) -> Vec<String> {
        self.lock().images.keys().cloned().collect()
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The targets of the calls of `op`, in order.
    pub fn calls_of(&self, op: Op) -> Vec<String> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.op == op)
            .map(|c| c.target.clone())
            .collect()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }
}

impl ContainerBackend for FakeBackend {
    async fn image_exists(&self, image: &str) -> Result<bool> {
        let mut st = self.lock();
        st.enter(Op::ImageExists, image)?;
        let result = image_key(image).map(|key| st.images.contains_key(&key));
        st.leave(result)
    }

    async fn pull_image(&self, image: &str, progress: &(dyn Fn(PullProgress) + Send + Sync)) -> Result<()> {
        {
            let mut st = self.lock();
            st.enter(Op::PullImage, image)?;
            let result = image_key(image).and_then(|key| match st.registry.get(&key).cloned() {
                Some(volumes) => {
                    st.images.insert(key, volumes);
                    Ok(())
                }
                None => Err(BackendError::ImageNotFound(image.to_string())),
            });
            st.leave(result)?;
        }
        // Outside the lock: the callback may call back into the backend.
        for (status, current) in [("Downloading", 512), ("Pull complete", 1024)] {
            progress(PullProgress {
                layer: "fa4e1a7e12c0".into(),
                status: status.into(),
                current_bytes: current,
                total_bytes: 1024,
            });
        }
        Ok(())
    }

    async fn remove_image(&self, image: &str) -> Result<()> {
        let mut st = self.lock();
        st.enter(Op::RemoveImage, image)?;
        if st.committed.remove(image).is_some() {
            st.images.remove(&image_key(image)?);
            return Ok(());
        }
        let result = image_key(image).and_then(|key| {
            if !st.images.contains_key(&key) {
                return Err(BackendError::ImageNotFound(image.to_string()));
            }
            if let Some(user) = st
                .containers
                .iter()
                .find(|c| image_key(&c.def.image).is_ok_and(|k| k == key))
            {
                return Err(BackendError::Other(format!(
                    "image {image} is in use: container {} is using its referenced image",
                    &user.id[..12]
                )));
            }
            st.images.remove(&key);
            Ok(())
        });
        st.leave(result)
    }

    async fn create_container(&self, def: &ContainerDef) -> Result<String> {
        let mut st = self.lock();
        st.enter(Op::CreateContainer, &def.name)?;
        let result = st.create(def);
        // A container of a committed image starts with the image's files.
        if let (Ok(id), Some((_, files))) = (&result, st.committed.get(&def.image).cloned())
            && let Some(i) = st.index(id)
        {
            st.containers[i].files = files;
        }
        st.leave(result)
    }

    async fn image_id(&self, image: &str) -> Result<Option<String>> {
        let mut st = self.lock();
        st.enter(Op::ImageId, image)?;
        let key = image_key(image)?;
        Ok(st
            .images
            .contains_key(&key)
            .then(|| format!("sha256:{:x}", fxhash(&key))))
    }

    async fn list_labelled_images(&self, labels: &[String]) -> Result<Vec<LabelledImage>> {
        let mut st = self.lock();
        st.enter(Op::ListLabelledImages, &labels.join(","))?;
        Ok(st
            .committed
            .values()
            .filter(|(i, _)| labels_match(&i.labels, labels))
            .map(|(i, _)| i.clone())
            .collect())
    }

    async fn commit_container(&self, id: &str, labels: &BTreeMap<String, String>) -> Result<String> {
        let mut st = self.lock();
        st.enter(Op::CommitContainer, id)?;
        let i = st.index(id).ok_or_else(|| BackendError::NotFound(id.to_string()))?;
        let c = st.containers[i].clone();
        let image = format!("sha256:{}", st.new_id());
        let volumes = st.images.get(&image_key(&c.def.image)?).cloned().unwrap_or_default();
        st.images.insert(image_key(&image)?, volumes);
        let mut all = c.def.labels.clone();
        all.extend(labels.clone());
        let size = c.files.values().map(|f| f.len() as u64).sum();
        let info = LabelledImage {
            id: image.clone(),
            labels: all,
            created: chrono::Utc::now().timestamp(),
            size_bytes: size,
        };
        st.committed.insert(image.clone(), (info, c.files));
        Ok(image)
    }

    async fn set_paused(&self, id: &str, paused: bool) -> Result<()> {
        let mut st = self.lock();
        st.enter(Op::SetPaused, id)?;
        let i = st.index(id).ok_or_else(|| BackendError::NotFound(id.to_string()))?;
        let c = &mut st.containers[i];
        c.state = match (c.state, paused) {
            (State::Running, true) => State::Paused,
            (State::Paused, false) => State::Running,
            (state, _) => return Err(BackendError::Other(format!("container {id} is {state:?}"))),
        };
        Ok(())
    }

    async fn rename_container(&self, id: &str, new_name: &str) -> Result<()> {
        let mut st = self.lock();
        st.enter(Op::RenameContainer, id)?;
        let i = st.index(id).ok_or_else(|| BackendError::NotFound(id.to_string()))?;
        if st.index(new_name).is_some_and(|j| j != i) {
            return Err(BackendError::NameInUse(new_name.to_string()));
        }
        st.containers[i].def.name = new_name.to_string();
        Ok(())
    }

    async fn copy_path(&self, from: &str, path: &str, to: &str) -> Result<()> {
        let mut st = self.lock();
        st.enter(Op::CopyPath, from)?;
        let f = st.index(from).ok_or_else(|| BackendError::NotFound(from.to_string()))?;
        let t = st.index(to).ok_or_else(|| BackendError::NotFound(to.to_string()))?;
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let files: Vec<(String, Vec<u8>)> = st.containers[f]
            .files
            .iter()
            .filter(|(p, _)| p.starts_with(&prefix))
            .map(|(p, c)| (p.clone(), c.clone()))
            .collect();
        st.containers[t].files.retain(|p, _| !p.starts_with(&prefix));
        st.containers[t].files.extend(files);
        Ok(())
    }

    async fn prepare_path(&self, id: &str, _path: &str) -> Result<()> {
        // Files are kept by path: there are no directories to make.
        let st = self.lock();
        st.index(id)
            .map(|_| ())
            .ok_or_else(|| BackendError::NotFound(id.to_string()))
    }

    async fn detach_networks(&self, id: &str) -> Result<Vec<String>> {
        self.on_container(Op::DetachNetworks, id, |st, i| {
            let keep = st.ports_outlive_networks;
            let c = &mut st.containers[i];
            if c.detached {
                return Ok(Vec::new());
            }
            c.detached = true;
            if !keep {
                c.ports.clear();
            }
            Ok(vec!["bridge".to_string()])
        })
    }

    async fn attach_networks(&self, id: &str, networks: &[String]) -> Result<()> {
        self.on_container(Op::AttachNetworks, id, |st, i| {
            if !networks.is_empty() {
                st.containers[i].detached = false;
            }
            Ok(())
        })
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        self.on_container(Op::StartContainer, id, |st, i| st.start(i))
    }

    async fn stop_container(&self, id: &str, _timeout: Duration) -> Result<()> {
        // A clean shutdown; `exit_container` simulates other exits.
        self.on_container(Op::StopContainer, id, |st, i| {
            st.stop(i, 0);
            Ok(())
        })
    }

    async fn restart_container(&self, id: &str, _timeout: Duration) -> Result<()> {
        self.on_container(Op::RestartContainer, id, |st, i| {
            st.stop(i, 0);
            st.start(i)
        })
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        self.on_container(Op::RemoveContainer, id, |st, i| {
            let c = st.containers.remove(i);
            for v in &c.anonymous {
                st.volumes.remove(v);
            }
            st.logs.remove(&c.def.name);
            Ok(())
        })
    }

    async fn inspect_container(&self, name_or_id: &str) -> Result<ContainerInfo> {
        self.on_container(Op::InspectContainer, name_or_id, |st, i| Ok(st.containers[i].info()))
    }

    async fn list_containers(&self, labels: &[String]) -> Result<Vec<ContainerInfo>> {
        let mut st = self.lock();
        st.enter(Op::ListContainers, &labels.join(","))?;
        // Newest first, as Docker lists them.
        Ok(st
            .containers
            .iter()
            .rev()
            .filter(|c| labels_match(&c.def.labels, labels))
            .map(FakeContainer::info)
            .collect())
    }

    fn logs(
        &self,
        id: &str,
        follow: bool,
        tail: Option<usize>,
        since: Option<i64>,
    ) -> BoxStream<'static, Result<LogLine>> {
        let name = {
            let mut st = self.lock();
            if let Err(e) = st.enter(Op::Logs, id) {
                return stream::iter([Err(e)]).boxed();
            }
            match st.index(id) {
                Some(i) => st.containers[i].def.name.clone(),
                None => {
                    let e = st.leave(Err(BackendError::NotFound(id.to_string())));
                    return stream::iter([e]).boxed();
                }
            }
        };
        let since = since.unwrap_or(i64::MIN);
        let lines = |st: &FakeState, from: usize| -> Vec<LogLine> {
            st.logs.get(&name).map_or_else(Vec::new, |all| {
                all.iter()
                    .skip(from)
                    .filter(|(at, _)| *at >= since)
                    .map(|(_, l)| l.clone())
                    .collect()
            })
        };
        let (first, seen) = {
            let st = self.lock();
            let all = lines(&st, 0);
            let skip = tail.map_or(0, |n| all.len().saturating_sub(n));
            let seen = st.logs.get(&name).map_or(0, Vec::len);
            (all[skip..].to_vec(), seen)
        };
        let first = stream::iter(first.into_iter().map(Ok));
        if !follow {
            return first.boxed();
        }
        // Following: new lines as they are pushed, until the container is not running.
        let state = self.state.clone();
        let rest = stream::unfold(seen, move |mut seen| {
            let state = state.clone();
            let name = name.clone();
            async move {
                loop {
                    {
                        let st = state.lock().unwrap_or_else(|e| e.into_inner());
                        let all = st.logs.get(&name).map_or(&[][..], Vec::as_slice);
                        if let Some((at, line)) = all.get(seen) {
                            seen += 1;
                            if *at >= since {
                                return Some((Ok(line.clone()), seen));
                            }
                            continue;
                        }
                        let running = st
                            .containers
                            .iter()
                            .any(|c| c.def.name == name && c.state == State::Running);
                        if !running {
                            return None;
                        }
                    }
                    tokio::time::sleep(FOLLOW_POLL).await;
                }
            }
        });
        first.chain(rest).boxed()
    }

    async fn exec(&self, id: &str, req: &ExecRequest<'_>) -> Result<ExecOutput> {
        self.on_container(Op::Exec, id, |st, i| {
            if st.containers[i].state != State::Running {
                return Err(BackendError::Other(format!(
                    "container {} is not running",
                    st.containers[i].id
                )));
            }
            st.containers[i].exec_stdin.push(req.stdin.map(<[u8]>::to_vec));
            Ok(match st.exec.get_mut(req.cmd) {
                Some(replies) if replies.len() > 1 => replies.pop_front().expect("non-empty"),
                Some(replies) if !replies.is_empty() => replies[0].clone(),
                _ => ExecOutput {
                    exit_code: 127,
                    output: format!("fake: no reply scripted for {:?}\n", req.cmd),
                },
            })
        })
    }

    async fn upload_files(&self, id: &str, files: &[FileUpload]) -> Result<()> {
        self.on_container(Op::UploadFiles, id, |st, i| {
            for f in files {
                st.containers[i].files.insert(f.path.clone(), f.content.clone());
            }
            Ok(())
        })
    }

    async fn create_volume(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<()> {
        let mut st = self.lock();
        st.enter(Op::CreateVolume, name)?;
        // Like Docker: creating an existing volume succeeds and leaves it as it was.
        st.volumes
            .entry(name.to_string())
            .or_insert_with(|| FakeVolume { labels: labels.clone() });
        Ok(())
    }

    async fn inspect_volume(&self, name: &str) -> Result<Option<VolumeInfo>> {
        let mut st = self.lock();
        st.enter(Op::InspectVolume, name)?;
        Ok(st.volumes.get(name).map(|v| VolumeInfo {
            name: name.to_string(),
            labels: v.labels.clone(),
        }))
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        let mut st = self.lock();
        st.enter(Op::RemoveVolume, name)?;
        let result = if !st.volumes.contains_key(name) {
            Err(BackendError::NotFound(name.to_string()))
        } else if let Some(user) = st.containers.iter().find(|c| c.uses_volume(name)) {
            Err(BackendError::Other(format!(
                "volume {name} is in use: remove volume: volume is in use - [{}]",
                user.id
            )))
        } else {
            st.volumes.remove(name);
            Ok(())
        };
        st.leave(result)
    }

    async fn list_volumes(&self, labels: &[String]) -> Result<Vec<VolumeInfo>> {
        let mut st = self.lock();
        st.enter(Op::ListVolumes, &labels.join(","))?;
        Ok(st
            .volumes
            .iter()
            .filter(|(_, v)| labels_match(&v.labels, labels))
            .map(|(name, v)| VolumeInfo {
                name: name.clone(),
                labels: v.labels.clone(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::PortBinding;

    const IMAGE: &str = "postgres:16";

    fn backend() -> FakeBackend {
        let b = FakeBackend::new();
        b.add_image(IMAGE, &["/var/lib/postgresql/data"]);
        b
    }

    fn def(name: &str) -> ContainerDef {
        ContainerDef {
            name: name.into(),
            image: IMAGE.into(),
            labels: BTreeMap::from([("io.dbarena.name".to_string(), name.to_string())]),
            ..Default::default()
        }
    }

    fn port(container_port: u16, host_port: Option<u16>) -> PortBinding {
        PortBinding {
            container_port,
            host_ip: "127.0.0.1".into(),
            host_port,
        }
    }

    #[tokio::test]
    async fn names_are_unique_and_lookups_take_name_or_id() {
        let b = backend();
        let id = b.create_container(&def("a")).await.unwrap();
        assert_eq!(id.len(), 64);
        assert_eq!(
            b.create_container(&def("a")).await,
            Err(BackendError::NameInUse("a".into()))
        );
        let other = b.create_container(&def("b")).await.unwrap();
        assert_ne!(id[..12], other[..12], "short ids differ");
        assert_eq!(b.inspect_container("a").await.unwrap().id, id);
        assert_eq!(b.inspect_container(&id).await.unwrap().name, "a");
        assert_eq!(b.inspect_container(&id).await.unwrap().state, State::Created);
        assert_eq!(
            b.inspect_container("nope").await.unwrap_err(),
            BackendError::NotFound("nope".into())
        );
        assert_eq!(b.containers().len(), 2);
        assert_eq!(b.calls_of(Op::CreateContainer), ["a", "a", "b"]);
        assert!(!b.calls()[1].ok, "the NameInUse call is recorded as failed");
    }

    #[tokio::test]
    async fn create_needs_the_image_and_pull_fetches_it() {
        let b = FakeBackend::new();
        let mut d = def("x");
        d.image = "redis:7".into();
        assert_eq!(
            b.create_container(&d).await,
            Err(BackendError::ImageNotFound("redis:7".into()))
        );
        assert!(!b.image_exists("redis:7").await.unwrap());
        assert_eq!(
            b.pull_image("redis:7", &|_| {}).await,
            Err(BackendError::ImageNotFound("redis:7".into()))
        );
        b.add_registry_image("docker.io/library/redis:7", &[]);
        let events = Mutex::new(Vec::new());
        b.pull_image("redis:7", &|p| events.lock().unwrap().push(p.status))
            .await
            .unwrap();
        assert_eq!(events.into_inner().unwrap().last().unwrap(), "Pull complete");
        assert!(b.image_exists("library/redis:7").await.unwrap());
        assert!(!b.image_exists("redis").await.unwrap(), "redis means redis:latest");
        b.create_container(&d).await.unwrap();
        assert!(matches!(
            b.remove_image("redis:7").await,
            Err(BackendError::Other(m)) if m.contains("in use")
        ));
        b.remove_container("x").await.unwrap();
        b.remove_image("redis:7").await.unwrap();
        assert_eq!(
            b.remove_image("redis:7").await,
            Err(BackendError::ImageNotFound("redis:7".into()))
        );
    }

    #[tokio::test]
    async fn ports_bind_on_start_and_conflicts_are_port_in_use() {
        let b = backend();
        b.take_host_port(5432);
        let mut d = def("fixed");
        d.ports = vec![port(5432, Some(5432))];
        let id = b.create_container(&d).await.unwrap();
        match b.start_container(&id).await {
            Err(BackendError::PortInUse { port, message }) => {
                assert_eq!(port, Some(5432));
                assert!(message.contains("port is already allocated"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(b.inspect_container(&id).await.unwrap().state, State::Created);
        b.release_host_port(5432);
        b.start_container(&id).await.unwrap();
        let info = b.inspect_container(&id).await.unwrap();
        assert_eq!(info.state, State::Running);
        assert!(info.started_at.is_some());
        assert_eq!(info.ports[0].host_port, 5432);

        // Held by a running container, on the same address or on 0.0.0.0.
        let mut d = def("second");
        d.ports = vec![PortBinding {
            host_ip: "0.0.0.0".into(),
            ..port(5432, Some(5432))
        }];
        b.create_container(&d).await.unwrap();
        assert!(matches!(
            b.start_container("second").await,
            Err(BackendError::PortInUse { port: Some(5432), .. })
        ));
        b.stop_container(&id, Duration::ZERO).await.unwrap();
        assert!(b.inspect_container(&id).await.unwrap().ports.is_empty());
        b.start_container("second").await.unwrap();

        // The engine picks: counter order, skipping what is busy.
        b.set_next_dynamic_port(40000);
        b.take_host_port(40001);
        let mut d = def("dynamic");
        d.ports = vec![port(5432, None), port(8080, None)];
        b.create_container(&d).await.unwrap();
        b.start_container("dynamic").await.unwrap();
        let ports: Vec<_> = b
            .inspect_container("dynamic")
            .await
            .unwrap()
            .ports
            .iter()
            .map(|p| (p.container_port, p.host_port))
            .collect();
        assert_eq!(ports, [(5432, 40000), (8080, 40002)]);
    }

    #[tokio::test]
    async fn anonymous_volumes_go_with_the_container_named_ones_stay() {
        let b = backend();
        let labels = BTreeMap::from([("io.dbarena.name".to_string(), "v".to_string())]);
        b.create_volume("v-data", &labels).await.unwrap();
        // Creating again keeps the first labels, as Docker does.
        b.create_volume("v-data", &BTreeMap::new()).await.unwrap();
        let mut d = def("v");
        d.mounts = vec![Mount::Tmpfs {
            target: "/tmp".into(),
            size_bytes: 1,
        }];
        b.create_container(&d).await.unwrap();
        let anonymous = b.inspect_container("v").await.unwrap().volumes;
        assert_eq!(anonymous.len(), 1, "the image's VOLUME");
        assert!(b.inspect_volume(&anonymous[0]).await.unwrap().is_some());
        b.remove_container("v").await.unwrap();
        assert!(b.inspect_volume(&anonymous[0]).await.unwrap().is_none());

        let mut d = def("v");
        d.mounts = vec![Mount::Volume {
            name: "v-data".into(),
            target: "/var/lib/postgresql/data".into(),
        }];
        b.create_container(&d).await.unwrap();
        assert_eq!(
            b.inspect_container("v").await.unwrap().volumes,
            ["v-data"],
            "a mount over the VOLUME replaces the anonymous one"
        );
        assert!(matches!(
            b.remove_volume("v-data").await,
            Err(BackendError::Other(m)) if m.contains("in use")
        ));
        b.remove_container("v").await.unwrap();
        assert_eq!(b.inspect_volume("v-data").await.unwrap().unwrap().labels, labels);
        assert_eq!(b.list_volumes(&["io.dbarena.name=v".into()]).await.unwrap().len(), 1);
        assert!(b.list_volumes(&["io.dbarena.name=w".into()]).await.unwrap().is_empty());
        b.remove_volume("v-data").await.unwrap();
        assert!(b.volumes().is_empty());
        assert_eq!(
            b.remove_volume("v-data").await,
            Err(BackendError::NotFound("v-data".into()))
        );

        // A named volume a mount refers to is created on the fly, without labels.
        let mut d = def("auto");
        d.mounts = vec![Mount::Volume {
            name: "auto-vol".into(),
            target: "/x".into(),
        }];
        b.create_container(&d).await.unwrap();
        assert!(b.volumes().iter().any(|v| v.name == "auto-vol" && v.labels.is_empty()));
    }

    #[tokio::test]
    async fn label_filters_take_key_value_or_key() {
        let b = backend();
        for (name, role) in [("a", "primary"), ("b", "replica")] {
            let mut d = def(name);
            d.labels.insert("role".into(), role.into());
            b.create_container(&d).await.unwrap();
        }
        b.create_container(&def("c")).await.unwrap();
        let names = |v: Vec<ContainerInfo>| v.into_iter().map(|c| c.name).collect::<Vec<_>>();
        assert_eq!(names(b.list_containers(&[]).await.unwrap()), ["c", "b", "a"]);
        assert_eq!(names(b.list_containers(&["role".into()]).await.unwrap()), ["b", "a"]);
        assert_eq!(
            names(
                b.list_containers(&["role=primary".into(), "io.dbarena.name=a".into()])
                    .await
                    .unwrap()
            ),
            ["a"]
        );
        assert!(
            b.list_containers(&["role=primary".into(), "io.dbarena.name=b".into()])
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn injected_faults_fail_the_next_calls_only() {
        let b = backend();
        let id = b.create_container(&def("f")).await.unwrap();
        let bridge = BackendError::Other("failed to attach to bridge".into());
        b.fail_next(Op::StartContainer, 2, bridge.clone());
        assert_eq!(b.start_container(&id).await, Err(bridge.clone()));
        assert_eq!(b.start_container(&id).await, Err(bridge));
        assert_eq!(b.inspect_container(&id).await.unwrap().state, State::Created);
        b.start_container(&id).await.unwrap();
        let starts: Vec<_> = b
            .calls()
            .into_iter()
            .filter(|c| c.op == Op::StartContainer)
            .map(|c| c.ok)
            .collect();
        assert_eq!(starts, [false, false, true]);

        b.fail_next(Op::RemoveContainer, 1, BackendError::Unavailable("gone".into()));
        assert!(matches!(
            b.remove_container(&id).await,
            Err(BackendError::Unavailable(_))
        ));
        assert_eq!(b.containers().len(), 1, "a failed call changes nothing");
        b.fail_next(Op::Logs, 1, BackendError::Other("boom".into()));
        let logs: Vec<_> = b.logs(&id, false, None, None).collect().await;
        assert_eq!(logs, [Err(BackendError::Other("boom".into()))]);
        b.fail_next(Op::Exec, 5, BackendError::Other("x".into()));
        b.clear_faults();
        b.clear_calls();
        b.remove_container(&id).await.unwrap();
        assert_eq!(b.calls().len(), 1);
    }

    #[tokio::test]
    async fn logs_tail_since_and_follow_until_stopped() {
        let b = backend();
        b.push_log("l", false, "scripted before create");
        let id = b.create_container(&def("l")).await.unwrap();
        b.push_log("l", true, "err");
        let text = |v: Vec<Result<LogLine>>| v.into_iter().map(|l| l.unwrap().text).collect::<Vec<_>>();
        assert_eq!(
            text(b.logs(&id, false, None, None).collect().await),
            ["scripted before create", "err"]
        );
        assert_eq!(text(b.logs(&id, false, Some(1), None).collect().await), ["err"]);
        let later = chrono::Utc::now().timestamp() + 60;
        assert!(
            b.logs(&id, false, None, Some(later))
                .collect::<Vec<_>>()
                .await
                .is_empty()
        );
        // Following a container that is not running ends after what is there.
        assert_eq!(
            text(b.logs(&id, true, Some(0), None).collect().await),
            Vec::<String>::new()
        );

        b.start_container(&id).await.unwrap();
        let mut follow = b.logs(&id, true, Some(0), None);
        let pusher = b.clone();
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            pusher.push_log("l", false, "ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
            pusher.exit_container("l", 1);
        });
        let first = tokio::time::timeout(Duration::from_secs(5), follow.next())
            .await
            .unwrap();
        assert_eq!(first.unwrap().unwrap().text, "ready");
        let end = tokio::time::timeout(Duration::from_secs(5), follow.next())
            .await
            .unwrap();
        assert!(end.is_none(), "the stream ends when the container exits");
        writer.await.unwrap();
        let info = b.inspect_container(&id).await.unwrap();
        assert_eq!((info.state, info.exit_code), (State::Exited, Some(1)));

        let missing: Vec<_> = b.logs("nope", false, None, None).collect().await;
        assert_eq!(missing, [Err(BackendError::NotFound("nope".into()))]);
        b.remove_container(&id).await.unwrap();
        b.create_container(&def("l")).await.unwrap();
        assert!(b.logs("l", false, None, None).collect::<Vec<_>>().await.is_empty());
    }

    #[tokio::test]
    async fn exec_replies_are_scripted_and_need_a_running_container() {
        let b = backend();
        let id = b.create_container(&def("e")).await.unwrap();
        let cmd: Vec<String> = vec!["pg_isready".into()];
        assert!(matches!(
            b.exec(&id, &ExecRequest::new(&cmd)).await,
            Err(BackendError::Other(m)) if m.contains("not running")
        ));
        b.start_container(&id).await.unwrap();
        b.push_exec(&["pg_isready"], 2, "no response\n");
        b.push_exec(&["pg_isready"], 0, "accepting connections\n");
        let mut codes = Vec::new();
        for _ in 0..3 {
            codes.push(b.exec(&id, &ExecRequest::new(&cmd)).await.unwrap().exit_code);
        }
        assert_eq!(codes, [2, 0, 0], "replies in order, the last repeats");
        assert_eq!(
            b.exec(&id, &ExecRequest::new(&["ls".into()])).await.unwrap().exit_code,
            127
        );
        assert_eq!(
            b.exec("nope", &ExecRequest::new(&cmd)).await,
            Err(BackendError::NotFound("nope".into()))
        );
    }

    #[tokio::test]
    async fn restart_rebinds_and_remove_is_not_found_twice() {
        let b = backend();
        let mut d = def("r");
        d.ports = vec![port(6379, None)];
        d.log_max_bytes = Some(1 << 20);
        let id = b.create_container(&d).await.unwrap();
        b.start_container(&id).await.unwrap();
        let first = b.inspect_container(&id).await.unwrap();
        b.restart_container(&id, Duration::ZERO).await.unwrap();
        let second = b.inspect_container(&id).await.unwrap();
        assert_eq!(second.state, State::Running);
        assert!(second.started_at >= first.started_at);
        assert_eq!(second.ports.len(), 1);
        assert_eq!(b.container_def("r").unwrap().log_max_bytes, Some(1 << 20));
        b.remove_container(&id).await.unwrap();
        assert_eq!(b.remove_container(&id).await, Err(BackendError::NotFound(id.clone())));
        assert_eq!(
            b.restart_container(&id, Duration::ZERO).await,
            Err(BackendError::NotFound(id))
        );
        assert!(b.containers().is_empty());
        assert!(b.volumes().is_empty(), "the anonymous volume went too");
    }
}
