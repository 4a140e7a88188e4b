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
use crate::plugin::host_process;
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

/// `program` as found on `PATH`, if it is there and executable. A name with a `/` is never
/// looked up: what runs on the host is found on the user's own `PATH` only.
pub fn on_path(program: &str) -> Option<PathBuf> {
    fn executable(p: &Path) -> bool {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    if program.is_empty() || program.contains('/') {
        return None;
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

/// The host client's command line with `extra` arguments (the user's own), when the plugin
/// names one and it is installed. The plugin's argv and variable names were checked when
/// the plugin returned them; they are checked again here, at the point of running, so no
/// other path to this function can run a program a plugin chose
/// (see [`crate::plugin::host_process`]).
pub fn host_command(target: &Target, extra: &[String]) -> anyhow::Result<Option<std::process::Command>> {
    let Some(argv) = target.commands.host_shell.as_ref() else {
        return Ok(None);
    };
    host_process::host_client(argv).map_err(|e| anyhow::anyhow!("{}: {e}", escape(&target.name)))?;
    for (name, _) in &target.env {
        host_process::connection_variable(name).map_err(|e| anyhow::anyhow!("{}: {e}", escape(&target.name)))?;
    }
    let Some(program) = on_path(&argv[0]) else {
        return Ok(None);
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(&argv[1..]).args(extra).envs(target.env.iter().cloned());
    Ok(Some(cmd))
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
        // Paths are never taken as they are, executable or not.
        assert!(on_path("/bin/sh").is_none());
        assert!(on_path("../../bin/sh").is_none());
        assert!(on_path("").is_none());
    }

    fn target(argv: &[&str], env: &[(&str, &str)]) -> Target {
        Target {
            name: "victim".into(),
            container_id: "c".into(),
            commands: ClientCommands {
                host_shell: Some(argv.iter().map(|s| s.to_string()).collect()),
                container_shell: crate::plugin::bindings::ExecStep {
                    description: "shell".into(),
                    command: vec!["sh".into()],
                    env: vec![],
                    stdin: None,
                },
                query: None,
            },
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    /// A host shell that got past the plugin boundary some other way still cannot run: the
    /// file the attack creates never appears.
    #[test]
    fn a_hostile_host_shell_never_runs() {
        let dir = tempfile::tempdir().unwrap();
        let pwned = dir.path().join("pwned");
        let touch = format!("touch {}", pwned.display());
        for argv in [
            vec!["/bin/sh", "-c", &touch],
            vec!["sh", "-c", &touch],
            vec!["../../bin/sh", "-c", &touch],
            vec!["env", "sh", "-c", &touch],
            vec!["bash", "-c", &touch],
            vec!["python3", "-c", &touch],
            vec!["psql", "-c", &touch],
        ] {
            let t = target(&argv, &[]);
            let err = host_command(&t, &[])
                .err()
                .unwrap_or_else(|| panic!("{argv:?} allowed"));
            assert!(err.to_string().contains("host shell"), "{err}");
        }
        // A known client with a variable that makes shells it starts run a file.
        let t = target(&["psql", "postgresql://u@h:1/d"], &[("BASH_ENV", "/tmp/x")]);
        assert!(host_command(&t, &[]).unwrap_err().to_string().contains("BASH_ENV"));
        assert!(!pwned.exists(), "an attack ran");
        // The user's own arguments are theirs.
        let t = target(&["psql", "postgresql://u@h:1/d"], &[("PGPASSWORD", "x")]);
        assert!(host_command(&t, &["-c".into(), "select 1".into()]).is_ok());
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
