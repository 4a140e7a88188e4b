//! PostgreSQL engine plugin, following the official `postgres` image: credentials through
//! `POSTGRES_USER`/`POSTGRES_PASSWORD`/`POSTGRES_DB`, server settings as `-c` arguments.
//!
//! Defaults: user `postgres` (the image default) and database = the user name (the image
//! default for `POSTGRES_DB`), so `--user app` gives database `app`.
//!
//! Readiness is a full login through the published port: StartupMessage, then SCRAM-SHA-256
//! (or MD5, or cleartext, whatever the server asks for) with the instance's credentials, up
//! to ReadyForQuery. So "ready" means the printed URL works, and a wrong password or a
//! missing database fails with the server's message. On first start the image runs a
//! temporary server with `listen_addresses=''` (socket only), so any protocol answer over
//! TCP comes from the real server.

use dbarena_plugin_sdk::bytes::{Reader, Writer, not_protocol};
use dbarena_plugin_sdk::prelude::*;
use dbarena_plugin_sdk::protocols::scram;
use md5::{Digest, Md5};

mod tenant;

pub struct Postgres;

const PORT: u16 = 5432;
/// `PGDATA` up to 17.
const DATA_UP_TO_17: &str = "/var/lib/postgresql/data";
/// From 18 the image keeps `PGDATA=/var/lib/postgresql/18/docker` below `VOLUME
/// /var/lib/postgresql`, and refuses to start when `/var/lib/postgresql/data` is a mount point.
const DATA_FROM_18: &str = "/var/lib/postgresql";
/// `PGDATA` of an ephemeral instance: outside every `VOLUME` the image declares, so the data
/// lives in the container's own layer. An instance started from a template or snapshot image
/// then reads that image's data copy-on-write, where data under a `VOLUME` is first copied
/// into the container's anonymous volume (about 0.35 s for a fresh cluster's 40 MB).
const EPHEMERAL_DATA: &str = "/var/lib/dbarena/postgres";
/// `initdb` options of a fast-mode cluster.
const FAST_INITDB_ARGS: &str = "--nosync --wal-segsize=1";
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

/// The database every cluster has (`initdb` makes it); it stays when another is wanted.
const MAINTENANCE_DB: &str = "postgres";
/// The superuser that exists only while template credentials are replaced.
const APPLY_HELPER: &str = "dbarena_apply";

/// A quoted SQL identifier: `"` doubled.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A quoted SQL string literal (`standard_conforming_strings` is on since 9.1): `'` doubled.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `sql` run by psql as `user` over the local socket, stopping at the first error.
fn psql_step(description: &str, user: &str, sql: String) -> ExecStep {
    ExecStep {
        description: description.into(),
        command: [
            "psql",
            "-v",
            "ON_ERROR_STOP=1",
            "--no-psqlrc",
            "--quiet",
            "--dbname=postgres",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("--username={user}")])
        .collect(),
        env: Vec::new(),
        stdin: Some(sql.into_bytes()),
    }
}

/// Runs `command` once the server accepts connections, waiting for it inside the container
/// (`pg_isready` every 20 ms, for at most 10 s): the host runs the credential step right
/// after the container starts, and each exec that finds no server yet costs a Docker round
/// trip. Without `pg_isready` it runs at once (the host retries a failing step).
fn once_accepting(command: Vec<String>) -> Vec<String> {
    const WAIT: &str = "command -v pg_isready >/dev/null && { i=0; \
        until pg_isready -q || [ \"$i\" -ge 500 ]; do i=$((i + 1)); sleep 0.02; done; }; exec \"$@\"";
    ["sh", "-c", WAIT, "sh"]
        .map(String::from)
        .into_iter()
        .chain(command)
        .collect()
}

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
        reject_managed_env(&opts.extra, MANAGED_ENV)?;

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
            // `initdb --nosync` (every supported version) skips the fsync of the new cluster;
            // 1 MB WAL segments instead of 16 MB make a fresh cluster 24 MB instead of 39,
            // which every template, snapshot and reset copies or commits.
            .set_opt("POSTGRES_INITDB_ARGS", fast.then_some(FAST_INITDB_ARGS))
            .set_opt("PGDATA", (!opts.persistent).then_some(EPHEMERAL_DATA))
            .extend(opts.extra.clone());
        let data = if !opts.persistent {
            EPHEMERAL_DATA
        } else if v.version.parse::<u32>().is_ok_and(|n| n >= 18) {
            DATA_FROM_18
        } else {
            DATA_UP_TO_17
        };

        Ok(ContainerSpec {
            image: image(v),
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

    /// The data directory. `CHECKPOINT` first writes out the WAL and every dirty page (with
    /// `synchronous_commit=off` the last commits may otherwise still be in server memory),
    /// so the frozen copy the host then takes holds every transaction committed before it.
    fn data_plan(opts: Options) -> Option<DataPlan> {
        let spec = Self::container_spec(opts).ok()?;
        let user = spec.credentials.user.clone();
        Some(DataPlan {
            paths: spec.data_paths,
            quiesce: vec![psql_step("checkpoint", &user, "CHECKPOINT;\n".into())],
        })
    }

    /// One psql session over the container's unix socket (trusted locally by the image's
    /// `pg_hba.conf`), so one `docker exec`: each exec costs a round trip and a psql start.
    /// The template's bootstrap role cannot be dropped, and the session user cannot be
    /// renamed, so a helper superuser (made and dropped in the same transaction) becomes
    /// the session user through `SET SESSION AUTHORIZATION` while the bootstrap role is
    /// renamed to the wanted user; then the template database is renamed or dropped.
    fn apply_credentials(template: Credentials, wanted: Credentials) -> Result<Vec<ExecStep>, PluginError> {
        check_name("user", &wanted.user)?;
        check_name("database", &wanted.database)?;
        if wanted.password.is_empty() || wanted.password.chars().any(char::is_control) {
            return Err(field_error("password", "must be non-empty without control characters"));
        }
        let helper = if wanted.user == APPLY_HELPER {
            "dbarena_apply_2"
        } else {
            APPLY_HELPER
        };
        let (tu, td, wu, wd) = (&template.user, &template.database, &wanted.user, &wanted.database);
        let mut sql = String::new();
        if tu != wu {
            sql.push_str(&format!(
                "BEGIN;\nCREATE ROLE {h} SUPERUSER;\nSET SESSION AUTHORIZATION {h};\n\
                 ALTER ROLE {} RENAME TO {};\n",
                ident(tu),
                ident(wu),
                h = ident(helper)
            ));
        }
        sql.push_str(&format!(
            "ALTER ROLE {} PASSWORD {};\n",
            ident(wu),
            literal(&wanted.password)
        ));
        if tu != wu {
            sql.push_str(&format!(
                "RESET SESSION AUTHORIZATION;\nDROP ROLE {};\nCOMMIT;\n",
                ident(helper)
            ));
        }
        if td != wd && td == MAINTENANCE_DB {
            // A template made with the defaults keeps `postgres`, as a cold create does:
            // the wanted database is made beside it (`\gexec`: outside a transaction).
            sql.push_str(&format!(
                "SELECT format('CREATE DATABASE %I OWNER %I', {wdl}, {wul}) \
                 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {wdl}) \\gexec\n",
                wdl = literal(wd),
                wul = literal(wu)
            ));
        } else if td != wd {
            // Rename the template database when the wanted one does not exist yet
            // (`postgres` always does), else drop it; `\gexec` runs the chosen statement
            // (outside a transaction: DROP DATABASE cannot run in one).
            sql.push_str(&format!(
                "SELECT CASE WHEN EXISTS (SELECT FROM pg_database WHERE datname = {wdl}) \
                 THEN format('DROP DATABASE %I', {tdl}) \
                 ELSE format('ALTER DATABASE %I RENAME TO %I', {tdl}, {wdl}) END \\gexec\n",
                tdl = literal(td),
                wdl = literal(wd)
            ));
        }
        let mut step = psql_step("set the instance's user, password and database", tu, sql);
        step.command = once_accepting(step.command);
        Ok(vec![step])
    }

    fn handshake_start(ctx: HandshakeContext, _secrets: HandshakeSecrets) -> Vec<u8> {
        startup_message(&ctx.credentials.user, &ctx.credentials.database)
    }

    fn handshake_step(ctx: HandshakeContext, secrets: HandshakeSecrets, received: Vec<u8>) -> HandshakeOutcome {
        match scram::client_nonce(&secrets.nonce) {
            Some(nonce) => judge(&ctx.credentials, &nonce, &received),
            None => HandshakeOutcome::Failed("the host supplied no handshake nonce".into()),
        }
    }

    /// `postgresql://`, the scheme every client accepts: libpq, psycopg, node-postgres and
    /// SQLAlchemy (which refuses the `postgres://` alias).
    /// The host's `psql` takes the URL; inside the container `psql` uses the unix socket
    /// and the password travels in `PGPASSWORD` (never argv). `-X` skips any psqlrc and
    /// `ON_ERROR_STOP` makes a failing statement exit non-zero with the server's message.
    fn client(at: Endpoint) -> ClientCommands {
        let c = &at.credentials;
        let in_container = |description: &str, extra: &[&str]| ExecStep {
            description: description.into(),
            command: ["psql", "-U", &c.user, "-d", &c.database]
                .iter()
                .chain(extra)
                .map(|s| s.to_string())
                .collect(),
            env: vec![("PGPASSWORD".into(), c.password.clone())],
            stdin: None,
        };
        ClientCommands {
            // The URL without the password: libpq takes it from PGPASSWORD, which the host
            // sets from `connection`'s variables.
            host_shell: Some(vec![
                "psql".into(),
                format!(
                    "postgresql://{}@{}:{}/{}",
                    percent_encode(&c.user),
                    url_host(&at.host),
                    at.port,
                    percent_encode(&c.database)
                ),
            ]),
            container_shell: in_container("psql", &[]),
            query: Some(in_container("query", &["-X", "-q", "-v", "ON_ERROR_STOP=1"])),
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
        let url = format!(
            "postgresql://{}:{}@{}:{}/{}",
            percent_encode(&c.user),
            percent_encode(&c.password),
            url_host(&at.host),
            at.port,
            percent_encode(&c.database)
        );
        ConnectionInfo {
            env: vec![
                // Read by Rails, Prisma, Django (dj-database-url), Heroku-style apps.
                ("DATABASE_URL".into(), url.clone()),
                // Read by libpq itself: psql, psycopg, node-postgres.
                ("PGHOST".into(), at.host.clone()),
                ("PGPORT".into(), at.port.to_string()),
                ("PGUSER".into(), c.user.clone()),
                ("PGPASSWORD".into(), c.password.clone()),
                ("PGDATABASE".into(), c.database.clone()),
            ],
            url,
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

    /// - `jdbc` (`JDBC_URL`): pgjdbc URL-decodes the database and the query values, and its
    ///   default `sslmode=prefer` falls back to plain TCP, so no TLS parameter is needed.
    /// - `sqlalchemy`: SQLAlchemy decodes user and password but takes the database verbatim
    ///   (up to a `?`), so `my%20db` would name a database `my%20db`; the same URL with the
    ///   database as is. None when the name has a `?`, which no SQLAlchemy URL can carry.
    fn connection_forms(at: Endpoint) -> Vec<ConnectionForm> {
        let c = &at.credentials;
        let mut forms = vec![ConnectionForm {
            kind: "jdbc".into(),
            env_name: Some("JDBC_URL".into()),
            value: format!(
                "jdbc:postgresql://{}:{}/{}?user={}&password={}",
                url_host(&at.host),
                at.port,
                percent_encode(&c.database),
                percent_encode(&c.user),
                percent_encode(&c.password)
            ),
        }];
        if !c.database.contains('?') {
            forms.push(ConnectionForm {
                kind: "sqlalchemy".into(),
                env_name: None,
                value: format!(
                    "postgresql://{}:{}@{}:{}/{}",
                    percent_encode(&c.user),
                    percent_encode(&c.password),
                    url_host(&at.host),
                    at.port,
                    c.database
                ),
            });
        }
        forms
    }

    fn tenant_steps(server: Credentials, t: Tenant, action: TenantAction) -> Result<Vec<ExecStep>, PluginError> {
        tenant::steps(server, t, action)
    }

    fn tenant_connection(pooled: Option<Endpoint>, direct: Endpoint) -> ConnectionInfo {
        tenant::connection(pooled, direct, Self::connection)
    }

    fn pooler(req: PoolerRequest) -> Result<Option<CompanionSpec>, PluginError> {
        tenant::pooler(req)
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

/// Judges what the server sent since our last message. Every step is rebuilt from
/// `received` alone (plugins keep no state): each authentication request carries what its
/// answer needs, and the host clears `received` after every send.
///
/// - `R` AuthenticationSASL (10) offering SCRAM-SHA-256: send SASLInitialResponse with
///   client-first `n,,n=,r=<nonce>` (PostgreSQL takes the user from the startup message).
/// - `R` AuthenticationSASLContinue (11): the server-first message; send the client-final
///   message with the proof. It is computed here, in the step that has server-first.
/// - `R` AuthenticationMD5Password (5) / CleartextPassword (3): send the password message.
/// - `R` AuthenticationSASLFinal (12): its server signature cannot be checked statelessly
///   (server-first is gone by now); that is fine, the AuthenticationOk that follows is what
///   proves the credentials.
/// - `R` AuthenticationOk (0), then ParameterStatus (`server_version`), BackendKeyData and
///   ReadyForQuery `Z`: ready, authenticated.
/// - `E` with SQLSTATE 57P03 (starting up, shutting down, in recovery) or 53300 (too many
///   connections): not yet. Any other `E` (28P01 wrong password, 28000 no pg_hba entry,
///   3D000 no such database, ...): failed, with the server's message.
/// - `N` NoticeResponse and `v` NegotiateProtocolVersion are skipped.
/// - Anything else is not PostgreSQL talking: failed.
fn judge(credentials: &Credentials, client_nonce: &str, received: &[u8]) -> HandshakeOutcome {
    let mut r = Reader::new(received);
    let mut authenticated = false;
    let mut server_version = None;
    loop {
        let Some(kind) = r.u8() else {
            return HandshakeOutcome::NeedMore;
        };
        if !matches!(kind, b'R' | b'E' | b'N' | b'v' | b'S' | b'K' | b'Z') {
            return not_postgres(received);
        }
        let Some(len) = r.u32_be() else {
            return HandshakeOutcome::NeedMore;
        };
        if !(4..=MAX_REPLY_LEN).contains(&len) {
            return not_postgres(received);
        }
        let Some(body) = r.take(len as usize - 4) else {
            return HandshakeOutcome::NeedMore;
        };
        match kind {
            b'E' => return judge_error(body),
            b'R' => match judge_auth_request(credentials, client_nonce, body) {
                Auth::Ok => authenticated = true,
                Auth::Continue => {}
                Auth::Outcome(outcome) => return outcome,
            },
            // Session messages only come after AuthenticationOk.
            b'S' | b'K' | b'Z' if !authenticated => return not_postgres(received),
            b'S' => {
                let mut p = Reader::new(body);
                if let (Some(b"server_version"), Some(value)) = (p.cstr(), p.cstr()) {
                    // "15.8 (Debian 15.8-1.pgdg120+1)" -> "15.8"
                    let value = String::from_utf8_lossy(value);
                    server_version = value.split_whitespace().next().map(str::to_string);
                }
            }
            b'Z' => return ready_authenticated(server_version),
            _ => {}
        }
    }
}

enum Auth {
    /// AuthenticationOk.
    Ok,
    /// Nothing to answer (SASLFinal); keep reading.
    Continue,
    Outcome(HandshakeOutcome),
}

const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

fn judge_auth_request(c: &Credentials, client_nonce: &str, body: &[u8]) -> Auth {
    let mut r = Reader::new(body);
    let send = |bytes: Vec<u8>| Auth::Outcome(HandshakeOutcome::Send(bytes));
    let fail = |message: String| Auth::Outcome(HandshakeOutcome::Failed(message));
    match r.u32_be() {
        Some(0) => Auth::Ok,
        Some(3) => send(password_message(&Writer::new().cstr(&c.password).finish())),
        Some(5) => match r.take(4) {
            Some(salt) => send(password_message(&Writer::new().cstr(&md5_password(c, salt)).finish())),
            None => fail("truncated MD5 authentication request".into()),
        },
        Some(10) => {
            let mut mechanisms = Vec::new();
            while let Some(m) = r.cstr().filter(|m| !m.is_empty()) {
                mechanisms.push(String::from_utf8_lossy(m).into_owned());
            }
            if !mechanisms.iter().any(|m| m == SCRAM_SHA_256) {
                return fail(format!(
                    "the server offers SASL mechanisms {} but not {SCRAM_SHA_256} without channel binding",
                    mechanisms.join(", ")
                ));
            }
            let first = scram::client_first("", client_nonce);
            let payload = Writer::new()
                .cstr(SCRAM_SHA_256)
                .u32_be(first.len() as u32)
                .bytes(first.as_bytes())
                .finish();
            send(password_message(&payload))
        }
        Some(11) => {
            let server_first = String::from_utf8_lossy(r.rest());
            match scram::client_final("", &c.password, client_nonce, &server_first) {
                Ok(last) => send(password_message(last.as_bytes())),
                Err(problem) => fail(problem),
            }
        }
        Some(12) => match r.rest() {
            [b'e', b'=', error @ ..] => fail(format!(
                "SCRAM error from the server: {}",
                String::from_utf8_lossy(error)
            )),
            _ => Auth::Continue,
        },
        Some(code @ (2 | 7 | 9)) => fail(format!(
            "the server asks for Kerberos/GSSAPI/SSPI authentication (request {code}), which dbarena cannot do"
        )),
        Some(code) => fail(format!("unexpected authentication request {code}")),
        None => fail("truncated authentication request".into()),
    }
}

/// A PasswordMessage / SASLInitialResponse / SASLResponse: `p`, length, payload.
fn password_message(payload: &[u8]) -> Vec<u8> {
    Writer::new()
        .u8(b'p')
        .u32_be(payload.len() as u32 + 4)
        .bytes(payload)
        .finish()
}

/// `"md5" + md5hex(md5hex(password + user) + salt)`.
fn md5_password(c: &Credentials, salt: &[u8]) -> String {
    let inner = hex(&Md5::digest([c.password.as_bytes(), c.user.as_bytes()].concat()));
    let outer = hex(&Md5::digest([inner.as_bytes(), salt].concat()));
    format!("md5{outer}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn not_postgres(received: &[u8]) -> HandshakeOutcome {
    not_protocol("PostgreSQL reply", received)
}

/// An ErrorResponse body: fields of a type byte and a C string, ended by a zero byte.
fn judge_error(body: &[u8]) -> HandshakeOutcome {
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
        "57P03" | "53300" => HandshakeOutcome::NotYet(text),
        _ => HandshakeOutcome::Failed(text),
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

    fn creds(user: &str, password: &str, database: &str) -> Credentials {
        Credentials {
            user: user.into(),
            password: password.into(),
            database: database.into(),
        }
    }

    #[test]
    fn data_plan_is_the_data_directory_after_a_checkpoint() {
        let plan = Postgres::data_plan(opts()).unwrap();
        assert_eq!(plan.paths, [EPHEMERAL_DATA]);
        assert_eq!(plan.quiesce.len(), 1);
        assert!(plan.quiesce[0].command.contains(&"--username=postgres".to_string()));
        assert_eq!(plan.quiesce[0].stdin.as_deref(), Some(&b"CHECKPOINT;\n"[..]));
    }

    #[test]
    fn apply_credentials_quotes_hostile_names_and_passwords() {
        let hostile = "a'b\"c;--";
        let steps = Postgres::apply_credentials(
            creds("dbarena_tpl", "tplpw", "dbarena_tpl"),
            creds(hostile, hostile, hostile),
        )
        .unwrap();
        // One exec: one psql session as the template's user.
        assert_eq!(steps.len(), 1);
        assert!(steps[0].command.contains(&"--username=dbarena_tpl".to_string()));
        let sql = String::from_utf8(steps[0].stdin.clone().unwrap()).unwrap();
        assert!(
            sql.contains("CREATE ROLE \"dbarena_apply\" SUPERUSER;\nSET SESSION AUTHORIZATION \"dbarena_apply\";"),
            "{sql}"
        );
        assert!(
            sql.contains(r#"ALTER ROLE "dbarena_tpl" RENAME TO "a'b""c;--";"#),
            "{sql}"
        );
        assert!(sql.contains(r#"ALTER ROLE "a'b""c;--" PASSWORD 'a''b"c;--';"#), "{sql}");
        assert!(
            sql.contains("RESET SESSION AUTHORIZATION;\nDROP ROLE \"dbarena_apply\";\nCOMMIT;"),
            "{sql}"
        );
        assert!(sql.contains(r#"datname = 'a''b"c;--'"#), "{sql}");
        assert!(!sql.contains("tplpw"), "{sql}");
        // Pure: the same input gives the same steps.
        let again = Postgres::apply_credentials(
            creds("dbarena_tpl", "tplpw", "dbarena_tpl"),
            creds(hostile, hostile, hostile),
        )
        .unwrap();
        assert_eq!(steps, again);
    }

    #[test]
    fn apply_credentials_keeps_what_is_unchanged_and_avoids_the_helper_name() {
        let steps = Postgres::apply_credentials(creds("t", "x", "postgres"), creds("t", "new", "postgres")).unwrap();
        let sql = String::from_utf8(steps[0].stdin.clone().unwrap()).unwrap();
        assert_eq!(sql, "ALTER ROLE \"t\" PASSWORD 'new';\n");
        let steps = Postgres::apply_credentials(creds("t", "x", "t"), creds("dbarena_apply", "p", "d")).unwrap();
        let sql = String::from_utf8(steps[0].stdin.clone().unwrap()).unwrap();
        assert!(sql.contains("CREATE ROLE \"dbarena_apply_2\" SUPERUSER;"), "{sql}");
        assert!(Postgres::apply_credentials(creds("t", "x", "t"), creds("u", "", "d")).is_err());
        assert!(Postgres::apply_credentials(creds("t", "x", "t"), creds("u", "p", "")).is_err());
    }

    #[test]
    fn a_template_made_with_the_defaults_keeps_the_postgres_database() {
        let steps =
            Postgres::apply_credentials(creds("postgres", "x", "postgres"), creds("app", "p", "app's")).unwrap();
        let sql = String::from_utf8(steps[0].stdin.clone().unwrap()).unwrap();
        assert!(sql.contains("ALTER ROLE \"postgres\" RENAME TO \"app\";"), "{sql}");
        assert!(
            sql.contains(
                "SELECT format('CREATE DATABASE %I OWNER %I', 'app''s', 'app') \
                 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'app''s') \\gexec\n"
            ),
            "{sql}"
        );
        assert!(!sql.contains("DROP DATABASE") && !sql.contains("RENAME TO %I"), "{sql}");
    }

    /// Runs `bytes` through the plugin's `handshake_step` with the test nonce (bytes 0..32).
    fn judge(bytes: &[u8]) -> HandshakeOutcome {
        Postgres::handshake_step(ctx(), testing::secrets(), bytes.to_vec())
    }

    fn opts() -> Options {
        testing::options("pw")
    }

    /// A backend message: type byte, big-endian length (itself included), body.
    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        [&[kind][..], &(body.len() as u32 + 4).to_be_bytes(), body].concat()
    }

    fn auth(code: u32, data: &[u8]) -> Vec<u8> {
        message(b'R', &[&code.to_be_bytes()[..], data].concat())
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

    /// What a server sends after a successful login: AuthenticationOk, ParameterStatus,
    /// BackendKeyData, ReadyForQuery (idle).
    fn login_ok() -> Vec<u8> {
        [
            auth(0, b""),
            message(b'S', b"application_name\0\0"),
            message(b'S', b"server_version\x0015.8 (Debian 15.8-1.pgdg120+1)\0"),
            message(b'K', &[0, 0, 0, 42, 1, 2, 3, 4]),
            message(b'Z', b"I"),
        ]
        .concat()
    }

    /// base64 of bytes 0..32, the nonce `testing::secrets()` gives.
    const NONCE: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

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
        assert_eq!(Postgres::handshake_start(ctx(), testing::secrets()), expected);
    }

    #[test]
    fn scram_sha_256_login() {
        // AuthenticationSASL (10) listing SCRAM-SHA-256, as PostgreSQL 14+ sends by default.
        let sasl = b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0";
        let client_first = format!("n,,n=,r={NONCE}");
        let initial = [
            &b"p"[..],
            &(4 + 14 + 4 + client_first.len() as u32).to_be_bytes(),
            b"SCRAM-SHA-256\0",
            &(client_first.len() as u32).to_be_bytes(),
            client_first.as_bytes(),
        ]
        .concat();
        assert_eq!(judge(sasl), HandshakeOutcome::Send(initial));

        // AuthenticationSASLContinue (11) with server-first; the expected client-final was
        // computed independently with Python's hashlib (pbkdf2_hmac, hmac) for password
        // "pencil", an empty SCRAM user name and this nonce.
        let pencil = HandshakeContext {
            credentials: Credentials {
                password: "pencil".into(),
                ..ctx().credentials
            },
            ..ctx()
        };
        let server_first = format!("r={NONCE}SRVnonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        let reply = Postgres::handshake_step(
            testing::at_step(&pencil, 1),
            testing::secrets(),
            auth(11, server_first.as_bytes()),
        );
        let client_final = format!("c=biws,r={NONCE}SRVnonce,p=OOZ7dlTNEloA7M+SlShz6mFWP6trzY1VvcDLONOUCoY=");
        assert_eq!(reply, HandshakeOutcome::Send(message(b'p', client_final.as_bytes())));

        // SASLFinal (12) with the server signature, then the login: ready, with the version.
        let last = [auth(12, b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="), login_ok()].concat();
        assert_eq!(judge(&last), ready_authenticated(Some("15.8".into())));
        for cut in [1, 10, 40, last.len() - 1] {
            assert_eq!(judge(&last[..cut]), HandshakeOutcome::NeedMore, "cut at {cut}");
        }
    }

    #[test]
    fn scram_refusals() {
        // Only the channel-binding variant (needs TLS).
        let plus = auth(10, b"SCRAM-SHA-256-PLUS\0\0");
        assert!(matches!(judge(&plus), HandshakeOutcome::Failed(m) if m.contains("SCRAM-SHA-256-PLUS")));
        // Absurd or zero iteration counts are refused before any hashing.
        for i in ["0", "100000000"] {
            let sf = format!("r={NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i={i}");
            assert!(matches!(judge(&auth(11, sf.as_bytes())), HandshakeOutcome::Failed(m) if m.contains("iterations")));
        }
        // A server nonce that does not extend ours.
        let forged = auth(11, b"r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        assert!(matches!(judge(&forged), HandshakeOutcome::Failed(_)));
        assert!(
            matches!(judge(&auth(12, b"e=invalid-proof")), HandshakeOutcome::Failed(m) if m.contains("invalid-proof"))
        );
        // No nonce from the host.
        let none = Postgres::handshake_step(
            ctx(),
            HandshakeSecrets { nonce: vec![] },
            auth(10, b"SCRAM-SHA-256\0\0"),
        );
        assert!(matches!(none, HandshakeOutcome::Failed(_)));
    }

    #[test]
    fn md5_and_cleartext_logins() {
        // AuthenticationMD5Password (5) with salt 01 02 03 04; the answer was computed with
        // Python: "md5" + md5hex(md5hex("pw" + "app") + salt).
        let md5 = judge(&auth(5, &[1, 2, 3, 4]));
        assert_eq!(
            md5,
            HandshakeOutcome::Send(message(b'p', b"md523933eb55ec09a63a564cd7714651904\0"))
        );
        assert_eq!(judge(&auth(3, b"")), HandshakeOutcome::Send(message(b'p', b"pw\0")));
        // Trust: AuthenticationOk right away.
        assert_eq!(judge(&login_ok()), ready_authenticated(Some("15.8".into())));
        assert!(matches!(judge(&auth(7, b"")), HandshakeOutcome::Failed(m) if m.contains("GSSAPI")));
    }

    #[test]
    fn partial_replies_need_more() {
        assert_eq!(judge(b""), HandshakeOutcome::NeedMore);
        assert_eq!(judge(b"R"), HandshakeOutcome::NeedMore);
        assert_eq!(judge(b"R\0\0\0"), HandshakeOutcome::NeedMore);
        assert_eq!(judge(b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA"), HandshakeOutcome::NeedMore);
        let starting = error_response(b"57P03", b"the database system is starting up");
        assert_eq!(judge(&starting[..starting.len() - 3]), HandshakeOutcome::NeedMore);
        // AuthenticationOk alone: the session messages are still to come.
        assert_eq!(judge(&auth(0, b"")), HandshakeOutcome::NeedMore);
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
            HandshakeOutcome::NotYet("FATAL 57P03: the database system is starting up".into())
        );
        let recovery = error_response(b"57P03", b"the database system is not yet accepting connections");
        assert!(matches!(judge(&recovery), HandshakeOutcome::NotYet(_)));
        let full = error_response(b"53300", b"sorry, too many clients already");
        assert!(matches!(judge(&full), HandshakeOutcome::NotYet(_)));
        let password = error_response(b"28P01", b"password authentication failed for user \"app\"");
        assert_eq!(
            judge(&password),
            HandshakeOutcome::Failed("FATAL 28P01: password authentication failed for user \"app\"".into())
        );
        let hba = error_response(b"28000", b"no pg_hba.conf entry for host \"172.17.0.1\"");
        assert!(matches!(judge(&hba), HandshakeOutcome::Failed(_)));
        let no_db = error_response(b"3D000", b"database \"db1\" does not exist");
        assert!(matches!(judge(&no_db), HandshakeOutcome::Failed(m) if m.contains("3D000")));
    }

    #[test]
    fn notices_are_skipped_and_garbage_fails() {
        let notice_then_auth = [message(b'N', b"SNOTICE\0\0"), login_ok()].concat();
        assert_eq!(judge(&notice_then_auth), ready_authenticated(Some("15.8".into())));
        assert!(matches!(
            judge(b"HTTP/1.1 400 Bad Request\r\n"),
            HandshakeOutcome::Failed(m) if m.starts_with("not a PostgreSQL reply (starts with 48 54 54 50")
        ));
        assert!(matches!(judge(b"R\xff\xff\xff\xff"), HandshakeOutcome::Failed(_)));
        assert!(matches!(judge(b"R\0\0\0\x08\0\0\0\x63"), HandshakeOutcome::Failed(_)));
        // ReadyForQuery without a login is not a server accepting us.
        assert!(matches!(judge(&message(b'Z', b"I")), HandshakeOutcome::Failed(_)));
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
    fn persistent_data_path_moves_up_one_level_from_18() {
        for (v, path) in [
            ("15", DATA_UP_TO_17),
            ("17", DATA_UP_TO_17),
            ("18", "/var/lib/postgresql"),
        ] {
            let spec = Postgres::container_spec(Options {
                version: v.into(),
                persistent: true,
                ..opts()
            })
            .unwrap();
            assert_eq!(spec.data_paths, [path], "version {v}");
            assert_eq!(Env::new().extend(spec.env).get("PGDATA"), None, "version {v}");
        }
        assert_eq!(DATA_UP_TO_17, "/var/lib/postgresql/data");
    }

    #[test]
    fn ephemeral_data_lives_outside_the_image_volumes() {
        for v in ["15", "17", "18"] {
            let spec = Postgres::container_spec(Options {
                version: v.into(),
                ..opts()
            })
            .unwrap();
            assert_eq!(spec.data_paths, [EPHEMERAL_DATA], "version {v}");
            assert_eq!(Env::new().extend(spec.env).get("PGDATA"), Some(EPHEMERAL_DATA));
            // Neither the data directory nor a parent of it is a VOLUME of any version.
            for volume in [DATA_UP_TO_17, DATA_FROM_18] {
                assert!(!EPHEMERAL_DATA.starts_with(volume), "{volume}");
            }
        }
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
            Some("--nosync --wal-segsize=1")
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
        let info = Postgres::connection(at.clone());
        assert_eq!(info.url, "postgresql://a%20b:p%40ss%3Aw%2Frd@127.0.0.1:55432/my%2Fdb");
        assert!(info.env.contains(&("DATABASE_URL".into(), info.url.clone())));
        assert!(info.env.contains(&("PGPASSWORD".into(), "p@ss:w/rd".into())));
        assert!(info.env.contains(&("PGPORT".into(), "55432".into())));
        assert_eq!(info.shell, ["psql", "-U", "a b", "-d", "my/db"]);
        let v6 = Postgres::connection(Endpoint {
            host: "::1".into(),
            port: 5432,
            credentials: ctx().credentials,
        });
        assert_eq!(v6.url, "postgresql://app:pw@[::1]:5432/db1");
    }

    #[test]
    fn jdbc_form_encodes_query_values_and_brackets_ipv6() {
        let at = Endpoint {
            host: "127.0.0.1".into(),
            port: 55432,
            credentials: Credentials {
                user: "a b+c".into(),
                password: "p@ss:w/rd?#%&=".into(),
                database: "my db/1".into(),
            },
        };
        let forms = Postgres::connection_forms(at);
        assert_eq!(forms.len(), 2);
        assert_eq!(forms[0].kind, "jdbc");
        assert_eq!(forms[0].env_name.as_deref(), Some("JDBC_URL"));
        assert_eq!(
            forms[0].value,
            "jdbc:postgresql://127.0.0.1:55432/my%20db%2F1?user=a%20b%2Bc&password=p%40ss%3Aw%2Frd%3F%23%25%26%3D"
        );
        let v6 = Postgres::connection_forms(Endpoint {
            host: "::1".into(),
            port: 5432,
            credentials: ctx().credentials,
        });
        assert_eq!(v6[0].value, "jdbc:postgresql://[::1]:5432/db1?user=app&password=pw");
    }

    #[test]
    fn sqlalchemy_form_leaves_the_database_verbatim_and_is_absent_for_a_question_mark() {
        let at = |database: &str| Endpoint {
            host: "127.0.0.1".into(),
            port: 55432,
            credentials: Credentials {
                user: "a b@c".into(),
                password: "p%w/#+".into(),
                database: database.into(),
            },
        };
        let forms = Postgres::connection_forms(at("my db/#%+1"));
        assert_eq!(forms[1].kind, "sqlalchemy");
        assert_eq!(forms[1].env_name, None);
        assert_eq!(
            forms[1].value,
            "postgresql://a%20b%40c:p%25w%2F%23%2B@127.0.0.1:55432/my db/#%+1"
        );
        let kinds: Vec<_> = Postgres::connection_forms(at("what?"))
            .into_iter()
            .map(|f| f.kind)
            .collect();
        assert_eq!(kinds, ["jdbc"]);
    }

    #[test]
    fn clients_carry_the_password_in_env_never_in_argv() {
        let at = Endpoint {
            host: "127.0.0.1".into(),
            port: 5432,
            credentials: Credentials {
                user: "app".into(),
                password: "s3cr3t pw".into(),
                database: "db".into(),
            },
        };
        let client = Postgres::client(at.clone());
        assert_eq!(
            client.host_shell,
            Some(vec!["psql".into(), "postgresql://app@127.0.0.1:5432/db".into()])
        );
        assert!(
            Postgres::connection(at)
                .env
                .contains(&("PGPASSWORD".into(), "s3cr3t pw".into()))
        );
        let query = client.query.unwrap();
        for step in [&client.container_shell, &query] {
            assert!(!step.command.iter().any(|a| a.contains("s3cr3t")), "{:?}", step.command);
            assert_eq!(step.env, vec![("PGPASSWORD".to_string(), "s3cr3t pw".to_string())]);
            assert_eq!(step.command[..5], ["psql", "-U", "app", "-d", "db"]);
        }
        assert!(query.command.contains(&"ON_ERROR_STOP=1".to_string()));
        let init = Postgres::init_support().unwrap();
        assert_eq!(init.directory.as_deref(), Some("/docker-entrypoint-initdb.d"));
        assert!(init.suffixes.contains(&".sql".to_string()));
    }
}
