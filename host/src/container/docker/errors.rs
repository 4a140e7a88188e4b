//! Docker errors → [`BackendError`], and the retry of idempotent calls.
//!
//! A status code alone is ambiguous: a 404 on create means the image is missing, on
//! inspect the container. [`Subject`] says what the call was about. Transient failures
//! (dropped connection, 5xx other than a port conflict) are retried with backoff by
//! [`retry`], for idempotent calls only; a call that timed out is not.

use crate::container::BackendError;
use bollard::errors::Error as DockerError;
use regex::Regex;
use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

/// Attempts for idempotent calls, and the first backoff delay (doubled each time).
pub(super) const RETRY_ATTEMPTS: u32 = 3;
pub(super) const RETRY_FIRST_DELAY: Duration = Duration::from_millis(100);

const HINT_DAEMON: &str = "is the Docker daemon running? (`docker info`)";
const HINT_PERMISSION: &str = "add your user to the docker group or run with sudo";

/// The host port in Docker's bind failures: `Bind for 127.0.0.1:5432 failed: port is
/// already allocated`, `listen tcp4 0.0.0.0:5432: bind: address already in use`.
static BIND_FAILURE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:Bind for|listen (?:tcp|udp)[46]?) \S*:(\d+)").unwrap());
/// A failed pull: the image is not there (`ImageNotFound`), or anything else with
/// Docker's message (unreachable registry, auth...).
pub(super) fn map_pull_err(e: DockerError, image: &str) -> BackendError {
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
        // Callers name the image (`cannot pull image X: …`); saying it here too doubled it.
        BackendError::Other(one_line(&message))
    }
}

/// What a call was about, to tell what a 404 or 409 means.
#[derive(Debug, Clone, Copy)]
pub(super) enum Subject<'a> {
    None,
    Container(&'a str),
    Volume(&'a str),
    Image(&'a str),
    Create { name: &'a str, image: &'a str },
}

pub(super) fn map_err(e: DockerError, subject: Subject<'_>) -> BackendError {
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
                // Docker answers 409; Podman 500 with "the container name ... is already in use".
                (409 | 500, Subject::Create { name, .. })
                    if message.contains("name") && message.contains("already in use") =>
                {
                    BackendError::NameInUse(name.to_string())
                }
                // Podman's words for Docker's "container ... is not running".
                (409 | 500, Subject::Container(n)) if message.contains("container state improper") => {
                    BackendError::Other(format!("container {n} is not running ({message})"))
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
        DockerError::RequestTimeoutError => BackendError::Unavailable(
            "the Docker daemon accepted the request but did not answer in time: is it hung or overloaded? \
             (`docker info`)"
                .to_string(),
        ),
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
pub(super) fn with_endpoint(e: BackendError, endpoint: &str) -> BackendError {
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
pub(super) fn is_transient(e: &DockerError) -> bool {
    match e {
        DockerError::DockerResponseServerError { status_code, message } => {
            *status_code >= 500 && !is_port_conflict(message)
        }
        // Not a timed out call: the engine took the whole bound already, and three tries
        // would triple the wait of a hung daemon.
        DockerError::RequestTimeoutError => false,
        // Podman briefly reports states Docker has not got (`stopped`, between a
        // container's exit and its clean-up), which bollard's models refuse: ask again.
        DockerError::JsonDataError { message, .. } => message.contains("unknown variant"),
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
pub(super) async fn retry<T, F, Fut>(mut call: F) -> std::result::Result<T, DockerError>
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

pub(super) fn status_of(e: &DockerError) -> Option<u16> {
    match e {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

pub(super) fn server_message(e: &DockerError) -> String {
    match e {
        DockerError::DockerResponseServerError { message, .. } => one_line(message),
        other => one_line(&other.to_string()),
    }
}

fn is_port_conflict(message: &str) -> bool {
    message.contains("port is already allocated") || message.contains("address already in use")
}

/// The host port a bind failure names ([`BIND_FAILURE`]).
fn port_from_message(message: &str) -> Option<u16> {
    BIND_FAILURE.captures(message)?.get(1)?.as_str().parse().ok()
}

/// Docker's messages can span lines; ours are one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Podman's compatible API: another status and wording for the same conflicts.
        assert!(matches!(
            map_err(
                err(500, "container create: creating container storage: the container name \"x\" is already in use by ab. You have to remove that container to be able to reuse that name: that name is already in use"),
                Subject::Create { name: "x", image: "i" }
            ),
            BackendError::NameInUse(n) if n == "x"
        ));
        assert!(matches!(
            map_err(
                err(409, "can only create exec sessions on running containers: container state improper"),
                Subject::Container("c")
            ),
            BackendError::Other(m) if m.contains("c is not running")
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
}
