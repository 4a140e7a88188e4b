//! Tenants on a shared PostgreSQL server: a role and a database of its own per tenant,
//! created by `psql` inside the server container with the SQL on stdin (never in argv),
//! and a PgBouncer companion in front.
//!
//! Isolation: the tenant's role owns only its database, CONNECT is revoked from PUBLIC on
//! it (and on the maintenance database and `template1`), and the role has a connection
//! limit. Every name and password reaches SQL as a quoted identifier or literal.
//!
//! The pooler authenticates tenants with `auth_query` (PgBouncer asks the server for the
//! role's SCRAM secret), so its files never change as tenants come and go: no reload or
//! restart per tenant, and no race between processes rewriting a user list.
//! `[databases] *` routes every database name to the server.
//!
//! PgBouncer before 1.19 has no `auth_dbname`: the lookup runs *in the database the client
//! asked for*, which a tenant owns and can shape (`ALTER DATABASE … SET search_path`,
//! functions and operators in its schemas). So the lookup never runs as a privileged role:
//! it runs as [`POOLER_ROLE`], a login with no attributes that may only connect to tenant
//! databases and read `pg_authid`'s lookup columns there; its own `search_path` setting
//! (which overrides a database's) is `pg_catalog, pg_temp`, and [`AUTH_QUERY`] names every
//! relation, function and operator with its schema, so nothing a tenant creates is looked
//! up. Superusers are never looked up (the admin logs in through the user list).

use dbarena_plugin_sdk::prelude::*;

/// PgBouncer's port in the container (its usual one).
pub const POOLER_PORT: u16 = 6432;
pub const POOLER_IMAGE: &str = "edoburu/pgbouncer:latest";
const INI: &str = "/etc/pgbouncer/pgbouncer.ini";
const USERLIST: &str = "/etc/pgbouncer/userlist.txt";
const SERVER_PORT_IN_CONTAINER: u16 = 5432;

/// The pooler's own login on the server, PgBouncer's `auth_user`: it runs [`AUTH_QUERY`]
/// and nothing else.
pub const POOLER_ROLE: &str = "dbarena_pooler";

/// PgBouncer's lookup of a tenant's SCRAM secret. Every name is schema-qualified and every
/// operator written `OPERATOR(pg_catalog.…)`: it runs in the tenant's database, where an
/// unqualified `now()`, `<`, `=` or `pg_authid` could resolve to the tenant's own objects.
pub const AUTH_QUERY: &str = "SELECT rolname, CASE WHEN rolvaliduntil OPERATOR(pg_catalog.<) pg_catalog.now() \
     THEN NULL ELSE rolpassword END FROM pg_catalog.pg_authid \
     WHERE rolname OPERATOR(pg_catalog.=) $1 AND rolcanlogin AND NOT rolsuper";

/// The columns of `pg_authid` [`AUTH_QUERY`] reads: all the pooler role may read.
const LOOKUP_COLUMNS: &str = "rolname, rolpassword, rolvaliduntil, rolcanlogin, rolsuper";

/// Serialises the server-wide part of a tenant create across processes (an advisory lock
/// key, "dbarena" in ASCII): two sessions updating one catalog row at once fail with
/// "tuple concurrently updated".
const SETUP_LOCK: i64 = 0x0064_6261_7265_6e61;

/// [`POOLER_ROLE`]'s password, derived from the admin's (HMAC-SHA256): the create steps and
/// the pooler's user list agree without another stored secret, and only a holder of the
/// admin password can compute it.
pub fn pooler_password(admin_password: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(admin_password.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"dbarena pgbouncer auth_user");
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

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
    psql_in(server, &server.database, description, sql)
}

/// psql as the admin in `database`, named by `PGDATABASE` (a `-d` argument holding `=` would
/// be read as a connection string).
fn psql_in(server: &Credentials, database: &str, description: String, sql: String) -> ExecStep {
    ExecStep {
        description,
        // The image trusts the unix socket; ON_ERROR_STOP makes the first error the exit code.
        command: ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", &server.user]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        env: vec![("PGDATABASE".into(), database.to_string())],
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

/// What every tenant create (and restore) ensures on the server, one process at a time
/// (idempotent): [`POOLER_ROLE`] with no attributes, its password and its `search_path`
/// (a role setting overrides a database's, which the tenant can set); no CONNECT for
/// PUBLIC on `template1` (objects made there would be copied into every new database) and
/// the maintenance database; and the pooler's lookup in the maintenance database (only the
/// admin's), where the pooler sends `postgres`, `template0` and `template1`: a tenant asking
/// for one is then refused by the server at once (a lookup that cannot log in leaves the
/// client waiting for `query_wait_timeout`).
fn server_setup(server: &Credentials) -> String {
    format!(
        "DO $dbarena$ BEGIN\n\
         PERFORM pg_catalog.pg_advisory_xact_lock({SETUP_LOCK});\n\
         IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) {role_lit}) THEN \
         CREATE ROLE {role}; END IF;\n\
         ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS \
         CONNECTION LIMIT -1 PASSWORD {pw};\n\
         ALTER ROLE {role} SET search_path = pg_catalog, pg_temp;\n\
         REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC;\n\
         REVOKE CONNECT, TEMPORARY ON DATABASE {maint} FROM PUBLIC;\n\
         GRANT CONNECT ON DATABASE {maint} TO {role};\n\
         GRANT SELECT ({LOOKUP_COLUMNS}) ON pg_catalog.pg_authid TO {role};\n\
         END $dbarena$;\n",
        role = ident(POOLER_ROLE),
        role_lit = literal(POOLER_ROLE),
        pw = literal(&pooler_password(&server.password)),
        maint = ident(&server.database),
    )
}

/// The steps that let the pooler look tenant `t` up in its (new, still login-less) database,
/// then let the tenant log in: CONNECT for [`POOLER_ROLE`] on it, and, inside it (a shared
/// catalog's privileges are kept per database), SELECT on `pg_authid`'s lookup columns.
fn pooler_grants_then_login(server: &Credentials, t: &Tenant, first: String) -> Vec<ExecStep> {
    let c = &t.credentials;
    let role = ident(POOLER_ROLE);
    vec![
        psql(
            server,
            format!("create tenant {}", t.name),
            format!(
                "{first}{setup}GRANT CONNECT ON DATABASE {db} TO {role};\n",
                setup = server_setup(server),
                db = ident(&c.database),
            ),
        ),
        psql_in(
            server,
            &c.database,
            format!("let the pooler look tenant {} up", t.name),
            format!("GRANT SELECT ({LOOKUP_COLUMNS}) ON pg_catalog.pg_authid TO {role};\n"),
        ),
        psql(
            server,
            format!("let tenant {} log in", t.name),
            format!("ALTER ROLE {} LOGIN;\n", ident(&c.user)),
        ),
    ]
}

/// A value inside a `DO $dbarena$ … $dbarena$` body must not end it.
fn dollar_safe(field: &str, value: &str) -> Result<(), PluginError> {
    if value.contains("$dbarena$") {
        return Err(field_error(field, "must not contain '$dbarena$'"));
    }
    Ok(())
}

pub fn steps(server: Credentials, t: Tenant, action: TenantAction) -> Result<Vec<ExecStep>, PluginError> {
    check("user", &server.user)?;
    check("database", &server.database)?;
    let c = &t.credentials;
    check("tenant user", &c.user)?;
    check("tenant database", &c.database)?;
    check("password", &c.password)?;
    for (field, value) in [
        ("database", &server.database),
        ("tenant user", &c.user),
        ("tenant database", &c.database),
        ("password", &c.password),
        ("tenant", &t.name),
    ] {
        dollar_safe(field, value)?;
    }
    let (db, user) = (ident(&c.database), ident(&c.user));
    let limit = t.max_connections.map(|n| n as i64).unwrap_or(-1);
    let step = match action {
        // The role logs in only once the pooler's grants are made, so no tenant session
        // ever shapes the database while the admin works in it.
        TenantAction::Create => {
            return Ok(pooler_grants_then_login(
                &server,
                &t,
                format!(
                    "CREATE ROLE {user} NOLOGIN PASSWORD {pw} CONNECTION LIMIT {limit};\n\
                     CREATE DATABASE {db} OWNER {user};\n\
                     REVOKE CONNECT, TEMPORARY ON DATABASE {db} FROM PUBLIC;\n",
                    pw = literal(&c.password),
                ),
            ));
        }
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
            // A missing snapshot stops the step before anything is dropped. Like a create,
            // the role logs in again only after the pooler's grants (a snapshot made by an
            // older dbarena has none).
            return Ok(pooler_grants_then_login(
                &server,
                &t,
                format!(
                    "DO $dbarena$ BEGIN IF NOT EXISTS (SELECT FROM pg_database WHERE datname = {lit}) THEN \
                     RAISE EXCEPTION 'tenant % has no snapshot %', {name}, {tag}; END IF; END $dbarena$;\n\
                     ALTER ROLE {user} NOLOGIN;\n\
                     {terminate}DROP DATABASE IF EXISTS {db} WITH (FORCE);\n\
                     CREATE DATABASE {db} TEMPLATE {snap} OWNER {user};\n\
                     REVOKE CONNECT, TEMPORARY ON DATABASE {db} FROM PUBLIC;\n",
                    lit = literal(&snap),
                    name = literal(&t.name),
                    tag = literal(&tag),
                    terminate = terminate(&c.database, &c.user),
                    snap = ident(&snap),
                ),
            ));
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
    ini_name("database", &req.server.database)?;
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
    // `auth_user` per database, not global: a global one also serves the admin console's
    // `pgbouncer` database, which has no server to run the lookup on, and a login there by
    // a user missing from the user list waited forever. Now it is refused at once, and only
    // the admin (in the user list) reaches the console.
    let ini = format!(
        "; Written by dbarena: PgBouncer in front of a shared PostgreSQL server.\n\
         [databases]\n\
         * = host={host} port={port} auth_user={POOLER_ROLE}\n\
         template0 = host={host} port={port} dbname={maint} auth_user={POOLER_ROLE}\n\
         template1 = host={host} port={port} dbname={maint} auth_user={POOLER_ROLE}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = *\n\
         listen_port = {POOLER_PORT}\n\
         unix_socket_dir =\n\
         auth_type = scram-sha-256\n\
         auth_file = {USERLIST}\n\
         auth_query = {AUTH_QUERY}\n\
         admin_users = {admin}\n\
         pool_mode = {pool_mode}\n\
         max_client_conn = 2000\n\
         default_pool_size = 20\n\
         server_idle_timeout = 2\n\
         ignore_startup_parameters = extra_float_digits,options,search_path\n\
         server_reset_query = DISCARD ALL\n",
        host = req.server_host,
        port = req.server_port,
        maint = req.server.database,
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
            (
                USERLIST.into(),
                format!(
                    "{}{}",
                    userlist_line(admin, &req.server.password),
                    userlist_line(POOLER_ROLE, &pooler_password(&req.server.password))
                )
                .into_bytes(),
            ),
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
        assert_eq!(steps.len(), 3);
        let s = sql(&steps[0]);
        assert!(
            s.contains("CREATE ROLE \"app_user\" NOLOGIN PASSWORD 'x''; DROP ROLE postgres; --\\ \"q\" :var $$' CONNECTION LIMIT 7;"),
            "{s}"
        );
        assert!(s.contains("CREATE DATABASE \"app_db\" OWNER \"app_user\";"), "{s}");
        assert!(
            s.contains("REVOKE CONNECT, TEMPORARY ON DATABASE \"app_db\" FROM PUBLIC;"),
            "{s}"
        );
        assert!(
            s.contains("REVOKE CONNECT, TEMPORARY ON DATABASE \"postgres\" FROM PUBLIC;"),
            "{s}"
        );
        assert!(
            s.contains("REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC;"),
            "{s}"
        );
        for step in &steps {
            assert!(!step.command.iter().any(|a| a.contains(pw) || a.contains("CREATE")));
            assert_eq!(step.command[0], "psql");
            assert!(step.command.contains(&"ON_ERROR_STOP=1".to_string()));
            assert!(!step.command.contains(&"-d".to_string()), "{:?}", step.command);
        }
        assert_eq!(steps[0].env, [("PGDATABASE".to_string(), "postgres".to_string())]);
    }

    /// The lookup PgBouncer runs in a tenant's database resolves nothing through
    /// `search_path`: every relation, function and operator carries its schema.
    #[test]
    fn the_auth_query_names_every_object_with_its_schema() {
        assert!(AUTH_QUERY.contains("FROM pg_catalog.pg_authid "), "{AUTH_QUERY}");
        assert!(
            AUTH_QUERY.contains("OPERATOR(pg_catalog.<) pg_catalog.now()"),
            "{AUTH_QUERY}"
        );
        assert!(AUTH_QUERY.contains("rolname OPERATOR(pg_catalog.=) $1"), "{AUTH_QUERY}");
        assert!(AUTH_QUERY.contains("AND NOT rolsuper"), "{AUTH_QUERY}");
        // No bare operator or call outside OPERATOR(...) / pg_catalog.
        let stripped = AUTH_QUERY
            .replace("OPERATOR(pg_catalog.<)", "")
            .replace("OPERATOR(pg_catalog.=)", "")
            .replace("pg_catalog.now()", "");
        for bare in ["=", "<", ">", "(", "now", " pg_authid"] {
            assert!(!stripped.contains(bare), "{bare:?} unqualified in {AUTH_QUERY}");
        }
    }

    /// The pooler's role: no attributes, its own search_path, made one process at a time,
    /// with the password the pooler's user list holds; tenants log in only after the grants.
    #[test]
    fn create_makes_an_unprivileged_pooler_role_and_grants_it_the_lookup_only() {
        let steps = steps(server(), tenant("app", "pw"), TenantAction::Create).unwrap();
        let s = sql(&steps[0]);
        let lock = s.find("pg_advisory_xact_lock(").unwrap();
        assert!(lock < s.find("CREATE ROLE \"dbarena_pooler\"").unwrap(), "{s}");
        assert!(
            s.contains(
                "ALTER ROLE \"dbarena_pooler\" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT -1 PASSWORD"
            ),
            "{s}"
        );
        assert!(s.contains(&literal(&pooler_password("adm'pw"))), "{s}");
        assert!(
            !s.contains("adm'pw") && !s.contains("adm''pw"),
            "the admin password stays out: {s}"
        );
        assert!(
            s.contains("ALTER ROLE \"dbarena_pooler\" SET search_path = pg_catalog, pg_temp;"),
            "{s}"
        );
        assert!(
            s.contains("GRANT CONNECT ON DATABASE \"app_db\" TO \"dbarena_pooler\";"),
            "{s}"
        );
        assert!(
            s.contains("GRANT CONNECT ON DATABASE \"postgres\" TO \"dbarena_pooler\";"),
            "{s}"
        );
        assert!(
            s.find("GRANT SELECT (rolname, rolpassword").unwrap() < s.find("END $dbarena$").unwrap(),
            "the lookup in the maintenance database, under the lock: {s}"
        );
        assert!(
            !s.contains("\"app_user\" LOGIN"),
            "the tenant logs in only at the end: {s}"
        );
        // Inside the tenant's database (shared catalogs keep privileges per database).
        assert_eq!(steps[1].env, [("PGDATABASE".to_string(), "app_db".to_string())]);
        assert_eq!(
            sql(&steps[1]),
            "GRANT SELECT (rolname, rolpassword, rolvaliduntil, rolcanlogin, rolsuper) ON pg_catalog.pg_authid TO \"dbarena_pooler\";\n"
        );
        assert_eq!(sql(&steps[2]), "ALTER ROLE \"app_user\" LOGIN;\n");
        assert_eq!(steps[2].env[0].1, "postgres");
        // Derived, stable, and not the admin password.
        assert_eq!(pooler_password("a"), pooler_password("a"));
        assert_ne!(pooler_password("a"), pooler_password("b"));
        assert_eq!(pooler_password("a").len(), 64);
    }

    #[test]
    fn a_value_that_would_end_a_do_block_is_refused() {
        let err = steps(server(), tenant("app", "x$dbarena$y"), TenantAction::Create).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("password"));
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
        let restore = steps(server(), tenant("app", "pw"), TenantAction::Restore("v1".into())).unwrap();
        assert_eq!(restore.len(), 3, "the pooler's grants, then the login again");
        assert_eq!(sql(&restore[2]), "ALTER ROLE \"app_user\" LOGIN;\n");
        let s = sql(&restore[0]);
        assert!(
            s.find("RAISE EXCEPTION").unwrap() < s.find("\"app_user\" NOLOGIN").unwrap(),
            "{s}"
        );
        assert!(
            s.contains("GRANT CONNECT ON DATABASE \"app_db\" TO \"dbarena_pooler\""),
            "{s}"
        );
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
        assert!(
            ini.contains("* = host=172.17.0.5 port=5432 auth_user=dbarena_pooler\n"),
            "{ini}"
        );
        assert!(ini.contains("pool_mode = transaction\n"), "{ini}");
        // The template databases go to the maintenance one, where the lookup can run.
        assert!(
            ini.contains("template0 = host=172.17.0.5 port=5432 dbname=postgres auth_user=dbarena_pooler\n"),
            "{ini}"
        );
        assert!(
            ini.contains("template1 = host=172.17.0.5 port=5432 dbname=postgres auth_user="),
            "{ini}"
        );
        // No global auth_user: it would serve the admin console's database too.
        assert!(!ini.lines().any(|l| l.starts_with("auth_user")), "{ini}");
        assert!(ini.contains(&format!("auth_query = {AUTH_QUERY}\n")), "{ini}");
        assert!(ini.contains("admin_users = postgres\n"), "{ini}");
        // Tenants are not in the files: they never change as tenants come and go.
        assert!(!ini.contains("a_user"));
        let users = String::from_utf8(c.files[1].1.clone()).unwrap();
        assert_eq!(
            users,
            format!(
                "\"postgres\" \"p\"\"w'\"\n\"dbarena_pooler\" \"{}\"\n",
                pooler_password("p\"w'")
            )
        );
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
        let mut r = request("session");
        r.server.database = "postgres auth_user=postgres".into();
        assert_eq!(pooler(r).unwrap_err().field.as_deref(), Some("database"));
    }
}
