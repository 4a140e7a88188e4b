//! `dbarena gc` and the reaping every command does: instances created with `--ttl` whose
//! time has passed are destroyed, and so are those a `dbarena run` made whose process is
//! gone (killed before it could clean up: its lease, [`crate::lease`], has no holder on
//! this machine). `gc` takes every such one (a persistent instance's volume is kept, as
//! with `destroy`); the reap before other commands only takes ephemeral ones, with two
//! Docker calls when there is nothing to take.

use super::Context;
use super::context::Managed;
use crate::cli::GcArgs;
use crate::container::ContainerBackend;
use crate::instance::{InstanceRecord, record};
use crate::output::print_json;
use std::process::ExitCode;

/// The dbarena containers matching the label `filter` whose record passes `keep`.
async fn managed_where<B: ContainerBackend>(
    backend: &B,
    filter: String,
    keep: impl Fn(&InstanceRecord) -> bool,
) -> anyhow::Result<Vec<Managed>> {
    let listed = backend.list_containers(&[record::managed_filter(), filter]).await?;
    Ok(listed
        .into_iter()
        .filter_map(|info| {
            let record = InstanceRecord::from_labels(&info.labels).ok()?;
            keep(&record).then_some(Managed { info, record })
        })
        .collect())
}

/// Instances whose expiry has passed, by `now` (Unix seconds).
async fn expired<B: ContainerBackend>(backend: &B, now: i64) -> anyhow::Result<Vec<Managed>> {
    managed_where(backend, record::expiring_filter(), |r| {
        r.expires_at.is_some_and(|at| at <= now)
    })
    .await
}

/// Instances whose `dbarena run` process is gone.
async fn abandoned<B: ContainerBackend>(backend: &B) -> anyhow::Result<Vec<Managed>> {
    managed_where(backend, record::leased_filter(), is_abandoned).await
}

/// Whether `record`'s instance was made by a `dbarena run` that is gone.
pub(crate) fn is_abandoned(record: &InstanceRecord) -> bool {
    record
        .lease
        .as_deref()
        .is_some_and(|l| crate::lease::holder(l) == crate::lease::Holder::Gone)
}

/// Why an instance is collected, for messages.
fn reason(m: &Managed) -> &'static str {
    if is_abandoned(&m.record) {
        "its dbarena run is gone"
    } else {
        "expired"
    }
}

/// Every instance to collect at `now`: the expired ones, then those of gone runs.
async fn collectable<B: ContainerBackend>(backend: &B, now: i64) -> anyhow::Result<Vec<Managed>> {
    let mut all = expired(backend, now).await?;
    for m in abandoned(backend).await? {
        if !all.iter().any(|e| e.info.id == m.info.id) {
            all.push(m);
        }
    }
    Ok(all)
}

/// Removes `m`'s container; its named volumes stay, and a persistent server is shut down
/// cleanly first, as `destroy` does.
async fn remove<B: ContainerBackend>(backend: &B, m: &Managed) -> bool {
    if m.record.persistent && m.info.state == crate::container::State::Running {
        let _ = backend
            .stop_container(&m.info.id, std::time::Duration::from_secs(30))
            .await;
    }
    match backend.remove_container(&m.info.id).await {
        Ok(()) => {
            crate::template::snapshot::forget_created(backend, &m.record.name).await;
            true
        }
        Err(e) => {
            crate::output::warn(format_args!(
                "{}: could not remove the instance ({}): {e}",
                m.record.name,
                reason(m)
            ));
            false
        }
    }
}

pub async fn run<B: ContainerBackend>(ctx: &Context<B>, args: &GcArgs) -> anyhow::Result<ExitCode> {
    let (removed, failed) = collect(&ctx.backend).await?;
    if args.json {
        let names: Vec<&str> = removed.iter().map(|(n, _)| n.as_str()).collect();
        print_json(&serde_json::json!({ "destroyed": names }))?;
    } else {
        for (name, why) in &removed {
            println!("destroyed {name} ({why})");
        }
        if removed.is_empty() && !failed {
            println!("nothing has expired");
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Destroys every collectable instance: the names destroyed with why, and whether any
/// removal failed.
async fn collect<B: ContainerBackend>(backend: &B) -> anyhow::Result<(Vec<(String, &'static str)>, bool)> {
    let mut removed = Vec::new();
    let mut failed = false;
    for m in collectable(backend, chrono::Utc::now().timestamp()).await? {
        if remove(backend, &m).await {
            removed.push((m.record.name.clone(), reason(&m)));
        } else {
            failed = true;
        }
    }
    Ok((removed, failed))
}

/// Destroys collectable ephemeral instances, quietly but for one line each on stderr; a
/// failure here never stops the command the user ran.
pub async fn reap<B: ContainerBackend>(backend: &B) {
    let Ok(found) = collectable(backend, chrono::Utc::now().timestamp()).await else {
        return;
    };
    for m in found.iter().filter(|m| !m.record.persistent) {
        if remove(backend, m).await {
            match reason(m) {
                "expired" => eprintln!("note: destroyed expired instance {}", m.record.name),
                why => eprintln!("note: destroyed instance {} ({why})", m.record.name),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::ContainerDef;
    use crate::container::fake::FakeBackend;

    async fn add(b: &FakeBackend, name: &str, expires_at: Option<i64>, persistent: bool) {
        add_leased(b, name, expires_at, persistent, None).await
    }

    async fn add_leased(b: &FakeBackend, name: &str, expires_at: Option<i64>, persistent: bool, lease: Option<String>) {
        let mut record = crate::instance::record::tests::sample();
        record.name = name.into();
        record.expires_at = expires_at;
        record.persistent = persistent;
        record.lease = lease;
        b.add_image(&record.image, &[]);
        b.create_container(&ContainerDef {
            name: name.into(),
            image: record.image.clone(),
            labels: record.container_labels(None),
            ..Default::default()
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn only_expired_instances_are_reaped_and_persistent_ones_only_by_gc() {
        let b = FakeBackend::default();
        let now = chrono::Utc::now().timestamp();
        add(&b, "old", Some(now - 5), false).await;
        add(&b, "old-kept", Some(now - 5), true).await;
        add(&b, "young", Some(now + 3600), false).await;
        add(&b, "forever", None, false).await;
        reap(&b).await;
        let left = |b: &FakeBackend| {
            ["old", "old-kept", "young", "forever"]
                .into_iter()
                .filter(|n| {
                    futures_util::FutureExt::now_or_never(b.inspect_container(n))
                        .unwrap()
                        .is_ok()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(left(&b), ["old-kept", "young", "forever"]);
        assert_eq!(
            collect(&b).await.unwrap(),
            (vec![("old-kept".to_string(), "expired")], false)
        );
        assert_eq!(left(&b), ["young", "forever"]);
    }

    #[tokio::test]
    async fn instances_of_a_gone_run_are_collected_and_a_live_runs_kept() {
        let Some(mine) = crate::lease::current() else { return };
        // A process that has exited and been reaped: its lease has no holder.
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let gone = {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
            let start = stat[stat.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .nth(19)
                .unwrap()
                .to_string();
            let me = std::process::id().to_string();
            mine.replace(&format!("pid={me},"), &format!("pid={},", child.id()))
                .rsplit_once("start=")
                .map(|(head, _)| format!("{head}start={start}"))
                .unwrap()
        };
        child.kill().unwrap();
        child.wait().unwrap();
        let b = FakeBackend::default();
        add_leased(&b, "left", None, false, Some(gone.clone())).await;
        add_leased(&b, "left-kept", None, true, Some(gone)).await;
        add_leased(&b, "live", None, false, Some(mine)).await;
        reap(&b).await;
        let exists = |n: &str| {
            futures_util::FutureExt::now_or_never(b.inspect_container(n))
                .unwrap()
                .is_ok()
        };
        assert!(!exists("left") && exists("left-kept") && exists("live"));
        assert_eq!(
            collect(&b).await.unwrap(),
            (vec![("left-kept".to_string(), "its dbarena run is gone")], false)
        );
        assert!(exists("live"));
    }
}
