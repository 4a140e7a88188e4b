//! MySQL engine plugin, following the official `mysql` image: credentials through
//! `MYSQL_ROOT_PASSWORD` (and `MYSQL_USER`/`MYSQL_PASSWORD` for a non-root user), the
//! database through `MYSQL_DATABASE`, server settings as `mysqld` arguments.
//!
//! Defaults: user `root` and database `app` (created by the image, so the URL points at an
//! existing, empty schema). A non-root user gets the same password and all rights on the
//! database; root keeps the password too.
//!
//! The server flags are accepted by MariaDB as well (its image also reads the `MYSQL_*`
//! variables), so a MariaDB image can stand in.
//!
//! Readiness is a login through the published port with the instance's credentials (the
//! SDK's `protocols::mysql`), so "ready" means the printed URL works: on first start the
//! image runs a temporary server with `--skip-networking`, so a greeting over TCP comes from
//! the real server.

use dbarena_plugin_sdk::prelude::*;
use dbarena_plugin_sdk::protocols::mysql;

mod tenant;

pub struct Mysql;

const PORT: u16 = 3306;
const DATA: &str = "/var/lib/mysql";
/// The server's socket in the official images (and the test image).
const SOCKET: &str = "/run/mysqld/mysqld.sock";
/// MySQL user names are at most 32 characters.
const MAX_USER_CHARS: usize = 32;
/// Schema names are at most 64 characters.
const MAX_DATABASE_CHARS: usize = 64;
/// Env vars that hold the credentials: `--user`, `--password` and `--database` set them, so
/// an `--env` override would break readiness and connection info.
const MANAGED_ENV: &[&str] = &[
    "MYSQL_ROOT_PASSWORD",
    "MYSQL_ROOT_PASSWORD_FILE",
    "MYSQL_ALLOW_EMPTY_PASSWORD",
    "MYSQL_RANDOM_ROOT_PASSWORD",
    "MYSQL_USER",
    "MYSQL_USER_FILE",
    "MYSQL_PASSWORD",
    "MYSQL_PASSWORD_FILE",
    "MYSQL_DATABASE",
    "MYSQL_DATABASE_FILE",
    "MARIADB_ROOT_PASSWORD",
    "MARIADB_USER",
    "MARIADB_PASSWORD",
    "MARIADB_DATABASE",
];

/// A quoted SQL string (backslash escapes are on by default): `\\` and `'` escaped.
fn sql_string(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// A quoted identifier: backticks doubled.
fn sql_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn version(v: &str, tag: &str, aliases: &[&str]) -> VersionInfo {
    version_info("mysql", v, tag, aliases)
}

/// The image's entrypoint pastes the user name and the passwords into SQL string literals
/// (`CREATE USER '$MYSQL_USER'@'%' IDENTIFIED BY '$MYSQL_PASSWORD'`) and the root password into
/// an option file (`password="..."`) without escaping, so quotes and backslashes would break
/// the first start; control characters would break the option file.
fn check_quotable(field: &str, value: &str) -> Result<(), PluginError> {
    if value.is_empty() {
        return Err(field_error(field, "must not be empty"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| matches!(c, '\'' | '"' | '\\' | '`') || c.is_control())
    {
        return Err(field_error(
            field,
            format!(
                "must not contain {c:?}: the mysql image writes it into SQL and option files without escaping (quotes, backslashes, backticks and control characters are refused)"
            ),
        ));
    }
    Ok(())
}

/// Schema names: the entrypoint runs ``CREATE DATABASE `$MYSQL_DATABASE` ``, and the name is
/// also a directory; letters, digits, `_`, `$` and `-` work everywhere.
fn check_database(name: &str) -> Result<(), PluginError> {
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_DATABASE_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-'));
    if valid {
        Ok(())
    } else {
        Err(field_error(
            "database",
            format!(
                "'{name}' is not a supported schema name: use 1-{MAX_DATABASE_CHARS} ASCII letters, digits, '_', '$' or '-'"
            ),
        ))
    }
}

/// `SCHEME://user:password@host:port/database`, every part percent-encoded.
fn authority_url(scheme: &str, at: &Endpoint) -> String {
    let c = &at.credentials;
    format!(
        "{scheme}://{}:{}@{}:{}/{}",
        percent_encode(&c.user),
        percent_encode(&c.password),
        url_host(&at.host),
        at.port,
        percent_encode(&c.database)
    )
}

impl Engine for Mysql {
    fn info() -> EngineInfo {
        EngineInfo {
            id: "mysql".into(),
            display_name: "MySQL".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            description: "Relational database (official `mysql` image)".into(),
            versions: vec![
                version("8.0", "8.0", &[]),
                version("8.4", "8.4", &["lts", "8"]),
                version("9", "9", &["latest", "innovation"]),
            ],
            default_version: "8.4".into(),
            default_port: PORT,
            documentation_url: "https://hub.docker.com/_/mysql".into(),
        }
    }

    fn container_spec(opts: Options) -> Result<ContainerSpec, PluginError> {
        let info = Self::info();
        let v = find_version(&info, &opts.version)?;
        let user = opts.user.clone().unwrap_or_else(|| "root".into());
        check_quotable("user", &user)?;
        if user.chars().count() > MAX_USER_CHARS {
            return Err(field_error(
                "user",
                format!("MySQL user names are at most {MAX_USER_CHARS} characters"),
            ));
        }
        let database = opts.database.clone().unwrap_or_else(|| "app".into());
        check_database(&database)?;
        check_quotable("password", &opts.password)?;
        reject_managed_env(&opts.extra, MANAGED_ENV)?;

        let mut cmd = vec!["mysqld".to_string()];
        if opts.mode == Mode::Fast {
            // Flush the redo log once a second instead of at every commit, and keep no binary
            // log. Every flag exists with the same meaning in MySQL 8.0-9 and MariaDB 10.11+.
            cmd.extend(
                [
                    "--innodb-flush-log-at-trx-commit=2",
                    "--sync-binlog=0",
                    "--skip-log-bin",
                ]
                .map(String::from),
            );
        }
        if let Some(limit) = opts.memory_limit_bytes {
            // A quarter of the limit for the buffer pool (default 128M) leaves room for the
            // per-connection buffers and performance_schema.
            let mib = (limit / 4 / (1024 * 1024)).max(8);
            cmd.push(format!("--innodb-buffer-pool-size={mib}M"));
        }
        let non_root = (user != "root").then(|| user.clone());
        let env = Env::new()
            .set("MYSQL_ROOT_PASSWORD", opts.password.clone())
            .set("MYSQL_DATABASE", database.clone())
            // The entrypoint refuses MYSQL_USER=root: root is configured by MYSQL_ROOT_PASSWORD.
            .set_opt("MYSQL_USER", non_root.clone())
            .set_opt("MYSQL_PASSWORD", non_root.map(|_| opts.password.clone()))
            .extend(opts.extra.clone());

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
                user,
                password: opts.password,
                database,
            },
            readiness: Readiness {
                probes: vec![Probe::Handshake(HandshakeProbe {
                    container_port: PORT,
                    description: "MySQL login".into(),
                })],
                // Data-directory initialisation alone takes 7-14 s, more on slow disks.
                startup_timeout_secs: 120,
            },
        })
    }

    /// The data directory; no quiesce steps: every commit is in the redo log the OS holds
    /// (`innodb_flush_log_at_trx_commit` 1 or 2), so a frozen copy recovers them all.
    fn data_plan(opts: Options) -> Option<DataPlan> {
        let spec = Self::container_spec(opts).ok()?;
        Some(DataPlan {
            paths: spec.data_paths,
            quiesce: Vec::new(),
        })
    }

    /// One client session as root over the container's socket (the template's root password
    /// in `MYSQL_PWD`, never in argv): root's password, the wanted database and user (with
    /// the grants the image gives `MYSQL_USER`), and the template's own user and database
    /// dropped. `mariadb` is the client of MariaDB 11+, `mysql` that of MySQL.
    fn apply_credentials(template: Credentials, wanted: Credentials) -> Result<Vec<ExecStep>, PluginError> {
        check_quotable("user", &wanted.user)?;
        check_database(&wanted.database)?;
        check_quotable("password", &wanted.password)?;
        let pw = sql_string(&wanted.password);
        let mut sql = String::new();
        for host in ["%", "localhost"] {
            sql.push_str(&format!("ALTER USER IF EXISTS 'root'@'{host}' IDENTIFIED BY {pw};\n"));
        }
        if template.user != "root" && template.user != wanted.user {
            sql.push_str(&format!("DROP USER IF EXISTS {}@'%';\n", sql_string(&template.user)));
        }
        sql.push_str(&format!(
            "CREATE DATABASE IF NOT EXISTS {};\n",
            sql_ident(&wanted.database)
        ));
        if template.database != wanted.database {
            sql.push_str(&format!("DROP DATABASE IF EXISTS {};\n", sql_ident(&template.database)));
        }
        if wanted.user != "root" {
            let user = format!("{}@'%'", sql_string(&wanted.user));
            sql.push_str(&format!("CREATE USER IF NOT EXISTS {user} IDENTIFIED BY {pw};\n"));
            sql.push_str(&format!("ALTER USER {user} IDENTIFIED BY {pw};\n"));
            // `_` and `%` are wildcards in a GRANT's database name, as the image escapes them.
            let grant_db = wanted.database.replace('_', "\\_").replace('%', "\\%");
            sql.push_str(&format!("GRANT ALL ON {}.* TO {user};\n", sql_ident(&grant_db)));
        }
        sql.push_str("FLUSH PRIVILEGES;\n");
        Ok(vec![ExecStep {
            description: "set the instance's user, password and database".into(),
            // Started right after the container: the server's socket is waited for inside
            // it (every 20 ms, at most 10 s), each exec that finds no server yet costs a
            // Docker round trip (the host retries a failing step).
            command: [
                "sh",
                "-c",
                &format!(
                    "i=0; until [ -S {SOCKET} ] || [ \"$i\" -ge 500 ]; do i=$((i + 1)); sleep 0.02; done; \
                     if command -v mariadb >/dev/null; then exec mariadb \"$@\"; else exec mysql \"$@\"; fi"
                ),
                "sh",
                "--protocol=socket",
                "--user=root",
            ]
            .map(String::from)
            .to_vec(),
            env: vec![("MYSQL_PWD".into(), template.password)],
            stdin: Some(sql.into_bytes()),
        }])
    }

    fn handshake_step(ctx: HandshakeContext, _secrets: HandshakeSecrets, received: Vec<u8>) -> HandshakeOutcome {
        mysql::handshake_step(&ctx.credentials, &received)
    }

    /// `mysql://`, the scheme of mysql2, PyMySQL-style parsers, Prisma, Rails and Go's URL
    /// parsers; SQLAlchemy needs a driver suffix, hence the `sqlalchemy` form.
    /// The password travels in `MYSQL_PWD` (read by the MySQL and MariaDB clients), never
    /// argv; on the host the other values come from the instance's address.
    fn client(at: Endpoint) -> ClientCommands {
        let c = &at.credentials;
        let base = |extra: &[&str]| -> Vec<String> {
            let mut argv = vec![
                "mysql".to_string(),
                format!("--user={}", c.user),
                format!("--database={}", c.database),
            ];
            argv.extend(extra.iter().map(|s| s.to_string()));
            argv
        };
        let step = |description: &str, command: Vec<String>| ExecStep {
            description: description.into(),
            command,
            env: vec![("MYSQL_PWD".into(), c.password.clone())],
            stdin: None,
        };
        let mut host = base(&["--protocol=TCP"]);
        host.insert(1, format!("--host={}", at.host));
        host.insert(2, format!("--port={}", at.port));
        ClientCommands {
            host_shell: Some(host),
            container_shell: step("mysql", base(&[])),
            // `--table` prints results as the interactive client does.
            query: Some(step("query", base(&["--table"]))),
        }
    }

    /// The image runs `*.sql`, `*.sql.gz` and `*.sh` from its init directory on first start.
    fn init_support() -> Option<InitSupport> {
        Some(InitSupport {
            directory: Some("/docker-entrypoint-initdb.d".into()),
            suffixes: vec![".sql".into(), ".sql.gz".into(), ".sh".into()],
        })
    }

    fn connection(at: Endpoint) -> ConnectionInfo {
        let c = &at.credentials;
        let url = authority_url("mysql", &at);
        ConnectionInfo {
            // MYSQL_HOST, MYSQL_TCP_PORT and MYSQL_PWD are read by the mysql client itself;
            // MYSQL_USER and MYSQL_DATABASE are the names apps and compose files use.
            env: vec![
                ("DATABASE_URL".into(), url.clone()),
                ("MYSQL_HOST".into(), at.host.clone()),
                ("MYSQL_TCP_PORT".into(), at.port.to_string()),
                ("MYSQL_USER".into(), c.user.clone()),
                ("MYSQL_PWD".into(), c.password.clone()),
                ("MYSQL_DATABASE".into(), c.database.clone()),
            ],
            url,
            // Long options with `=` keep values that start with '-' unambiguous; the client
            // warns that a password on the command line is insecure, which is fine inside
            // the container.
            shell: vec![
                "mysql".into(),
                format!("--user={}", c.user),
                format!("--password={}", c.password),
                format!("--database={}", c.database),
            ],
        }
    }

    /// - `jdbc` (`JDBC_URL`): for MySQL Connector/J, which MariaDB Connector/J 2.x also
    ///   takes. `allowPublicKeyRetrieval=true` lets Connector/J log in with
    ///   `caching_sha2_password` (MySQL 8's default) without TLS; `useSSL=false` makes that
    ///   the path whether or not the image generated a self-signed certificate.
    /// - `sqlalchemy`: `create_engine("mysql://...")` loads mysqlclient, a C extension most
    ///   environments lack; `mysql+pymysql` is the pure-Python driver. SQLAlchemy takes the
    ///   database verbatim (schema names here never hold a `?`), so it is not encoded.
    fn connection_forms(at: Endpoint) -> Vec<ConnectionForm> {
        let c = &at.credentials;
        vec![
            ConnectionForm {
                kind: "jdbc".into(),
                env_name: Some("JDBC_URL".into()),
                value: format!(
                    "jdbc:mysql://{}:{}/{}?user={}&password={}&allowPublicKeyRetrieval=true&useSSL=false",
                    url_host(&at.host),
                    at.port,
                    percent_encode(&c.database),
                    percent_encode(&c.user),
                    percent_encode(&c.password)
                ),
            },
            ConnectionForm {
                kind: "sqlalchemy".into(),
                env_name: None,
                value: format!(
                    "mysql+pymysql://{}:{}@{}:{}/{}",
                    percent_encode(&c.user),
                    percent_encode(&c.password),
                    url_host(&at.host),
                    at.port,
                    c.database
                ),
            },
        ]
    }

    /// A database and a user of its own with a connection limit; no pooler (clients
    /// connect to the server directly, so the tenant's URL is the direct one).
    fn tenant_steps(server: Credentials, t: Tenant, action: TenantAction) -> Result<Vec<ExecStep>, PluginError> {
        tenant::steps(server, t, action)
    }
}

register!(Mysql);

#[cfg(test)]
mod tests {
    use super::*;
    use dbarena_plugin_sdk::testing;

    fn ctx() -> HandshakeContext {
        testing::context(
            Credentials {
                user: "root".into(),
                password: "pw".into(),
                database: "app".into(),
            },
            PORT,
        )
    }

    fn creds(user: &str, password: &str, database: &str) -> Credentials {
        Credentials {
            user: user.into(),
            password: password.into(),
            database: database.into(),
        }
    }

    #[test]
    fn data_plan_is_the_data_directory_without_quiesce_steps() {
        let plan = Mysql::data_plan(opts()).unwrap();
        assert_eq!(plan.paths, [DATA]);
        assert!(plan.quiesce.is_empty());
    }

    #[test]
    fn sql_quoting_escapes_quotes_backslashes_and_backticks() {
        assert_eq!(sql_string(r#"a'b"c;--\"#), r#"'a''b"c;--\\'"#);
        assert_eq!(sql_ident("a`b;--"), "`a``b;--`");
    }

    #[test]
    fn apply_credentials_switches_root_user_and_database_without_the_template_password_in_sql() {
        let steps = Mysql::apply_credentials(
            creds("dbarena_tpl", "tplpw", "dbarena_tpl"),
            creds("app_user", "new pw;--", "my_db"),
        )
        .unwrap();
        assert_eq!(steps.len(), 1);
        let step = &steps[0];
        assert_eq!(step.env, [("MYSQL_PWD".to_string(), "tplpw".to_string())]);
        assert!(!step.command.iter().any(|a| a.contains("pw")), "{:?}", step.command);
        let sql = String::from_utf8(step.stdin.clone().unwrap()).unwrap();
        assert!(!sql.contains("tplpw"), "{sql}");
        for line in [
            "ALTER USER IF EXISTS 'root'@'%' IDENTIFIED BY 'new pw;--';",
            "ALTER USER IF EXISTS 'root'@'localhost' IDENTIFIED BY 'new pw;--';",
            "DROP USER IF EXISTS 'dbarena_tpl'@'%';",
            "CREATE DATABASE IF NOT EXISTS `my_db`;",
            "DROP DATABASE IF EXISTS `dbarena_tpl`;",
            "CREATE USER IF NOT EXISTS 'app_user'@'%' IDENTIFIED BY 'new pw;--';",
            r"GRANT ALL ON `my\_db`.* TO 'app_user'@'%';",
        ] {
            assert!(sql.lines().any(|l| l == line), "missing {line} in\n{sql}");
        }
        // Root wanted: no extra user; hostile input the image cannot take is refused.
        let root = Mysql::apply_credentials(creds("t", "x", "t"), creds("root", "p", "app")).unwrap();
        let sql = String::from_utf8(root[0].stdin.clone().unwrap()).unwrap();
        assert!(!sql.contains("CREATE USER"), "{sql}");
        assert!(Mysql::apply_credentials(creds("t", "x", "t"), creds("a'b\"c;--", "p", "app")).is_err());
        assert!(Mysql::apply_credentials(creds("t", "x", "t"), creds("u", "a'b", "app")).is_err());
    }

    /// Runs `bytes` through the plugin's `handshake_step`.
    fn judge(bytes: &[u8]) -> HandshakeOutcome {
        Mysql::handshake_step(ctx(), testing::secrets(), bytes.to_vec())
    }

    fn opts() -> Options {
        testing::options("pw")
    }

    /// A MySQL 8.4 Initial Handshake packet (protocol v10), laid out per the client/server
    /// protocol docs: header, then version, connection id, scramble part 1, filler,
    /// capability flags, charset, status, capabilities (upper), auth data length, reserved,
    /// scramble part 2 and the auth plugin name.
    fn greeting_8_4() -> Vec<u8> {
        [
            &[0x49, 0x00, 0x00, 0x00][..],                         // payload length 73, sequence 0
            &[0x0a],                                               // protocol version 10
            b"8.4.3\0",                                            // server version
            &[0x08, 0x00, 0x00, 0x00],                             // connection id 8
            b"\x1a\x2b\x3c\x4d\x5e\x6f\x70\x01",                   // auth-plugin-data part 1 (8 bytes)
            &[0x00],                                               // filler
            &[0xff, 0xff],                                         // capability flags, lower 2 bytes
            &[0xff],                                               // character set utf8mb4_0900_ai_ci
            &[0x02, 0x00],                                         // status: SERVER_STATUS_AUTOCOMMIT
            &[0xff, 0xdf],                                         // capability flags, upper 2 bytes
            &[0x15],                                               // auth-plugin-data length 21
            &[0; 10],                                              // reserved
            b"\x11\x22\x33\x44\x55\x66\x77\x08\x09\x0a\x0b\x0c\0", // part 2 (13 bytes)
            b"caching_sha2_password\0",                            // auth plugin name
        ]
        .concat()
    }

    #[test]
    fn server_speaks_first() {
        assert!(Mysql::handshake_start(ctx(), testing::secrets()).is_empty());
    }

    #[test]
    fn greeting_is_answered_with_a_caching_sha2_login_and_partial_needs_more() {
        let greeting = greeting_8_4();
        assert_eq!(greeting.len(), 4 + 0x49);
        let scramble = b"\x1a\x2b\x3c\x4d\x5e\x6f\x70\x01\x11\x22\x33\x44\x55\x66\x77\x08\x09\x0a\x0b\x0c";
        let HandshakeOutcome::Send(reply) = judge(&greeting) else {
            panic!("a greeting is answered");
        };
        assert_eq!(reply[3], 1, "sequence 1");
        let auth = mysql::caching_sha2_password("pw", scramble);
        assert!(reply.windows(33).any(|w| w[0] == 32 && w[1..] == auth[..]));
        assert!(reply.ends_with(b"root\0".as_slice()) || reply.windows(5).any(|w| w == b"root\0"));
        assert!(reply.ends_with(b"app\0caching_sha2_password\0"));
        for cut in [0, 2, 4, 5, 40, greeting.len() - 1] {
            assert_eq!(judge(&greeting[..cut]), HandshakeOutcome::NeedMore, "cut at {cut}");
        }
    }

    #[test]
    fn wrong_password_fails_with_the_server_message() {
        let message = b"Access denied for user 'root'@'172.17.0.1' (using password: YES)";
        let err = [
            &[(9 + message.len()) as u8, 0, 0, 2, 0xff, 0x15, 0x04, b'#'][..],
            b"28000",
            message,
        ]
        .concat();
        assert_eq!(
            judge(&err),
            HandshakeOutcome::Failed(
                "ERROR 1045 (28000): Access denied for user 'root'@'172.17.0.1' (using password: YES)".into()
            )
        );
        // ERR 1040 before the handshake: busy, not broken.
        let too_many = [&[0x17, 0, 0, 0, 0xff, 0x10, 0x04][..], b"Too many connections"].concat();
        assert!(matches!(judge(&too_many), HandshakeOutcome::NotYet(_)));
    }

    #[test]
    fn garbage_fails() {
        assert!(matches!(
            judge(b"HTTP/1.1 400 Bad Request\r\n"),
            HandshakeOutcome::Failed(_)
        ));
        assert!(matches!(judge(&[0, 0, 0, 0]), HandshakeOutcome::Failed(_)));
    }

    #[test]
    fn versions_images_and_tags() {
        let info = Mysql::info();
        assert_eq!(info.default_version, "8.4");
        assert_eq!(info.default_port, 3306);
        let tags: Vec<&str> = info.versions.iter().map(|v| v.image_tag.as_str()).collect();
        assert_eq!(tags, ["8.0", "8.4", "9"]);
        assert_eq!(Mysql::container_spec(opts()).unwrap().image, "mysql:8.4");
        let lts = Mysql::container_spec(Options {
            version: "lts".into(),
            ..opts()
        })
        .unwrap();
        assert_eq!(lts.image, "mysql:8.4");
        let latest = Mysql::container_spec(Options {
            version: "latest".into(),
            ..opts()
        })
        .unwrap();
        assert_eq!(latest.image, "mysql:9");
    }

    #[test]
    fn fast_mode_relaxes_flushing_and_durable_keeps_defaults() {
        let fast = Mysql::container_spec(opts()).unwrap();
        assert_eq!(
            fast.cmd,
            [
                "mysqld",
                "--innodb-flush-log-at-trx-commit=2",
                "--sync-binlog=0",
                "--skip-log-bin"
            ]
        );
        let durable = Mysql::container_spec(Options {
            mode: Mode::Durable,
            persistent: true,
            ..opts()
        })
        .unwrap();
        assert_eq!(durable.cmd, ["mysqld"]);
        let limited = Mysql::container_spec(Options {
            mode: Mode::Durable,
            persistent: true,
            memory_limit_bytes: Some(1 << 30),
            ..opts()
        })
        .unwrap();
        assert_eq!(limited.cmd, ["mysqld", "--innodb-buffer-pool-size=256M"]);
        assert_eq!(limited.memory_limit_bytes, Some(1 << 30));
        assert_eq!(limited.data_paths, ["/var/lib/mysql"]);
        assert_eq!(limited.ports, [3306]);
    }

    #[test]
    fn root_gets_only_the_root_password_and_other_users_get_an_account() {
        let root = Mysql::container_spec(opts()).unwrap();
        let env = Env::new().extend(root.env);
        assert_eq!(env.get("MYSQL_ROOT_PASSWORD"), Some("pw"));
        assert_eq!(env.get("MYSQL_DATABASE"), Some("app"));
        assert_eq!(env.get("MYSQL_USER"), None);
        assert_eq!(env.get("MYSQL_PASSWORD"), None);
        let c = &root.credentials;
        assert_eq!(
            (c.user.as_str(), c.password.as_str(), c.database.as_str()),
            ("root", "pw", "app")
        );

        let bob = Mysql::container_spec(Options {
            user: Some("bob".into()),
            database: Some("shop".into()),
            extra: vec![("TZ".into(), "UTC".into())],
            ..opts()
        })
        .unwrap();
        let env = Env::new().extend(bob.env);
        assert_eq!(env.get("MYSQL_ROOT_PASSWORD"), Some("pw"));
        assert_eq!(env.get("MYSQL_USER"), Some("bob"));
        assert_eq!(env.get("MYSQL_PASSWORD"), Some("pw"));
        assert_eq!(env.get("MYSQL_DATABASE"), Some("shop"));
        assert_eq!(env.get("TZ"), Some("UTC"));
        assert!(matches!(
            bob.readiness.probes.as_slice(),
            [Probe::Handshake(HandshakeProbe {
                container_port: 3306,
                ..
            })]
        ));
        assert_eq!(bob.readiness.startup_timeout_secs, 120);
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let field = |o: Options| Mysql::container_spec(o).unwrap_err().field;
        assert_eq!(
            field(Options {
                version: "5.7".into(),
                ..opts()
            })
            .as_deref(),
            Some("version")
        );
        assert_eq!(
            field(Options {
                user: Some("o'brien".into()),
                ..opts()
            })
            .as_deref(),
            Some("user")
        );
        assert_eq!(
            field(Options {
                user: Some("u".repeat(33)),
                ..opts()
            })
            .as_deref(),
            Some("user")
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
                database: Some("a`b".into()),
                ..opts()
            })
            .as_deref(),
            Some("database")
        );
        assert_eq!(
            field(Options {
                database: Some("d".repeat(65)),
                ..opts()
            })
            .as_deref(),
            Some("database")
        );
        assert_eq!(
            field(Options {
                password: "it's".into(),
                ..opts()
            })
            .as_deref(),
            Some("password")
        );
        assert_eq!(
            field(Options {
                password: "a\\b".into(),
                ..opts()
            })
            .as_deref(),
            Some("password")
        );
        assert_eq!(
            field(Options {
                password: String::new(),
                ..opts()
            })
            .as_deref(),
            Some("password")
        );
        let extra = vec![("MYSQL_ROOT_PASSWORD".into(), "x".into())];
        assert_eq!(field(Options { extra, ..opts() }).as_deref(), Some("env"));
        assert!(
            Mysql::container_spec(Options {
                password: "p@ss:w/rd#$%".into(),
                ..opts()
            })
            .is_ok()
        );
    }

    #[test]
    fn url_percent_encodes_credentials() {
        let at = Endpoint {
            host: "127.0.0.1".into(),
            port: 33306,
            credentials: Credentials {
                user: "bob".into(),
                password: "p@ss:w/rd".into(),
                database: "app".into(),
            },
        };
        let info = Mysql::connection(at);
        assert_eq!(info.url, "mysql://bob:p%40ss%3Aw%2Frd@127.0.0.1:33306/app");
        assert!(info.env.contains(&("DATABASE_URL".into(), info.url.clone())));
        assert!(info.env.contains(&("MYSQL_PWD".into(), "p@ss:w/rd".into())));
        assert!(info.env.contains(&("MYSQL_TCP_PORT".into(), "33306".into())));
        assert_eq!(
            info.shell,
            ["mysql", "--user=bob", "--password=p@ss:w/rd", "--database=app"]
        );
    }

    #[test]
    fn jdbc_and_sqlalchemy_forms_encode_every_part() {
        let at = Endpoint {
            host: "::1".into(),
            port: 33306,
            credentials: Credentials {
                user: "a b@c".into(),
                password: "p@ss:w/rd?#%+ x".into(),
                database: "my-db$1".into(),
            },
        };
        let forms = Mysql::connection_forms(at);
        let kinds: Vec<_> = forms.iter().map(|f| (f.kind.as_str(), f.env_name.as_deref())).collect();
        assert_eq!(kinds, [("jdbc", Some("JDBC_URL")), ("sqlalchemy", None)]);
        assert_eq!(
            forms[0].value,
            "jdbc:mysql://[::1]:33306/my-db%241?user=a%20b%40c&password=p%40ss%3Aw%2Frd%3F%23%25%2B%20x&allowPublicKeyRetrieval=true&useSSL=false"
        );
        assert_eq!(
            forms[1].value,
            "mysql+pymysql://a%20b%40c:p%40ss%3Aw%2Frd%3F%23%25%2B%20x@[::1]:33306/my-db$1"
        );
    }

    #[test]
    fn clients_carry_the_password_in_env_never_in_argv() {
        let at = Endpoint {
            host: "::1".into(),
            port: 33060,
            credentials: Credentials {
                user: "app".into(),
                password: "-s3cr3t pw".into(),
                database: "db".into(),
            },
        };
        let client = Mysql::client(at);
        let host = client.host_shell.unwrap();
        assert_eq!(
            host,
            [
                "mysql",
                "--host=::1",
                "--port=33060",
                "--user=app",
                "--database=db",
                "--protocol=TCP"
            ]
        );
        let query = client.query.unwrap();
        for step in [&client.container_shell, &query] {
            assert!(!step.command.iter().any(|a| a.contains("s3cr3t")), "{:?}", step.command);
            assert_eq!(step.env, vec![("MYSQL_PWD".to_string(), "-s3cr3t pw".to_string())]);
        }
        assert_eq!(
            Mysql::init_support().unwrap().directory.as_deref(),
            Some("/docker-entrypoint-initdb.d")
        );
    }
}
