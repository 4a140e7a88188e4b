//! Conversions between bollard's models and the backend's types: a [`ContainerDef`] to a
//! create request, and inspect/list answers to [`ContainerInfo`] (the two carry the same
//! facts in different shapes: a list summary has no start time, its exit code is in text).

use crate::container::{ContainerDef, ContainerInfo, LOG_MAX_FILES, Mount, PublishedPort, State};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryStateEnum, HostConfig, HostConfigLogConfig, MountPoint, MountTmpfsOptions, MountType,
    PortBinding as DockerPortBinding, PortMap,
};
use std::collections::HashMap;
use std::time::Duration;

/// The create request for `def`; `rotate_logs` when the daemon's log driver honours
/// `max-size`/`max-file` (another driver would refuse the options).
pub(super) fn create_body(def: &ContainerDef, rotate_logs: bool) -> ContainerCreateBody {
    let mut exposed_ports: Vec<String> = Vec::new();
    let mut port_bindings: PortMap = HashMap::new();
    for p in &def.ports {
        let key = format!("{}/tcp", p.container_port);
        if !exposed_ports.contains(&key) {
            exposed_ports.push(key.clone());
        }
        port_bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(DockerPortBinding {
                host_ip: Some(p.host_ip.clone()),
                host_port: Some(p.host_port.map(|n| n.to_string()).unwrap_or_default()),
            });
    }
    let mounts = def
        .mounts
        .iter()
        .map(|m| match m {
            Mount::Volume { name, target } => bollard::models::Mount {
                typ: Some(MountType::VOLUME),
                source: Some(name.clone()),
                target: Some(target.clone()),
                ..Default::default()
            },
            Mount::Tmpfs { target, size_bytes } => bollard::models::Mount {
                typ: Some(MountType::TMPFS),
                target: Some(target.clone()),
                tmpfs_options: Some(MountTmpfsOptions {
                    size_bytes: Some(i64::try_from(*size_bytes).unwrap_or(i64::MAX)),
                    ..Default::default()
                }),
                ..Default::default()
            },
        })
        .collect::<Vec<_>>();
    // No driver named: the daemon's own (json-file or local) gets the rotation options.
    let log_config = def
        .log_max_bytes
        .filter(|_| rotate_logs)
        .map(|max| HostConfigLogConfig {
            typ: None,
            config: Some(HashMap::from([
                ("max-size".to_string(), max.max(1).to_string()),
                ("max-file".to_string(), LOG_MAX_FILES.to_string()),
            ])),
        });
    ContainerCreateBody {
        image: Some(def.image.clone()),
        env: Some(def.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        entrypoint: def.entrypoint.clone(),
        cmd: (!def.cmd.is_empty()).then(|| def.cmd.clone()),
        labels: Some(def.labels.clone().into_iter().collect()),
        exposed_ports: Some(exposed_ports),
        host_config: Some(HostConfig {
            port_bindings: Some(port_bindings),
            mounts: Some(mounts),
            memory: def.memory_limit_bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
            log_config,
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn info_from_inspect(c: ContainerInspectResponse) -> ContainerInfo {
    let config = c.config.unwrap_or_default();
    let state = c.state.unwrap_or_default();
    let status = state.status.map_or(State::Unknown, |s| match s {
        ContainerStateStatusEnum::CREATED => State::Created,
        ContainerStateStatusEnum::RUNNING => State::Running,
        ContainerStateStatusEnum::PAUSED => State::Paused,
        ContainerStateStatusEnum::RESTARTING => State::Restarting,
        ContainerStateStatusEnum::REMOVING => State::Removing,
        ContainerStateStatusEnum::EXITED => State::Exited,
        ContainerStateStatusEnum::DEAD => State::Dead,
        ContainerStateStatusEnum::STOPPING => State::Running,
        ContainerStateStatusEnum::EMPTY => State::Unknown,
    });
    let network = c.network_settings.unwrap_or_default();
    // Per network, as Docker and Podman both report it (the default bridge is one).
    let ip_address = network.networks.as_ref().and_then(|n| {
        n.values()
            .filter_map(|n| n.ip_address.clone())
            .find(|ip| !ip.is_empty())
    });
    let ports = network.ports.map(published_ports).unwrap_or_default();
    ContainerInfo {
        id: c.id.unwrap_or_default(),
        name: c
            .name
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default(),
        image: config.image.or(c.image).unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        state: status,
        exit_code: matches!(status, State::Exited | State::Dead)
            .then_some(state.exit_code)
            .flatten(),
        started_at: state.started_at.as_deref().and_then(parse_started_at),
        ports,
        volumes: volume_names(c.mounts.unwrap_or_default()),
        ip_address,
    }
}

/// Built from the list summary: `started_at` is not in it (filled in by the caller for
/// running containers), the exit code is parsed from the status text.
pub(super) fn info_from_summary(c: ContainerSummary) -> ContainerInfo {
    let state = c.state.map_or(State::Unknown, |s| match s {
        ContainerSummaryStateEnum::CREATED => State::Created,
        ContainerSummaryStateEnum::RUNNING => State::Running,
        ContainerSummaryStateEnum::PAUSED => State::Paused,
        ContainerSummaryStateEnum::RESTARTING => State::Restarting,
        ContainerSummaryStateEnum::REMOVING => State::Removing,
        ContainerSummaryStateEnum::EXITED => State::Exited,
        ContainerSummaryStateEnum::DEAD => State::Dead,
        ContainerSummaryStateEnum::STOPPING => State::Running,
        ContainerSummaryStateEnum::EMPTY => State::Unknown,
    });
    let mut ports: Vec<PublishedPort> = Vec::new();
    for p in c.ports.unwrap_or_default() {
        let is_tcp = p.typ.is_none_or(|t| t == bollard::models::PortSummaryTypeEnum::TCP);
        if let (true, Some(host_port)) = (is_tcp, p.public_port) {
            let port = PublishedPort {
                container_port: p.private_port,
                host_ip: p.ip.unwrap_or_default(),
                host_port,
            };
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
    }
    ports.sort_by(|a, b| (a.container_port, &a.host_ip).cmp(&(b.container_port, &b.host_ip)));
    ContainerInfo {
        id: c.id.unwrap_or_default(),
        name: c
            .names
            .and_then(|n| n.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default(),
        image: c.image.unwrap_or_default(),
        labels: c.labels.unwrap_or_default().into_iter().collect(),
        state,
        exit_code: if matches!(state, State::Exited | State::Dead) {
            c.status.as_deref().and_then(exit_code_from_status)
        } else {
            None
        },
        started_at: None,
        ports,
        volumes: volume_names(c.mounts.unwrap_or_default()),
        ip_address: None,
    }
}

/// `"5432/tcp" -> [{HostIp, HostPort}]` as bound by the engine (tcp only, deduplicated).
fn published_ports(map: PortMap) -> Vec<PublishedPort> {
    let mut ports = Vec::new();
    for (key, bindings) in map {
        let Some(container_port) = key.strip_suffix("/tcp").and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        for b in bindings.unwrap_or_default() {
            let Some(host_port) = b.host_port.as_deref().and_then(|p| p.parse::<u16>().ok()) else {
                continue;
            };
            let port = PublishedPort {
                container_port,
                host_ip: b.host_ip.unwrap_or_default(),
                host_port,
            };
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
    }
    ports.sort_by(|a, b| (a.container_port, &a.host_ip).cmp(&(b.container_port, &b.host_ip)));
    ports
}

fn volume_names(mounts: Vec<MountPoint>) -> Vec<String> {
    mounts
        .into_iter()
        .filter(|m| m.typ.as_deref() == Some("volume"))
        .filter_map(|m| m.name)
        .collect()
}

/// RFC 3339 start time; Docker's zero time (`0001-01-01T00:00:00Z`) means never started.
fn parse_started_at(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    (chrono::Datelike::year(&t) > 1).then(|| t.with_timezone(&chrono::Utc))
}

/// `"Exited (137) 5 seconds ago"` -> 137.
fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest[..rest.find(')')?].parse().ok()
}

pub(super) fn secs_i32(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::PortBinding;

    #[test]
    fn create_body_binds_ports_mounts_and_rotates_logs() {
        let def = ContainerDef {
            name: "x".into(),
            image: "redis:7".into(),
            ports: vec![
                PortBinding {
                    container_port: 6379,
                    host_ip: "127.0.0.1".into(),
                    host_port: None,
                },
                PortBinding {
                    container_port: 6379,
                    host_ip: "::1".into(),
                    host_port: Some(7000),
                },
            ],
            mounts: vec![Mount::Tmpfs {
                target: "/t".into(),
                size_bytes: u64::MAX,
            }],
            log_max_bytes: Some(10 << 20),
            ..Default::default()
        };
        let body = create_body(&def, true);
        assert_eq!(body.exposed_ports, Some(vec!["6379/tcp".to_string()]));
        assert_eq!(body.cmd, None, "an empty cmd keeps the image's");
        let host = body.host_config.unwrap();
        let bindings = host.port_bindings.unwrap()["6379/tcp"].clone().unwrap();
        let bound: Vec<_> = bindings
            .iter()
            .map(|b| (b.host_ip.as_deref().unwrap(), b.host_port.as_deref().unwrap()))
            .collect();
        assert_eq!(bound, [("127.0.0.1", ""), ("::1", "7000")]);
        let tmpfs = &host.mounts.unwrap()[0];
        assert_eq!(tmpfs.tmpfs_options.as_ref().unwrap().size_bytes, Some(i64::MAX));
        let log = host.log_config.unwrap();
        assert_eq!(log.typ, None, "the daemon's own driver");
        let config = log.config.unwrap();
        assert_eq!(config["max-size"], "10485760");
        assert_eq!(config["max-file"], LOG_MAX_FILES.to_string());

        assert!(create_body(&def, false).host_config.unwrap().log_config.is_none());
        let unlimited = ContainerDef {
            log_max_bytes: None,
            ..def
        };
        assert!(create_body(&unlimited, true).host_config.unwrap().log_config.is_none());
    }

    #[test]
    fn reads_status_details() {
        assert_eq!(exit_code_from_status("Exited (137) 5 seconds ago"), Some(137));
        assert_eq!(exit_code_from_status("Up 3 minutes"), None);
        assert_eq!(parse_started_at("0001-01-01T00:00:00Z"), None);
        assert!(parse_started_at("2024-05-01T10:00:00.123456789Z").is_some());
    }
}
