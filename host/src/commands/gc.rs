//! `dbarena gc` and the reaping every command does: instances created with `--ttl` whose
//! time has passed are destroyed. `gc` takes every expired one (a persistent instance's
//! volume is kept, as with `destroy`); the reap before other commands only takes ephemeral
//! ones, with one Docker call when nothing has expired.

use super::Context;
use super::context::Managed;
use crate::cli::GcArgs;
use crate::container::ContainerBackend;
use crate::instance::{InstanceRecord, record};
use crate::output::print_json;
use std::process::ExitCode;

/// Instances whose expiry has passed, by `now` (Unix seconds).
async fn expired<B: ContainerBackend>(backend: &B, now: i64) -> anyhow::Result<Vec<Managed>> {
    let listed = backend
        .list_containers(&[record::managed_filter(), record::expiring_filter()])
        .await?;
    Ok(listed
        .into_iter()
        .filter_map(|info| {
            let record = InstanceRecord::from_labels(&info.labels).ok()?;
            record
                .expires_at
                .is_some_and(|at| at <= now)
                .then_some(Managed { info, record })
        })
        .collect())
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
                "{}: could not remove the expired instance: {e}",
                m.record.name
            ));
            false
        }
    }
}

pub async fn run<B: ContainerBackend>(ctx: &Context<B>, args: &GcArgs) -> anyhow::Result<ExitCode> {
    let (removed, failed) = collect(&ctx.backend).await?;
    if args.json {
        print_json(&serde_json::json!({ "destroyed": removed }))?;
    } else {
        for name in &removed {
            println!("destroyed {name} (expired)");
        }
        if removed.is_empty() && !failed {
            println!("nothing has expired");
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Destroys every expired instance: the names destroyed, and whether any removal failed.
async fn collect<B: ContainerBackend>(backend: &B) -> anyhow::Result<(Vec<String>, bool)> {
    let mut removed = Vec::new();
    let mut failed = false;
    for m in expired(backend, chrono::Utc::now().timestamp()).await? {
        if remove(backend, &m).await {
            removed.push(m.record.name.clone());
        } else {
            failed = true;
        }
    }
    Ok((removed, failed))
}

/// Destroys expired ephemeral instances, quietly but for one line each on stderr; a
/// failure here never stops the command the user ran.
pub async fn reap<B: ContainerBackend>(backend: &B) {
    let Ok(expired) = expired(backend, chrono::Utc::now().timestamp()).await else {
        return;
    };
    for m in expired.iter().filter(|m| !m.record.persistent) {
        if remove(backend, m).await {
            eprintln!("note: destroyed expired instance {}", m.record.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::ContainerDef;
    use crate::container::fake::FakeBackend;

    async fn add(b: &FakeBackend, name: &str, expires_at: Option<i64>, persistent: bool) {
        let mut record = crate::instance::record::tests::sample();
        record.name = name.into();
        record.expires_at = expires_at;
        record.persistent = persistent;
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
        assert_eq!(collect(&b).await.unwrap(), (vec!["old-kept".to_string()], false));
        assert_eq!(left(&b), ["young", "forever"]);
    }
}
