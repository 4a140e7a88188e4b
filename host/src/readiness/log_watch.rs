//! Follows a container's output while readiness is awaited, counting the lines that match
//! each log probe's pattern. Only counts are kept, never the lines, so a chatty container
//! cannot grow dbarena's memory; every new line wakes the probe loop.

use crate::container::{ContainerBackend, LogLine};
use futures_util::StreamExt;
use regex::Regex;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Lines longer than this are matched on their first bytes only.
const MAX_MATCHED_LINE_BYTES: usize = 16 << 10;

pub struct LogWatch {
    patterns: Vec<Regex>,
    counts: Arc<Mutex<Vec<u32>>>,
    ended: Arc<Mutex<bool>>,
    events: watch::Receiver<u64>,
    follower: tokio::task::JoinHandle<()>,
}

impl LogWatch {
    /// Starts following `container_id`'s log from `since` (Unix seconds), counting the
    /// lines that match each of `patterns` (compiled here, once).
    pub fn start<B: ContainerBackend>(
        backend: &B,
        container_id: &str,
        since: Option<i64>,
        patterns: &[&str],
    ) -> Result<Self, regex::Error> {
        let patterns = patterns.iter().map(|p| Regex::new(p)).collect::<Result<Vec<_>, _>>()?;
        let counts = Arc::new(Mutex::new(vec![0u32; patterns.len()]));
        let ended = Arc::new(Mutex::new(false));
        let (tx, events) = watch::channel(0u64);
        let mut stream = backend.logs(container_id, true, None, since);
        let follower = {
            let (patterns, counts, ended) = (patterns.clone(), counts.clone(), ended.clone());
            tokio::spawn(async move {
                let mut seen = 0u64;
                while let Some(Ok(LogLine { text, .. })) = stream.next().await {
                    let text = clip_to_char_boundary(&text, MAX_MATCHED_LINE_BYTES);
                    {
                        let mut counts = counts.lock().unwrap();
                        for (count, re) in counts.iter_mut().zip(&patterns) {
                            if re.is_match(text) {
                                *count = count.saturating_add(1);
                            }
                        }
                    }
                    seen += 1;
                    let _ = tx.send(seen);
                }
                *ended.lock().unwrap() = true;
                let _ = tx.send(u64::MAX);
            })
        };
        Ok(Self {
            patterns,
            counts,
            ended,
            events,
            follower,
        })
    }

    /// How many lines matched pattern number `index` so far.
    pub fn count(&self, index: usize) -> u32 {
        self.counts.lock().unwrap().get(index).copied().unwrap_or(0)
    }

    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }

    /// True once the log stream ended (the container stopped, or the engine hung up).
    pub fn ended(&self) -> bool {
        *self.ended.lock().unwrap()
    }

    /// Waits up to `pause` for a new line; returns at once if the stream has ended.
    pub async fn next_line_or(&mut self, pause: std::time::Duration) {
        if self.ended() {
            tokio::time::sleep(pause).await;
            return;
        }
        if let Ok(Err(_)) = tokio::time::timeout(pause, self.events.changed()).await {
            tokio::time::sleep(pause).await;
        }
    }
}

impl Drop for LogWatch {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

fn clip_to_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::clip_to_char_boundary;

    #[test]
    fn long_lines_are_clipped_on_a_character_boundary() {
        assert_eq!(clip_to_char_boundary("héllo", 2), "h");
        assert_eq!(clip_to_char_boundary("abc", 10), "abc");
    }
}
