//! `ssh://[USER@]HOST[:PORT]` engines, as `docker -H ssh://` reaches them: `ssh` to the
//! host runs `docker system dial-stdio` there and HTTP flows over its stdin and stdout.
//! bollard's `ssh` feature does exactly this (through the `openssh` crate, which drives
//! the system's `ssh` client with a control master, so `~/.ssh/config`, agents and keys
//! apply as they do for `docker`).

use super::errors::{Subject, map_err};
use super::{DEFAULT_TIMEOUT, EngineEndpoint};
use crate::container::Result;
use bollard::Docker;

/// A client for the ssh endpoint; connections are opened on first use.
pub(super) fn connect(endpoint: &EngineEndpoint) -> Result<Docker> {
    Docker::connect_with_ssh(
        &endpoint.to_string(),
        DEFAULT_TIMEOUT.as_secs(),
        bollard::API_DEFAULT_VERSION,
        None,
    )
    .map_err(|e| map_err(e, Subject::None))
}

/// The machine an ssh endpoint's host names: `ssh -G` applies `~/.ssh/config` (a `Host`
/// alias with its `HostName`), which is where the published ports are. The host itself
/// when ssh cannot tell.
pub(super) fn real_host(endpoint: &EngineEndpoint) -> EngineEndpoint {
    let EngineEndpoint::Ssh { user, host, port } = endpoint else {
        return endpoint.clone();
    };
    let resolved = std::process::Command::new("ssh")
        .args(["-G", "--", host])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("hostname ").map(|h| h.trim().to_string()))
        })
        .filter(|h| !h.is_empty());
    EngineEndpoint::Ssh {
        user: user.clone(),
        host: resolved.unwrap_or_else(|| host.clone()),
        port: *port,
    }
}
