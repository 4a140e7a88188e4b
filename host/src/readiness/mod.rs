//! Waits until a database really accepts clients, by running the plugin's probes in order.
//!
//! The handshake probe connects through the host-mapped port and authenticates with the
//! instance's own credentials where the engine's protocol allows it, so "ready" means the
//! printed URL works: the temporary socket-only servers that official images run during
//! first initialisation cannot pass it, and neither can a server with other credentials.
//! Probes are retried when the container logs something (a server that just logged a line
//! has often just changed state) and otherwise on a short backoff, until the timeout.

pub(crate) mod handshake;
mod log_watch;

use crate::cancel::Cancel;
use crate::container::{BackendError, ContainerBackend, ContainerInfo, ExecRequest, State};
use crate::instance::InstanceRecord;
use crate::plugin::bindings::{Probe, Readiness, ReadyInfo};
use crate::plugin::{Plugin, PluginFailure};
use handshake::Attempt;
use log_watch::LogWatch;
use std::time::{Duration, Instant};
use thiserror::Error;

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
    #[error("interrupted")]
    Cancelled,
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Plugin(#[from] PluginFailure),
}

/// The shortest time between the starts of two probes.
const MIN_PROBE_GAP: Duration = Duration::from_millis(10);

/// What a passing wait proved.
#[derive(Debug, Clone)]
pub struct Proof {
    pub took: Duration,
    /// What the handshake probe established (server version, whether it authenticated).
    pub handshake: Option<ReadyInfo>,
}

/// One container's readiness, judged by its plugin's probes.
pub struct ReadinessCheck<'a, B: ContainerBackend> {
    backend: &'a B,
    plugin: &'a Plugin,
    info: &'a ContainerInfo,
    record: &'a InstanceRecord,
    readiness: &'a Readiness,
    timeout: Duration,
    /// Count log lines from this Unix time on (the container's latest start).
    since: Option<i64>,
}

impl<'a, B: ContainerBackend> ReadinessCheck<'a, B> {
    pub fn new(
        backend: &'a B,
        plugin: &'a Plugin,
        info: &'a ContainerInfo,
        record: &'a InstanceRecord,
        readiness: &'a Readiness,
        timeout: Duration,
        since: Option<i64>,
    ) -> Self {
        Self {
            backend,
            plugin,
            info,
            record,
            readiness,
            timeout,
            since,
        }
    }

    /// Waits for every probe in order; `progress` hears what is being waited for.
    pub async fn wait(
        &self,
        progress: &(dyn Fn(&str) + Send + Sync),
        cancel: &Cancel,
    ) -> Result<Proof, ReadinessError> {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let patterns: Vec<&str> = self
            .readiness
            .probes
            .iter()
            .filter_map(|p| match p {
                Probe::LogLine(l) => Some(l.pattern.as_str()),
                _ => None,
            })
            .collect();
        let mut logs = LogWatch::start(self.backend, &self.info.id, self.since, &patterns)
            .map_err(|e| ReadinessError::Failed(format!("invalid log pattern: {e}")))?;
        let mut handshake = None;
        let mut log_index = 0;
        for probe in &self.readiness.probes {
            let what = describe(probe);
            progress(&what);
            let mut backoff = Duration::from_millis(50);
            loop {
                let attempt_started = Instant::now();
                // An attempt holds only a connection, never a Docker object: drop it at once.
                let attempt = tokio::select! {
                    a = self.attempt(probe, &logs, log_index) => a?,
                    _ = cancel.cancelled() => return Err(ReadinessError::Cancelled),
                };
                let last = match attempt {
                    Attempt::Pass(info) => {
                        if matches!(probe, Probe::Handshake(_)) {
                            handshake = handshake.or(Some(info));
                        }
                        break;
                    }
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
                if logs.ended() || backoff >= Duration::from_millis(500) {
                    self.ensure_running().await?;
                }
                // Retry as soon as the container logs something, or after the backoff.
                let pause = backoff.min(deadline.saturating_duration_since(Instant::now()));
                // A server often logs its refusal of a probe: that line must not trigger
                // the next probe at once, a busy loop that slows the start it waits for.
                let not_before = (attempt_started + MIN_PROBE_GAP).min(deadline);
                tokio::select! {
                    _ = async {
                        logs.next_line_or(pause).await;
                        tokio::time::sleep_until(not_before.into()).await;
                    } => {}
                    _ = cancel.cancelled() => return Err(ReadinessError::Cancelled),
                }
                backoff = (backoff * 3 / 2).min(Duration::from_millis(750));
            }
            if matches!(probe, Probe::LogLine(_)) {
                log_index += 1;
            }
        }
        debug_assert_eq!(log_index, logs.pattern_count());
        Ok(Proof {
            took: started.elapsed(),
            handshake,
        })
    }

    /// One quick handshake through the published port, if the engine has a handshake
    /// probe: what the server reported when it answers as ready right now.
    pub async fn accepts_clients(&self) -> Option<ReadyInfo> {
        let port = self.readiness.probes.iter().find_map(|p| match p {
            Probe::Handshake(h) => Some(h.container_port),
            _ => None,
        })?;
        match self.handshake(port).await {
            Ok(Attempt::Pass(info)) => Some(info),
            _ => None,
        }
    }

    async fn ensure_running(&self) -> Result<(), ReadinessError> {
        let info = self.backend.inspect_container(&self.info.id).await?;
        match info.state {
            State::Running | State::Created | State::Restarting => Ok(()),
            _ => Err(ReadinessError::Exited(info.exit_code)),
        }
    }

    async fn attempt(&self, probe: &Probe, logs: &LogWatch, log_index: usize) -> Result<Attempt, ReadinessError> {
        Ok(match probe {
            Probe::Handshake(h) => self.handshake(h.container_port).await?,
            Probe::LogLine(l) => {
                let seen = logs.count(log_index);
                if seen >= l.count {
                    Attempt::Pass(ReadyInfo {
                        server_version: None,
                        authenticated: false,
                        note: None,
                    })
                } else {
                    Attempt::NotYet(format!("seen {seen} of {} matching log lines", l.count))
                }
            }
            Probe::Exec(x) => match self.backend.exec(&self.info.id, &ExecRequest::new(&x.command)).await {
                Ok(out) if out.exit_code == 0 && x.expect_output.as_ref().is_none_or(|e| out.output.contains(e)) => {
                    Attempt::Pass(ReadyInfo {
                        server_version: None,
                        authenticated: false,
                        note: None,
                    })
                }
                Ok(out) => Attempt::NotYet(format!("exit code {}: {}", out.exit_code, last_line(&out.output))),
                Err(BackendError::Other(msg)) => Attempt::NotYet(msg),
                Err(e) => return Err(e.into()),
            },
        })
    }

    async fn handshake(&self, container_port: u16) -> Result<Attempt, ReadinessError> {
        let Some(published) = self.info.ports.iter().find(|p| p.container_port == container_port) else {
            return Ok(Attempt::Fail(format!(
                "container port {container_port} is not published"
            )));
        };
        // The engine's address, not necessarily this machine's: on a remote engine a
        // local server on the same port number must never be what answers.
        let host = self.backend.client_address().host_for(&published.host_ip);
        Ok(handshake::attempt(
            self.plugin,
            &host,
            published.host_port,
            container_port,
            &self.record.credentials,
        )
        .await?)
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

/// How many of a failed container's last log lines an error shows.
pub const LOG_EXCERPT_LINES: usize = 20;
/// Longest log line shown (after escaping), and the most shown in all: a container that
/// floods its log (300 KB lines) must not flood the terminal or the CI log with it.
const LOG_EXCERPT_LINE_BYTES: usize = 300;
const LOG_EXCERPT_BYTES: usize = 4 << 10;

/// The last log lines of a container that failed to become ready, for an error message
/// ("" if there are none): at most [`LOG_EXCERPT_LINES`] lines of
/// [`LOG_EXCERPT_LINE_BYTES`], [`LOG_EXCERPT_BYTES`] in all, escaped for a terminal.
pub fn log_excerpt(lines: &[String]) -> String {
    let mut shown: Vec<String> = Vec::new();
    let mut total = 0;
    for line in lines.iter().rev().take(LOG_EXCERPT_LINES) {
        let line = crate::output::escape(&line.replace('\n', " ")).into_owned();
        let line = format!("  | {}", crate::plugin::validate::clip(&line, LOG_EXCERPT_LINE_BYTES));
        if total + line.len() > LOG_EXCERPT_BYTES {
            break;
        }
        total += line.len() + 1;
        shown.push(line);
    }
    if shown.is_empty() {
        return String::new();
    }
    let left_out = lines.len().min(LOG_EXCERPT_LINES) - shown.len();
    shown.reverse();
    let more = if left_out > 0 {
        format!(" ({left_out} earlier lines left out)")
    } else {
        String::new()
    };
    format!("\nlast log lines{more}:\n{}", shown.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flooding container: 20 lines of 15 KB (300 KB), with escapes in them.
    #[test]
    fn a_flooding_containers_log_excerpt_is_bounded_and_escaped() {
        let flood: Vec<String> = (0..50)
            .map(|i| format!("line {i} \x1b]52;c;cHduZWQ=\x07 {}", "x".repeat(15 << 10)))
            .collect();
        let excerpt = log_excerpt(&flood);
        assert!(excerpt.len() <= LOG_EXCERPT_BYTES + 100, "{} bytes", excerpt.len());
        assert!(!excerpt.contains('\x1b') && !excerpt.contains('\x07'), "raw escapes");
        assert!(excerpt.contains("\\u{1b}]52;"), "{excerpt}");
        // The newest lines are the ones kept, in order.
        assert!(excerpt.contains("line 49") && excerpt.contains("earlier lines left out"));
        assert!(!excerpt.contains("line 29"));
        let lines: Vec<&str> = excerpt.lines().skip(2).collect();
        assert!(lines.iter().all(|l| l.len() <= LOG_EXCERPT_LINE_BYTES + 10));

        let few = vec!["starting".to_string(), "FATAL: bad config".to_string()];
        assert_eq!(
            log_excerpt(&few),
            "\nlast log lines:\n  | starting\n  | FATAL: bad config"
        );
        assert_eq!(log_excerpt(&[]), "");
    }
}
