//! Checks every value a plugin returns before the host acts on it. A plugin is untrusted:
//! a bad image reference, env name or path must become a clear error, never a Docker call.

use super::bindings::{
    ClientCommands, CompanionSpec, ConnectionForm, ConnectionInfo, ContainerSpec, DataPlan, EngineInfo, ExecStep,
    HandshakeOutcome, InitSupport, Probe, Setting,
};
use regex::Regex;
use std::sync::LazyLock;

type Check = Result<(), String>;

const MAX_SHORT: usize = 256;
const MAX_VALUE: usize = 32 << 10;
const MAX_LIST: usize = 256;
const MAX_HANDSHAKE_BYTES: usize = 64 << 10;
const MAX_STARTUP_SECS: u32 = 3600;
const MIN_MEMORY_BYTES: u64 = 6 << 20; // Docker's own minimum
const MAX_TMPFS_BYTES: u64 = 64 << 30;
/// Query text or SQL an exec step feeds on stdin.
const MAX_STDIN_BYTES: usize = 1 << 20;

static ENGINE_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z][a-z0-9-]{0,31}$").unwrap());
static VERSION_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$").unwrap());
static ENV_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$").unwrap());
static FIELD_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z][a-z0-9-]{0,63}$").unwrap());
/// Docker's reference grammar (distribution/reference): [domain[:port]/]path[:tag][@digest].
static IMAGE_REF: LazyLock<Regex> = LazyLock::new(|| {
    let component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
    let domain = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?";
    // ASCII classes: Unicode-aware `\w` made this regex take tens of milliseconds to
    // compile, on every start-up (Docker tags are ASCII anyway).
    let tag = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
    let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    Regex::new(&format!(
        r"^(?:{domain}/)?{component}(?:/{component})*(?::{tag})?(?:@{digest})?$"
    ))
    .unwrap()
});
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").unwrap());
static FORM_KIND: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z][a-z0-9-]{0,31}$").unwrap());
static SUFFIX: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\.[A-Za-z0-9][A-Za-z0-9.]{0,15}$").unwrap());

/// Truncates untrusted text for display, on a character boundary.
pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn text(what: &str, value: &str, max: usize) -> Check {
    if value.len() > max {
        return Err(format!("{what} is {} bytes long (limit {max})", value.len()));
    }
    if value.chars().any(|c| c == '\0') {
        return Err(format!("{what} contains a NUL character"));
    }
    Ok(())
}

fn printable(what: &str, value: &str, max: usize) -> Check {
    text(what, value, max)?;
    if value.chars().any(char::is_control) {
        return Err(format!("{what} contains control characters"));
    }
    Ok(())
}

fn list_len<T>(what: &str, items: &[T], max: usize) -> Check {
    if items.len() > max {
        return Err(format!("{what} has {} entries (limit {max})", items.len()));
    }
    Ok(())
}

fn matches(re: &Regex, what: &str, value: &str, rule: &str) -> Check {
    if value.len() > 512 || !re.is_match(value) {
        return Err(format!("{what} {:?} is not {rule}", clip(value, 80)));
    }
    Ok(())
}

/// An image reference in Docker's grammar, at most 512 bytes.
pub fn image_reference(image: &str) -> Check {
    matches(
        &IMAGE_REF,
        "image",
        image,
        "a valid image reference (repository[:tag][@digest])",
    )
}

fn image_repository(repo: &str) -> Check {
    image_reference(repo)?;
    if repo.contains('@') || repo.rsplit('/').next().is_some_and(|last| last.contains(':')) {
        return Err(format!(
            "image repository {:?} must not carry a tag or digest",
            clip(repo, 80)
        ));
    }
    Ok(())
}

fn absolute_path(what: &str, path: &str) -> Check {
    text(what, path, 4096)?;
    if !path.starts_with('/') {
        return Err(format!("{what} {:?} is not an absolute path", clip(path, 80)));
    }
    if path == "/" || path.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err(format!("{what} {:?} must be a normalised path below /", clip(path, 80)));
    }
    Ok(())
}

fn env_pairs(what: &str, env: &[(String, String)]) -> Check {
    list_len(what, env, MAX_LIST)?;
    for (name, value) in env {
        matches(
            &ENV_NAME,
            "environment variable name",
            name,
            "a valid name ([A-Za-z_][A-Za-z0-9_]*)",
        )?;
        text(&format!("value of {name}"), value, MAX_VALUE)?;
    }
    Ok(())
}

/// Variables set in a process on the host (`dbarena env`, `run -- CMD`, the host client):
/// connection variables only (see [`super::host_process::connection_variable`]).
fn host_env_pairs(what: &str, env: &[(String, String)], engine: &str) -> Check {
    list_len(what, env, MAX_LIST)?;
    for (name, value) in env {
        super::host_process::plugin_variable(name, engine).map_err(|e| format!("{what}: {e}"))?;
        text(&format!("value of {name}"), value, MAX_VALUE)?;
    }
    Ok(())
}

fn args(what: &str, args: &[String]) -> Check {
    list_len(what, args, MAX_LIST)?;
    args.iter()
        .try_for_each(|a| text(&format!("{what} argument"), a, MAX_VALUE))
}

fn port(what: &str, port: u16) -> Check {
    if port == 0 {
        return Err(format!("{what} 0 is not a valid port (1-65535)"));
    }
    Ok(())
}

/// An engine id: lowercase letters, digits and '-', starting with a letter, up to 32.
pub fn engine_id(id: &str) -> Check {
    let rule = "a valid engine id (lowercase letters, digits, '-', up to 32, starting with a letter)";
    matches(&ENGINE_ID, "id", id, rule)
}

pub fn engine_info(info: &EngineInfo) -> Check {
    engine_id(&info.id)?;
    printable("display name", &info.display_name, 64)?;
    if info.display_name.trim().is_empty() {
        return Err("display name is empty".into());
    }
    semver::Version::parse(&info.plugin_version).map_err(|e| {
        format!(
            "plugin version {:?} is not semantic versioning: {e}",
            clip(&info.plugin_version, 40)
        )
    })?;
    printable("description", &info.description, 1024)?;
    if info.versions.is_empty() {
        return Err("lists no versions".into());
    }
    list_len("versions", &info.versions, 64)?;
    for v in &info.versions {
        matches(&VERSION_NAME, "version", &v.version, "a valid version name")?;
        image_repository(&v.image_repository)?;
        matches(&TAG, "image tag", &v.image_tag, "a valid tag")?;
        list_len("aliases", &v.aliases, 16)?;
        for alias in &v.aliases {
            matches(&VERSION_NAME, "version alias", alias, "a valid version name")?;
        }
    }
    if !info.versions.iter().any(|v| v.version == info.default_version) {
        return Err(format!(
            "default version {:?} is not one of its versions",
            clip(&info.default_version, 40)
        ));
    }
    port("default port", info.default_port)?;
    if !info.documentation_url.is_empty() {
        let url = url::Url::parse(&info.documentation_url).map_err(|e| format!("documentation URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("documentation URL must be http(s)".into());
        }
    }
    Ok(())
}

pub fn container_spec(spec: &ContainerSpec) -> Check {
    image_reference(&spec.image)?;
    env_pairs("env", &spec.env)?;
    if let Some(entrypoint) = &spec.entrypoint {
        args("entrypoint", entrypoint)?;
    }
    args("command", &spec.cmd)?;
    list_len("data paths", &spec.data_paths, 16)?;
    spec.data_paths.iter().try_for_each(|p| absolute_path("data path", p))?;
    list_len("tmpfs mounts", &spec.tmpfs, 16)?;
    for mount in &spec.tmpfs {
        absolute_path("tmpfs path", &mount.path)?;
        if mount.size_bytes == 0 || mount.size_bytes > MAX_TMPFS_BYTES {
            return Err(format!("tmpfs size {} is outside 1 byte..64 GiB", mount.size_bytes));
        }
    }
    if let Some(limit) = spec.memory_limit_bytes
        && limit < MIN_MEMORY_BYTES
    {
        return Err(format!("memory limit {limit} bytes is below Docker's minimum of 6 MiB"));
    }
    // No ports means "no network protocol": readiness cannot be proven by a client
    // connection, and the host says so.
    list_len("ports", &spec.ports, 16)?;
    spec.ports.iter().try_for_each(|p| port("port", *p))?;
    let creds = &spec.credentials;
    text("user", &creds.user, MAX_SHORT)?;
    text("password", &creds.password, MAX_SHORT)?;
    text("database", &creds.database, MAX_SHORT)?;
    let readiness = &spec.readiness;
    if readiness.probes.is_empty() {
        return Err("readiness lists no probe".into());
    }
    list_len("readiness probes", &readiness.probes, 16)?;
    if readiness.startup_timeout_secs == 0 || readiness.startup_timeout_secs > MAX_STARTUP_SECS {
        return Err(format!(
            "startup timeout {} s is outside 1..{MAX_STARTUP_SECS}",
            readiness.startup_timeout_secs
        ));
    }
    // Only a protocol answer through the published client port proves clients can connect:
    // an exec or log probe passes against the temporary server many images run first.
    if let Some(&client) = spec.ports.first()
        && !readiness
            .probes
            .iter()
            .any(|p| matches!(p, Probe::Handshake(h) if h.container_port == client))
    {
        return Err(format!(
            "readiness has no handshake probe on the client port {client} (ports[0]); exec and log \
             probes alone cannot prove a client can connect (an engine without a network protocol \
             lists no ports)"
        ));
    }
    for probe in &readiness.probes {
        match probe {
            Probe::Handshake(h) => {
                if !spec.ports.contains(&h.container_port) {
                    return Err(format!(
                        "handshake probe port {} is not among the exposed ports",
                        h.container_port
                    ));
                }
                printable("probe description", &h.description, MAX_SHORT)?;
            }
            Probe::LogLine(l) => {
                text("log pattern", &l.pattern, 1024)?;
                regex::RegexBuilder::new(&l.pattern)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("log pattern is not a valid regular expression: {e}"))?;
                if l.count == 0 || l.count > 100 {
                    return Err(format!("log probe count {} is outside 1..100", l.count));
                }
            }
            Probe::Exec(e) => {
                if e.command.is_empty() {
                    return Err("exec probe has an empty command".into());
                }
                args("exec probe", &e.command)?;
                if let Some(expect) = &e.expect_output {
                    text("exec probe expected output", expect, 1024)?;
                }
            }
        }
    }
    Ok(())
}

pub fn handshake_bytes(bytes: &[u8]) -> Check {
    if bytes.len() > MAX_HANDSHAKE_BYTES {
        return Err(format!("{} bytes to send (limit {MAX_HANDSHAKE_BYTES})", bytes.len()));
    }
    Ok(())
}

pub fn handshake_outcome(outcome: &HandshakeOutcome) -> Check {
    match outcome {
        HandshakeOutcome::Send(bytes) => handshake_bytes(bytes),
        HandshakeOutcome::NotYet(reason) | HandshakeOutcome::Failed(reason) => text("reason", reason, 4096),
        HandshakeOutcome::Ready(info) => {
            if let Some(version) = &info.server_version {
                printable("server version", version, 128)?;
            }
            match (&info.note, info.authenticated) {
                (Some(note), _) => printable("note", note, 1024),
                (None, true) => Ok(()),
                (None, false) => Err("an unauthenticated ready must say why in its note".into()),
            }
        }
        HandshakeOutcome::NeedMore => Ok(()),
    }
}

/// A command run in the container: a non-empty argv, env, bounded stdin.
fn exec_step(what: &str, step: &ExecStep) -> Check {
    printable(&format!("{what} description"), &step.description, MAX_SHORT)?;
    if step.command.is_empty() || step.command[0].is_empty() {
        return Err(format!("{what} '{}' has an empty command", clip(&step.description, 80)));
    }
    args(&format!("{what} command"), &step.command)?;
    env_pairs(&format!("{what} env"), &step.env)?;
    if let Some(stdin) = &step.stdin
        && stdin.len() > MAX_STDIN_BYTES
    {
        return Err(format!(
            "{what} stdin is {} bytes (limit {MAX_STDIN_BYTES})",
            stdin.len()
        ));
    }
    Ok(())
}

pub fn exec_steps(what: &str, steps: &[ExecStep]) -> Check {
    list_len(what, steps, 64)?;
    steps.iter().try_for_each(|step| exec_step(what, step))
}

pub fn connection_forms(forms: &[ConnectionForm], engine: &str) -> Check {
    list_len("connection forms", forms, 32)?;
    for form in forms {
        matches(
            &FORM_KIND,
            "connection form kind",
            &form.kind,
            "a short key (lowercase letters, digits, '-')",
        )?;
        if let Some(name) = &form.env_name {
            super::host_process::plugin_variable(name, engine)
                .map_err(|e| format!("{} connection form: {e}", clip(&form.kind, 40)))?;
        }
        printable(&format!("{} connection form", form.kind), &form.value, 4096)?;
    }
    Ok(())
}

pub fn client_commands(client: &ClientCommands) -> Check {
    if let Some(shell) = &client.host_shell {
        args("host shell", shell)?;
        super::host_process::host_client(shell)?;
    }
    exec_step("container shell", &client.container_shell)?;
    if let Some(query) = &client.query {
        exec_step("query runner", query)?;
    }
    Ok(())
}

pub fn init_support(support: &InitSupport) -> Check {
    if let Some(dir) = &support.directory {
        absolute_path("init script directory", dir)?;
    }
    list_len("init script suffixes", &support.suffixes, 16)?;
    for suffix in &support.suffixes {
        matches(&SUFFIX, "init script suffix", suffix, "a file suffix like \".sql\"")?;
    }
    if support.suffixes.is_empty() {
        return Err("init support names no file suffixes".into());
    }
    Ok(())
}

pub fn data_plan(plan: &DataPlan) -> Check {
    if plan.paths.is_empty() {
        return Err("data plan names no paths".into());
    }
    list_len("data plan paths", &plan.paths, 16)?;
    plan.paths.iter().try_for_each(|p| absolute_path("data plan path", p))?;
    exec_steps("quiesce step", &plan.quiesce)
}

pub fn companion_spec(companion: &CompanionSpec) -> Check {
    container_spec(&companion.spec)?;
    list_len("companion files", &companion.files, 32)?;
    for (path, content) in &companion.files {
        absolute_path("companion file", path)?;
        if content.len() > MAX_VALUE * 8 {
            return Err(format!(
                "companion file {path} is {} bytes (limit {})",
                content.len(),
                MAX_VALUE * 8
            ));
        }
    }
    exec_steps("reload step", &companion.reload)
}

pub fn settings(settings: &[Setting]) -> Check {
    list_len("settings", settings, 64)?;
    for setting in settings {
        matches(
            &ENV_NAME,
            "setting name",
            &setting.name,
            "a valid name ([A-Za-z_][A-Za-z0-9_]*)",
        )?;
        printable("setting description", &setting.description, 1024)?;
        for value in [&setting.default_value, &setting.example].into_iter().flatten() {
            text("setting value", value, 1024)?;
        }
    }
    Ok(())
}

pub fn connection_info(info: &ConnectionInfo, engine: &str) -> Check {
    text("url", &info.url, 4096)?;
    let url = url::Url::parse(&info.url).map_err(|e| format!("url does not parse: {e}"))?;
    if url.scheme().is_empty() {
        return Err("url has no scheme".into());
    }
    host_env_pairs("connection env", &info.env, engine)?;
    if info.shell.is_empty() {
        return Err("shell command is empty".into());
    }
    args("shell", &info.shell)
}

/// A user-facing option name that a plugin blamed (kept short and plain).
pub fn field_name(field: &str) -> bool {
    FIELD_NAME.is_match(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_reference_grammar() {
        for ok in [
            "postgres:16",
            "redis",
            "mcr.microsoft.com/mssql/server:2022-latest",
            "127.0.0.1:5000/dbarena-test/redis:7",
            "library/mongo@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(image_reference(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Postgres:16",
            "postgres:",
            "a b",
            "postgres:16;rm -rf",
            "-x",
            &"x".repeat(600),
        ] {
            assert!(image_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_must_be_absolute_and_normalised() {
        assert!(absolute_path("p", "/var/lib/postgresql/data").is_ok());
        for bad in ["var/lib", "/", "/a/../b", "/a/./b", ""] {
            assert!(absolute_path("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("ééé", 3), "é…");
        assert_eq!(clip("abc", 3), "abc");
    }
}
