//! Running plugin-produced [`ExecStep`]s (credential changes, tenant SQL, quiesce, init
//! scripts, pooler reloads) inside an instance's container. Plugins only describe the
//! steps; this is the one place that executes them and turns a failure into an error that
//! names the step and carries the command's (escaped) output.

use crate::container::{ContainerBackend, ExecRequest};
use crate::output::escape;
use crate::plugin::bindings::ExecStep;

/// Output lines of a failed step kept in its error.
const FAILURE_TAIL_LINES: usize = 12;

/// Runs `steps` in order in container `id`, stopping at the first that exits non-zero.
/// `progress` hears each step's description before it runs.
pub async fn run<B: ContainerBackend>(
    backend: &B,
    id: &str,
    steps: &[ExecStep],
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<()> {
    for step in steps {
        run_one(backend, id, step, progress).await?;
    }
    Ok(())
}

/// Runs one step and returns its output when it exits 0.
pub async fn run_one<B: ContainerBackend>(
    backend: &B,
    id: &str,
    step: &ExecStep,
    progress: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<String> {
    progress(escape(&step.description).into_owned());
    let out = backend
        .exec(
            id,
            &ExecRequest {
                cmd: &step.command,
                env: &step.env,
                stdin: step.stdin.as_deref(),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", escape(&step.description)))?;
    if out.exit_code == 0 {
        return Ok(out.output);
    }
    anyhow::bail!(
        "{} failed (exit code {}){}",
        escape(&step.description),
        out.exit_code,
        tail(&out.output)
    )
}

/// The last lines of `output`, escaped, formatted for an error ("" when empty).
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(FAILURE_TAIL_LINES);
    let shown: Vec<String> = lines[start..].iter().map(|l| format!("  | {}", escape(l))).collect();
    format!(":\n{}", shown.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::fake::FakeBackend;
    use crate::container::{ContainerDef, State};

    fn step(description: &str, cmd: &[&str], stdin: Option<&str>) -> ExecStep {
        ExecStep {
            description: description.into(),
            command: cmd.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            stdin: stdin.map(|s| s.as_bytes().to_vec()),
        }
    }

    async fn running(b: &FakeBackend) -> String {
        b.add_image("busybox:latest", &[]);
        let id = b
            .create_container(&ContainerDef {
                name: "steps".into(),
                image: "busybox:latest".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        b.start_container(&id).await.unwrap();
        assert_eq!(b.inspect_container(&id).await.unwrap().state, State::Running);
        id
    }

    #[tokio::test]
    async fn steps_run_in_order_with_stdin_and_stop_at_the_first_failure() {
        let b = FakeBackend::default();
        let id = running(&b).await;
        b.push_exec(&["psql"], 0, "CREATE ROLE\n");
        b.push_exec(&["psql", "-c"], 1, "ERROR:  role \"app\" already exists\n\x1b[31mred\n");
        let seen = std::sync::Mutex::new(Vec::new());
        let err = run(
            &b,
            &id,
            &[
                step("create role app", &["psql"], Some("CREATE ROLE app;")),
                step("grant \x1b]0;x", &["psql", "-c"], None),
                step("never", &["true"], None),
            ],
            &|d| seen.lock().unwrap().push(d),
        )
        .await
        .unwrap_err()
        .to_string();
        assert_eq!(*seen.lock().unwrap(), ["create role app", "grant \\u{1b}]0;x"]);
        assert!(err.starts_with("grant \\u{1b}]0;x failed (exit code 1):"), "{err}");
        assert!(err.contains("role \"app\" already exists"), "{err}");
        assert!(!err.contains('\x1b'), "{err}");
        assert_eq!(b.exec_stdin_of(&id), [Some(b"CREATE ROLE app;".to_vec()), None]);
    }
}
