//! Redis engine plugin, following the official `redis` image: no password env var, so the
//! password goes on the command line with `--requirepass`; data in `/data`.

use dbarena_plugin_sdk::bytes::contains;
use dbarena_plugin_sdk::prelude::*;

struct Redis;

const PORT: u16 = 6379;
const DATA: &str = "/data";

fn version(v: &str, tag: &str, aliases: &[&str]) -> VersionInfo {
    version_info("redis", v, tag, aliases)
}

/// Encodes a command as a RESP array of bulk strings.
fn resp_command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Engine for Redis {
    fn info() -> EngineInfo {
        EngineInfo {
            id: "redis".into(),
            display_name: "Redis".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            description: "In-memory key-value store (official `redis` image)".into(),
            versions: vec![
                version("7", "7", &["7.4"]),
                version("7.2", "7.2", &[]),
                version("8", "8", &["latest"]),
            ],
            default_version: "7".into(),
            default_port: PORT,
            documentation_url: "https://hub.docker.com/_/redis".into(),
        }
    }

    fn container_spec(opts: Options) -> Result<ContainerSpec, PluginError> {
        let info = Self::info();
        let v = find_version(&info, &opts.version)?;
        if let Some(user) = opts.user.as_deref().filter(|u| *u != "default") {
            return Err(dbarena_plugin_sdk::field_error(
                "user",
                format!("Redis authenticates the 'default' user only; drop --user '{user}'"),
            ));
        }
        let database = opts.database.clone().unwrap_or_else(|| "0".into());
        if database.parse::<u8>().map_or(true, |n| n > 15) {
            return Err(dbarena_plugin_sdk::field_error(
                "database",
                format!("Redis databases are numbers 0-15, not '{database}'"),
            ));
        }
        let mut cmd = vec![
            "redis-server".to_string(),
            "--requirepass".into(),
            opts.password.clone(),
        ];
        let ephemeral = !opts.persistent && opts.mode == Mode::Fast;
        if ephemeral {
            cmd.extend(["--save", "", "--appendonly", "no"].map(String::from));
        } else {
            cmd.extend(["--appendonly", "yes"].map(String::from));
        }
        if let Some(limit) = opts.memory_limit_bytes {
            // Leave headroom for the server's own overhead below the container limit.
            cmd.extend(["--maxmemory".to_string(), (limit / 4 * 3).to_string()]);
        }
        // REDIS_<NAME>=<value> becomes `--<name> <value>`; anything else is plain container
        // env (Redis reads none, but images and wrappers may).
        let mut env = Env::new();
        for (key, value) in &opts.extra {
            match key.strip_prefix("REDIS_") {
                Some(setting) => {
                    cmd.push(format!("--{}", setting.to_ascii_lowercase().replace('_', "-")));
                    cmd.push(value.clone());
                }
                None => env = env.set(key, value.clone()),
            }
        }
        Ok(ContainerSpec {
            image: format!("{}:{}", v.image_repository, v.image_tag),
            env: env.build(),
            entrypoint: None,
            cmd,
            data_paths: vec![DATA.into()],
            tmpfs: Vec::new(),
            memory_limit_bytes: opts.memory_limit_bytes,
            ports: vec![PORT],
            credentials: Credentials {
                user: "default".into(),
                password: opts.password,
                database,
            },
            readiness: Readiness {
                probes: vec![Probe::Handshake(HandshakeProbe {
                    container_port: PORT,
                    description: "AUTH + PING".into(),
                })],
                startup_timeout_secs: 30,
            },
        })
    }

    fn settings() -> Vec<Setting> {
        let setting = |name: &str, description: &str, default: &str, example: &str| Setting {
            name: name.into(),
            description: description.into(),
            default_value: Some(default.into()),
            example: Some(example.into()),
        };
        // Any REDIS_<NAME>=<value> becomes `--<name> <value>`; these are the common ones.
        vec![
            setting(
                "REDIS_MAXMEMORY_POLICY",
                "eviction policy when maxmemory is reached (`--maxmemory-policy`)",
                "noeviction",
                "allkeys-lru",
            ),
            setting(
                "REDIS_DATABASES",
                "number of logical databases (`--databases`)",
                "16",
                "32",
            ),
            setting(
                "REDIS_APPENDFSYNC",
                "how often the append-only file is fsynced (`--appendfsync`)",
                "everysec",
                "always",
            ),
            setting(
                "REDIS_LOGLEVEL",
                "server log verbosity (`--loglevel`)",
                "notice",
                "debug",
            ),
        ]
    }

    fn handshake_start(ctx: HandshakeContext) -> Vec<u8> {
        let mut out = resp_command(&["AUTH", &ctx.credentials.password]);
        out.extend(resp_command(&["PING"]));
        out
    }

    fn handshake_step(_ctx: HandshakeContext, received: Vec<u8>) -> HandshakeVerdict {
        judge_replies(&received)
    }

    fn connection(at: Endpoint) -> ConnectionInfo {
        let c = &at.credentials;
        ConnectionInfo {
            url: format!(
                // redis-cli sends `AUTH "" pass` for an empty user, so name `default`.
                "redis://{}:{}@{}:{}/{}",
                percent_encode(&c.user),
                percent_encode(&c.password),
                at.host,
                at.port,
                c.database
            ),
            env: vec![
                ("REDIS_HOST".into(), at.host.clone()),
                ("REDIS_PORT".into(), at.port.to_string()),
                ("REDISCLI_AUTH".into(), c.password.clone()),
            ],
            shell: vec!["redis-cli".into(), "-n".into(), c.database.clone()],
        }
    }
}

/// Judges the replies to `AUTH` and `PING`. `redis-cli ping` exits 0 on `-LOADING`, so the
/// reply text is what counts: only `+OK` followed by `+PONG` means ready.
fn judge_replies(received: &[u8]) -> HandshakeVerdict {
    let mut lines = received.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let complete = received.iter().filter(|&&b| b == b'\n').count();
    let first = lines.next();
    if let Some(line) = first.filter(|l| l.starts_with(b"-")) {
        let text = String::from_utf8_lossy(line).trim().to_string();
        if contains(line, b"LOADING") || contains(line, b"BUSY") || contains(line, b"MASTERDOWN") {
            return HandshakeVerdict::NotYet(text);
        }
        return HandshakeVerdict::Failed(text);
    }
    if complete < 2 {
        return HandshakeVerdict::NeedMore;
    }
    let second = lines.next().unwrap_or_default();
    match (first.unwrap_or_default().trim_ascii(), second.trim_ascii()) {
        (b"+OK", b"+PONG") => HandshakeVerdict::Ready,
        (_, reply) if contains(reply, b"LOADING") => {
            HandshakeVerdict::NotYet(String::from_utf8_lossy(reply).into_owned())
        }
        (a, b) => HandshakeVerdict::Failed(format!(
            "unexpected replies to AUTH/PING: {:?} {:?}",
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b)
        )),
    }
}

register!(Redis);

#[cfg(test)]
mod tests {
    use super::*;
    use dbarena_plugin_sdk::testing;

    fn ctx() -> HandshakeContext {
        testing::context(
            Credentials {
                user: "default".into(),
                password: "s3cr et".into(),
                database: "0".into(),
            },
            PORT,
        )
    }

    fn opts() -> Options {
        testing::options("pw")
    }

    #[test]
    fn start_sends_auth_then_ping_as_resp_arrays() {
        assert_eq!(
            Redis::handshake_start(ctx()),
            b"*2\r\n$4\r\nAUTH\r\n$7\r\ns3cr et\r\n*1\r\n$4\r\nPING\r\n".to_vec()
        );
    }

    #[test]
    fn ok_then_pong_is_ready_and_partial_reply_needs_more() {
        assert_eq!(judge_replies(b"+OK\r\n+PONG\r\n"), HandshakeVerdict::Ready);
        assert_eq!(judge_replies(b"+OK\r\n"), HandshakeVerdict::NeedMore);
        assert_eq!(judge_replies(b"+OK\r\n+PO"), HandshakeVerdict::NeedMore);
        assert_eq!(judge_replies(b""), HandshakeVerdict::NeedMore);
    }

    #[test]
    fn loading_is_not_yet_and_auth_errors_fail() {
        let loading = b"-LOADING Redis is loading the dataset in memory\r\n";
        assert!(matches!(judge_replies(loading), HandshakeVerdict::NotYet(_)));
        assert!(matches!(
            judge_replies(b"+OK\r\n-LOADING Redis is loading\r\n"),
            HandshakeVerdict::NotYet(_)
        ));
        let wrongpass = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
        assert!(matches!(judge_replies(wrongpass), HandshakeVerdict::Failed(_)));
        let noauth = b"+OK\r\n-NOAUTH Authentication required.\r\n";
        assert!(matches!(judge_replies(noauth), HandshakeVerdict::Failed(_)));
    }

    #[test]
    fn fast_mode_disables_persistence_and_durable_enables_aof() {
        let spec = Redis::container_spec(opts()).unwrap();
        assert_eq!(spec.image, "redis:7");
        assert!(spec.cmd.windows(2).any(|w| w == ["--save", ""]));
        let durable = Redis::container_spec(Options {
            mode: Mode::Durable,
            ..opts()
        })
        .unwrap();
        assert!(durable.cmd.windows(2).any(|w| w == ["--appendonly", "yes"]));
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let err = Redis::container_spec(Options {
            database: Some("16".into()),
            ..opts()
        })
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("database"));
        let err = Redis::container_spec(Options {
            version: "5".into(),
            ..opts()
        })
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("version"));
        let err = Redis::container_spec(Options {
            user: Some("bob".into()),
            ..opts()
        })
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("user"));
    }

    #[test]
    fn url_percent_encodes_the_password() {
        let info = Redis::connection(Endpoint {
            host: "127.0.0.1".into(),
            port: 6390,
            credentials: ctx().credentials,
        });
        assert_eq!(info.url, "redis://default:s3cr%20et@127.0.0.1:6390/0");
    }
}
