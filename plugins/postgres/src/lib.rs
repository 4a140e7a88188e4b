//! PostgreSQL engine plugin, following the official `postgres` image: credentials through
//! `POSTGRES_USER`/`POSTGRES_PASSWORD`/`POSTGRES_DB`, server settings as `-c` arguments.
//!
//! Defaults: user `postgres` (the image default) and database = the user name (the image
//! default for `POSTGRES_DB`), so `--user app` gives database `app`.
//!
//! Readiness is one StartupMessage through the published port. On first start the image runs
//! a temporary server with `listen_addresses=''` (socket only), so any protocol answer over
//! TCP comes from the real server.

use dbarena_plugin_sdk::bytes::{Reader, Writer};
use dbarena_plugin_sdk::field_error;
use dbarena_plugin_sdk::prelude::*;

pub struct Postgres;

const PORT: u16 = 5432;
/// `PGDATA` up to 17.
const DATA_UP_TO_17: &str = "/var/lib/postgresql/data";
/// From 18 the image keeps `PGDATA=/var/lib/postgresql/18/docker` below `VOLUME
/// /var/lib/postgresql`, and refuses to start when `/var/lib/postgresql/data` is a mount point.
const DATA_FROM_18: &str = "/var/lib/postgresql";
/// `NAMEDATALEN - 1`: longer role and database names are truncated by the server.
const MAX_NAME_BYTES: usize = 63;
/// Protocol 3.0, as sent in a StartupMessage.
const PROTOCOL_3_0: u32 = 196_608;
/// Bound for a startup reply message; real ones are a few hundred bytes at most.
const MAX_REPLY_LEN: u32 = 64 * 1024;
/// Env vars that hold the credentials or the data directory: `--user`, `--password` and
/// `--database` set them, so an `--env` override would break readiness and connection info.
const MANAGED_ENV: &[&str] = &[
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_PASSWORD_FILE",
    "POSTGRES_DB",
    "PGDATA",
];

fn version(v: &str, tag: &str, aliases: &[&str]) -> VersionInfo {
    version_info("postgres", v, tag, aliases)
}

/// Checks a role or database name: initdb and the server take any bytes but NUL, and
/// silently truncate past `NAMEDATALEN - 1` bytes.
fn check_name(field: &str, value: &str) -> Result<(), PluginError> {
    if value.is_empty() {
        return Err(field_error(field, "must not be empty"));
    }
    if value.len() > MAX_NAME_BYTES {
        return Err(field_error(
            field,
            format!(
                "PostgreSQL names are at most {MAX_NAME_BYTES} bytes, '{value}' has {}",
                value.len()
            ),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(field_error(field, "must not contain control characters"));
    }
    Ok(())
}

/// `shared_buffers` at a quarter of the container limit (the usual sizing), at least the
/// server minimum of 128kB.
fn shared_buffers(limit: u64) -> String {
    let quarter_kib = (limit / 4 / 1024).max(128);
    if quarter_kib >= 1024 {
        format!("shared_buffers={}MB", quarter_kib / 1024)
    } else {
        format!("shared_buffers={quarter_kib}kB")
    }
}

/// A host name as it goes in a URL authority: IPv6 literals in brackets.
fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

impl Engine for Postgres {
    fn info() -> EngineInfo {
        EngineInfo {
            id: "postgres".into(),
            display_name: "PostgreSQL".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            description: "Relational database (official `postgres` image)".into(),
            versions: vec![
                version("15", "15", &[]),
                version("16", "16", &[]),
                version("17", "17", &[]),
                version("18", "18", &["latest"]),
            ],
            default_version: "17".into(),
            default_port: PORT,
            documentation_url: "https://hub.docker.com/_/postgres".into(),
        }
    }

    fn container_spec(opts: Options) -> Result<ContainerSpec, PluginError> {
        let info = Self::info();
        let v = find_version(&info, &opts.version)?;
        let user = opts.user.clone().unwrap_or_else(|| "postgres".into());
        check_name("user", &user)?;
        if user.starts_with("pg_") {
            return Err(field_error(
                "user",
                "role names starting with 'pg_' are reserved by PostgreSQL",
            ));
        }
        let database = opts.database.clone().unwrap_or_else(|| user.clone());
        check_name("database", &database)?;
        if opts.password.is_empty() {
            return Err(field_error("password", "must not be empty"));
        }
        // The entrypoint hands the password to initdb as the first line of a file.
        if opts.password.chars().any(char::is_control) {
            return Err(field_error(
                "password",
                "must not contain control characters or line breaks",
            ));
        }
        if let Some((key, _)) = opts.extra.iter().find(|(k, _)| MANAGED_ENV.contains(&k.as_str())) {
            return Err(field_error(
                "env",
                format!("'{key}' is managed by dbarena; use --user, --password and --database instead"),
            ));
        }

        let fast = opts.mode == Mode::Fast;
        let mut cmd = vec!["postgres".to_string()];
        if fast {
            for setting in ["fsync=off", "synchronous_commit=off", "full_page_writes=off"] {
                cmd.extend(["-c".to_string(), setting.to_string()]);
            }
        }
        if let Some(limit) = opts.memory_limit_bytes {
            cmd.extend(["-c".to_string(), shared_buffers(limit)]);
        }
        let env = Env::new()
            .set("POSTGRES_USER", user.clone())
            .set("POSTGRES_PASSWORD", opts.password.clone())
            .set("POSTGRES_DB", database.clone())
            // `initdb --nosync` (every supported version) skips the fsync of the new cluster.
            .set_opt("POSTGRES_INITDB_ARGS", fast.then_some("--nosync"))
            .extend(opts.extra.clone());
        let data = if v.version.parse::<u32>().is_ok_and(|n| n >= 18) {
            DATA_FROM_18
        } else {
            DATA_UP_TO_17
        };

        Ok(ContainerSpec {
            image: format!("{}:{}", v.image_repository, v.image_tag),
            env: env.build(),
            entrypoint: None,
            cmd,
            data_paths: vec![data.into()],
            tmpfs: Vec::new(),
            memory_limit_bytes: opts.memory_limit_bytes,
            ports: vec![PORT],
            credentials: Credentials {
                user,
                password: opts.password,
                database,
            },
            readiness: Readiness {
                probes: vec![Probe::Handshake(HandshakeProbe {
                    container_port: PORT,
                    description: "PostgreSQL startup".into(),
                })],
                startup_timeout_secs: 60,
            },
        })
    }

    fn handshake_start(ctx: HandshakeContext) -> Vec<u8> {
        startup_message(&ctx.credentials.user, &ctx.credentials.database)
    }

    fn handshake_step(_ctx: HandshakeContext, received: Vec<u8>) -> HandshakeVerdict {
        judge_startup_reply(&received)
    }

    fn connection(at: Endpoint) -> ConnectionInfo {
        let c = &at.credentials;
        ConnectionInfo {
            url: format!(
                "postgres://{}:{}@{}:{}/{}",
                percent_encode(&c.user),
                percent_encode(&c.password),
                url_host(&at.host),
                at.port,
                percent_encode(&c.database)
            ),
            env: vec![
                ("PGHOST".into(), at.host.clone()),
                ("PGPORT".into(), at.port.to_string()),
                ("PGUSER".into(), c.user.clone()),
                ("PGPASSWORD".into(), c.password.clone()),
                ("PGDATABASE".into(), c.database.clone()),
            ],
            // Inside the container psql uses the unix socket, which the image trusts.
            shell: vec![
                "psql".into(),
                "-U".into(),
                c.user.clone(),
                "-d".into(),
                c.database.clone(),
            ],
        }
    }
}

/// A protocol 3.0 StartupMessage: length, version, `user` and `database` parameters, and the
/// terminating empty name.
fn startup_message(user: &str, database: &str) -> Vec<u8> {
    let w = Writer::new()
        .u32_be(0)
        .u32_be(PROTOCOL_3_0)
        .cstr("user")
        .cstr(user)
        .cstr("database")
        .cstr(database)
        .u8(0);
    let len = w.len() as u32;
    w.patch_u32_be(0, len).finish()
}

/// Judges the server's answer to the StartupMessage.
///
/// - `R` AuthenticationRequest of any kind (ok, cleartext, MD5, SASL, GSS): the postmaster
///   forked a backend that is authenticating us, so it accepts clients: ready.
/// - `E` with SQLSTATE 57P03 (cannot_connect_now: starting up, shutting down, in recovery)
///   or 53300 (too_many_connections): the server is up but busy: not yet.
/// - Any other `E` (28000 no pg_hba entry, 3D000, 08P01, ...): failed, with its message.
/// - `N` NoticeResponse and `v` NegotiateProtocolVersion may precede the request: skipped.
/// - Anything else is not PostgreSQL talking: failed.
fn judge_startup_reply(received: &[u8]) -> HandshakeVerdict {
    let mut r = Reader::new(received);
    loop {
        let Some(kind) = r.u8() else {
            return HandshakeVerdict::NeedMore;
        };
        if !matches!(kind, b'R' | b'E' | b'N' | b'v') {
            return not_postgres(received);
        }
        let Some(len) = r.u32_be() else {
            return HandshakeVerdict::NeedMore;
        };
        if !(4..=MAX_REPLY_LEN).contains(&len) {
            return not_postgres(received);
        }
        let Some(body) = r.take(len as usize - 4) else {
            return HandshakeVerdict::NeedMore;
        };
        match kind {
            b'R' => return judge_auth_request(body),
            b'E' => return judge_error(body),
            _ => continue,
        }
    }
}

fn not_postgres(received: &[u8]) -> HandshakeVerdict {
    let head: Vec<String> = received.iter().take(16).map(|b| format!("{b:02x}")).collect();
    HandshakeVerdict::Failed(format!("not a PostgreSQL reply (starts with {})", head.join(" ")))
}

fn judge_auth_request(body: &[u8]) -> HandshakeVerdict {
    // 0 ok, 2 Kerberos V5, 3 cleartext, 5 MD5, 7 GSS, 9 SSPI, 10 SASL.
    match Reader::new(body).u32_be() {
        Some(0 | 2 | 3 | 5 | 7 | 9 | 10) => HandshakeVerdict::Ready,
        Some(code) => HandshakeVerdict::Failed(format!("unexpected authentication request {code}")),
        None => HandshakeVerdict::Failed("truncated authentication request".into()),
    }
}

/// An ErrorResponse body: fields of a type byte and a C string, ended by a zero byte.
fn judge_error(body: &[u8]) -> HandshakeVerdict {
    let mut r = Reader::new(body);
    let (mut code, mut message, mut severity) = (String::new(), String::new(), String::new());
    while let Some(field) = r.u8().filter(|&f| f != 0) {
        let Some(value) = r.cstr() else { break };
        let value = String::from_utf8_lossy(value).into_owned();
        match field {
            b'C' => code = value,
            b'M' => message = value,
            b'V' => severity = value,
            b'S' if severity.is_empty() => severity = value,
            _ => {}
        }
    }
    let text = format!(
        "{} {code}: {message}",
        if severity.is_empty() { "ERROR" } else { &severity }
    );
    match code.as_str() {
        "57P03" | "53300" => HandshakeVerdict::NotYet(text),
        _ => HandshakeVerdict::Failed(text),
    }
}

register!(Postgres);

#[cfg(test)]
mod tests {
    use super::*;
    use dbarena_plugin_sdk::testing;

    fn ctx() -> HandshakeContext {
        testing::context(
            Credentials {
                user: "app".into(),
                password: "pw".into(),
                database: "db1".into(),
            },
            PORT,
        )
    }

    /// Runs `bytes` through the plugin's `handshake_step`.
    fn judge(bytes: &[u8]) -> HandshakeVerdict {
        Postgres::handshake_step(ctx(), bytes.to_vec())
    }

    fn opts() -> Options {
        testing::options("pw")
    }

    /// An ErrorResponse with severity, SQLSTATE and message fields, per the protocol docs.
    fn error_response(code: &[u8; 5], message: &[u8]) -> Vec<u8> {
        let mut body = b"SFATAL\0VFATAL\0C".to_vec();
        body.extend_from_slice(code);
        body.extend_from_slice(b"\0M");
        body.extend_from_slice(message);
        body.extend_from_slice(b"\0\0");
        let mut out = vec![b'E'];
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn start_sends_a_v3_startup_message_with_user_and_database() {
        let expected = [
            &[0, 0, 0, 0x1f][..],      // length 31, itself included
            &[0x00, 0x03, 0x00, 0x00], // protocol 3.0 = 196608
            b"user\0app\0",
            b"database\0db1\0",
            b"\0",
        ]
        .concat();
        assert_eq!(expected.len(), 31);
        assert_eq!(Postgres::handshake_start(ctx()), expected);
    }

    #[test]
    fn any_authentication_request_is_ready() {
        // AuthenticationSASL (10) listing SCRAM-SHA-256, as PostgreSQL 14+ sends by default.
        let sasl = b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0";
        assert_eq!(judge(sasl), HandshakeVerdict::Ready);
        // AuthenticationMD5Password (5) with a 4-byte salt.
        assert_eq!(judge(b"R\0\0\0\x0c\0\0\0\x05\x01\x02\x03\x04"), HandshakeVerdict::Ready);
        // AuthenticationOk (0), e.g. trust, followed by ParameterStatus messages.
        assert_eq!(
            judge(b"R\0\0\0\x08\0\0\0\0S\0\0\0\x16application_name\0\0"),
            HandshakeVerdict::Ready
        );
        // AuthenticationCleartextPassword (3).
        assert_eq!(judge(b"R\0\0\0\x08\0\0\0\x03"), HandshakeVerdict::Ready);
    }

    #[test]
    fn partial_replies_need_more() {
        assert_eq!(judge(b""), HandshakeVerdict::NeedMore);
        assert_eq!(judge(b"R"), HandshakeVerdict::NeedMore);
        assert_eq!(judge(b"R\0\0\0"), HandshakeVerdict::NeedMore);
        assert_eq!(judge(b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA"), HandshakeVerdict::NeedMore);
        let starting = error_response(b"57P03", b"the database system is starting up");
        assert_eq!(judge(&starting[..starting.len() - 3]), HandshakeVerdict::NeedMore);
    }

    #[test]
    fn starting_up_is_not_yet_and_other_errors_fail() {
        let starting = [
            &b"E\0\0\0\x3e"[..],
            b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0",
            b"\0",
        ]
        .concat();
        assert_eq!(starting.len(), 0x3e + 1);
        assert_eq!(
            judge(&starting),
            HandshakeVerdict::NotYet("FATAL 57P03: the database system is starting up".into())
        );
        let recovery = error_response(b"57P03", b"the database system is not yet accepting connections");
        assert!(matches!(judge(&recovery), HandshakeVerdict::NotYet(_)));
        let full = error_response(b"53300", b"sorry, too many clients already");
        assert!(matches!(judge(&full), HandshakeVerdict::NotYet(_)));
        let password = error_response(b"28P01", b"password authentication failed for user \"app\"");
        assert_eq!(
            judge(&password),
            HandshakeVerdict::Failed("FATAL 28P01: password authentication failed for user \"app\"".into())
        );
        let hba = error_response(b"28000", b"no pg_hba.conf entry for host \"172.17.0.1\"");
        assert!(matches!(judge(&hba), HandshakeVerdict::Failed(_)));
    }

    #[test]
    fn notices_are_skipped_and_garbage_fails() {
        let notice_then_auth = b"N\0\0\0\x0dSNOTICE\0\0R\0\0\0\x08\0\0\0\0";
        assert_eq!(judge(notice_then_auth), HandshakeVerdict::Ready);
        assert!(matches!(
            judge(b"HTTP/1.1 400 Bad Request\r\n"),
            HandshakeVerdict::Failed(_)
        ));
        assert!(matches!(judge(b"R\xff\xff\xff\xff"), HandshakeVerdict::Failed(_)));
        assert!(matches!(judge(b"R\0\0\0\x08\0\0\0\x63"), HandshakeVerdict::Failed(_)));
    }

    #[test]
    fn versions_images_and_tags() {
        let info = Postgres::info();
        assert_eq!(info.default_version, "17");
        assert_eq!(info.default_port, 5432);
        let tags: Vec<&str> = info.versions.iter().map(|v| v.image_tag.as_str()).collect();
        assert_eq!(tags, ["15", "16", "17", "18"]);
        assert!(info.versions.iter().all(|v| v.image_repository == "postgres"));
        assert_eq!(Postgres::container_spec(opts()).unwrap().image, "postgres:17");
        let latest = Postgres::container_spec(Options {
            version: "latest".into(),
            ..opts()
        })
        .unwrap();
        assert_eq!(latest.image, "postgres:18");
    }

    #[test]
    fn data_path_moves_up_one_level_from_18() {
        for (v, path) in [
            ("15", DATA_UP_TO_17),
            ("17", DATA_UP_TO_17),
            ("18", "/var/lib/postgresql"),
        ] {
            let spec = Postgres::container_spec(Options {
                version: v.into(),
                ..opts()
            })
            .unwrap();
            assert_eq!(spec.data_paths, [path], "version {v}");
        }
        assert_eq!(DATA_UP_TO_17, "/var/lib/postgresql/data");
    }

    #[test]
    fn fast_mode_turns_off_fsync_and_durable_keeps_defaults() {
        let fast = Postgres::container_spec(opts()).unwrap();
        assert_eq!(
            fast.cmd,
            [
                "postgres",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off"
            ]
        );
        assert_eq!(
            Env::new().extend(fast.env).get("POSTGRES_INITDB_ARGS"),
            Some("--nosync")
        );
        let durable = Postgres::container_spec(Options {
            mode: Mode::Durable,
            ..opts()
        })
        .unwrap();
        assert_eq!(durable.cmd, ["postgres"]);
        assert_eq!(Env::new().extend(durable.env).get("POSTGRES_INITDB_ARGS"), None);
    }

    #[test]
    fn memory_limit_sizes_shared_buffers() {
        let spec = Postgres::container_spec(Options {
            mode: Mode::Durable,
            memory_limit_bytes: Some(1 << 30),
            ..opts()
        })
        .unwrap();
        assert_eq!(spec.cmd, ["postgres", "-c", "shared_buffers=256MB"]);
        assert_eq!(spec.memory_limit_bytes, Some(1 << 30));
        assert_eq!(shared_buffers(256 * 1024), "shared_buffers=128kB");
    }

    #[test]
    fn env_credentials_and_readiness() {
        let spec = Postgres::container_spec(Options {
            user: Some("app".into()),
            extra: vec![
                ("TZ".into(), "UTC".into()),
                ("POSTGRES_INITDB_ARGS".into(), "-E UTF8".into()),
            ],
            ..opts()
        })
        .unwrap();
        let env = Env::new().extend(spec.env);
        assert_eq!(env.get("POSTGRES_USER"), Some("app"));
        assert_eq!(env.get("POSTGRES_PASSWORD"), Some("pw"));
        assert_eq!(env.get("POSTGRES_DB"), Some("app"));
        assert_eq!(env.get("TZ"), Some("UTC"));
        assert_eq!(env.get("POSTGRES_INITDB_ARGS"), Some("-E UTF8"));
        let c = &spec.credentials;
        assert_eq!(
            (c.user.as_str(), c.password.as_str(), c.database.as_str()),
            ("app", "pw", "app")
        );
        assert_eq!(spec.ports, [5432]);
        assert!(matches!(
            spec.readiness.probes.as_slice(),
            [Probe::Handshake(HandshakeProbe {
                container_port: 5432,
                ..
            })]
        ));
        let default = Postgres::container_spec(opts()).unwrap();
        assert_eq!(default.credentials.user, "postgres");
        assert_eq!(default.credentials.database, "postgres");
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let field = |o: Options| Postgres::container_spec(o).unwrap_err().field;
        assert_eq!(
            field(Options {
                version: "9.6".into(),
                ..opts()
            })
            .as_deref(),
            Some("version")
        );
        assert_eq!(
            field(Options {
                user: Some(String::new()),
                ..opts()
            })
            .as_deref(),
            Some("user")
        );
        assert_eq!(
            field(Options {
                user: Some("a\0b".into()),
                ..opts()
            })
            .as_deref(),
            Some("user")
        );
        assert_eq!(
            field(Options {
                user: Some("u".repeat(64)),
                ..opts()
            })
            .as_deref(),
            Some("user")
        );
        assert_eq!(
            field(Options {
                user: Some("pg_admin".into()),
                ..opts()
            })
            .as_deref(),
            Some("user")
        );
        assert_eq!(
            field(Options {
                database: Some("d".repeat(64)),
                ..opts()
            })
            .as_deref(),
            Some("database")
        );
        assert_eq!(
            field(Options {
                password: String::new(),
                ..opts()
            })
            .as_deref(),
            Some("password")
        );
        assert_eq!(
            field(Options {
                password: "a\nb".into(),
                ..opts()
            })
            .as_deref(),
            Some("password")
        );
        let extra = vec![("POSTGRES_PASSWORD".into(), "x".into())];
        assert_eq!(field(Options { extra, ..opts() }).as_deref(), Some("env"));
        assert!(
            Postgres::container_spec(Options {
                user: Some("u".repeat(63)),
                ..opts()
            })
            .is_ok()
        );
    }

    #[test]
    fn url_percent_encodes_credentials_and_database() {
        let at = Endpoint {
            host: "127.0.0.1".into(),
            port: 55432,
            credentials: Credentials {
                user: "a b".into(),
                password: "p@ss:w/rd".into(),
                database: "my/db".into(),
            },
        };
        let info = Postgres::connection(at);
        assert_eq!(info.url, "postgres://a%20b:p%40ss%3Aw%2Frd@127.0.0.1:55432/my%2Fdb");
        assert!(info.env.contains(&("PGPASSWORD".into(), "p@ss:w/rd".into())));
        assert!(info.env.contains(&("PGPORT".into(), "55432".into())));
        assert_eq!(info.shell, ["psql", "-U", "a b", "-d", "my/db"]);
        let v6 = Postgres::connection(Endpoint {
            host: "::1".into(),
            port: 5432,
            credentials: ctx().credentials,
        });
        assert_eq!(v6.url, "postgres://app:pw@[::1]:5432/db1");
    }
}
