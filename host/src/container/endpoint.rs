//! Which container engine dbarena talks to, and the address clients on this machine use
//! to reach the ports it publishes.
//!
//! The engine is found as the `docker` CLI finds it: `DOCKER_HOST`, else the Docker
//! context (`DOCKER_CONTEXT`, else `currentContext` in `$DOCKER_CONFIG/config.json`), else
//! the local socket, else (when that socket is absent) Podman's rootful then rootless
//! socket. The published ports of an engine on another machine live on *that* machine:
//! probes and printed URLs must use its address, never this machine's 127.0.0.1, where an
//! unrelated local server may answer.

use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Docker's own socket; when it is absent, Podman's sockets are tried.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// Rootful Podman's Docker-compatible API socket (`podman system service`).
pub const PODMAN_ROOTFUL_SOCKET: &str = "/run/podman/podman.sock";

/// How dbarena connects to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEndpoint {
    /// A Unix socket on this machine.
    Unix(PathBuf),
    /// Plain HTTP over TCP (`tcp://HOST:PORT`).
    Tcp { host: String, port: u16 },
    /// `ssh://[USER@]HOST[:PORT]`: HTTP over `docker system dial-stdio` on the remote host.
    Ssh {
        user: Option<String>,
        host: String,
        port: Option<u16>,
    },
}

impl EngineEndpoint {
    /// Parses a `DOCKER_HOST` value or a context's `Host`. Like the CLI, a value without
    /// a scheme is a TCP address.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        let (scheme, rest) = value.split_once("://").unwrap_or(("tcp", value));
        match scheme {
            "unix" if !rest.is_empty() => Ok(Self::Unix(PathBuf::from(rest))),
            "tcp" | "http" => {
                let url = url::Url::parse(&format!("http://{rest}"))
                    .map_err(|e| format!("invalid engine address {value}: {e}"))?;
                let host = host_of(&url).ok_or_else(|| format!("no host in engine address {value}"))?;
                Ok(Self::Tcp {
                    host,
                    port: url.port().unwrap_or(2375),
                })
            }
            "ssh" => {
                let url = url::Url::parse(value).map_err(|e| format!("invalid engine address {value}: {e}"))?;
                let host = host_of(&url).ok_or_else(|| format!("no host in engine address {value}"))?;
                if !matches!(url.path(), "" | "/") {
                    return Err(format!(
                        "{value}: a path after the host is not supported in ssh:// engine addresses"
                    ));
                }
                Ok(Self::Ssh {
                    user: Some(url.username().to_string()).filter(|u| !u.is_empty()),
                    host,
                    port: url.port(),
                })
            }
            "https" => Err(format!(
                "{value}: TLS engine endpoints are not supported; use ssh://, or tcp:// on a trusted network"
            )),
            _ => Err(format!(
                "unsupported engine address {value}: expected unix://PATH, tcp://HOST:PORT or ssh://[USER@]HOST"
            )),
        }
    }

    /// The host of an engine on another machine; `None` for this machine (a Unix socket,
    /// or TCP to a loopback address).
    pub fn remote_host(&self) -> Option<&str> {
        match self {
            Self::Unix(_) => None,
            Self::Tcp { host, .. } | Self::Ssh { host, .. } => (!is_loopback(host)).then_some(host.as_str()),
        }
    }
}

impl fmt::Display for EngineEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
            Self::Tcp { host, port } => write!(f, "tcp://{}:{port}", bracket(host)),
            Self::Ssh { user, host, port } => {
                write!(f, "ssh://")?;
                if let Some(user) = user {
                    write!(f, "{user}@")?;
                }
                write!(f, "{}", bracket(host))?;
                if let Some(port) = port {
                    write!(f, ":{port}")?;
                }
                Ok(())
            }
        }
    }
}

/// Where the endpoint came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    DockerHost,
    /// A Docker context, by name (from `DOCKER_CONTEXT` or the CLI config).
    Context(String),
    /// Podman's socket, found because Docker's is absent.
    Podman,
    /// Docker's local socket.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::DockerHost => f.write_str("DOCKER_HOST"),
            Source::Context(name) => write!(f, "Docker context {name}"),
            Source::Podman => f.write_str("Podman socket"),
            Source::Default => f.write_str("default socket"),
        }
    }
}

/// The endpoint to use and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub endpoint: EngineEndpoint,
    pub source: Source,
}

/// Resolves the endpoint from the process environment and the file system.
pub fn resolve() -> Result<Resolved, String> {
    resolve_with(&|name| std::env::var(name).ok(), &|path| path.exists())
}

/// [`resolve`] with the environment and the file system passed in (for tests).
pub fn resolve_with(env: &dyn Fn(&str) -> Option<String>, exists: &dyn Fn(&Path) -> bool) -> Result<Resolved, String> {
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    // As the CLI: DOCKER_HOST wins over any context.
    if let Some(host) = env("DOCKER_HOST") {
        return Ok(Resolved {
            endpoint: EngineEndpoint::parse(&host).map_err(|e| format!("DOCKER_HOST: {e}"))?,
            source: Source::DockerHost,
        });
    }
    let config_dir = env("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| Path::new(&home).join(".docker")));
    let context = match env("DOCKER_CONTEXT") {
        Some(name) => Some(name),
        None => match &config_dir {
            Some(dir) => current_context(dir)?,
            None => None,
        },
    };
    if let Some(name) = context.filter(|n| n != "default") {
        let dir = config_dir
            .ok_or_else(|| format!("Docker context {name}: no Docker config directory (set HOME or DOCKER_CONFIG)"))?;
        return Ok(Resolved {
            endpoint: context_endpoint(&dir, &name)?,
            source: Source::Context(name),
        });
    }
    let docker = Path::new(DOCKER_SOCKET);
    if !exists(docker) {
        let rootless = env("XDG_RUNTIME_DIR").map(|dir| Path::new(&dir).join("podman/podman.sock"));
        for podman in std::iter::once(PathBuf::from(PODMAN_ROOTFUL_SOCKET)).chain(rootless) {
            if exists(&podman) {
                return Ok(Resolved {
                    endpoint: EngineEndpoint::Unix(podman),
                    source: Source::Podman,
                });
            }
        }
    }
    Ok(Resolved {
        endpoint: EngineEndpoint::Unix(docker.to_path_buf()),
        source: Source::Default,
    })
}

/// `currentContext` in the CLI's `config.json`, if any.
fn current_context(config_dir: &Path) -> Result<Option<String>, String> {
    let path = config_dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("invalid Docker config {}: {e}", path.display()))?;
    Ok(config
        .get("currentContext")
        .and_then(|c| c.as_str())
        .filter(|c| !c.is_empty())
        .map(str::to_string))
}

/// The engine address of context `name`: `Endpoints.docker.Host` in
/// `contexts/meta/<sha256(name)>/meta.json`, where the CLI stores it.
fn context_endpoint(config_dir: &Path, name: &str) -> Result<EngineEndpoint, String> {
    let digest = hex::encode(Sha256::digest(name.as_bytes()));
    let path = config_dir.join("contexts/meta").join(digest).join("meta.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "Docker context {name} not found (no {}); see `docker context ls`",
                path.display()
            )
        } else {
            format!("cannot read Docker context {name} ({}): {e}", path.display())
        }
    })?;
    let meta: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("invalid Docker context {name} ({}): {e}", path.display()))?;
    let host = meta
        .pointer("/Endpoints/docker/Host")
        .and_then(|h| h.as_str())
        .ok_or_else(|| format!("Docker context {name} has no docker endpoint ({})", path.display()))?;
    let endpoint = EngineEndpoint::parse(host).map_err(|e| format!("Docker context {name}: {e}"))?;
    // The CLI keeps a context's TLS material beside its metadata; plain HTTP to that
    // endpoint would fail with a confusing error, so say what is missing.
    let tls = config_dir
        .join("contexts/tls")
        .join(hex::encode(Sha256::digest(name.as_bytes())))
        .join("docker");
    if matches!(endpoint, EngineEndpoint::Tcp { .. }) && tls.exists() {
        return Err(format!(
            "Docker context {name} uses TLS ({}), which dbarena does not support; use an ssh:// context, or tcp:// without TLS on a trusted network",
            tls.display()
        ));
    }
    Ok(endpoint)
}

/// Where clients on this machine reach the engine's published ports, and so where dbarena
/// probes them and what URLs it prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress {
    /// A fixed host (the remote engine's, or the user's override); `None`: the port's own
    /// bind address, loopback when it is bound on all interfaces.
    host: Option<Cow<'static, str>>,
    /// Why `host` is what it is, for the note `create` prints.
    reason: Option<String>,
}

/// The address of an engine on this machine.
pub static LOCAL: ClientAddress = ClientAddress {
    host: None,
    reason: None,
};

impl ClientAddress {
    /// For `endpoint`, with the user's `override_host` (`--client-host` or the config's
    /// `client-host`), which wins: behind NAT neither side's own address is the one to use.
    pub fn new(endpoint: &EngineEndpoint, override_host: Option<&str>) -> Self {
        let override_host = override_host.map(str::trim).filter(|h| !h.is_empty());
        match (override_host, endpoint.remote_host()) {
            (Some(host), _) => Self {
                host: Some(Cow::Owned(unbracket(host).to_string())),
                reason: Some("the client-host setting".into()),
            },
            (None, Some(host)) => Self {
                host: Some(Cow::Owned(host.to_string())),
                reason: Some(format!("the engine at {endpoint}")),
            },
            (None, None) => LOCAL.clone(),
        }
    }

    /// The host clients use for a port the engine bound on `host_ip`.
    pub fn host_for(&self, host_ip: &str) -> String {
        match (&self.host, host_ip) {
            (Some(host), _) => host.to_string(),
            (None, "" | "0.0.0.0" | "::") => "127.0.0.1".to_string(),
            (None, ip) => ip.to_string(),
        }
    }

    /// Whether clients reach the ports through loopback, so binding 127.0.0.1 suffices.
    pub fn is_loopback(&self) -> bool {
        self.host.as_deref().is_none_or(is_loopback)
    }

    /// The address to publish ports on: 127.0.0.1 when clients come through loopback
    /// (unless `all_interfaces`), else every interface, since a port bound to the engine
    /// machine's loopback is unreachable from here. Not the client address itself: behind
    /// NAT the engine's machine does not have it.
    pub fn publish_ip(&self, all_interfaces: bool) -> &'static str {
        if all_interfaces || !self.is_loopback() {
            "0.0.0.0"
        } else {
            "127.0.0.1"
        }
    }

    /// The one line `create` prints when ports are published on all interfaces of
    /// another machine, so the exposure is a choice the user has seen.
    pub fn publish_note(&self) -> Option<String> {
        if self.is_loopback() {
            return None;
        }
        let host = self.host.as_deref().unwrap_or_default();
        let reason = self.reason.as_deref().unwrap_or("the engine");
        Some(format!(
            "ports are published on all interfaces of the engine's machine and reached at {host} ({reason}): \
             anyone on that network can connect to them (the generated password is the protection)"
        ))
    }
}

/// Checks a `--client-host` (or `client-host`) value: an IP address (IPv6 with or without
/// brackets) or a DNS host name. It goes into every URL and probe; anything else (a URL, a
/// path, spaces, `user@host`) is a mistake to name now, not a broken URL later.
pub fn check_client_host(value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() || unbracket(v).parse::<IpAddr>().is_ok() {
        return Ok(v.to_string());
    }
    let name = v.strip_suffix('.').unwrap_or(v);
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(v.to_string())
    } else {
        Err(format!(
            "'{}' is not a host name or IP address (e.g. db.lan, 203.0.113.7, fd00::1)",
            v.escape_debug()
        ))
    }
}

/// This machine's interface addresses (loopback too), for saying where a port bound on
/// every interface can be reached; empty when they cannot be read.
pub fn interface_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we only read, then free once.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return out;
        }
        let mut at = list;
        while !at.is_null() {
            let addr = (*at).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let v4 = &*(addr as *const libc::sockaddr_in);
                        out.push(IpAddr::from(v4.sin_addr.s_addr.to_ne_bytes()));
                    }
                    libc::AF_INET6 => {
                        let v6 = &*(addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(v6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            at = (*at).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    out.sort();
    out.dedup();
    out
}

/// The warning for instance `name` whose ports this machine publishes on every
/// interface, because of `why` (the flag, the project file's field, the config key):
/// said every time, since the URL dbarena prints (127.0.0.1) shows only one of the
/// addresses that reach it.
pub fn all_interfaces_warning(name: &str, why: &str) -> String {
    let addresses: Vec<String> = interface_addresses()
        .into_iter()
        // 0.0.0.0 is IPv4's every interface.
        .filter(|ip| ip.is_ipv4() && !ip.is_loopback())
        .map(|ip| ip.to_string())
        .collect();
    let shown = if addresses.is_empty() {
        "every interface of this machine".to_string()
    } else {
        format!("every interface of this machine ({})", addresses.join(", "))
    };
    format!(
        "{name}: ports published on 0.0.0.0, {shown}, because of {why}: the database is reachable from \
         the network, not only at the 127.0.0.1 URL shown, and its password is the only protection"
    )
}

fn host_of(url: &url::Url) -> Option<String> {
    url.host_str()
        .filter(|h| !h.is_empty())
        .map(|h| unbracket(h).to_string())
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

fn bracket(host: &str) -> Cow<'_, str> {
    if host.contains(':') {
        Cow::Owned(format!("[{host}]"))
    } else {
        Cow::Borrowed(host)
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || unbracket(host).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn tcp(host: &str, port: u16) -> EngineEndpoint {
        EngineEndpoint::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_the_docker_host_forms() {
        assert_eq!(
            EngineEndpoint::parse("unix:///run/dbarena-remote/docker.sock").unwrap(),
            EngineEndpoint::Unix("/run/dbarena-remote/docker.sock".into())
        );
        assert_eq!(
            EngineEndpoint::parse("tcp://10.214.0.2:2375").unwrap(),
            tcp("10.214.0.2", 2375)
        );
        assert_eq!(
            EngineEndpoint::parse("tcp://docker.lan").unwrap(),
            tcp("docker.lan", 2375)
        );
        assert_eq!(EngineEndpoint::parse("10.0.0.5:2376").unwrap(), tcp("10.0.0.5", 2376));
        assert_eq!(
            EngineEndpoint::parse("tcp://[fd00::2]:2375").unwrap(),
            tcp("fd00::2", 2375)
        );
        assert_eq!(
            EngineEndpoint::parse("ssh://deploy@build.lan:2222").unwrap(),
            EngineEndpoint::Ssh {
                user: Some("deploy".into()),
                host: "build.lan".into(),
                port: Some(2222)
            }
        );
        assert_eq!(
            EngineEndpoint::parse("ssh://build.lan").unwrap(),
            EngineEndpoint::Ssh {
                user: None,
                host: "build.lan".into(),
                port: None
            }
        );
        for bad in [
            "npipe:////./pipe/docker_engine",
            "https://x:2376",
            "ssh://h/path",
            "tcp://",
            "unix://",
        ] {
            assert!(EngineEndpoint::parse(bad).is_err(), "{bad} should be refused");
        }
        // Display round-trips, brackets and all.
        for s in [
            "tcp://[fd00::2]:2375",
            "ssh://deploy@build.lan:2222",
            "unix:///var/run/docker.sock",
        ] {
            assert_eq!(EngineEndpoint::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn the_client_address_comes_from_the_endpoint_unless_overridden() {
        let local = ClientAddress::new(&EngineEndpoint::Unix(DOCKER_SOCKET.into()), None);
        assert_eq!(local.host_for("0.0.0.0"), "127.0.0.1");
        assert_eq!(local.host_for("127.0.0.1"), "127.0.0.1");
        assert_eq!(
            (local.publish_ip(false), local.publish_ip(true)),
            ("127.0.0.1", "0.0.0.0")
        );
        assert_eq!(local.publish_note(), None);

        // TCP to loopback is this machine too.
        assert!(ClientAddress::new(&tcp("127.0.0.1", 2375), None).is_loopback());
        assert!(ClientAddress::new(&tcp("localhost", 2375), None).is_loopback());

        let remote = ClientAddress::new(&tcp("10.214.0.2", 2375), None);
        // Whatever the engine reports as bind address, the port is on the engine's host.
        assert_eq!(remote.host_for("0.0.0.0"), "10.214.0.2");
        assert_eq!(remote.host_for("127.0.0.1"), "10.214.0.2");
        assert_eq!(remote.publish_ip(false), "0.0.0.0");
        let note = remote.publish_note().unwrap();
        assert!(
            note.contains("10.214.0.2") && note.contains("anyone on that network"),
            "{note}"
        );

        let ssh = EngineEndpoint::parse("ssh://me@build.lan").unwrap();
        assert_eq!(ClientAddress::new(&ssh, None).host_for(""), "build.lan");

        // NAT: the override wins, remote or local.
        let nat = ClientAddress::new(&tcp("10.214.0.2", 2375), Some("203.0.113.7"));
        assert_eq!(nat.host_for("0.0.0.0"), "203.0.113.7");
        assert!(nat.publish_note().unwrap().contains("client-host"));
        let local_nat = ClientAddress::new(&EngineEndpoint::Unix(DOCKER_SOCKET.into()), Some("[fd00::9]"));
        assert_eq!(local_nat.host_for("127.0.0.1"), "fd00::9");
        assert_eq!(local_nat.publish_ip(false), "0.0.0.0");
        // An empty override is no override.
        assert_eq!(
            ClientAddress::new(&tcp("10.1.1.1", 1), Some(" ")).host_for(""),
            "10.1.1.1"
        );
    }

    #[test]
    fn client_hosts_are_names_or_addresses() {
        for ok in [
            "db.lan",
            "203.0.113.7",
            "fd00::1",
            "[fd00::1]",
            "localhost",
            "my_host.example.",
            "a-b",
        ] {
            assert_eq!(check_client_host(ok).as_deref(), Ok(ok), "{ok}");
        }
        for bad in [
            "http://x",
            "x y",
            "user@host",
            "/tmp/sock",
            "host:5432",
            "-x",
            "a..b",
            "$(id)",
            "bad\u{1b}]52;c;host",
        ] {
            let e = check_client_host(bad).unwrap_err();
            assert!(e.contains("not a host name or IP address"), "{bad}: {e}");
            assert!(!e.contains('\u{1b}'), "{e}");
        }
        assert!(!interface_addresses().is_empty());
        let w = all_interfaces_warning("db", "--publish-all-interfaces");
        assert!(w.contains("0.0.0.0") && w.contains("reachable from the network"), "{w}");
    }

    struct World {
        env: HashMap<&'static str, String>,
        files: Vec<PathBuf>,
    }

    impl World {
        fn new(env: &[(&'static str, &str)], files: &[&str]) -> Self {
            Self {
                env: env.iter().map(|(k, v)| (*k, v.to_string())).collect(),
                files: files.iter().map(PathBuf::from).collect(),
            }
        }
        fn resolve(&self) -> Result<Resolved, String> {
            resolve_with(&|name| self.env.get(name).cloned(), &|path| {
                self.files.iter().any(|f| f == path)
            })
        }
    }

    /// A Docker config directory with contexts written where and how the CLI writes them.
    fn docker_config(current: Option<&str>, contexts: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        if let Some(current) = current {
            std::fs::write(
                dir.path().join("config.json"),
                format!(r#"{{"auths": {{}}, "currentContext": "{current}"}}"#),
            )
            .unwrap();
        }
        for (name, host) in contexts {
            let meta = dir.path().join("contexts/meta").join(hex::encode(Sha256::digest(name)));
            std::fs::create_dir_all(&meta).unwrap();
            let json = serde_json::json!({
                "Name": name,
                "Metadata": {"Description": "test"},
                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
            });
            std::fs::write(meta.join("meta.json"), json.to_string()).unwrap();
        }
        dir
    }

    #[test]
    fn resolves_like_the_docker_cli() {
        let cfg = docker_config(
            Some("lab"),
            &[("lab", "tcp://10.214.0.2:2375"), ("build", "ssh://ci@build.lan")],
        );
        let dir = cfg.path().to_str().unwrap();

        // The config's current context.
        let r = World::new(&[("DOCKER_CONFIG", dir)], &[DOCKER_SOCKET])
            .resolve()
            .unwrap();
        assert_eq!(r.endpoint, tcp("10.214.0.2", 2375));
        assert_eq!(r.source, Source::Context("lab".into()));

        // DOCKER_CONTEXT beats the config.
        let r = World::new(&[("DOCKER_CONFIG", dir), ("DOCKER_CONTEXT", "build")], &[])
            .resolve()
            .unwrap();
        assert_eq!(r.endpoint.remote_host(), Some("build.lan"));
        assert_eq!(r.source, Source::Context("build".into()));

        // DOCKER_HOST beats every context.
        let r = World::new(
            &[
                ("DOCKER_CONFIG", dir),
                ("DOCKER_CONTEXT", "build"),
                ("DOCKER_HOST", "unix:///tmp/d.sock"),
            ],
            &[],
        )
        .resolve()
        .unwrap();
        assert_eq!(
            (r.endpoint, r.source),
            (EngineEndpoint::Unix("/tmp/d.sock".into()), Source::DockerHost)
        );

        // `default` is no context; ~/.docker is the default config directory.
        let home = tempfile::tempdir().unwrap();
        std::fs::rename(cfg.path(), home.path().join(".docker")).unwrap();
        let home = home.path().to_str().unwrap();
        let r = World::new(&[("HOME", home)], &[]).resolve().unwrap();
        assert_eq!(r.source, Source::Context("lab".into()));
        let r = World::new(&[("HOME", home), ("DOCKER_CONTEXT", "default")], &[DOCKER_SOCKET])
            .resolve()
            .unwrap();
        assert_eq!(r.source, Source::Default);

        // A TLS context is refused, not spoken to in plain HTTP.
        let secure = docker_config(Some("secure"), &[("secure", "tcp://10.0.0.9:2376")]);
        let tls = secure
            .path()
            .join("contexts/tls")
            .join(hex::encode(Sha256::digest("secure")));
        std::fs::create_dir_all(tls.join("docker")).unwrap();
        let err = World::new(&[("DOCKER_CONFIG", secure.path().to_str().unwrap())], &[])
            .resolve()
            .unwrap_err();
        assert!(err.contains("context secure uses TLS"), "{err}");

        // An unknown context is an error naming it, as in the CLI.
        let err = World::new(&[("HOME", home), ("DOCKER_CONTEXT", "nope")], &[])
            .resolve()
            .unwrap_err();
        assert!(err.contains("context nope not found"), "{err}");
    }

    #[test]
    fn podman_is_found_only_when_the_docker_socket_is_absent() {
        let rootless = "/run/user/1000/podman/podman.sock";
        let env = [("XDG_RUNTIME_DIR", "/run/user/1000"), ("HOME", "/nonexistent")];
        let r = World::new(&env, &[DOCKER_SOCKET, PODMAN_ROOTFUL_SOCKET])
            .resolve()
            .unwrap();
        assert_eq!(r.source, Source::Default);
        let r = World::new(&env, &[PODMAN_ROOTFUL_SOCKET, rootless]).resolve().unwrap();
        assert_eq!(
            (r.endpoint, r.source),
            (EngineEndpoint::Unix(PODMAN_ROOTFUL_SOCKET.into()), Source::Podman)
        );
        let r = World::new(&env, &[rootless]).resolve().unwrap();
        assert_eq!(r.endpoint, EngineEndpoint::Unix(rootless.into()));
        // Nothing at all: Docker's socket, whose absence the connect error then names.
        let r = World::new(&env, &[]).resolve().unwrap();
        assert_eq!(r.endpoint, EngineEndpoint::Unix(DOCKER_SOCKET.into()));
    }
}
