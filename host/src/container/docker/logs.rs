//! A Docker log stream as [`LogLine`]s: chunks re-assembled into lines per output stream,
//! and the stream re-opened on a transient failure before any output arrived (after that
//! a retry would repeat lines).

use super::errors::{RETRY_ATTEMPTS, RETRY_FIRST_DELAY, Subject, is_transient, map_err};
use crate::container::{LogLine, Result};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::{LogsOptions, LogsOptionsBuilder};
use futures_util::stream::{self, BoxStream, StreamExt};
use std::collections::VecDeque;
use std::time::Duration;

/// The output of container `id` as lines; see [`crate::container::ContainerBackend::logs`].
pub(super) fn log_stream(
    docker: Docker,
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
        docker,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
