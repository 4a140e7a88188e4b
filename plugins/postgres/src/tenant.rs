//! Tenants on a shared PostgreSQL server: a role and a database of its own per tenant,
//! created by `psql` inside the server container with the SQL on stdin (never in argv),
//! and a PgBouncer companion in front.
//!
//! Isolation: the tenant's role owns only its database, CONNECT is revoked from PUBLIC on
//! it (and on the `postgres` maintenance database), and the role has a connection limit.
//! Every name and password reaches SQL as a quoted identifier or literal.
//!
//! The pooler authenticates tenants with `auth_query` (PgBouncer asks the server for the
//! role's SCRAM secret as the admin user), so its files never change as tenants come and
//! go: no reload or restart per tenant, and no race between processes rewriting a user
//! list. `[databases] *` routes every database name to the server.

use dbarena_plugin_sdk::prelude::*;

/// PgBouncer's port in the container (its usual one).
pub const POOLER_PORT: u16 = 6432;
pub const POOLER_IMAGE: &str = "edoburu/pgbouncer:latest";
const INI: &str = "/etc/pgbouncer/pgbouncer.ini";
const USERLIST: &str = "/etc/pgbouncer/userlist.txt";
const SERVER_PORT_IN_CONTAINER: u16 = 5432;

/// `"name"` with embedded quotes doubled: a PostgreSQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with embedded quotes doubled: a literal under `standard_conforming_strings`
/// (on by default since 9.1), where a backslash is an ordinary character.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// No NUL or control characters anywhere a value reaches SQL or a config file.
fn check(field: &str, value: &str) -> Result<(), PluginError> {
    if value.is_empty() {
        return Err(field_error(field, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(field_error(field, "must not contain control characters"));
    }
    if value.len() > 63 && field != "password" {
        return Err(field_error(field, "PostgreSQL names are at most 63 bytes"));
    }
    Ok(())
}

fn psql(server: &Credentials, description: String, sql: String) -> ExecStep {
    ExecStep {
        description,
        // The image trusts the unix socket; ON_ERROR_STOP makes the first error the exit code.
        command: [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            &server.user,
            "-d",
            &server.database,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        env: Vec::new(),
        stdin: Some(sql.into_bytes()),
    }
}

/// A tenant snapshot is a database beside the tenant's: `<database>@<tag>`. Tenant
/// database names hold no `@`, so one tenant's snapshots never match another's prefix.
fn snapshot_database(database: &str, tag: &str) -> Result<String, PluginError> {
    if tag.is_empty()
        || !tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(field_error("snapshot", "a tag is letters, digits, '.', '_' and '-'"));
    }
    if database.contains('@') {
        return Err(field_error("tenant database", "must not contain '@'"));
    }
    let name = format!("{database}@{tag}");
    check("snapshot", &name)?;
    Ok(name)
}

/// Drops every snapshot database of `database` (psql's `\gexec` runs each generated
/// statement on its own: DROP DATABASE cannot run inside a function or transaction).
fn drop_snapshots(database: &str) -> String {
    let prefix = format!("{database}@");
    format!(
        "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', datname) FROM pg_database \
         WHERE left(datname, {len}) = {prefix} \\gexec\n",
        len = prefix.chars().count(),
        prefix = literal(&prefix),
    )
}

/// Ends every session on the tenant's database and of its role.
fn terminate(db: &str, user: &str) -> String {
    format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE pid <> pg_backend_pid() AND (datname = {} OR usename = {});\n",
        literal(db),
        literal(user)
    )
}

pub fn steps(server: Credentials, t: Tenant, action: TenantAction) -> Result<Vec<ExecStep>, PluginError> {
    check("user", &server.user)?;
    check("database", &server.database)?;
    let c = &t.credentials;
    check("tenant user", &c.user)?;
    check("tenant database", &c.database)?;
    check("password", &c.password)?;
    let (db, user) = (ident(&c.database), ident(&c.user));
    let limit = t.max_connections.map(|n| n as i64).unwrap_or(-1);
    let step = match action {
        TenantAction::Create => psql(
            &server,
            format!("create tenant {}", t.name),
            format!(
                "CREATE ROLE {user} LOGIN PASSWORD {pw} CONNECTION LIMIT {limit};\n\
                 CREATE DATABASE {db} OWNER {user};\n\
                 REVOKE CONNECT, TEMPORARY ON DATABASE {db} FROM PUBLIC;\n\
                 REVOKE CONNECT ON DATABASE {maint} FROM PUBLIC;\n",
                pw = literal(&c.password),
                maint = ident(&server.database),
            ),
        ),
        // NOLOGIN first, so no new session starts between the terminate and the drops.
        TenantAction::Drop => psql(
            &server,
            format!("drop tenant {}", t.name),
            format!(
                "DO $dbarena$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = {ulit}) THEN \
                 EXECUTE 'ALTER ROLE ' || quote_ident({ulit}) || ' NOLOGIN'; END IF; END $dbarena$;\n\
                 {terminate}\
                 DROP DATABASE IF EXISTS {db} WITH (FORCE);\n\
                 {snapshots}\
                 DROP ROLE IF EXISTS {user};\n",
                ulit = literal(&c.user),
                terminate = terminate(&c.database, &c.user),
                snapshots = drop_snapshots(&c.database),
            ),
        ),
        TenantAction::Snapshot(tag) => {
            let snap = snapshot_database(&c.database, &tag)?;
            psql(
                &server,
                format!("snapshot tenant {}", t.name),
                format!(
                    "{terminate}DROP DATABASE IF EXISTS {snap} WITH (FORCE);\n\
                     CREATE DATABASE {snap} TEMPLATE {db} OWNER {user};\n\
                     REVOKE ALL ON DATABASE {snap} FROM PUBLIC;\n",
                    terminate = terminate(&c.database, &c.user),
                    snap = ident(&snap),
                ),
            )
        }
        TenantAction::Restore(tag) => {
            let snap = snapshot_database(&c.database, &tag)?;
            psql(
                &server,
                format!("restore tenant {}", t.name),
                // A missing snapshot stops the step before anything is dropped.
                format!(
                    "DO $dbarena$ BEGIN IF NOT EXISTS (SELECT FROM pg_database WHERE datname = {lit}) THEN \
                     RAISE EXCEPTION 'tenant % has no snapshot %', {name}, {tag}; END IF; END $dbarena$;\n\
                     {terminate}DROP DATABASE IF EXISTS {db} WITH (FORCE);\n\
                     CREATE DATABASE {db} TEMPLATE {snap} OWNER {user};\n\
                     REVOKE CONNECT, TEMPORARY ON DATABASE {db} FROM PUBLIC;\n",
                    lit = literal(&snap),
                    name = literal(&t.name),
                    tag = literal(&tag),
                    terminate = terminate(&c.database, &c.user),
                    snap = ident(&snap),
                ),
            )
        }
    };
    Ok(vec![step])
}

/// A value in `pgbouncer.ini`: PgBouncer reads a line up to its end, so a value must be
/// one line and, for a name, plain.
fn ini_name(field: &str, value: &str) -> Result<(), PluginError> {
    if value.is_empty()
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(field_error(
            field,
            format!("'{value}' cannot be written into pgbouncer.ini: use letters, digits, '_', '-' or '.'"),
        ));
    }
    Ok(())
}

/// `"user" "password"` with `"` doubled, as PgBouncer's auth_file reads it.
fn userlist_line(user: &str, password: &str) -> String {
    format!(
        "\"{}\" \"{}\"\n",
        user.replace('"', "\"\""),
        password.replace('"', "\"\"")
    )
}

pub fn pooler(req: PoolerRequest) -> Result<Option<CompanionSpec>, PluginError> {
    ini_name("server host", &req.server_host)?;
    ini_name("user", &req.server.user)?;
    check("password", &req.server.password)?;
    check("database", &req.server.database)?;
    let pool_mode = match req.pool_mode.as_str() {
        "session" | "transaction" => req.pool_mode.clone(),
        other => {
            return Err(field_error(
                "pool-mode",
                format!("'{other}' is not a pool mode: use session or transaction"),
            ));
        }
    };
    let admin = &req.server.user;
    let ini = format!(
        "; Written by dbarena: PgBouncer in front of a shared PostgreSQL server.\n\
         [databases]\n\
         * = host={host} port={port}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = *\n\
         listen_port = {POOLER_PORT}\n\
         unix_socket_dir =\n\
         auth_type = scram-sha-256\n\
         auth_file = {USERLIST}\n\
         auth_user = {admin}\n\
         auth_query = SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END FROM pg_authid WHERE rolname = $1 AND rolcanlogin\n\
         admin_users = {admin}\n\
         pool_mode = {pool_mode}\n\
         max_client_conn = 2000\n\
         default_pool_size = 20\n\
         server_idle_timeout = 2\n\
         ignore_startup_parameters = extra_float_digits,options,search_path\n\
         server_reset_query = DISCARD ALL\n",
        host = req.server_host,
        port = req.server_port,
    );
    let _ = SERVER_PORT_IN_CONTAINER;
    Ok(Some(CompanionSpec {
        spec: ContainerSpec {
            image: POOLER_IMAGE.into(),
            env: Vec::new(),
            entrypoint: None,
            cmd: vec!["pgbouncer".into(), INI.into()],
            data_paths: Vec::new(),
            tmpfs: Vec::new(),
            memory_limit_bytes: None,
            ports: vec![POOLER_PORT],
            credentials: req.server.clone(),
            readiness: Readiness {
                // A full login as the admin through PgBouncer: it proves PgBouncer is up, its
                // user list is read and it reaches the server.
                probes: vec![Probe::Handshake(HandshakeProbe {
                    container_port: POOLER_PORT,
                    description: "PostgreSQL login through PgBouncer".into(),
                })],
                startup_timeout_secs: 30,
            },
        },
        files: vec![
            (INI.into(), ini.into_bytes()),
            (USERLIST.into(), userlist_line(admin, &req.server.password).into_bytes()),
        ],
        // PgBouncer runs as PID 1 in its container and re-reads its files on SIGHUP.
        reload: vec![ExecStep {
            description: "reload PgBouncer".into(),
            command: vec!["kill".into(), "-HUP".into(), "1".into()],
            env: Vec::new(),
            stdin: None,
        }],
    }))
}

/// `DATABASE_URL` through the pooler (what a running app uses), `DIRECT_URL` straight to
/// the server (migrations, `LISTEN`, session state a transaction pool would lose).
pub fn connection(
    pooled: Option<Endpoint>,
    direct: Endpoint,
    connection_of: impl Fn(Endpoint) -> ConnectionInfo,
) -> ConnectionInfo {
    let direct_url = connection_of(direct.clone()).url;
    let mut info = connection_of(pooled.unwrap_or(direct));
    // Right after DATABASE_URL, as the Instance Manager printed them.
    let at = info
        .env
        .iter()
        .position(|(k, _)| k == "DATABASE_URL")
        .map_or(0, |i| i + 1);
    info.env.insert(at, ("DIRECT_URL".into(), direct_url));
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Credentials {
        dbarena_plugin_sdk::testing::credentials("postgres", "adm'pw", "postgres")
    }

    fn tenant(name: &str, password: &str) -> Tenant {
        dbarena_plugin_sdk::testing::tenant(name, password, Some(7))
    }

    fn sql(step: &ExecStep) -> String {
        dbarena_plugin_sdk::testing::stdin_text(step)
    }

    #[test]
    fn create_quotes_names_and_password_and_keeps_sql_out_of_argv() {
        let pw = "x'; DROP ROLE postgres; --\\ \"q\" :var $$";
        let steps = steps(server(), tenant("app", pw), TenantAction::Create).unwrap();
        assert_eq!(steps.len(), 1);
        let s = sql(&steps[0]);
        assert!(
            s.contains("CREATE ROLE \"app_user\" LOGIN PASSWORD 'x''; DROP ROLE postgres; --\\ \"q\" :var $$' CONNECTION LIMIT 7;"),
            "{s}"
        );
        assert!(s.contains("CREATE DATABASE \"app_db\" OWNER \"app_user\";"), "{s}");
        assert!(
            s.contains("REVOKE CONNECT, TEMPORARY ON DATABASE \"app_db\" FROM PUBLIC;"),
            "{s}"
        );
        assert!(
            s.contains("REVOKE CONNECT ON DATABASE \"postgres\" FROM PUBLIC;"),
            "{s}"
        );
        assert!(!steps[0].command.iter().any(|a| a.contains(pw) || a.contains("CREATE")));
        assert_eq!(steps[0].command[0], "psql");
        assert!(steps[0].command.contains(&"ON_ERROR_STOP=1".to_string()));
    }

    #[test]
    fn identifiers_double_their_quotes() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
        let mut t = tenant("app", "pw");
        t.credentials.database = "evil\"; DROP DATABASE postgres; --".into();
        let s = sql(&steps(server(), t, TenantAction::Create).unwrap()[0]);
        assert!(
            s.contains("CREATE DATABASE \"evil\"\"; DROP DATABASE postgres; --\" OWNER"),
            "{s}"
        );
    }

    #[test]
    fn no_connection_limit_is_unlimited_and_control_characters_are_refused() {
        let mut t = tenant("app", "pw");
        t.max_connections = None;
        assert!(sql(&steps(server(), t, TenantAction::Create).unwrap()[0]).contains("CONNECTION LIMIT -1;"));
        let err = steps(server(), tenant("app", "a\nb"), TenantAction::Create).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("password"));
        let mut t = tenant("app", "pw");
        t.credentials.user = "a\0b".into();
        assert!(steps(server(), t, TenantAction::Create).is_err());
    }

    #[test]
    fn drop_blocks_logins_terminates_sessions_then_drops_database_and_role() {
        let s = sql(&steps(server(), tenant("app", "pw"), TenantAction::Drop).unwrap()[0]);
        let order = [
            "NOLOGIN",
            "pg_terminate_backend",
            "DROP DATABASE IF EXISTS \"app_db\" WITH (FORCE)",
            "DROP ROLE IF EXISTS \"app_user\"",
        ];
        let positions: Vec<usize> = order
            .iter()
            .map(|p| s.find(p).unwrap_or_else(|| panic!("{p} in {s}")))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{s}");
        assert!(s.contains("datname = 'app_db' OR usename = 'app_user'"), "{s}");
    }

    #[test]
    fn snapshot_and_restore_copy_through_a_template() {
        let s = sql(&steps(server(), tenant("app", "pw"), TenantAction::Snapshot("v1".into())).unwrap()[0]);
        assert!(
            s.contains("CREATE DATABASE \"app_db@v1\" TEMPLATE \"app_db\" OWNER \"app_user\";"),
            "{s}"
        );
        let s = sql(&steps(server(), tenant("app", "pw"), TenantAction::Restore("v1".into())).unwrap()[0]);
        let check = s.find("RAISE EXCEPTION").unwrap();
        let drop = s.find("DROP DATABASE IF EXISTS \"app_db\"").unwrap();
        assert!(check < drop, "a missing snapshot must stop before the drop: {s}");
        assert!(
            drop < s.find("CREATE DATABASE \"app_db\" TEMPLATE \"app_db@v1\"").unwrap(),
            "{s}"
        );
        for hostile in ["", "a b", "x';--", "a@b", "é"] {
            assert!(steps(server(), tenant("app", "pw"), TenantAction::Snapshot(hostile.into())).is_err());
            assert!(steps(server(), tenant("app", "pw"), TenantAction::Restore(hostile.into())).is_err());
        }
        let long = "t".repeat(60);
        assert!(steps(server(), tenant("app", "pw"), TenantAction::Snapshot(long)).is_err());
    }

    #[test]
    fn drop_removes_the_tenants_snapshots_too() {
        let s = sql(&steps(server(), tenant("app", "pw"), TenantAction::Drop).unwrap()[0]);
        assert!(s.contains("left(datname, 7) = 'app_db@' \\gexec"), "{s}");
        assert!(s.find("\\gexec").unwrap() < s.find("DROP ROLE").unwrap(), "{s}");
    }

    fn request(mode: &str) -> PoolerRequest {
        PoolerRequest {
            server_host: "172.17.0.5".into(),
            server_port: 5432,
            server: Credentials {
                user: "postgres".into(),
                password: "p\"w'".into(),
                database: "postgres".into(),
            },
            pool_mode: mode.into(),
            tenants: vec![tenant("a", "pw")],
        }
    }

    #[test]
    fn pooler_routes_every_database_and_authenticates_through_the_server() {
        let c = pooler(request("transaction")).unwrap().unwrap();
        let ini = String::from_utf8(c.files[0].1.clone()).unwrap();
        assert_eq!(c.files[0].0, INI);
        assert!(ini.contains("* = host=172.17.0.5 port=5432\n"), "{ini}");
        assert!(ini.contains("pool_mode = transaction\n"), "{ini}");
        assert!(ini.contains("auth_user = postgres\n"), "{ini}");
        assert!(ini.contains("auth_query = SELECT"), "{ini}");
        // Tenants are not in the files: they never change as tenants come and go.
        assert!(!ini.contains("a_user"));
        let users = String::from_utf8(c.files[1].1.clone()).unwrap();
        assert_eq!(users, "\"postgres\" \"p\"\"w'\"\n");
        assert_eq!(c.spec.ports, [POOLER_PORT]);
        assert!(matches!(&c.spec.readiness.probes[0], Probe::Handshake(h) if h.container_port == POOLER_PORT));
        assert_eq!(c.reload[0].command, ["kill", "-HUP", "1"]);
    }

    #[test]
    fn pooler_refuses_values_that_would_break_its_ini() {
        let err = pooler(request("statement")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("pool-mode"));
        let mut r = request("session");
        r.server_host = "1.2.3.4\nauth_type = trust".into();
        assert!(pooler(r).is_err());
        let mut r = request("session");
        r.server.user = "a b".into();
        assert!(pooler(r).is_err());
    }
}
