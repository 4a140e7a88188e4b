//! `ssh://[USER@]HOST[:PORT]` engines, reached as `docker -H ssh://` reaches them: each
//! connection runs `ssh [-l USER] [-p PORT] -- HOST docker system dial-stdio`, and HTTP
//! flows over that process's stdin and stdout. The system's `ssh` does the work, so
//! `~/.ssh/config`, agents and keys apply as they do for `docker`.
//!
//! Not bollard's `ssh` feature: it hands `USER@HOST:PORT` to `ssh` as a host name, so
//! endpoints with a port fail ("Could not resolve hostname").

use super::errors::{Subject, map_err};
use super::{EngineEndpoint, READ_TIMEOUT};
use crate::container::Result;
use bollard::{BollardRequest, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A client for the ssh endpoint; `ssh` runs when the first request needs a connection.
pub(super) fn connect(endpoint: &EngineEndpoint) -> Result<Docker> {
    let dial = DialStdio {
        args: Arc::new(ssh_args(endpoint)),
    };
    let client: Client<DialStdio, Body> = Client::builder(TokioExecutor::new()).build(dial);
    let transport = move |request: BollardRequest| {
        let client = client.clone();
        async move { client.request(request).await.map_err(bollard::errors::Error::from) }
    };
    // The URL only shapes request paths; every connection goes through `ssh`.
    Docker::connect_with_custom_transport(
        transport,
        Some("http://docker.ssh"),
        READ_TIMEOUT.as_secs(),
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(|e| map_err(e, Subject::None))
}

/// The arguments of `ssh`, as the docker CLI builds them; `BatchMode`, since nobody can
/// answer a password prompt in the middle of a command.
fn ssh_args(endpoint: &EngineEndpoint) -> Vec<String> {
    let mut args = vec!["-T".to_string(), "-o".into(), "BatchMode=yes".into()];
    if let EngineEndpoint::Ssh { user, host, port } = endpoint {
        if let Some(user) = user {
            args.extend(["-l".into(), user.clone()]);
        }
        if let Some(port) = port {
            args.extend(["-p".into(), port.to_string()]);
        }
        args.extend(["--".into(), host.clone()]);
    }
    args.extend(["docker", "system", "dial-stdio"].map(String::from));
    args
}

/// The request body bollard sends (its own type is not exported by name).
type Body = <BollardRequest as RequestBody>::Body;
trait RequestBody {
    type Body;
}
impl<B> RequestBody for http::Request<B> {
    type Body = B;
}

/// The connector: one `ssh ... docker system dial-stdio` per connection.
#[derive(Clone)]
struct DialStdio {
    args: Arc<Vec<String>>,
}

impl tower_service::Service<hyper::Uri> for DialStdio {
    type Response = TokioIo<SshStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let args = self.args.clone();
        Box::pin(async move {
            // ssh's own errors (host key, authentication) go to the user's terminal.
            let mut child = Command::new("ssh")
                .args(args.iter())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| io::Error::new(e.kind(), format!("cannot run ssh: {e}")))?;
            let stdin = child.stdin.take().expect("piped stdin");
            let stdout = child.stdout.take().expect("piped stdout");
            Ok(TokioIo::new(SshStream {
                _child: child,
                stdin,
                stdout,
            }))
        })
    }
}

/// The ssh process's stdout and stdin as one duplex stream; dropping it ends the process.
struct SshStream {
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl Connection for SshStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for SshStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stdin).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdin).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdin).poll_shutdown(cx)
    }
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
        .stderr(Stdio::null())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_runs_like_the_docker_cli() {
        let e = EngineEndpoint::parse("ssh://deploy@build.lan:2222").unwrap();
        assert_eq!(
            ssh_args(&e).join(" "),
            "-T -o BatchMode=yes -l deploy -p 2222 -- build.lan docker system dial-stdio"
        );
        let e = EngineEndpoint::parse("ssh://build.lan").unwrap();
        assert_eq!(
            ssh_args(&e).join(" "),
            "-T -o BatchMode=yes -- build.lan docker system dial-stdio"
        );
    }
}
