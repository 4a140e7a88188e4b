//! Redis engine plugin, following the official `redis` image: no password env var, so the
//! password goes on the command line with `--requirepass`; data in `/data`.
//!
//! Readiness sends `AUTH default <password>` and `PING` in one write: `+OK` then `+PONG`
//! means the printed URL works; a wrong password fails with the server's message.

use dbarena_plugin_sdk::bytes::not_protocol;
use dbarena_plugin_sdk::prelude::*;

mod tenant;

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
            return Err(field_error(
                "user",
                format!("Redis authenticates the 'default' user only; drop --user '{user}'"),
            ));
        }
        let database = opts.database.clone().unwrap_or_else(|| "0".into());
        if database.parse::<u8>().map_or(true, |n| n > 15) {
            return Err(field_error(
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
            image: image(v),
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

    /// `/data`. An ephemeral server keeps everything in memory, so a snapshot first has it
    /// `SAVE` an RDB file (written atomically, loaded at the next start); with the
    /// append-only file, written at every command, the host's frozen copy holds it all.
    fn data_plan(opts: Options) -> Option<DataPlan> {
        let ephemeral = !opts.persistent && opts.mode == Mode::Fast;
        let spec = Self::container_spec(opts).ok()?;
        let quiesce = if ephemeral {
            vec![ExecStep {
                description: "save the data set (SAVE)".into(),
                command: ["redis-cli", "--no-auth-warning", "SAVE"].map(String::from).to_vec(),
                // The password through the environment, never in argv.
                env: vec![("REDISCLI_AUTH".into(), spec.credentials.password.clone())],
                stdin: None,
            }]
        } else {
            Vec::new()
        };
        Some(DataPlan {
            paths: spec.data_paths,
            quiesce,
        })
    }

    /// Nothing to run: the password is `--requirepass` on the server's command line, not in
    /// the data, so a server started from any data answers only the instance's own.
    fn apply_credentials(_template: Credentials, wanted: Credentials) -> Result<Vec<ExecStep>, PluginError> {
        if wanted.password.is_empty() {
            return Err(field_error("password", "must not be empty"));
        }
        Ok(Vec::new())
    }

    /// `AUTH <user> <password>` (the ACL form, Redis 6+) and `PING`, pipelined.
    fn handshake_start(ctx: HandshakeContext, _secrets: HandshakeSecrets) -> Vec<u8> {
        let c = &ctx.credentials;
        let mut out = resp_command(&["AUTH", &c.user, &c.password]);
        out.extend(resp_command(&["PING"]));
        out
    }

    fn handshake_step(_ctx: HandshakeContext, _secrets: HandshakeSecrets, received: Vec<u8>) -> HandshakeOutcome {
        judge_replies(&received)
    }

    /// `redis-cli` reads the password from `REDISCLI_AUTH` (never argv), the user from
    /// `--user`. Query text on stdin is one command a line; `-e` makes an error reply exit
    /// non-zero.
    fn client(at: Endpoint) -> ClientCommands {
        let c = &at.credentials;
        let base = |extra: &[&str]| -> Vec<String> {
            let mut argv: Vec<String> = vec!["redis-cli".into(), "--user".into(), c.user.clone()];
            argv.extend(extra.iter().map(|s| s.to_string()));
            argv.extend(["-n".into(), c.database.clone()]);
            argv
        };
        let step = |description: &str, command: Vec<String>| ExecStep {
            description: description.into(),
            command,
            env: vec![("REDISCLI_AUTH".into(), c.password.clone())],
            stdin: None,
        };
        let port = at.port.to_string();
        // In pipe mode redis-cli exits 0 after error replies (`-e` applies to argv commands
        // only), so the query runs with `--no-raw`, where an error reply, and only an
        // error reply, prints as a line starting `(error) ` (a string value shows quoted),
        // and the wrapper turns such a line into exit code 1. The client's arguments
        // reach the script as "$@", never as script text.
        let mut query = vec!["sh".to_string(), "-c".into(), QUERY_WRAPPER.into(), "sh".into()];
        query.extend(base(&["--no-raw"]));
        ClientCommands {
            host_shell: Some(base(&["-h", &at.host, "-p", &port])),
            container_shell: step("redis-cli", base(&[])),
            query: Some(step("query", query)),
        }
    }

    /// Redis has no init directory: `*.redis` files (one command a line) go through the
    /// query runner.
    fn init_support() -> Option<InitSupport> {
        Some(InitSupport {
            directory: None,
            suffixes: vec![".redis".into()],
        })
    }

    fn connection(at: Endpoint) -> ConnectionInfo {
        let c = &at.credentials;
        let url = format!(
            // redis-cli sends `AUTH "" pass` for an empty user, so name `default`.
            "redis://{}:{}@{}:{}/{}",
            percent_encode(&c.user),
            percent_encode(&c.password),
            url_host(&at.host),
            at.port,
            c.database
        );
        ConnectionInfo {
            url: url.clone(),
            env: vec![
                // Read by redis-py `from_url`/ioredis setups, Sidekiq, Celery configs, Heroku.
                ("REDIS_URL".into(), url.clone()),
                ("REDIS_HOST".into(), at.host.clone()),
                ("REDIS_PORT".into(), at.port.to_string()),
                ("REDISCLI_AUTH".into(), c.password.clone()),
            ],
            shell: vec!["redis-cli".into(), "-n".into(), c.database.clone()],
        }
    }

    /// An ACL user confined to the key prefix `DATABASE:` (see `tenant`); no pooler.
    fn tenant_steps(server: Credentials, t: Tenant, action: TenantAction) -> Result<Vec<ExecStep>, PluginError> {
        tenant::steps(server, t, action)
    }

    fn tenant_connection(_pooled: Option<Endpoint>, direct: Endpoint) -> ConnectionInfo {
        tenant::connection(direct)
    }
}

/// Runs the client ("$@") on stdin, prints its output, and fails when it failed or printed
/// an error reply.
const QUERY_WRAPPER: &str = r#"out=$("$@"); status=$?; printf '%s\n' "$out"; [ "$status" -eq 0 ] || exit "$status"; if printf '%s\n' "$out" | grep -q '^(error) '; then exit 1; fi"#;

/// Judges the replies to `AUTH` and `PING`, one RESP line each. `redis-cli ping` exits 0 on
/// `-LOADING`, so the reply text is what counts: only `+OK` followed by `+PONG` means ready
/// (authenticated; the server version is not part of this exchange).
///
/// - `-LOADING` (dataset loading), `-BUSY` (script running), `-MASTERDOWN`: not yet.
/// - Any other error (`-WRONGPASS`, `-NOAUTH`, `-ERR ...`): failed with the server's text.
/// - A line that is not a RESP simple string or error: not Redis.
fn judge_replies(received: &[u8]) -> HandshakeOutcome {
    let mut replies = Vec::new();
    let mut rest = received;
    while replies.len() < 2 {
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            break;
        };
        let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
        rest = &rest[end + 1..];
        replies.push(line);
    }
    // Judge complete lines as they come: an error to AUTH needs no PING reply.
    let partial = rest.iter().take(16).copied().collect::<Vec<u8>>();
    for (i, line) in replies.iter().enumerate() {
        let text = String::from_utf8_lossy(line).into_owned();
        match line.first() {
            Some(b'-') => {
                let message = text[1..].to_string();
                if ["LOADING", "BUSY", "MASTERDOWN"].iter().any(|w| message.starts_with(w)) {
                    return HandshakeOutcome::NotYet(message);
                }
                return HandshakeOutcome::Failed(message);
            }
            Some(b'+') if *line == [b"+OK".as_slice(), b"+PONG"][i] => {}
            Some(b'+') => {
                return HandshakeOutcome::Failed(format!("unexpected reply to {}: {text}", ["AUTH", "PING"][i]));
            }
            _ => return not_protocol("Redis reply", received),
        }
    }
    match replies.len() {
        2 => ready_authenticated(None),
        // A partial line that cannot start a RESP reply is not Redis.
        _ if !partial.is_empty() && replies.is_empty() && !matches!(partial[0], b'+' | b'-') => {
            not_protocol("Redis reply", received)
        }
        _ => HandshakeOutcome::NeedMore,
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
    fn data_plan_saves_an_ephemeral_server_and_stops_an_append_only_one() {
        let plan = Redis::data_plan(opts()).unwrap();
        assert_eq!(plan.paths, [DATA]);
        assert_eq!(plan.quiesce.len(), 1);
        assert_eq!(plan.quiesce[0].command.last().unwrap(), "SAVE");
        assert_eq!(plan.quiesce[0].env, [("REDISCLI_AUTH".to_string(), "pw".to_string())]);
        let durable = Options {
            persistent: true,
            ..opts()
        };
        assert!(Redis::data_plan(durable).unwrap().quiesce.is_empty());
    }

    #[test]
    fn credentials_live_on_the_command_line_so_nothing_is_applied() {
        let c = |p: &str| Credentials {
            user: "default".into(),
            password: p.into(),
            database: "0".into(),
        };
        assert!(Redis::apply_credentials(c("t"), c("a'b\"c;--")).unwrap().is_empty());
        assert!(Redis::apply_credentials(c("t"), c("")).is_err());
    }

    #[test]
    fn start_sends_auth_then_ping_as_resp_arrays() {
        assert_eq!(
            Redis::handshake_start(ctx(), testing::secrets()),
            b"*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$7\r\ns3cr et\r\n*1\r\n$4\r\nPING\r\n".to_vec()
        );
    }

    fn judge(bytes: &[u8]) -> HandshakeOutcome {
        Redis::handshake_step(ctx(), testing::secrets(), bytes.to_vec())
    }

    #[test]
    fn ok_then_pong_is_ready_and_partial_reply_needs_more() {
        assert_eq!(judge(b"+OK\r\n+PONG\r\n"), ready_authenticated(None));
        assert_eq!(judge(b"+OK\r\n"), HandshakeOutcome::NeedMore);
        assert_eq!(judge(b"+OK\r\n+PO"), HandshakeOutcome::NeedMore);
        assert_eq!(judge(b"+O"), HandshakeOutcome::NeedMore);
        assert_eq!(judge(b""), HandshakeOutcome::NeedMore);
    }

    #[test]
    fn loading_is_not_yet_and_auth_errors_fail_with_the_server_message() {
        let loading = b"-LOADING Redis is loading the dataset in memory\r\n";
        assert_eq!(
            judge(loading),
            HandshakeOutcome::NotYet("LOADING Redis is loading the dataset in memory".into())
        );
        assert!(matches!(
            judge(b"+OK\r\n-LOADING Redis is loading\r\n"),
            HandshakeOutcome::NotYet(_)
        ));
        assert!(matches!(
            judge(b"-BUSY Redis is busy running a script\r\n"),
            HandshakeOutcome::NotYet(_)
        ));
        let wrongpass =
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n-NOAUTH Authentication required.\r\n";
        assert_eq!(
            judge(wrongpass),
            HandshakeOutcome::Failed("WRONGPASS invalid username-password pair or user is disabled.".into())
        );
        // The AUTH error alone is enough; the PING reply need not arrive.
        let first_line = wrongpass.iter().position(|&b| b == b'\n').unwrap() + 1;
        assert!(matches!(judge(&wrongpass[..first_line]), HandshakeOutcome::Failed(m) if m.starts_with("WRONGPASS")));
        assert_eq!(judge(&wrongpass[..first_line - 2]), HandshakeOutcome::NeedMore);
        assert!(matches!(
            judge(b"+OK\r\n-NOAUTH Authentication required.\r\n"),
            HandshakeOutcome::Failed(_)
        ));
        assert!(
            matches!(judge(b"-ERR unknown command 'AUTH'\r\n"), HandshakeOutcome::Failed(m) if m.starts_with("ERR"))
        );
    }

    #[test]
    fn garbage_fails() {
        assert!(
            matches!(judge(b"HTTP/1.1 400 Bad Request\r\n"), HandshakeOutcome::Failed(m) if m.starts_with("not a Redis reply"))
        );
        assert!(matches!(judge(b"\x00\x01"), HandshakeOutcome::Failed(_)));
        assert!(matches!(judge(b"+PONG\r\n+OK\r\n"), HandshakeOutcome::Failed(_)));
        assert!(matches!(judge(b"+OK\r\n:1\r\n"), HandshakeOutcome::Failed(_)));
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
        assert!(info.env.contains(&("REDIS_URL".into(), info.url.clone())));
        // IPv6 literals need brackets in a URL authority.
        let v6 = Redis::connection(Endpoint {
            host: "::1".into(),
            port: 6379,
            credentials: ctx().credentials,
        });
        assert_eq!(v6.url, "redis://default:s3cr%20et@[::1]:6379/0");
    }

    #[test]
    fn clients_authenticate_with_the_password_in_env() {
        let client = Redis::client(Endpoint {
            host: "127.0.0.1".into(),
            port: 6390,
            credentials: Credentials {
                user: "default".into(),
                password: "s3cr3t".into(),
                database: "0".into(),
            },
        });
        assert_eq!(
            client.host_shell.unwrap(),
            [
                "redis-cli",
                "--user",
                "default",
                "-h",
                "127.0.0.1",
                "-p",
                "6390",
                "-n",
                "0"
            ]
        );
        let query = client.query.unwrap();
        for step in [&client.container_shell, &query] {
            assert!(!step.command.iter().any(|a| a.contains("s3cr3t")), "{:?}", step.command);
            assert_eq!(step.env, vec![("REDISCLI_AUTH".to_string(), "s3cr3t".to_string())]);
        }
        assert_eq!(query.command[..2], ["sh", "-c"]);
        assert_eq!(
            query.command[4..],
            ["redis-cli", "--user", "default", "--no-raw", "-n", "0"]
        );
        let init = Redis::init_support().unwrap();
        assert_eq!((init.directory, init.suffixes), (None, vec![".redis".to_string()]));
    }
}
