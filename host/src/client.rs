//! An instance's clients, as its plugin describes them ([`ClientCommands`]): the host's
//! interactive client (run with the instance's connection variables, which carry the
//! password so it never appears in argv), the authenticated client inside the container,
//! and the one-shot query runner.
//!
//! The plugin is called with the host-mapped endpoint; its container shell and query
//! runner connect inside the container the engine's own way (socket, localhost), so only
//! the credentials of that endpoint matter to them.

use crate::commands::Context;
use crate::container::{ContainerBackend, ExecRequest, State};
use crate::output::escape;
use crate::plugin::bindings::ClientCommands;
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};

/// A running instance and how to open its clients.
pub struct Target {
    pub name: String,
    pub container_id: String,
    pub commands: ClientCommands,
    /// The plugin's connection variables (`PGPASSWORD`, `MYSQL_PWD`, `REDISCLI_AUTH`...).
    pub env: Vec<(String, String)>,
}

/// The clients of running instance `name`.
pub async fn target<B: ContainerBackend>(ctx: &Context<B>, name: &str) -> anyhow::Result<Target> {
    let m = ctx.managed(name).await?;
    if m.info.state != State::Running {
        bail!("{name} is not running (start it with `dbarena start {name}`)");
    }
    let at = crate::instance::endpoint(&m.info, &m.record, ctx.backend.client_address())
        .with_context(|| format!("{name} has no published port"))?;
    let plugin = &ctx.registry.get(&m.record.engine)?.plugin;
    let commands = plugin.client(&at)?;
    let env = plugin.connection(&at)?.env;
    Ok(Target {
        name: name.to_string(),
        container_id: m.info.id,
        commands,
        env,
    })
}

/// `program` as found on `PATH`, if it is there and executable (a path with a `/` is
/// taken as is).
pub fn on_path(program: &str) -> Option<PathBuf> {
    fn executable(p: &Path) -> bool {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    if program.contains('/') {
        return Some(PathBuf::from(program)).filter(|p| executable(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

/// The host client's command line with `extra` arguments, when the plugin names one and
/// it is installed.
pub fn host_command(target: &Target, extra: &[String]) -> Option<std::process::Command> {
    let argv = target.commands.host_shell.as_ref()?;
    let program = on_path(&argv[0])?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(&argv[1..]).args(extra).envs(target.env.iter().cloned());
    Some(cmd)
}

/// The exit code a process ended with, as this process should exit with it (signals as
/// 128 + number, as shells do).
pub fn exit_code_of(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code.clamp(0, 255) as u8,
        (None, Some(signal)) => (128 + signal).clamp(0, 255) as u8,
        (None, None) => 1,
    }
}

/// A container command's exit code as this process's (Docker reports -1 and the like for
/// commands that could not start).
pub fn exit_code_from(code: i64) -> u8 {
    if (0..=255).contains(&code) { code as u8 } else { 1 }
}

/// Runs `text` through the plugin's query runner; output and exit code as the client's.
pub async fn query<B: ContainerBackend>(
    backend: &B,
    target: &Target,
    text: &[u8],
) -> anyhow::Result<crate::container::ExecOutput> {
    let Some(step) = &target.commands.query else {
        bail!(
            "the engine of {} has no query runner; use `dbarena shell {}`",
            escape(&target.name),
            escape(&target.name)
        );
    };
    Ok(backend
        .exec(
            &target.container_id,
            &ExecRequest {
                cmd: &step.command,
                env: &step.env,
                stdin: Some(text),
            },
        )
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_path_only_when_executable() {
        assert!(on_path("sh").is_some());
        assert!(on_path("no-such-client-xyz").is_none());
        assert!(on_path("/bin/sh").is_some());
        let plain = tempfile::NamedTempFile::new().unwrap();
        assert!(on_path(plain.path().to_str().unwrap()).is_none());
    }

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_code_of(std::process::ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code_of(std::process::ExitStatus::from_raw(15)), 143);
        assert_eq!(exit_code_from(7), 7);
        assert_eq!(exit_code_from(-1), 1);
        assert_eq!(exit_code_from(300), 1);
    }
}
