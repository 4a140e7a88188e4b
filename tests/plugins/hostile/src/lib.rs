//! Test fixture: a well-formed plugin whose `container-spec` misbehaves when the option
//! `HOSTILE=<behaviour>` is passed. The host must survive each behaviour with a clear error.
//!
//! `info` misbehaves when the marker [`INFO_MODE`] is patched in the component's bytes (tests
//! replace `info-mode:calm.` with `info-mode:panic`): info takes no options. Likewise
//! `connection`, `connection-forms` and `client` (which take no options either) attack the
//! host's processes when [`CLIENT_MODE`] is patched: `client-mode:` then a mode name padded
//! with `_` to the marker's length (see [`host_shell_attack`] and [`env_attack`]).

use dbarena_plugin_sdk::prelude::*;

struct Hostile;

/// Read through `black_box`, so the string stays in the component's data for tests to patch.
static INFO_MODE: &str = "info-mode:calm.";

/// Read through `black_box` like [`INFO_MODE`]; 36 bytes, the mode padded with '_'.
static CLIENT_MODE: &str = "client-mode:calm____________________";

/// The file every host-shell attack tries to create (tests check it never appears).
pub const PWNED: &str = "/tmp/dbarena-hostile-pwned";

fn client_mode() -> &'static str {
    let marker = std::hint::black_box(CLIENT_MODE);
    marker
        .strip_prefix("client-mode:")
        .unwrap_or("calm")
        .trim_end_matches('_')
}

/// The `host-shell` argv of each attack mode: programs, paths, wrappers and interpreters,
/// and real clients with options that run host commands.
pub fn host_shell_attack(mode: &str) -> Option<Vec<String>> {
    let touch = format!("touch {PWNED}");
    let argv: Vec<String> = match mode {
        "abs-sh" => vec!["/bin/sh".into(), "-c".into(), touch],
        "sh" => vec!["sh".into(), "-c".into(), touch],
        "dotdot-sh" => vec!["../../bin/sh".into(), "-c".into(), touch],
        "env-wrapper" => vec!["env".into(), "sh".into(), "-c".into(), touch],
        "bash" => vec!["bash".into(), "-c".into(), touch],
        "python" => vec![
            "python3".into(),
            "-c".into(),
            format!("import os; os.system('{touch}')"),
        ],
        "psql-command" => vec!["psql".into(), "-c".into(), format!("\\! {touch}")],
        "psql-prompt" => vec!["psql".into(), "-v".into(), format!("PROMPT1=%`{touch}`")],
        "mysql-pager" => vec!["mysql".into(), format!("--pager={touch}")],
        "mongosh-eval" => vec![
            "mongosh".into(),
            "--eval".into(),
            format!("require('child_process').execSync('{touch}')"),
        ],
        _ => return None,
    };
    Some(argv)
}

/// The variable each env attack mode exports: names that make shells, the dynamic loader
/// or tools run code.
pub fn env_attack(mode: &str) -> Option<(&'static str, String)> {
    let touch = format!("touch {PWNED}");
    Some(match mode {
        "bash-env" => ("BASH_ENV", PWNED.into()),
        "ld-preload" => ("LD_PRELOAD", "/tmp/evil.so".into()),
        "prompt-command" => ("PROMPT_COMMAND", touch),
        "path" => ("PATH", "/tmp/evil-bin".into()),
        "pip-index" => ("PIP_INDEX_URL", "https://evil.invalid/simple".into()),
        _ => return None,
    })
}

/// Terminal escapes a plugin may try to smuggle out: OSC (set the window title) and CSI.
const ESCAPES: &str = "\x1b]0;pwned\x07\x1b[2J";

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
        // Valid, but the handshake is not first: the conformance suite must say so.
        readiness: Readiness {
            probes: vec![
                Probe::LogLine(LogProbe {
                    pattern: "ready".into(),
                    count: 1,
                }),
                Probe::Handshake(HandshakeProbe {
                    container_port: 4242,
                    description: "hostile handshake".into(),
                }),
            ],
            startup_timeout_secs: 10,
        },
    }
}

impl Engine for Hostile {
    fn info() -> EngineInfo {
        if std::hint::black_box(INFO_MODE) == "info-mode:panic" {
            panic!("hostile plugin panicked in info {ESCAPES}");
        }
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
            // "Ready" on a log line or an exec alone: no proof a client can connect.
            Some("no-handshake") => spec.readiness.probes.truncate(1),
            Some("handshake-off-port") => {
                spec.ports = vec![4242, 4243];
                spec.readiness.probes[1] = Probe::Handshake(HandshakeProbe {
                    container_port: 4243,
                    description: "not the client port".into(),
                });
            }
            // An engine without a network protocol: no ports, so no handshake possible.
            Some("no-network") => {
                spec.ports = vec![];
                spec.readiness.probes = vec![Probe::Exec(ExecProbe {
                    command: vec!["true".into()],
                    expect_output: None,
                })];
            }
            Some("escapes") => spec.credentials.user = format!("user{ESCAPES}"),
            Some("escape-error") => {
                return Err(dbarena_plugin_sdk::field_error("env", format!("refused {ESCAPES}")));
            }
            Some(other) => {
                return Err(dbarena_plugin_sdk::field_error(
                    "env",
                    format!("unknown HOSTILE={other}"),
                ));
            }
        }
        Ok(spec)
    }

    fn handshake_step(ctx: HandshakeContext, _secrets: HandshakeSecrets, _received: Vec<u8>) -> HandshakeOutcome {
        if ctx.credentials.user.starts_with("escape") {
            return HandshakeOutcome::NotYet(format!("still starting {ESCAPES}"));
        }
        ready_authenticated(None)
    }

    fn connection(at: Endpoint) -> ConnectionInfo {
        let url = format!("hostile://{}:{}", at.host, at.port);
        let mut env = vec![("HOSTILE_URL".to_string(), url.clone())];
        if let Some((name, value)) = env_attack(client_mode()) {
            env.push((name.into(), value));
        }
        ConnectionInfo {
            url,
            env,
            shell: vec!["sh".into()],
        }
    }

    fn connection_forms(at: Endpoint) -> Vec<ConnectionForm> {
        // A form whose variable is a shell's start-up file.
        let env_name = match client_mode() {
            "form-bash-env" => "BASH_ENV",
            _ => "HOSTILE_FORM_URL",
        };
        vec![ConnectionForm {
            kind: "hostile".into(),
            env_name: Some(env_name.into()),
            value: format!("hostile-form://{}:{}", at.host, at.port),
        }]
    }

    fn client(_at: Endpoint) -> ClientCommands {
        ClientCommands {
            host_shell: host_shell_attack(client_mode()),
            container_shell: ExecStep {
                description: "interactive client".into(),
                command: vec!["sh".into()],
                env: vec![],
                stdin: None,
            },
            query: None,
        }
    }
}

register!(Hostile);
