//! SQL Server engine plugin, following `mcr.microsoft.com/mssql/server`: `ACCEPT_EULA=Y`,
//! the `sa` password in `MSSQL_SA_PASSWORD`, the Developer edition, data in `/var/opt/mssql`.
//!
//! Defaults: user `sa` (the only login the image creates, so other users are refused) and
//! database `master`. Another database is created (if missing) by the last readiness probe,
//! which logs in with `sqlcmd` anyway, so the URL always names an existing database.
//!
//! The container env also carries `SQLCMDPASSWORD`, which `sqlcmd` reads: the readiness
//! probe and the shell log in without the password on a command line.
//!
//! Readiness, in order: a TDS PRELOGIN exchange through the published port (the server
//! listens), the "Recovery is complete" log line (SQL Server logs "ready for client
//! connections" before its databases are recovered), then a real login with `sqlcmd`.

use dbarena_plugin_sdk::bytes::{Reader, Writer, not_protocol};
use dbarena_plugin_sdk::prelude::*;

mod tenant;

pub struct SqlServer;

const PORT: u16 = 1433;
const DATA: &str = "/var/opt/mssql";
/// SQL Server refuses to start with less ("requires at least 2000 megabytes of memory").
const MIN_MEMORY: u64 = 2 << 30;
/// `MSSQL_MEMORY_LIMIT_MB` below this is raised to about 2000 by the server itself.
const MIN_MEMORY_LIMIT_MB: u64 = 2048;
/// TDS packet types and PRELOGIN option tokens (MS-TDS 2.2.3.1, 2.2.6.5).
const TDS_PRELOGIN: u8 = 0x12;
const TDS_TABULAR_RESULT: u8 = 0x04;
const TDS_STATUS_EOM: u8 = 0x01;
const TDS_MAX_PACKET: u16 = 32_767;
const PL_VERSION: u8 = 0x00;
const PL_ENCRYPTION: u8 = 0x01;
const PL_INSTOPT: u8 = 0x02;
const PL_THREADID: u8 = 0x03;
const PL_MARS: u8 = 0x04;
const PL_TERMINATOR: u8 = 0xff;
const ENCRYPT_OFF: u8 = 0x00;
/// The ERROR token of a TDS token stream (MS-TDS 2.2.7.10).
const TOKEN_ERROR: u8 = 0xaa;
/// Printed by the `sqlcmd` probe; the query builds it from two literals, so the command
/// line itself never contains it and only a server answer can match.
const READY_MARKER: &str = "dbarena-ready";
/// Env vars that hold the `sa` password: `--password` sets them.
const MANAGED_ENV: &[&str] = &[
    "MSSQL_SA_PASSWORD",
    "MSSQL_SA_PASSWORD_FILE",
    "SA_PASSWORD",
    "SQLCMDPASSWORD",
];

fn version(v: &str, tag: &str, aliases: &[&str]) -> VersionInfo {
    version_info("mcr.microsoft.com/mssql/server", v, tag, aliases)
}

/// SQL Server's password policy for `sa`: 8-128 characters from at least three of upper
/// case, lower case, digits and symbols. A weak password makes the server exit at start-up,
/// so it is refused here with the rule spelled out.
fn check_password(password: &str) -> Result<(), PluginError> {
    if password.chars().any(char::is_control) {
        return Err(field_error("password", "must not contain control characters"));
    }
    let len = password.chars().count();
    let classes = [
        password.chars().any(char::is_uppercase),
        password.chars().any(char::is_lowercase),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|&&present| present)
    .count();
    if (8..=128).contains(&len) && classes >= 3 {
        return Ok(());
    }
    Err(field_error(
        "password",
        format!(
            "SQL Server requires an sa password of 8-128 characters using at least three of: uppercase letters, lowercase letters, digits, symbols (it exits at start-up otherwise); this one has {len} characters and {classes} of those kinds"
        ),
    ))
}

/// Databases other than the system ones are created by the `sqlcmd` probe, so their names
/// go into a shell command and a T-SQL statement: plain identifiers only.
fn check_database(name: &str) -> Result<(), PluginError> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128;
    if valid {
        Ok(())
    } else {
        Err(field_error(
            "database",
            format!("'{name}' is not supported: use 1-128 ASCII letters, digits or '_', starting with a letter or '_'"),
        ))
    }
}

/// A T-SQL Unicode string literal: `'` doubled.
fn nstring(value: &str) -> String {
    format!("N'{}'", value.replace('\'', "''"))
}

/// A bracketed T-SQL identifier: `]` doubled.
fn bracket(name: &str) -> String {
    format!("[{}]", name.replace(']', "]]"))
}

/// `sql` (on stdin) run by `sqlcmd` as `sa` with `password` in `SQLCMDPASSWORD`.
fn sqlcmd_step(description: &str, password: &str, sql: String) -> ExecStep {
    ExecStep {
        description: description.into(),
        command: vec![
            "/bin/sh".into(),
            "-c".into(),
            "if [ -x /opt/mssql-tools18/bin/sqlcmd ]; then set -- /opt/mssql-tools18/bin/sqlcmd -C; \
             else set -- /opt/mssql-tools/bin/sqlcmd; fi; \
             exec \"$@\" -S localhost -U sa -b -i /dev/stdin"
                .into(),
        ],
        env: vec![("SQLCMDPASSWORD".into(), password.into())],
        stdin: Some(sql.into_bytes()),
    }
}

/// The `sqlcmd` readiness command. From 2022 CU14 (and in recent 2019 images) the tools
/// live in `/opt/mssql-tools18` and need `-C` to trust the self-signed certificate; older
/// images have `/opt/mssql-tools`. The password comes from `SQLCMDPASSWORD` in the env.
fn sqlcmd_probe(database: &str, fast: bool) -> Vec<String> {
    let mut sql = String::from("SET NOCOUNT ON; ");
    let system = ["master", "model", "msdb", "tempdb"]
        .iter()
        .any(|s| database.eq_ignore_ascii_case(s));
    if !system {
        sql.push_str(&format!(
            "IF DB_ID(N'{database}') IS NULL CREATE DATABASE [{database}]; "
        ));
        if fast {
            // Commits return before the log is flushed (the fast-mode trade-off).
            sql.push_str(&format!(
                "EXEC(N'ALTER DATABASE [{database}] SET DELAYED_DURABILITY = FORCED'); "
            ));
        }
    }
    let (left, right) = READY_MARKER.split_at(7);
    sql.push_str(&format!("SELECT '{left}' + '{right}'"));
    let script = format!(
        "if [ -x /opt/mssql-tools18/bin/sqlcmd ]; then set -- /opt/mssql-tools18/bin/sqlcmd -C; \
         else set -- /opt/mssql-tools/bin/sqlcmd; fi; \
         exec \"$@\" -S localhost -U sa -b -h -1 -Q \"{sql}\""
    );
    vec!["/bin/sh".into(), "-c".into(), script]
}

impl Engine for SqlServer {
    fn info() -> EngineInfo {
        EngineInfo {
            id: "sqlserver".into(),
            display_name: "SQL Server".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            description: "Microsoft SQL Server, Developer edition (mcr.microsoft.com/mssql/server, amd64)".into(),
            versions: vec![
                version("2019", "2019-latest", &[]),
                version("2022", "2022-latest", &["latest"]),
            ],
            default_version: "2022".into(),
            default_port: PORT,
            documentation_url: "https://learn.microsoft.com/sql/linux/sql-server-linux-docker-container-configure"
                .into(),
        }
    }

    fn container_spec(opts: Options) -> Result<ContainerSpec, PluginError> {
        let info = Self::info();
        let v = find_version(&info, &opts.version)?;
        if let Some(user) = opts.user.as_deref().filter(|u| !u.eq_ignore_ascii_case("sa")) {
            return Err(field_error(
                "user",
                format!("the SQL Server image only sets up the 'sa' login; drop --user '{user}'"),
            ));
        }
        let database = opts.database.clone().unwrap_or_else(|| "master".into());
        check_database(&database)?;
        check_password(&opts.password)?;
        if let Some(limit) = opts.memory_limit_bytes.filter(|&l| l < MIN_MEMORY) {
            return Err(field_error(
                "memory",
                format!(
                    "SQL Server needs at least 2 GiB of memory; {} MiB is too little",
                    limit >> 20
                ),
            ));
        }
        reject_managed_env(&opts.extra, MANAGED_ENV)?;

        // The server sizes itself from the memory it believes it has; keep it at 80% of the
        // container limit (it raises anything below ~2000 MB to that floor anyway).
        let memory_mb = opts
            .memory_limit_bytes
            .map(|l| ((l >> 20) * 4 / 5).max(MIN_MEMORY_LIMIT_MB).to_string());
        let env = Env::new()
            .set("ACCEPT_EULA", "Y")
            .set("MSSQL_PID", "Developer")
            .set("MSSQL_SA_PASSWORD", opts.password.clone())
            .set("SQLCMDPASSWORD", opts.password.clone())
            .set_opt("MSSQL_MEMORY_LIMIT_MB", memory_mb)
            .extend(opts.extra.clone());

        Ok(ContainerSpec {
            image: image(v),
            env: env.build(),
            entrypoint: None,
            // The image's own `sqlservr` command: SQL Server has no start-up switch that
            // trades durability for speed; fast mode uses delayed durability on the created
            // database instead (see `sqlcmd_probe`).
            cmd: Vec::new(),
            data_paths: vec![DATA.into()],
            tmpfs: Vec::new(),
            memory_limit_bytes: opts.memory_limit_bytes,
            ports: vec![PORT],
            credentials: Credentials {
                user: "sa".into(),
                password: opts.password,
                database: database.clone(),
            },
            readiness: Readiness {
                probes: vec![
                    Probe::Handshake(HandshakeProbe {
                        container_port: PORT,
                        description: "TDS pre-login".into(),
                    }),
                    Probe::LogLine(LogProbe {
                        pattern: "Recovery is complete".into(),
                        count: 1,
                    }),
                    Probe::Exec(ExecProbe {
                        command: sqlcmd_probe(&database, opts.mode == Mode::Fast),
                        expect_output: Some(READY_MARKER.into()),
                    }),
                ],
                // 4 s locally, ~30 s on CI, minutes for a first boot on a slow disk.
                startup_timeout_secs: 180,
            },
        })
    }

    /// `/var/opt/mssql`. `sp_flush_log` writes out delayed-durable commits (fast mode) and
    /// `CHECKPOINT` the dirty pages, so the host's frozen copy holds every commit (spec
    /// level: no server here).
    fn data_plan(opts: Options) -> Option<DataPlan> {
        let spec = Self::container_spec(opts).ok()?;
        let password = spec.credentials.password.clone();
        Some(DataPlan {
            paths: spec.data_paths,
            quiesce: vec![sqlcmd_step(
                "flush the log and checkpoint",
                &password,
                "EXEC sys.sp_flush_log;\nCHECKPOINT;\n".into(),
            )],
        })
    }

    /// As `sa` with the template's password (`SQLCMDPASSWORD`, never argv): the new `sa`
    /// password, and the template's database dropped (the readiness probe creates the
    /// wanted one). Spec level: no server here.
    fn apply_credentials(template: Credentials, wanted: Credentials) -> Result<Vec<ExecStep>, PluginError> {
        check_password(&wanted.password)?;
        check_database(&wanted.database)?;
        let mut sql = format!("ALTER LOGIN [sa] WITH PASSWORD = {};\n", nstring(&wanted.password));
        if !template.database.eq_ignore_ascii_case(&wanted.database)
            && !["master", "model", "msdb", "tempdb"]
                .iter()
                .any(|s| template.database.eq_ignore_ascii_case(s))
        {
            sql.push_str(&format!(
                "IF DB_ID({}) IS NOT NULL DROP DATABASE {};\n",
                nstring(&template.database),
                bracket(&template.database)
            ));
        }
        Ok(vec![sqlcmd_step("set the sa password", &template.password, sql)])
    }

    fn handshake_start(_ctx: HandshakeContext, _secrets: HandshakeSecrets) -> Vec<u8> {
        prelogin_packet()
    }

    fn handshake_step(_ctx: HandshakeContext, _secrets: HandshakeSecrets, received: Vec<u8>) -> HandshakeOutcome {
        judge_prelogin_reply(&received)
    }

    /// sqlcmd reads the password from `SQLCMDPASSWORD` (never argv). `-b` makes a failing
    /// batch exit non-zero; query text arrives on stdin.
    fn client(at: Endpoint) -> ClientCommands {
        let c = &at.credentials;
        let shell = Self::connection(at.clone()).shell;
        let mut query = shell.clone();
        query.push("-b".into());
        let step = |description: &str, command: Vec<String>| ExecStep {
            description: description.into(),
            command,
            env: vec![("SQLCMDPASSWORD".into(), c.password.clone())],
            stdin: None,
        };
        ClientCommands {
            host_shell: Some(vec![
                "sqlcmd".into(),
                "-C".into(),
                "-S".into(),
                format!("{},{}", at.host, at.port),
                "-U".into(),
                c.user.clone(),
                "-d".into(),
                c.database.clone(),
            ]),
            container_shell: step("sqlcmd", shell),
            query: Some(step("query", query)),
        }
    }

    /// The image has no init directory: `*.sql` files go through the query runner.
    fn init_support() -> Option<InitSupport> {
        Some(InitSupport {
            directory: None,
            suffixes: vec![".sql".into()],
        })
    }

    /// A login, a database and a `db_owner` user in it (spec level, see `tenant`).
    fn tenant_steps(server: Credentials, t: Tenant, action: TenantAction) -> Result<Vec<ExecStep>, PluginError> {
        tenant::steps(server, t, action)
    }

    fn connection(at: Endpoint) -> ConnectionInfo {
        let c = &at.credentials;
        ConnectionInfo {
            url: format!(
                "sqlserver://{}:{}@{}:{}?database={}&TrustServerCertificate=true",
                percent_encode(&c.user),
                percent_encode(&c.password),
                url_host(&at.host),
                at.port,
                percent_encode(&c.database)
            ),
            env: vec![
                ("MSSQL_HOST".into(), at.host.clone()),
                ("MSSQL_PORT".into(), at.port.to_string()),
                ("MSSQL_USER".into(), c.user.clone()),
                ("MSSQL_PASSWORD".into(), c.password.clone()),
                ("MSSQL_DATABASE".into(), c.database.clone()),
                // Read by sqlcmd on the host.
                ("SQLCMDSERVER".into(), format!("{},{}", at.host, at.port)),
                ("SQLCMDUSER".into(), c.user.clone()),
                ("SQLCMDPASSWORD".into(), c.password.clone()),
                ("SQLCMDDBNAME".into(), c.database.clone()),
            ],
            // The password comes from SQLCMDPASSWORD in the container env. Current images
            // (2022 CU14+, recent 2019) ship tools18, which needs -C; older 2019 images only
            // have /opt/mssql-tools/bin/sqlcmd.
            shell: vec![
                "/opt/mssql-tools18/bin/sqlcmd".into(),
                "-C".into(),
                "-S".into(),
                "localhost".into(),
                "-U".into(),
                c.user.clone(),
                "-d".into(),
                c.database.clone(),
            ],
        }
    }

    /// - `jdbc` (`JDBC_URL`), for Microsoft's JDBC driver: it encrypts by default (12.x), and
    ///   the image's certificate is self-signed, hence `trustServerCertificate=true`.
    /// - `ado-net` (`ADO_NET_CONNECTION_STRING`), for Microsoft.Data.SqlClient, which also
    ///   encrypts by default (4.0+).
    fn connection_forms(at: Endpoint) -> Vec<ConnectionForm> {
        let c = &at.credentials;
        // The JDBC driver takes an IPv6 literal only as a `serverName` property.
        let server = if at.host.contains(':') {
            format!("jdbc:sqlserver://;serverName={};portNumber={}", at.host, at.port)
        } else {
            format!("jdbc:sqlserver://{}:{}", at.host, at.port)
        };
        vec![
            ConnectionForm {
                kind: "jdbc".into(),
                env_name: Some("JDBC_URL".into()),
                value: format!(
                    "{server};databaseName={};user={};password={};encrypt=true;trustServerCertificate=true",
                    jdbc_value(&c.database),
                    jdbc_value(&c.user),
                    jdbc_value(&c.password)
                ),
            },
            ConnectionForm {
                kind: "ado-net".into(),
                env_name: Some("ADO_NET_CONNECTION_STRING".into()),
                value: format!(
                    "Server={},{};Database={};User Id={};Password={};TrustServerCertificate=True;",
                    at.host,
                    at.port,
                    ado_net_value(&c.database),
                    ado_net_value(&c.user),
                    ado_net_value(&c.password)
                ),
            },
        ]
    }
}

/// A JDBC connection property value: as is when plain, else in braces with `}` doubled (the
/// Microsoft JDBC driver's escape for `;`, `=`, braces and edge spaces).
fn jdbc_value(value: &str) -> String {
    let special = value.contains([';', '=', '{', '}']) || value.trim() != value;
    if special {
        format!("{{{}}}", value.replace('}', "}}"))
    } else {
        value.to_string()
    }
}

/// An ADO.NET connection-string value, quoted like `DbConnectionStringBuilder` does: values
/// with `;`, quotes or edge spaces go in double quotes, or in single quotes when they hold a
/// double quote, or in double quotes with `"` doubled when they hold both kinds.
fn ado_net_value(value: &str) -> String {
    let special = value.contains([';', '\'', '"']) || value.trim() != value;
    if !special {
        value.to_string()
    } else if !value.contains('"') {
        format!("\"{value}\"")
    } else if !value.contains('\'') {
        format!("'{value}'")
    } else {
        format!("\"{}\"", value.replace('"', "\"\""))
    }
}

/// A TDS PRELOGIN packet: the 8-byte header (type, status EOM, big-endian length, SPID,
/// packet id 1, window), the option table (token, offset, length; offsets count from the
/// start of the payload), the terminator, then the option data: client version 0.0.0.0,
/// encryption off, the default instance, thread id 0 and MARS off.
fn prelogin_packet() -> Vec<u8> {
    let options: [(u8, &[u8]); 5] = [
        (PL_VERSION, &[0, 0, 0, 0, 0, 0]),
        (PL_ENCRYPTION, &[ENCRYPT_OFF]),
        (PL_INSTOPT, &[0]),
        (PL_THREADID, &[0, 0, 0, 0]),
        (PL_MARS, &[0]),
    ];
    let mut offset = (options.len() * 5 + 1) as u16;
    let mut table = Writer::new();
    let mut data = Writer::new();
    for (token, value) in options {
        table = table.u8(token).u16_be(offset).u16_be(value.len() as u16);
        data = data.bytes(value);
        offset += value.len() as u16;
    }
    let payload = table.u8(PL_TERMINATOR).bytes(&data.finish()).finish();
    Writer::new()
        .u8(TDS_PRELOGIN)
        .u8(TDS_STATUS_EOM)
        .u16_be(8 + payload.len() as u16)
        .u16_be(0) // SPID
        .u8(1) // packet id
        .u8(0) // window
        .bytes(&payload)
        .finish()
}

/// Judges the answer to PRELOGIN.
///
/// - A tabular-result packet (0x04) holding a well-formed PRELOGIN option table with a
///   VERSION option: the server's network layer accepts clients: ready (the log and login
///   probes that follow check recovery and authentication).
/// - A tabular-result packet holding an ERROR token instead: the server refused the
///   connection before any login, which only depends on its state (e.g. the connection
///   limit): not yet, with its message.
/// - Anything else, or a malformed option table, is not SQL Server talking TDS: failed
///   (once it listens, SQL Server always answers PRELOGIN; earlier the host sees the
///   connection closed, which it treats as not yet).
fn judge_prelogin_reply(received: &[u8]) -> HandshakeOutcome {
    let mut r = Reader::new(received);
    let Some(kind) = r.u8() else {
        return HandshakeOutcome::NeedMore;
    };
    if kind != TDS_TABULAR_RESULT {
        return not_tds(received);
    }
    let (Some(_status), Some(len)) = (r.u8(), r.u16_be()) else {
        return HandshakeOutcome::NeedMore;
    };
    if !(9..=TDS_MAX_PACKET).contains(&len) {
        return not_tds(received);
    }
    let Some(()) = r.skip(4) else {
        return HandshakeOutcome::NeedMore;
    };
    let Some(payload) = r.take(len as usize - 8) else {
        return HandshakeOutcome::NeedMore;
    };
    if payload[0] == TOKEN_ERROR {
        return HandshakeOutcome::NotYet(error_token_text(&payload[1..]));
    }
    let mut options = Reader::new(payload);
    let mut has_version = false;
    loop {
        match options.u8() {
            Some(PL_TERMINATOR) => break,
            Some(token) => {
                let (Some(offset), Some(len)) = (options.u16_be(), options.u16_be()) else {
                    return not_tds(received);
                };
                if offset as usize + len as usize > payload.len() {
                    return not_tds(received);
                }
                has_version |= token == PL_VERSION && len >= 6;
            }
            None => return not_tds(received),
        }
    }
    if has_version {
        ready_unauthenticated(None, NOTE)
    } else {
        not_tds(received)
    }
}

/// The number and message of an ERROR token (after the token byte): length, number,
/// state, class, then the message as a UTF-16LE string with a 16-bit character count.
fn error_token_text(token: &[u8]) -> String {
    let mut r = Reader::new(token);
    let (Some(_len), Some(number), Some(_state), Some(_class)) = (r.u16_le(), r.u32_le(), r.u8(), r.u8()) else {
        return "SQL Server answered pre-login with an error".into();
    };
    let units: Vec<u16> = r
        .u16_le()
        .and_then(|chars| r.take(chars as usize * 2))
        .map(|b| b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
        .unwrap_or_default();
    format!("SQL Server error {number}: {}", String::from_utf16_lossy(&units))
}

fn not_tds(received: &[u8]) -> HandshakeOutcome {
    not_protocol("TDS pre-login response", received)
}

/// Why a passing handshake did not prove the credentials.
const NOTE: &str = "pre-login does not log in; the sqlcmd probe that follows checks the credentials";

register!(SqlServer);

#[cfg(test)]
mod tests {
    use super::*;
    use dbarena_plugin_sdk::testing;

    const PASSWORD: &str = "Str0ng!Passw0rd";

    fn ctx() -> HandshakeContext {
        testing::context(
            Credentials {
                user: "sa".into(),
                password: PASSWORD.into(),
                database: "master".into(),
            },
            PORT,
        )
    }

    /// Runs `bytes` through the plugin's `handshake_step`.
    fn judge(bytes: &[u8]) -> HandshakeOutcome {
        SqlServer::handshake_step(ctx(), testing::secrets(), bytes.to_vec())
    }

    #[test]
    fn tsql_quoting_doubles_quotes_and_brackets() {
        assert_eq!(nstring(r#"a'b"c;--"#), r#"N'a''b"c;--'"#);
        assert_eq!(bracket("a]b;--"), "[a]]b;--]");
    }

    #[test]
    fn apply_credentials_sets_sa_through_stdin_and_drops_the_template_database() {
        let c = |password: &str, database: &str| Credentials {
            user: "sa".into(),
            password: password.into(),
            database: database.into(),
        };
        let steps = SqlServer::apply_credentials(c("Tpl-Passw0rd", "tpl]db"), c("New'Passw0rd\"x", "app")).unwrap();
        let step = &steps[0];
        assert_eq!(step.env, [("SQLCMDPASSWORD".to_string(), "Tpl-Passw0rd".to_string())]);
        assert!(!step.command.iter().any(|a| a.contains("Passw0rd")));
        let sql = String::from_utf8(step.stdin.clone().unwrap()).unwrap();
        assert!(
            sql.contains(r#"ALTER LOGIN [sa] WITH PASSWORD = N'New''Passw0rd"x';"#),
            "{sql}"
        );
        assert!(
            sql.contains("IF DB_ID(N'tpl]db') IS NOT NULL DROP DATABASE [tpl]]db];"),
            "{sql}"
        );
        let keep = SqlServer::apply_credentials(c("Tpl-Passw0rd", "master"), c("New-Passw0rd1", "app")).unwrap();
        assert!(
            !String::from_utf8(keep[0].stdin.clone().unwrap())
                .unwrap()
                .contains("DROP")
        );
        assert!(SqlServer::apply_credentials(c("Tpl-Passw0rd", "x"), c("weak", "app")).is_err());
    }

    #[test]
    fn data_plan_flushes_the_log_before_the_frozen_copy() {
        let plan = SqlServer::data_plan(opts()).unwrap();
        assert_eq!(plan.paths, [DATA]);
        let sql = String::from_utf8(plan.quiesce[0].stdin.clone().unwrap()).unwrap();
        assert!(sql.contains("sp_flush_log") && sql.contains("CHECKPOINT"), "{sql}");
    }

    fn opts() -> Options {
        testing::options(PASSWORD)
    }

    /// A PRELOGIN response as SQL Server 2022 sends it (MS-TDS 2.2.6.5): header with type
    /// 0x04, then VERSION 16.0.1000, ENCRYPTION off, INSTOPT ok, an empty THREADID and MARS.
    fn prelogin_response() -> Vec<u8> {
        [
            &[0x04, 0x01, 0x00, 0x2b, 0x00, 0x00, 0x01, 0x00][..], // header, length 43
            &[0x00, 0x00, 0x1a, 0x00, 0x06],                       // VERSION at 26, 6 bytes
            &[0x01, 0x00, 0x20, 0x00, 0x01],                       // ENCRYPTION at 32
            &[0x02, 0x00, 0x21, 0x00, 0x01],                       // INSTOPT at 33
            &[0x03, 0x00, 0x22, 0x00, 0x00],                       // THREADID at 34, empty
            &[0x04, 0x00, 0x22, 0x00, 0x01],                       // MARS at 34
            &[0xff],                                               // terminator
            &[0x10, 0x00, 0x03, 0xe8, 0x00, 0x00],                 // 16.0.1000, sub-build 0
            &[0x00],                                               // ENCRYPT_OFF
            &[0x00],                                               // instance matched
            &[0x00],                                               // MARS off
        ]
        .concat()
    }

    #[test]
    fn start_sends_a_prelogin_packet() {
        let expected = [
            &[0x12, 0x01, 0x00, 0x2f, 0x00, 0x00, 0x01, 0x00][..], // PRELOGIN, EOM, length 47
            &[0x00, 0x00, 0x1a, 0x00, 0x06],                       // VERSION at 26, 6 bytes
            &[0x01, 0x00, 0x20, 0x00, 0x01],                       // ENCRYPTION at 32, 1 byte
            &[0x02, 0x00, 0x21, 0x00, 0x01],                       // INSTOPT at 33, 1 byte
            &[0x03, 0x00, 0x22, 0x00, 0x04],                       // THREADID at 34, 4 bytes
            &[0x04, 0x00, 0x26, 0x00, 0x01],                       // MARS at 38, 1 byte
            &[0xff],                                               // terminator
            &[0, 0, 0, 0, 0, 0],                                   // client version
            &[0x00],                                               // ENCRYPT_OFF
            &[0x00],                                               // default instance
            &[0, 0, 0, 0],                                         // thread id
            &[0x00],                                               // MARS off
        ]
        .concat();
        assert_eq!(expected.len(), 0x2f);
        assert_eq!(SqlServer::handshake_start(ctx(), testing::secrets()), expected);
    }

    #[test]
    fn prelogin_response_is_ready_and_partial_needs_more() {
        let response = prelogin_response();
        assert_eq!(response.len(), 0x2b);
        assert_eq!(judge(&response), ready_unauthenticated(None, NOTE));
        for cut in [0, 1, 3, 8, 20, response.len() - 1] {
            assert_eq!(judge(&response[..cut]), HandshakeOutcome::NeedMore, "cut at {cut}");
        }
    }

    #[test]
    fn error_token_is_not_yet_and_garbage_fails() {
        // ERROR token: length 0x1e, number 17809, state 1, class 20, message "too many" (8
        // UTF-16 units), server name and procedure empty, line 0.
        let mut error = vec![0x04, 0x01, 0x00, 0x29, 0x00, 0x00, 0x01, 0x00, 0xaa, 0x1e, 0x00];
        error.extend([0x91, 0x45, 0x00, 0x00, 0x01, 0x14, 0x08, 0x00]);
        error.extend("too many".encode_utf16().flat_map(u16::to_le_bytes));
        error.extend([0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
        assert_eq!(error.len(), 0x29);
        assert_eq!(
            judge(&error),
            HandshakeOutcome::NotYet("SQL Server error 17809: too many".into())
        );

        assert!(matches!(
            judge(b"HTTP/1.1 400 Bad Request\r\n"),
            HandshakeOutcome::Failed(_)
        ));
        // Right type, but the option table points past the payload.
        let mut bad = prelogin_response();
        bad[10] = 0x7f;
        assert!(matches!(judge(&bad), HandshakeOutcome::Failed(_)));
        // Right type, no VERSION option.
        let no_version = [
            &[0x04, 0x01, 0x00, 0x0f, 0, 0, 1, 0][..],
            &[0x01, 0x00, 0x06, 0x00, 0x01, 0xff, 0x02],
        ]
        .concat();
        assert!(matches!(judge(&no_version), HandshakeOutcome::Failed(_)));
    }

    #[test]
    fn versions_images_and_tags() {
        let info = SqlServer::info();
        assert_eq!(info.default_version, "2022");
        assert_eq!(info.default_port, 1433);
        assert_eq!(
            SqlServer::container_spec(opts()).unwrap().image,
            "mcr.microsoft.com/mssql/server:2022-latest"
        );
        let old = SqlServer::container_spec(Options {
            version: "2019".into(),
            ..opts()
        })
        .unwrap();
        assert_eq!(old.image, "mcr.microsoft.com/mssql/server:2019-latest");
    }

    #[test]
    fn spec_env_paths_and_probes() {
        let spec = SqlServer::container_spec(Options {
            memory_limit_bytes: Some(4 << 30),
            extra: vec![("MSSQL_COLLATION".into(), "Latin1_General_100_CI_AS_SC_UTF8".into())],
            ..opts()
        })
        .unwrap();
        let env = Env::new().extend(spec.env);
        assert_eq!(env.get("ACCEPT_EULA"), Some("Y"));
        assert_eq!(env.get("MSSQL_PID"), Some("Developer"));
        assert_eq!(env.get("MSSQL_SA_PASSWORD"), Some(PASSWORD));
        assert_eq!(env.get("SQLCMDPASSWORD"), Some(PASSWORD));
        assert_eq!(env.get("MSSQL_MEMORY_LIMIT_MB"), Some("3276"));
        assert_eq!(env.get("MSSQL_COLLATION"), Some("Latin1_General_100_CI_AS_SC_UTF8"));
        assert_eq!(spec.data_paths, ["/var/opt/mssql"]);
        assert_eq!(spec.ports, [1433]);
        assert!(spec.cmd.is_empty());
        assert_eq!(spec.memory_limit_bytes, Some(4 << 30));
        assert_eq!(
            (spec.credentials.user.as_str(), spec.credentials.database.as_str()),
            ("sa", "master")
        );
        assert_eq!(spec.readiness.startup_timeout_secs, 180);
        let [Probe::Handshake(h), Probe::LogLine(log), Probe::Exec(exec)] = spec.readiness.probes.as_slice() else {
            panic!("expected handshake, log line, exec: {:?}", spec.readiness.probes);
        };
        assert_eq!(h.container_port, 1433);
        assert_eq!((log.pattern.as_str(), log.count), ("Recovery is complete", 1));
        assert_eq!(exec.expect_output.as_deref(), Some("dbarena-ready"));
        assert_eq!(exec.command[..2], ["/bin/sh", "-c"]);
        let script = &exec.command[2];
        assert!(script.contains("/opt/mssql-tools18/bin/sqlcmd -C"));
        assert!(script.contains("/opt/mssql-tools/bin/sqlcmd;"));
        assert!(script.contains("-S localhost -U sa -b -h -1 -Q \"SET NOCOUNT ON; SELECT 'dbarena' + '-ready'\""));
        assert!(!script.contains(PASSWORD) && !script.contains("dbarena-ready"));
        let at_floor = SqlServer::container_spec(Options {
            memory_limit_bytes: Some(2 << 30),
            ..opts()
        })
        .unwrap();
        assert_eq!(
            Env::new().extend(at_floor.env).get("MSSQL_MEMORY_LIMIT_MB"),
            Some("2048")
        );
    }

    #[test]
    fn other_databases_are_created_by_the_login_probe() {
        let script = |mode| {
            let spec = SqlServer::container_spec(Options {
                database: Some("shop".into()),
                mode,
                ..opts()
            })
            .unwrap();
            assert_eq!(spec.credentials.database, "shop");
            match &spec.readiness.probes[2] {
                Probe::Exec(e) => e.command[2].clone(),
                other => panic!("{other:?}"),
            }
        };
        let durable = script(Mode::Durable);
        assert!(durable.contains("IF DB_ID(N'shop') IS NULL CREATE DATABASE [shop]; SELECT"));
        assert!(!durable.contains("DELAYED_DURABILITY"));
        assert!(script(Mode::Fast).contains("ALTER DATABASE [shop] SET DELAYED_DURABILITY = FORCED"));
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let err = |o: Options| SqlServer::container_spec(o).unwrap_err();
        for weak in [
            "Short1!",
            "alllowercase",
            "ALLUPPER123",
            "nodigits_or_upper",
            &"Aa1!".repeat(33),
        ] {
            let e = err(Options {
                password: weak.into(),
                ..opts()
            });
            assert_eq!(e.field.as_deref(), Some("password"), "{weak}");
            assert!(e.message.contains("at least three of"), "{}", e.message);
        }
        for strong in ["Passw0rd", "lower_and_UPPER", "p@ss:w/rd1", "ABC123!!"] {
            assert!(
                SqlServer::container_spec(Options {
                    password: strong.into(),
                    ..opts()
                })
                .is_ok(),
                "{strong}"
            );
        }
        let e = err(Options {
            memory_limit_bytes: Some(1 << 30),
            ..opts()
        });
        assert_eq!(e.field.as_deref(), Some("memory"));
        assert!(e.message.contains("2 GiB"));
        assert_eq!(
            err(Options {
                user: Some("app".into()),
                ..opts()
            })
            .field
            .as_deref(),
            Some("user")
        );
        assert!(
            SqlServer::container_spec(Options {
                user: Some("SA".into()),
                ..opts()
            })
            .is_ok()
        );
        assert_eq!(
            err(Options {
                database: Some("my db".into()),
                ..opts()
            })
            .field
            .as_deref(),
            Some("database")
        );
        assert_eq!(
            err(Options {
                database: Some("1st".into()),
                ..opts()
            })
            .field
            .as_deref(),
            Some("database")
        );
        assert_eq!(
            err(Options {
                version: "2017".into(),
                ..opts()
            })
            .field
            .as_deref(),
            Some("version")
        );
        let extra = vec![("SA_PASSWORD".into(), "x".into())];
        assert_eq!(err(Options { extra, ..opts() }).field.as_deref(), Some("env"));
    }

    #[test]
    fn url_percent_encodes_credentials() {
        let at = Endpoint {
            host: "127.0.0.1".into(),
            port: 14330,
            credentials: Credentials {
                user: "sa".into(),
                password: "p@ss:w/rd1A".into(),
                database: "master".into(),
            },
        };
        let info = SqlServer::connection(at);
        assert_eq!(
            info.url,
            "sqlserver://sa:p%40ss%3Aw%2Frd1A@127.0.0.1:14330?database=master&TrustServerCertificate=true"
        );
        assert!(info.env.contains(&("SQLCMDSERVER".into(), "127.0.0.1,14330".into())));
        assert!(info.env.contains(&("MSSQL_PASSWORD".into(), "p@ss:w/rd1A".into())));
        assert_eq!(info.shell[..2], ["/opt/mssql-tools18/bin/sqlcmd", "-C"]);
        assert!(!info.shell.iter().any(|a| a.contains("p@ss")));
    }

    fn endpoint(host: &str, user: &str, password: &str, database: &str) -> Endpoint {
        Endpoint {
            host: host.into(),
            port: 14333,
            credentials: Credentials {
                user: user.into(),
                password: password.into(),
                database: database.into(),
            },
        }
    }

    #[test]
    fn plain_values_give_plain_jdbc_and_ado_net_strings() {
        let forms = SqlServer::connection_forms(endpoint("127.0.0.1", "sa", "S3cret-pw!", "master"));
        let kinds: Vec<_> = forms.iter().map(|f| (f.kind.as_str(), f.env_name.as_deref())).collect();
        assert_eq!(
            kinds,
            [
                ("jdbc", Some("JDBC_URL")),
                ("ado-net", Some("ADO_NET_CONNECTION_STRING"))
            ]
        );
        assert_eq!(
            forms[0].value,
            "jdbc:sqlserver://127.0.0.1:14333;databaseName=master;user=sa;password=S3cret-pw!;encrypt=true;trustServerCertificate=true"
        );
        assert_eq!(
            forms[1].value,
            "Server=127.0.0.1,14333;Database=master;User Id=sa;Password=S3cret-pw!;TrustServerCertificate=True;"
        );
    }

    #[test]
    fn special_values_are_escaped_per_driver_rules() {
        let forms = SqlServer::connection_forms(endpoint("::1", "a b", "p;w}{=x", "d'b"));
        assert_eq!(
            forms[0].value,
            "jdbc:sqlserver://;serverName=::1;portNumber=14333;databaseName=d'b;user=a b;password={p;w}}{=x};encrypt=true;trustServerCertificate=true"
        );
        assert_eq!(
            forms[1].value,
            "Server=::1,14333;Database=\"d'b\";User Id=a b;Password=\"p;w}{=x\";TrustServerCertificate=True;"
        );
        assert_eq!(ado_net_value("say \"hi\""), "'say \"hi\"'");
        assert_eq!(ado_net_value("it's \"x\""), "\"it's \"\"x\"\"\"");
        assert_eq!(ado_net_value(" lead"), "\" lead\"");
        assert_eq!(jdbc_value(" lead"), "{ lead}");
        assert_eq!(jdbc_value("a}b"), "{a}}b}");
    }

    #[test]
    fn clients_carry_the_password_in_env() {
        let client = SqlServer::client(Endpoint {
            host: "127.0.0.1".into(),
            port: 14330,
            credentials: Credentials {
                user: "sa".into(),
                password: "Str0ng!pw".into(),
                database: "master".into(),
            },
        });
        assert_eq!(client.host_shell.as_ref().unwrap()[3], "127.0.0.1,14330");
        let query = client.query.unwrap();
        for step in [&client.container_shell, &query] {
            assert!(!step.command.iter().any(|a| a.contains("Str0ng")), "{:?}", step.command);
            assert_eq!(step.env, vec![("SQLCMDPASSWORD".to_string(), "Str0ng!pw".to_string())]);
        }
        assert_eq!(query.command.last().unwrap(), "-b");
        assert_eq!(SqlServer::init_support().unwrap().directory, None);
    }
}
