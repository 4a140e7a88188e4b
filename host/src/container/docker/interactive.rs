//! A command in a container wired to this process's terminal, like `docker exec -it`:
//! stdin is forwarded, output is written as it arrives, a TTY is allocated on request with
//! the local terminal in raw mode and resized with it, and the command's exit code is
//! returned.

use super::errors::{Subject, map_err};
use super::{DockerBackend, Result};
use bollard::container::LogOutput;
use bollard::exec::{ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use std::io::{IsTerminal, Read, Write};
use tokio::io::AsyncWriteExt;

/// How an attached command meets the terminal.
#[derive(Debug, Clone, Copy)]
pub struct Attach {
    /// Allocate a pseudo-terminal (`-t`).
    pub tty: bool,
    /// Forward this process's stdin (`-i`).
    pub stdin: bool,
}

/// The local terminal in raw mode for as long as this lives (keys go to the container's
/// TTY unprocessed: Ctrl-C reaches the client, not dbarena).
struct RawMode;

impl RawMode {
    fn enable() -> Option<Self> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        crossterm::terminal::enable_raw_mode()
            .map_err(|e| tracing::warn!("cannot put the terminal in raw mode: {e}"))
            .ok()
            .map(|()| RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Stdin read on a plain thread (a blocked read there never holds up the runtime's
/// shutdown), forwarded in chunks; the channel closes at end of input.
fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 8192];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// The local terminal's (columns, rows). One that reports no size (0x0, as under `script`
/// without a terminal) counts as 80x24: at 0 columns line editors ask the terminal for
/// the cursor position and take the user's first keys for the answer.
fn terminal_size() -> (u16, u16) {
    crossterm::terminal::size()
        .ok()
        .filter(|&(w, h)| w > 0 && h > 0)
        .unwrap_or((80, 24))
}

impl DockerBackend {
    /// Runs `cmd` in container `id` attached to this process's stdio and returns its exit
    /// code.
    pub async fn exec_attached(
        &self,
        id: &str,
        cmd: &[String],
        env: &[(String, String)],
        attach: Attach,
    ) -> Result<i64> {
        let config = ExecConfig {
            attach_stdin: Some(attach.stdin),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(attach.tty),
            // Engines with API 1.42+ size the TTY from the start; older ones only once
            // resized below, just after the command started.
            console_size: attach.tty.then(|| {
                let (w, h) = terminal_size();
                vec![usize::from(h), usize::from(w)]
            }),
            cmd: Some(cmd.to_vec()),
            env: (!env.is_empty()).then(|| env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            ..Default::default()
        };
        let created = self
            .writer()
            .create_exec(id, config)
            .await
            .map_err(|e| map_err(e, Subject::Container(id)))?;
        let options = StartExecOptions {
            detach: false,
            tty: attach.tty,
            output_capacity: None,
        };
        let started = self
            .writer()
            .start_exec(&created.id, Some(options))
            .await
            .map_err(|e| map_err(e, Subject::Container(id)))?;
        if let StartExecResults::Attached { mut output, mut input } = started {
            let _raw = if attach.tty { RawMode::enable() } else { None };
            let resize = || async {
                let (width, height) = terminal_size();
                let _ = self
                    .docker
                    .resize_exec(&created.id, ResizeExecOptions { height, width })
                    .await;
            };
            if attach.tty {
                resize().await;
            }
            let forward_stdin = async {
                if attach.stdin {
                    let mut chunks = stdin_chunks();
                    while let Some(chunk) = chunks.recv().await {
                        if input.write_all(&chunk).await.is_err() {
                            return;
                        }
                        let _ = input.flush().await;
                    }
                    // End of input: the command sees EOF.
                    let _ = input.shutdown().await;
                }
                std::future::pending::<()>().await
            };
            let follow_resizes = async {
                use tokio::signal::unix::{SignalKind, signal};
                if attach.tty
                    && let Ok(mut winch) = signal(SignalKind::window_change())
                {
                    while winch.recv().await.is_some() {
                        resize().await;
                    }
                }
                std::future::pending::<()>().await
            };
            let copy_output = async {
                while let Some(chunk) = output.next().await {
                    let chunk = chunk.map_err(|e| map_err(e, Subject::Container(id)))?;
                    let (mut sink, bytes): (Box<dyn Write>, _) = match chunk {
                        LogOutput::StdErr { message } => (Box::new(std::io::stderr()), message),
                        LogOutput::StdOut { message } | LogOutput::Console { message } => {
                            (Box::new(std::io::stdout()), message)
                        }
                        LogOutput::StdIn { .. } => continue,
                    };
                    let _ = sink.write_all(&bytes).and_then(|()| sink.flush());
                }
                Ok::<(), super::BackendError>(())
            };
            tokio::select! {
                copied = copy_output => copied?,
                () = forward_stdin => {}
                () = follow_resizes => {}
            }
        }
        self.exec_exit_code(id, &created.id).await
    }
}
