//! One operation at a time on an instance, across processes: snapshot, reset, clone source,
//! start, stop, restart and destroy each hold the instance's lock while they work.
//!
//! Without it, ten `snapshot`s of one instance froze it for good (one froze the container
//! while another ran its checkpoint inside it; an exec into a frozen container never
//! returns), and concurrent `reset`s renamed each other's containers away. The lock is an
//! advisory file lock (`flock`) on `<data dir>/locks/<engine endpoint>/<name>.lock`: the
//! kernel releases it when the process ends in any way, SIGKILL included, so a lock is
//! never stale. It is not taken, only tried: the loser is told at once who holds it.
//! Processes on other machines driving the same remote engine are not covered.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// Another process holds the instance's lock; nothing was done.
#[derive(Debug, thiserror::Error)]
#[error("{name} is busy: another dbarena{holder} is working on it; nothing was done, try again when it is done")]
pub struct Busy {
    pub name: String,
    /// ` (pid N, snapshot, for 3 s)`, from the lock file; empty when unreadable.
    holder: String,
}

/// Held while the operation runs; dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    file: File,
    /// The line written when the lock was taken (`PID SINCE OPERATION`).
    holder: String,
    /// The container an earlier holder froze and never thawed (it was killed).
    stale_freeze: Option<String>,
}

impl InstanceLock {
    /// The container the previous holder left frozen: it noted the freeze and ended
    /// without thawing (SIGKILL, a crash), so nothing is working on it now.
    pub fn stale_freeze(&self) -> Option<&str> {
        self.stale_freeze.as_deref()
    }

    /// Notes that container `id` is frozen (`Some`) or thawed again (`None`), so that the
    /// next holder thaws it should this process die in between.
    pub fn note_frozen(&self, id: Option<&str>) {
        let mut text = self.holder.clone();
        if let Some(id) = id {
            text.push_str(&format!("\nfrozen {id}"));
        }
        let mut file = &self.file;
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(text.as_bytes()))
            .and_then(|()| file.sync_data());
        if let Err(e) = written {
            tracing::warn!("cannot note the freeze in the lock file: {e}");
        }
    }
}

/// The lock directory of the engine this process talks to.
fn dir() -> Option<PathBuf> {
    let endpoint = crate::container::endpoint::resolve().map_or_else(|_| "default".into(), |r| r.endpoint.to_string());
    let digest = <sha2::Sha256 as sha2::Digest>::digest(endpoint.as_bytes());
    Some(crate::paths::data_dir()?.join("locks").join(hex::encode(&digest[..8])))
}

/// Takes instance `name`'s lock for `operation` (shown to a process that finds it taken),
/// waiting up to `wait` for another holder to finish (zero: refused at once).
pub async fn acquire(name: &str, operation: &str, wait: std::time::Duration) -> anyhow::Result<InstanceLock> {
    let deadline = std::time::Instant::now() + wait;
    let mut said = false;
    loop {
        match acquire_now(name, operation) {
            Err(e) if std::time::Instant::now() < deadline && e.is::<Busy>() => {
                if !said && let Some(busy) = e.downcast_ref::<Busy>() {
                    crate::output::warn(format_args!(
                        "{name}: waiting up to {} s for another dbarena{} to finish",
                        wait.as_secs(),
                        busy.holder
                    ));
                    said = true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            done => return done,
        }
    }
}

fn acquire_now(name: &str, operation: &str) -> anyhow::Result<InstanceLock> {
    match dir() {
        Some(dir) => acquire_in(&dir, name, operation),
        None => {
            tracing::warn!("no data directory: {name} is not locked for {operation}");
            Ok(InstanceLock {
                file: tempfile::tempfile()?,
                holder: String::new(),
                stale_freeze: None,
            })
        }
    }
}

fn acquire_in(dir: &std::path::Path, name: &str, operation: &str) -> anyhow::Result<InstanceLock> {
    // Names become file names: only what an instance name may be.
    if super::validate_name(name).is_err() {
        anyhow::bail!("cannot lock '{}': not an instance name", name.escape_debug());
    }
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(format!("{name}.lock"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = (&file).take(256).read_to_string(&mut text);
            return Err(Busy {
                name: name.to_string(),
                holder: describe(text.lines().next().unwrap_or_default()),
            }
            .into());
        }
        Err(TryLockError::Error(e)) => anyhow::bail!("cannot lock {}: {e}", path.display()),
    }
    let mut before = String::new();
    let _ = (&file).take(1024).read_to_string(&mut before);
    let stale_freeze = before
        .lines()
        .find_map(|l| l.strip_prefix("frozen "))
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == ':'))
        .map(str::to_string);
    // Who holds it, for the message another process shows; the stale freeze stays noted
    // until the new holder thaws it.
    let lock = InstanceLock {
        file,
        holder: format!("{} {} {}", std::process::id(), now(), operation),
        stale_freeze,
    };
    lock.note_frozen(lock.stale_freeze.as_deref());
    Ok(lock)
}

/// A lock on nothing, for unit tests of the operations that take one.
#[cfg(test)]
pub(crate) fn for_tests() -> InstanceLock {
    InstanceLock {
        file: tempfile::tempfile().unwrap(),
        holder: String::new(),
        stale_freeze: None,
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// ` (pid 12, snapshot, for 3 s)` from a lock file's `PID SINCE OPERATION`.
fn describe(text: &str) -> String {
    let mut parts = text.splitn(3, ' ');
    let (Some(pid), Some(since), Some(op)) = (parts.next(), parts.next(), parts.next()) else {
        return String::new();
    };
    let (Ok(pid), Ok(since)) = (pid.parse::<u32>(), since.parse::<u64>()) else {
        return String::new();
    };
    let op: String = op
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
        .take(32)
        .collect();
    format!(" (pid {pid}, {op}, for {} s)", now().saturating_sub(since))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_and_operation() {
        let data = tempfile::tempdir().unwrap();
        let acquire = |name: &str, op: &str| acquire_in(data.path(), name, op);
        let held = acquire("pg-lock-test", "snapshot").unwrap();
        let err = acquire("pg-lock-test", "reset").unwrap_err();
        let busy = err.downcast_ref::<Busy>().expect("a Busy error");
        assert_eq!(busy.name, "pg-lock-test");
        let message = err.to_string();
        assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
        assert!(message.contains("snapshot"), "{message}");
        // Another instance is independent, and the lock is free again once dropped.
        drop(acquire("pg-lock-other", "reset").unwrap());
        drop(held);
        drop(acquire("pg-lock-test", "reset").unwrap());
        assert!(acquire("../escape", "reset").is_err(), "names are checked");
    }

    #[test]
    fn a_freeze_its_holder_never_undid_is_handed_to_the_next_holder() {
        let data = tempfile::tempdir().unwrap();
        let lock = acquire_in(data.path(), "pg", "snapshot").unwrap();
        assert_eq!(lock.stale_freeze(), None);
        lock.note_frozen(Some("abc123"));
        // Dropped while frozen, as a killed process would leave it.
        drop(lock);
        let next = acquire_in(data.path(), "pg", "reset").unwrap();
        assert_eq!(next.stale_freeze(), Some("abc123"));
        next.note_frozen(None);
        drop(next);
        assert_eq!(acquire_in(data.path(), "pg", "reset").unwrap().stale_freeze(), None);
        // A thaw the holder did itself leaves nothing for the next one.
        let lock = acquire_in(data.path(), "pg", "snapshot").unwrap();
        lock.note_frozen(Some("abc123"));
        lock.note_frozen(None);
        drop(lock);
        assert_eq!(acquire_in(data.path(), "pg", "stop").unwrap().stale_freeze(), None);
    }

    #[test]
    fn an_unreadable_holder_line_says_nothing_rather_than_garbage() {
        assert_eq!(describe(""), "");
        assert_eq!(describe("x y z"), "");
        let shown = describe("12 0 snap\u{1b}]52;x");
        assert!(shown.starts_with(" (pid 12, snap52x, for "), "{shown}");
    }
}
