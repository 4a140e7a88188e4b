//! `dbarena run ENGINE... -- CMD`: create the instances (in parallel, as `create` does),
//! run CMD with every instance's connection variables in its environment, then destroy
//! them whatever happened (CMD's exit, Ctrl-C, SIGTERM, SIGHUP) and exit with CMD's status.
//!
//! A SIGKILL leaves no chance to clean up: the instances carry this process's lease
//! ([`crate::lease`]), so `gc` removes them once it is gone, and CMD is killed by the
//! kernel when dbarena dies (`PR_SET_PDEATHSIG`).

use super::Context;
use super::create::{Created, create_all};
use crate::cli::RunArgs;
use crate::client::exit_code_of;
use crate::container::ContainerBackend;
use crate::instance::Instance;
use crate::output::{self, escape};
use std::process::ExitCode;
use std::time::Duration;

/// How long the command gets to exit after its signal before it is killed.
const CHILD_GRACE: Duration = Duration::from_secs(10);

pub async fn run<B: ContainerBackend>(ctx: &Context<B>, mut args: RunArgs) -> anyhow::Result<ExitCode> {
    // Kept instances outlive this process by the user's wish: no lease.
    if !args.keep {
        args.create.lease = crate::lease::current();
    }
    // Installed before anything is made, and kept until the clean-up is done: from here
    // on a signal can only end the command, never skip the clean-up.
    let mut signals = crate::signals::Signals::install();
    let (instances, failures) = match create_all(ctx, &args.create, &mut signals).await? {
        Created::Done { instances, failures } => (instances, failures),
        Created::Interrupted(code) => return Ok(ExitCode::from(code)),
    };
    let code = if failures.is_empty() {
        run_child(&args.command, &super::env::merged(&instances), &mut signals).await
    } else {
        for f in &failures {
            eprintln!("error: {}", escape(f));
        }
        Ok(1)
    };
    if args.keep {
        let names: Vec<&str> = instances.iter().map(|i| i.name.as_str()).collect();
        eprintln!("kept {}", names.join(", "));
    } else {
        remove_all(ctx, &instances).await;
    }
    Ok(ExitCode::from(code?))
}

/// Runs `command` with `env` added to this process's environment and returns its exit
/// code. A signal to dbarena is passed on to the command (a Ctrl-C in a terminal reaches
/// it directly too), which then gets [`CHILD_GRACE`] to exit before it is killed; the
/// result is the signal's exit code.
async fn run_child(
    command: &[String],
    env: &[(String, String)],
    signals: &mut crate::signals::Signals,
) -> anyhow::Result<u8> {
    let mut cmd = tokio::process::Command::new(&command[0]);
    cmd.args(&command[1..]).envs(env.iter().cloned()).kill_on_drop(true);
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: between fork and exec only async-signal-safe calls (prctl, getppid).
        unsafe {
            cmd.pre_exec(move || {
                // The command dies with dbarena, even by SIGKILL; CMD's own children are
                // its business (a shell that execs, or traps, passes it on).
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // dbarena died before the prctl: no signal would come.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("dbarena exited"));
                }
                Ok(())
            });
        }
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", escape(&command[0])))?;
    tokio::select! {
        status = child.wait() => Ok(exit_code_of(status?)),
        code = signals.recv() => {
            if let Some(pid) = child.id() {
                // SAFETY: kill(2) on our own child's pid, with a valid signal number.
                unsafe { libc::kill(pid as libc::pid_t, i32::from(code) - 128) };
            }
            if tokio::time::timeout(CHILD_GRACE, child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
            Ok(code)
        }
    }
}

/// Removes the instances `run` made; a persistent one keeps its volume, as with `destroy`.
async fn remove_all<B: ContainerBackend>(ctx: &Context<B>, instances: &[Instance]) {
    for i in instances {
        match ctx.backend.remove_container(&i.container_id).await {
            Ok(()) => {
                crate::template::snapshot::forget_created(&ctx.backend, &i.name).await;
                eprintln!("destroyed {}", i.name)
            }
            Err(e) => output::warn(format_args!("{}: could not remove: {e}", i.name)),
        }
        if i.persistent {
            eprintln!("kept persistent volume(s) {}", i.volumes.join(", "));
        }
    }
}
