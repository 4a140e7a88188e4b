//! The credentials `docker login` stored for a registry, found as the docker CLI finds them,
//! for [`super::registry_api`].
//!
//! The Docker config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`) is read only
//! when a registry asks for authentication, and treated as untrusted: at most [`MAX_CONFIG`]
//! bytes, a missing file means no credentials, and a broken one is reported (naming the file)
//! but does not stop an anonymous listing. The lookup follows the CLI: `credHelpers[host]`,
//! else `credsStore` (both run `docker-credential-<name> get`, bounded in time and output),
//! else `auths[host]` (`auth` = base64 `user:password`, or `username`/`password`).
//!
//! Identity tokens (`Username` `<token>`, or `identitytoken`) need the OAuth refresh-token
//! flow, which dbarena does not implement: they are skipped with a message rather than sent
//! as a password. The secret is never printed: [`Credentials`]' `Debug` hides it.

use base64::Engine as _;
use serde::Deserialize;
use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The config key (and helper server URL) of Docker Hub, as `docker login` writes it.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// Bounds on what is read: the config file, a helper's output and its run time.
const MAX_CONFIG: u64 = 1 << 20;
const MAX_HELPER_OUTPUT: u64 = 64 << 10;
const HELPER_TIMEOUT: Duration = Duration::from_secs(5);

/// A user name and its password (or token). `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    secret: String,
}

impl Credentials {
    pub fn new(username: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            secret: secret.into(),
        }
    }

    /// The value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.secret);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// What the lookup found: credentials, or none with the reason (for a `docker login` hint).
#[derive(Debug)]
pub struct Lookup {
    pub credentials: Option<Credentials>,
    /// What was read and found, e.g. "dbarena read /h/.docker/config.json and found no
    /// credentials for HOST"; worded to follow a failed request.
    pub note: String,
    /// True when the config or a helper was broken (the caller warns and goes on anonymously).
    pub problem: bool,
}

/// The config key of a registry named as in image references (`docker.io` is Docker Hub).
pub fn config_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        host => host.to_string(),
    }
}

/// The Docker config file the CLI would read, from the environment.
pub fn config_path() -> Option<PathBuf> {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    env("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| Path::new(&home).join(".docker")))
        .map(|dir| dir.join("config.json"))
}

/// The credentials `docker login` stored for `registry` (as in image references).
pub fn lookup(registry: &str) -> Lookup {
    match config_path() {
        Some(path) => lookup_in(&path, registry),
        None => Lookup {
            credentials: None,
            note: "dbarena found no Docker config (neither DOCKER_CONFIG nor HOME is set)".into(),
            problem: false,
        },
    }
}

#[derive(Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// [`lookup`] in the config file at `path`.
pub fn lookup_in(path: &Path, registry: &str) -> Lookup {
    lookup_with(path, registry, None)
}

/// [`lookup_in`], credential helpers searched on `search_path` instead of `PATH` (tests).
fn lookup_with(path: &Path, registry: &str, search_path: Option<&std::ffi::OsStr>) -> Lookup {
    let key = config_key(registry);
    let file = path.display();
    let found = |credentials: Credentials, from: String| Lookup {
        note: format!(
            "dbarena used the credentials of {} for {registry} ({from})",
            credentials.username
        ),
        credentials: Some(credentials),
        problem: false,
    };
    let none = |why: String, problem: bool| Lookup {
        credentials: None,
        note: why,
        problem,
    };
    let config = match read_config(path) {
        Ok(Some(config)) => config,
        Ok(None) => return none(format!("dbarena found no Docker config file {file}"), false),
        Err(e) => return none(e, true),
    };
    let helper = config.cred_helpers.get(&key).map(|h| (h, "credHelpers")).or(config
        .creds_store
        .as_ref()
        .filter(|s| !s.is_empty())
        .map(|s| (s, "credsStore")));
    if let Some((helper, field)) = helper {
        return match run_helper(helper, &key, search_path) {
            Ok(Some(c)) if c.username == "<token>" => none(identity_token(&file, registry), true),
            Ok(Some(c)) => found(c, format!("{file} {field}: docker-credential-{helper}")),
            Ok(None) => none(
                format!("dbarena read {file} and docker-credential-{helper} has no credentials for {registry}"),
                false,
            ),
            Err(e) => none(format!("{file} {field}: {e}"), true),
        };
    }
    let entry = config.auths.get(&key).or_else(|| {
        // As the CLI, keys written with a scheme or path (`https://host/v2/`) also match.
        config
            .auths
            .iter()
            .find(|(k, _)| key != DOCKER_HUB_KEY && hostname_of(k) == key)
            .map(|(_, e)| e)
    });
    let no_credentials = || {
        none(
            format!("dbarena read {file} and found no credentials for {registry}"),
            false,
        )
    };
    let Some(entry) = entry else {
        return no_credentials();
    };
    if entry.identitytoken.as_deref().is_some_and(|t| !t.is_empty()) {
        return none(identity_token(&file, registry), true);
    }
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        return match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((user, password)) if !user.is_empty() => {
                found(Credentials::new(user, password), format!("{file} auths"))
            }
            _ => none(
                format!("{file}: auths[{key:?}].auth is not base64 of user:password"),
                true,
            ),
        };
    }
    match (entry.username.as_deref(), entry.password.as_deref()) {
        (Some(user), Some(password)) if !user.is_empty() => {
            found(Credentials::new(user, password), format!("{file} auths"))
        }
        _ => no_credentials(),
    }
}

fn identity_token(file: &impl std::fmt::Display, registry: &str) -> String {
    format!(
        "{file} holds an identity token for {registry} (an OAuth refresh token), which dbarena \
         does not support; log in with a user name and password or access token instead"
    )
}

/// The config at `path`: `None` when there is none, an error naming the file when it is
/// unreadable, too large or not the JSON of a Docker config.
fn read_config(path: &Path) -> Result<Option<ConfigFile>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read the Docker config {}: {e}", path.display())),
    };
    let mut text = String::new();
    file.take(MAX_CONFIG + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the Docker config {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_CONFIG {
        return Err(format!(
            "the Docker config {} is larger than {} KiB; not read",
            path.display(),
            MAX_CONFIG >> 10
        ));
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("the Docker config {} is not valid: {e}", path.display()))
}

/// `host[:port]` of a config key such as `https://host:5000/v2/` (the CLI's `ConvertToHostname`).
fn hostname_of(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// `docker-credential-<helper> get` for `server`: `None` when it has no credentials for it.
/// Its output is bounded and its stderr shown escaped (a helper is any program on PATH).
fn run_helper(
    helper: &str,
    server: &str,
    search_path: Option<&std::ffi::OsStr>,
) -> Result<Option<Credentials>, String> {
    // The name comes from an untrusted file: a program name on PATH, never a path.
    if helper.is_empty() || !helper.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(format!(
            "invalid credential helper name {:?}",
            crate::output::escape(helper)
        ));
    }
    let program = format!("docker-credential-{helper}");
    let mut command = Command::new(&program);
    if let Some(search_path) = search_path {
        // std searches the child's PATH when it is set.
        command.env("PATH", search_path);
    }
    // Its own process group, so a timeout also ends what it started.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its answer, not by a broken pipe.
        let _ = stdin.write_all(server.as_bytes());
    }
    let reader = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(MAX_HELPER_OUTPUT + 1).read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        });
        rx
    };
    let stdout = reader(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = reader(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + HELPER_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                // SAFETY: kill(2) on the helper's own process group; no memory is involved.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{program} did not answer within {} s",
                    HELPER_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("{program}: {e}")),
        }
    };
    // A grandchild may hold the pipes open: wait for them only briefly.
    let collect = |rx: std::sync::mpsc::Receiver<Vec<u8>>| rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default();
    let (out, err) = (collect(stdout), collect(stderr));
    if out.len() as u64 > MAX_HELPER_OUTPUT {
        return Err(format!("{program} printed more than {} KiB", MAX_HELPER_OUTPUT >> 10));
    }
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        let out = String::from_utf8_lossy(&out);
        // The helpers' protocol: "credentials not found" on stdout means none stored.
        if out.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        let said = if err.trim().is_empty() { out.trim() } else { err.trim() };
        let said: String = said.chars().take(500).collect();
        return Err(format!(
            "{program} get failed ({status}): {}",
            crate::output::escape(&said)
        ));
    }
    let answer: HelperAnswer =
        serde_json::from_slice(&out).map_err(|e| format!("{program} get answered no credentials JSON: {e}"))?;
    if answer.username.is_empty() && answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials::new(answer.username, answer.secret)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn config(json: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        dir
    }

    fn look(dir: &tempfile::TempDir, registry: &str) -> Lookup {
        lookup_in(&dir.path().join("config.json"), registry)
    }

    fn look_on(dir: &tempfile::TempDir, registry: &str, search_path: &str) -> Lookup {
        lookup_with(&dir.path().join("config.json"), registry, Some(search_path.as_ref()))
    }

    #[test]
    fn auth_field_and_username_password() {
        // "alice:s3cr:et" (the password may hold colons).
        let dir = config(
            r#"{"auths":{"127.0.0.1:5001":{"auth":"YWxpY2U6czNjcjpldA=="},
                "https://index.docker.io/v1/":{"username":"bob","password":"pw"},
                "https://reg.example/v2/":{"auth":"Ym9iOnB3"}}}"#,
        );
        let l = look(&dir, "127.0.0.1:5001");
        assert_eq!(l.credentials, Some(Credentials::new("alice", "s3cr:et")));
        assert!(!l.problem);
        assert_eq!(look(&dir, "docker.io").credentials, Some(Credentials::new("bob", "pw")));
        assert_eq!(
            look(&dir, "reg.example").credentials,
            Some(Credentials::new("bob", "pw")),
            "keys with a scheme match their host"
        );
        let l = look(&dir, "other:5000");
        assert!(l.credentials.is_none() && !l.problem);
        assert!(l.note.contains("found no credentials for other:5000"), "{}", l.note);
        assert!(l.note.contains("config.json"), "{}", l.note);
    }

    #[test]
    fn secrets_stay_out_of_debug_and_notes() {
        let dir = config(r#"{"auths":{"h:1":{"auth":"YWxpY2U6aHVudGVyMg=="}}}"#);
        let l = look(&dir, "h:1");
        let shown = format!("{l:?} {}", l.note);
        assert!(!shown.contains("hunter2") && shown.contains("alice"), "{shown}");
        assert_eq!(l.credentials.unwrap().basic_header(), "Basic YWxpY2U6aHVudGVyMg==");
    }

    #[test]
    fn missing_malformed_oversized_and_identity_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let l = look(&dir, "h:1");
        assert!(l.credentials.is_none() && !l.problem, "missing is no problem");
        let dir = config("{\"auths\": {");
        let l = look(&dir, "h:1");
        assert!(l.problem && l.note.contains("is not valid"), "{}", l.note);
        assert!(l.note.contains(&dir.path().join("config.json").display().to_string()));
        let dir = config(&format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_CONFIG as usize)));
        let l = look(&dir, "h:1");
        assert!(l.problem && l.note.contains("larger than 1024 KiB"), "{}", l.note);
        let dir = config(r#"{"auths":{"h:1":{"auth":"not base64!"}}}"#);
        assert!(look(&dir, "h:1").problem);
        let dir = config(r#"{"auths":{"h:1":{"identitytoken":"tok"}}}"#);
        let l = look(&dir, "h:1");
        assert!(
            l.credentials.is_none() && l.note.contains("identity token"),
            "{}",
            l.note
        );
    }

    /// Fake `docker-credential-*` scripts on the PATH the helpers are searched on.
    #[test]
    fn cred_helpers_and_creds_store() {
        let bin = tempfile::tempdir().unwrap();
        let script = |name: &str, body: &str| {
            let path = bin.path().join(format!("docker-credential-{name}"));
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        // Answers for the server URL it is given on stdin, as real helpers do.
        script(
            "fake",
            r#"[ "$1" = get ] || exit 2
read -r server
case "$server" in
  127.0.0.1:5001) echo '{"ServerURL":"127.0.0.1:5001","Username":"carol","Secret":"s3"}' ;;
  https://index.docker.io/v1/) echo '{"Username":"<token>","Secret":"refresh"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac"#,
        );
        script("broken", "printf 'boom\\033]0;title\\007' >&2; exit 3");
        script("slow", "sleep 30");
        let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
        let look = |dir: &tempfile::TempDir, registry: &str| look_on(dir, registry, &path);

        let dir = config(
            r#"{"auths":{"127.0.0.1:5001":{"auth":"eDp5"}},"credsStore":"broken",
                "credHelpers":{"127.0.0.1:5001":"fake","https://index.docker.io/v1/":"fake","other:1":"fake",
                               "slow:1":"slow","bad:1":"../x"}}"#,
        );
        let l = look(&dir, "127.0.0.1:5001");
        assert_eq!(
            l.credentials,
            Some(Credentials::new("carol", "s3")),
            "credHelpers wins over auths"
        );
        assert!(l.note.contains("docker-credential-fake"), "{}", l.note);
        let l = look(&dir, "docker.io");
        assert!(
            l.credentials.is_none() && l.note.contains("identity token"),
            "{}",
            l.note
        );
        let l = look(&dir, "other:1");
        assert!(l.credentials.is_none() && !l.problem, "{}", l.note);
        assert!(l.note.contains("has no credentials for other:1"), "{}", l.note);
        // Not in credHelpers: credsStore, whose stderr comes back escaped.
        let l = look(&dir, "elsewhere:1");
        assert!(l.problem, "{}", l.note);
        assert!(
            l.note.contains("docker-credential-broken get failed") && l.note.contains("boom"),
            "{}",
            l.note
        );
        assert!(!l.note.contains('\u{1b}') && !l.note.contains('\u{7}'), "{:?}", l.note);
        let started = Instant::now();
        let l = look(&dir, "slow:1");
        assert!(l.problem && l.note.contains("did not answer within 5 s"), "{}", l.note);
        assert!(started.elapsed() < Duration::from_secs(10));
        let l = look(&dir, "bad:1");
        assert!(
            l.problem && l.note.contains("invalid credential helper name"),
            "{}",
            l.note
        );
    }
}
