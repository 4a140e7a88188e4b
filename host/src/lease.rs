//! Leases: `dbarena run` marks the instances it makes with its own process (machine, boot,
//! PID namespace, PID and the process's start time), so that once that process is gone
//! (SIGKILL, a crash, a reboot) `gc` can tell its instances were left behind and remove
//! them. Only a holder on this machine, in this PID namespace, can be checked; a lease
//! from anywhere else is never taken for a dead one.
//!
//! The token: `m=MACHINE,b=BOOT,ns=PIDNS,pid=PID,start=TICKS` (short hashes of the machine
//! id with the host name, and of the boot id; the start time in clock ticks after boot, from `/proc/PID/stat`, so a
//! reused PID is not mistaken for the holder).

use sha2::{Digest, Sha256};

/// What a lease's holder is, seen from this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// The process that took it is running.
    Alive,
    /// It has exited (or the machine rebooted since): what it made is left behind.
    Gone,
    /// Taken on another machine or in another PID namespace: cannot be told.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    machine: String,
    boot: String,
    pid_ns: String,
    pid: u32,
    start: u64,
}

impl Token {
    fn parse(text: &str) -> Option<Self> {
        let mut fields = std::collections::BTreeMap::new();
        for part in text.split(',') {
            let (k, v) = part.split_once('=')?;
            fields.insert(k, v);
        }
        Some(Self {
            machine: fields.get("m")?.to_string(),
            boot: fields.get("b")?.to_string(),
            pid_ns: fields.get("ns")?.to_string(),
            pid: fields.get("pid")?.parse().ok()?,
            start: fields.get("start")?.parse().ok()?,
        })
    }

    fn render(&self) -> String {
        format!(
            "m={},b={},ns={},pid={},start={}",
            self.machine, self.boot, self.pid_ns, self.pid, self.start
        )
    }
}

/// A short, stable digest of an identifier (the label needs no more than telling apart).
fn short(id: &str) -> String {
    hex::encode(&Sha256::digest(id.trim().as_bytes())[..8])
}

/// This machine's, boot's and PID namespace's identities, when all can be read.
fn here() -> Option<(String, String, String)> {
    let machine = ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().filter(|s| !s.trim().is_empty()))?;
    // With the host name: cloned VMs often share a machine id, and a clone's lease must
    // never read as one of this machine's earlier boots.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let machine = format!("{}\n{}", machine.trim(), host.trim());
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let pid_ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    // `pid:[4026531836]`: the inode number names the namespace.
    let pid_ns: String = pid_ns.to_string_lossy().chars().filter(char::is_ascii_digit).collect();
    (!pid_ns.is_empty()).then(|| (short(&machine), short(&boot), pid_ns))
}

/// The start time of process `pid` (clock ticks after boot), unless it has exited
/// (absent, or a zombie waiting for its parent).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `PID (COMM) STATE PPID ...`: COMM may hold spaces and parentheses; the fields
    // after the last `)` start at field 3 (STATE), the start time is field 22.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z" | &"X" | &"x")) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// The lease of this process, or `None` where it cannot be checked later (no machine id,
/// no `/proc`): then nothing is marked, and nothing is collected.
pub fn current() -> Option<String> {
    let (machine, boot, pid_ns) = here()?;
    let pid = std::process::id();
    Some(
        Token {
            machine,
            boot,
            pid_ns,
            pid,
            start: start_time(pid)?,
        }
        .render(),
    )
}

/// Whether the holder of lease `token` still runs.
pub fn holder(token: &str) -> Holder {
    let (Some(token), Some((machine, boot, pid_ns))) = (Token::parse(token), here()) else {
        return Holder::Unknown;
    };
    if token.machine != machine {
        return Holder::Unknown;
    }
    // Every process of an earlier boot has ended, whatever namespace it ran in.
    if token.boot != boot {
        return Holder::Gone;
    }
    if token.pid_ns != pid_ns {
        return Holder::Unknown;
    }
    match start_time(token.pid) {
        Some(start) if start == token.start => Holder::Alive,
        Some(_) => Holder::Gone,
        None if exists_unseen(token.pid) => Holder::Unknown,
        None => Holder::Gone,
    }
}

/// Whether process `pid` exists though its `/proc` entry cannot be read (`hidepid`
/// hides other users' processes): then its start time cannot be compared.
fn exists_unseen(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if std::path::Path::new(&format!("/proc/{pid}")).exists() {
        // Visible: a zombie, or an unreadable stat; a zombie has ended.
        return std::fs::read_to_string(format!("/proc/{pid}/stat")).is_err();
    }
    // SAFETY: signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_held_while_its_process_runs_and_not_by_a_reused_pid() {
        let Some(mine) = current() else { return };
        assert_eq!(holder(&mine), Holder::Alive);
        let mut token = Token::parse(&mine).unwrap();
        // The same PID, started at another time: PID reuse.
        token.start += 1;
        assert_eq!(holder(&token.render()), Holder::Gone);

        // A child that has exited and been reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = start_time(pid);
        child.wait().unwrap();
        if let Some(start) = start {
            let gone = Token {
                pid,
                start,
                ..Token::parse(&mine).unwrap()
            };
            assert_eq!(holder(&gone.render()), Holder::Gone);
        }

        // An earlier boot: gone; another machine or namespace: unknown.
        let earlier = Token {
            boot: "0".repeat(16),
            ..Token::parse(&mine).unwrap()
        };
        assert_eq!(holder(&earlier.render()), Holder::Gone);
        let elsewhere = Token {
            machine: "0".repeat(16),
            ..Token::parse(&mine).unwrap()
        };
        assert_eq!(holder(&elsewhere.render()), Holder::Unknown);
        let other_ns = Token {
            pid_ns: "1".into(),
            ..Token::parse(&mine).unwrap()
        };
        assert_eq!(holder(&other_ns.render()), Holder::Unknown);
        assert_eq!(holder("garbage"), Holder::Unknown);
    }

    #[test]
    fn a_zombie_is_not_alive() {
        // A child that has exited but is not reaped yet is a zombie.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(start_time(pid), None);
        child.wait().unwrap();
    }
}
