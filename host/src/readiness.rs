//! Waits until a database really accepts clients, by running the plugin's probes in order.
//!
//! The handshake probe connects through the host-mapped port, so "ready" means a client on
//! this machine can connect: the temporary socket-only servers that official images run
//! during first initialisation cannot pass it. Probes are retried when the container logs
//! something (a server that just logged a line has often just changed state) and otherwise
//! on a short backoff, until the engine's start-up timeout.

use crate::container::{BackendError, ContainerBackend, LogLine, PublishedPort, State};
use crate::plugin::bindings::{Credentials, HandshakeContext, HandshakeOutcome, HandshakeSecrets, Probe, Readiness};
use crate::plugin::{Plugin, PluginFailure};
use futures_util::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

#[derive(Debug, Error)]
pub enum ReadinessError {
    #[error("not ready after {secs} s (waiting for {waiting_for}: {last})")]
    Timeout {
        secs: u64,
        waiting_for: String,
        last: String,
    },
    #[error("will not become ready: {0}")]
    Failed(String),
    #[error("the container stopped{}", .0.map(|c| format!(" with exit code {c}")).unwrap_or_default())]
    Exited(Option<i64>),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Plugin(#[from] PluginFailure),
}

/// Everything needed to judge one container's readiness.
pub struct ReadinessCheck<'a, B: ContainerBackend> {
    pub backend: &'a B,
    pub plugin: &'a Plugin,
    pub container_id: &'a str,
    pub readiness: &'a Readiness,
    pub credentials: Credentials,
    /// The address clients use to reach published ports (127.0.0.1 normally).
    pub host: String,
    pub ports: &'a [PublishedPort],
    pub timeout: Duration,
    /// Count log lines from this Unix time on (the container's latest start).
    pub since: Option<i64>,
}

/// Container output collected while waiting; its version bumps on every new line.
struct LogWatch {
    lines: Mutex<Vec<String>>,
    ended: Mutex<bool>,
}

const MAX_KEPT_LINES: usize = 100_000;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const READ_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_EXCHANGE_STEPS: u32 = 32;
const MAX_REPLY_BYTES: usize = 1 << 20;

enum Attempt {
    Pass,
    NotYet(String),
    Fail(String),
}

impl<B: ContainerBackend> ReadinessCheck<'_, B> {
    /// Waits for every probe in order; `progress` hears what is being waited for.
    pub async fn wait(&self, progress: &(dyn Fn(&str) + Send + Sync)) -> Result<Duration, ReadinessError> {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let watch = Arc::new(LogWatch {
            lines: Mutex::new(Vec::new()),
            ended: Mutex::new(false),
        });
        let (tx, mut rx) = watch::channel(0usize);
        let mut stream = self.backend.logs(self.container_id, true, None, self.since);
        let follower = {
            let watch = watch.clone();
            tokio::spawn(async move {
                while let Some(line) = stream.next().await {
                    let Ok(LogLine { text, .. }) = line else { break };
                    let mut lines = watch.lines.lock().unwrap();
                    if lines.len() < MAX_KEPT_LINES {
                        lines.push(text);
                    }
                    let n = lines.len();
                    drop(lines);
                    let _ = tx.send(n);
                }
                *watch.ended.lock().unwrap() = true;
                let _ = tx.send(usize::MAX);
            })
        };
        let result = self.run_probes(deadline, &watch, &mut rx, progress).await;
        follower.abort();
        result.map(|_| started.elapsed())
    }

    /// One quick handshake through the published port, if the engine has a handshake
    /// probe: true when the server answers as ready right now.
    pub async fn accepts_clients(&self) -> bool {
        let handshake = self.readiness.probes.iter().find_map(|p| match p {
            Probe::Handshake(h) => Some(h.container_port),
            _ => None,
        });
        match handshake {
            Some(port) => matches!(self.handshake(port).await, Ok(Attempt::Pass)),
            None => false,
        }
    }

    async fn run_probes(
        &self,
        deadline: Instant,
        logs: &LogWatch,
        events: &mut watch::Receiver<usize>,
        progress: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<(), ReadinessError> {
        for probe in &self.readiness.probes {
            let what = describe(probe);
            progress(&what);
            let mut backoff = Duration::from_millis(50);
            loop {
                let last = match self.attempt(probe, logs).await? {
                    Attempt::Pass => break,
                    Attempt::Fail(reason) => return Err(ReadinessError::Failed(format!("{what}: {reason}"))),
                    Attempt::NotYet(reason) => reason,
                };
                if Instant::now() >= deadline {
                    return Err(ReadinessError::Timeout {
                        secs: self.timeout.as_secs(),
                        waiting_for: what,
                        last,
                    });
                }
                if *logs.ended.lock().unwrap() || backoff >= Duration::from_millis(500) {
                    self.ensure_running().await?;
                }
                // Retry as soon as the container logs something, or after the backoff.
                let pause = backoff.min(deadline.saturating_duration_since(Instant::now()));
                if let Ok(Err(_)) = tokio::time::timeout(pause, events.changed()).await {
                    tokio::time::sleep(pause).await; // the log stream ended: plain backoff
                }
                backoff = (backoff * 3 / 2).min(Duration::from_millis(750));
            }
        }
        Ok(())
    }

    async fn ensure_running(&self) -> Result<(), ReadinessError> {
        let info = self.backend.inspect_container(self.container_id).await?;
        match info.state {
            State::Running | State::Created | State::Restarting => Ok(()),
            _ => Err(ReadinessError::Exited(info.exit_code)),
        }
    }

    async fn attempt(&self, probe: &Probe, logs: &LogWatch) -> Result<Attempt, ReadinessError> {
        Ok(match probe {
            Probe::Handshake(h) => self.handshake(h.container_port).await?,
            Probe::LogLine(l) => {
                let re = regex::Regex::new(&l.pattern).map_err(|e| ReadinessError::Failed(e.to_string()))?;
                let seen = logs
                    .lines
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|line| re.is_match(line))
                    .count();
                if seen >= l.count as usize {
                    Attempt::Pass
                } else {
                    Attempt::NotYet(format!("seen {seen} of {} matching log lines", l.count))
                }
            }
            Probe::Exec(x) => match self.backend.exec(self.container_id, &x.command, &[]).await {
                Ok(out) if out.exit_code == 0 && x.expect_output.as_ref().is_none_or(|e| out.output.contains(e)) => {
                    Attempt::Pass
                }
                Ok(out) => Attempt::NotYet(format!("exit code {}: {}", out.exit_code, last_line(&out.output))),
                Err(BackendError::Other(msg)) => Attempt::NotYet(msg),
                Err(e) => return Err(e.into()),
            },
        })
    }

    /// Connects through the published port and lets the plugin judge the conversation.
    async fn handshake(&self, container_port: u16) -> Result<Attempt, ReadinessError> {
        let Some(published) = self.ports.iter().find(|p| p.container_port == container_port) else {
            return Ok(Attempt::Fail(format!(
                "container port {container_port} is not published"
            )));
        };
        let address = (self.host.as_str(), published.host_port);
        let mut stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Ok(Attempt::NotYet(format!("connect: {e}"))),
            Err(_) => return Ok(Attempt::NotYet("connect timed out".into())),
        };
        let mut ctx = HandshakeContext {
            credentials: self.credentials.clone(),
            container_port,
            step: 0,
        };
        // Fresh per connection: plugins use it as their SCRAM client nonce.
        let secrets = HandshakeSecrets {
            nonce: rand::random::<[u8; 32]>().to_vec(),
        };
        let first = self.plugin.handshake_start(&ctx, &secrets)?;
        if !first.is_empty() && stream.write_all(&first).await.is_err() {
            return Ok(Attempt::NotYet("connection closed before the handshake".into()));
        }
        let mut received = Vec::new();
        let mut chunk = [0u8; 16 << 10];
        while ctx.step < MAX_EXCHANGE_STEPS {
            let n = match tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    // docker-proxy accepts and then closes when nothing listens inside.
                    return Ok(Attempt::NotYet("connection closed without a complete answer".into()));
                }
                Ok(Ok(n)) => n,
                Err(_) => return Ok(Attempt::NotYet("no answer within 3 s".into())),
            };
            received.extend_from_slice(&chunk[..n]);
            if received.len() > MAX_REPLY_BYTES {
                return Ok(Attempt::Fail("the server's answer exceeds 1 MiB".into()));
            }
            match self.plugin.handshake_step(&ctx, &secrets, &received)? {
                HandshakeOutcome::Ready(_) => return Ok(Attempt::Pass),
                HandshakeOutcome::NeedMore => {}
                HandshakeOutcome::Send(bytes) => {
                    if stream.write_all(&bytes).await.is_err() {
                        return Ok(Attempt::NotYet("connection closed during the handshake".into()));
                    }
                    received.clear();
                    ctx.step += 1;
                }
                HandshakeOutcome::NotYet(reason) => return Ok(Attempt::NotYet(reason)),
                HandshakeOutcome::Failed(reason) => return Ok(Attempt::Fail(reason)),
            }
        }
        Ok(Attempt::Fail(format!(
            "handshake did not finish within {MAX_EXCHANGE_STEPS} exchanges"
        )))
    }
}

fn describe(probe: &Probe) -> String {
    match probe {
        Probe::Handshake(h) => format!("{} on port {}", h.description, h.container_port),
        Probe::LogLine(l) => format!("log line /{}/", l.pattern),
        Probe::Exec(x) => format!("`{}`", x.command.first().map(String::as_str).unwrap_or("exec")),
    }
}

fn last_line(text: &str) -> String {
    crate::plugin::validate::clip(text.trim().lines().last().unwrap_or(""), 200)
}
