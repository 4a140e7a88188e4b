//! Test fixture: a well-formed plugin whose `container-spec` misbehaves when the option
//! `HOSTILE=<behaviour>` is passed. The host must survive each behaviour with a clear error.

use dbarena_plugin_sdk::prelude::*;

struct Hostile;

fn valid_spec(opts: &Options) -> ContainerSpec {
    ContainerSpec {
        image: "hostile:1".into(),
        env: vec![("HOSTILE_OK".into(), "1".into())],
        entrypoint: None,
        cmd: vec![],
        data_paths: vec!["/data".into()],
        tmpfs: vec![],
        memory_limit_bytes: None,
        ports: vec![4242],
        credentials: Credentials {
            user: "u".into(),
            password: opts.password.clone(),
            database: "d".into(),
        },
        readiness: Readiness {
            probes: vec![Probe::LogLine(LogProbe {
                pattern: "ready".into(),
                count: 1,
            })],
            startup_timeout_secs: 10,
        },
    }
}

impl Engine for Hostile {
    fn info() -> EngineInfo {
        EngineInfo {
            id: "hostile".into(),
            display_name: "Hostile fixture".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            description: "misbehaves on request".into(),
            versions: vec![VersionInfo {
                version: "1".into(),
                image_repository: "hostile".into(),
                image_tag: "1".into(),
                aliases: vec![],
            }],
            default_version: "1".into(),
            default_port: 4242,
            documentation_url: "https://example.invalid/hostile".into(),
        }
    }

    fn container_spec(opts: Options) -> Result<ContainerSpec, PluginError> {
        let behaviour = opts.extra.iter().find(|(k, _)| k == "HOSTILE").map(|(_, v)| v.as_str());
        let mut spec = valid_spec(&opts);
        match behaviour {
            None => {}
            Some("loop") => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("memory") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some("giant-string") => spec.image = "x".repeat(8 << 20),
            Some("bad-env") => spec.env.push(("BAD NAME=".into(), "1".into())),
            Some("relative-path") => spec.data_paths = vec!["var/lib/data".into()],
            Some("bad-port") => spec.ports = vec![0],
            Some("panic") => panic!("hostile plugin panicked on purpose"),
            Some(other) => {
                return Err(dbarena_plugin_sdk::field_error(
                    "env",
                    format!("unknown HOSTILE={other}"),
                ));
            }
        }
        Ok(spec)
    }

    fn handshake_step(_ctx: HandshakeContext, _secrets: HandshakeSecrets, _received: Vec<u8>) -> HandshakeOutcome {
        ready_authenticated(None)
    }

    fn connection(at: Endpoint) -> ConnectionInfo {
        ConnectionInfo {
            url: format!("hostile://{}:{}", at.host, at.port),
            env: vec![],
            shell: vec!["sh".into()],
        }
    }
}

register!(Hostile);
