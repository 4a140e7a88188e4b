//! Tenants on a shared MySQL/MariaDB server: a database and a user of its own per tenant,
//! made by the server's own client as root over the container's socket, with the SQL on
//! stdin and root's password in `MYSQL_PWD` (never in argv).
//!
//! Isolation: the tenant's user has `ALL` (which excludes `GRANT OPTION`) on its own
//! database only, and `MAX_USER_CONNECTIONS` as its connection limit. Every name reaches
//! SQL as a backtick-quoted identifier or an escaped string literal. There is no pooler:
//! MySQL clients connect straight to the server.

use super::{MAX_USER_CHARS, check_database, sql_ident, sql_string};
use dbarena_plugin_sdk::prelude::*;

/// Runs the server's client (`mariadb` on MariaDB 11+, else `mysql`) as root on the socket;
/// the client's own arguments reach the script as "$@", never as script text.
const CLIENT: &str = r#"if command -v mariadb >/dev/null; then exec mariadb "$@"; else exec mysql "$@"; fi"#;

/// Drops in one exec: runs the SQL on stdin, whose output is SQL again (`KILL CONNECTION n;`
/// lines), runs that with `--force` (a session that ended in between is no error), then the
/// statements in `$DROP_SQL` (names only, no secret).
const KILL_THEN_DROP: &str = r#"if command -v mariadb >/dev/null; then c=mariadb; else c=mysql; fi; out=$("$c" -N -B "$@") || exit $?; printf '%s\n' "$out" | "$c" --force "$@" 2>/dev/null; printf '%s\n' "$DROP_SQL" | exec "$c" "$@""#;

fn root_step(server: &Credentials, description: String, script: &str, sql: String) -> ExecStep {
    ExecStep {
        description,
        command: ["sh", "-c", script, "sh", "--protocol=socket", "--user=root"]
            .map(String::from)
            .to_vec(),
        env: vec![("MYSQL_PWD".into(), server.password.clone())],
        stdin: Some(sql.into_bytes()),
    }
}

/// No empty values or control characters (a NUL would end the SQL text early).
fn plain(field: &str, value: &str) -> Result<(), PluginError> {
    if value.is_empty() {
        return Err(field_error(field, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(field_error(field, "must not contain control characters"));
    }
    Ok(())
}

/// `'user'@'%'`: the tenant connects from anywhere (the host reaches it through Docker's
/// port mapping, from the bridge gateway's address).
fn account(user: &str) -> String {
    format!("{}@'%'", sql_string(user))
}

pub fn steps(server: Credentials, t: Tenant, action: TenantAction) -> Result<Vec<ExecStep>, PluginError> {
    plain("password", &server.password)?;
    let c = &t.credentials;
    plain("tenant user", &c.user)?;
    if c.user.chars().count() > MAX_USER_CHARS {
        return Err(field_error(
            "tenant user",
            format!(
                "'{}' is too long: MySQL user names are at most {MAX_USER_CHARS} characters (use a shorter tenant name)",
                c.user
            ),
        ));
    }
    check_database(&c.database)?;
    plain("password", &c.password)?;
    let db = sql_ident(&c.database);
    let user = account(&c.user);
    match action {
        TenantAction::Create => {
            // `_` and `%` are wildcards in a GRANT's database name: escaped, the grant
            // covers this database only (not `app1db` for `app_db`).
            let grant_db = sql_ident(&c.database.replace('_', "\\_").replace('%', "\\%"));
            let limit = t.max_connections.unwrap_or(0);
            // The database first: when a tenant of this name exists, the error says so
            // ("database exists") before anything is made.
            let sql = format!(
                "CREATE DATABASE {db};\n\
                 CREATE USER {user} IDENTIFIED BY {pw} WITH MAX_USER_CONNECTIONS {limit};\n\
                 GRANT ALL ON {grant_db}.* TO {user};\n",
                pw = sql_string(&c.password),
            );
            Ok(vec![root_step(
                &server,
                format!("create tenant {}", t.name),
                CLIENT,
                sql,
            )])
        }
        TenantAction::Drop => {
            // Locked first, so no session starts between the kill and the drops; then every
            // session of the user ends, and an open transaction cannot hold DROP DATABASE.
            let kill = format!(
                "ALTER USER IF EXISTS {user} ACCOUNT LOCK;\n\
                 SELECT CONCAT('KILL CONNECTION ', ID, ';') FROM information_schema.PROCESSLIST \
                 WHERE USER = {u} AND ID <> CONNECTION_ID();\n",
                u = sql_string(&c.user),
            );
            let drop = format!("DROP USER IF EXISTS {user};\nDROP DATABASE IF EXISTS {db};\n");
            let mut step = root_step(&server, format!("drop tenant {}", t.name), KILL_THEN_DROP, kill);
            step.env.push(("DROP_SQL".into(), drop));
            Ok(vec![step])
        }
        TenantAction::Snapshot(_) | TenantAction::Restore(_) => Err(field_error(
            "action",
            "snapshots of a MySQL tenant are not supported yet",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Credentials {
        dbarena_plugin_sdk::testing::credentials("root", "adm'pw", "app")
    }

    fn tenant(name: &str, password: &str) -> Tenant {
        dbarena_plugin_sdk::testing::tenant(name, password, Some(5))
    }

    fn sql(step: &ExecStep) -> String {
        dbarena_plugin_sdk::testing::stdin_text(step)
    }

    #[test]
    fn create_makes_database_user_with_limit_and_a_grant_on_that_database_only() {
        let pw = "x'; DROP USER root; -- \\' `q` \"d\"";
        let steps = steps(server(), tenant("app", pw), TenantAction::Create).unwrap();
        assert_eq!(steps.len(), 1);
        let s = sql(&steps[0]);
        assert_eq!(
            s,
            "CREATE DATABASE `app_db`;\n\
             CREATE USER 'app_user'@'%' IDENTIFIED BY 'x''; DROP USER root; -- \\\\'' `q` \"d\"' WITH MAX_USER_CONNECTIONS 5;\n\
             GRANT ALL ON `app\\_db`.* TO 'app_user'@'%';\n"
        );
        // The SQL and both passwords stay out of argv; root's password is in the env.
        let step = &steps[0];
        assert!(
            !step
                .command
                .iter()
                .any(|a| a.contains("adm'pw") || a.contains(pw) || a.contains("CREATE"))
        );
        assert_eq!(step.env, [("MYSQL_PWD".to_string(), "adm'pw".to_string())]);
        assert_eq!(&step.command[..2], ["sh", "-c"]);
        assert!(step.command.contains(&"--user=root".to_string()));
    }

    #[test]
    fn no_limit_is_unlimited() {
        let mut t = tenant("app", "pw");
        t.max_connections = None;
        assert!(sql(&steps(server(), t, TenantAction::Create).unwrap()[0]).contains("MAX_USER_CONNECTIONS 0;"));
    }

    #[test]
    fn hostile_names_are_quoted_or_refused() {
        // A user name is a string literal: quotes and backslashes are escaped.
        let mut t = tenant("app", "pw");
        t.credentials.user = "u'@'%'; DROP DATABASE mysql; --\\".into();
        let s = sql(&steps(server(), t, TenantAction::Create).unwrap()[0]);
        assert!(
            s.contains("CREATE USER 'u''@''%''; DROP DATABASE mysql; --\\\\'@'%' IDENTIFIED BY"),
            "{s}"
        );
        // A database name is also a directory: only plain names.
        for bad in ["a`b", "a/b", "x`; DROP DATABASE mysql; --", ""] {
            let mut t = tenant("app", "pw");
            t.credentials.database = bad.into();
            assert_eq!(
                steps(server(), t, TenantAction::Create).unwrap_err().field.as_deref(),
                Some("database"),
                "{bad}"
            );
        }
        assert_eq!(sql_ident("a`b"), "`a``b`");
        // Control characters, and names MySQL would cut.
        let err = steps(server(), tenant("app", "a\0b"), TenantAction::Create).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("password"));
        let err = steps(server(), tenant(&"a".repeat(28), "pw"), TenantAction::Create).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("tenant user"));
        steps(server(), tenant(&"a".repeat(27), "pw"), TenantAction::Create).unwrap();
    }

    #[test]
    fn drop_locks_the_user_kills_its_sessions_then_drops_user_and_database() {
        let steps = steps(server(), tenant("app", "pw"), TenantAction::Drop).unwrap();
        assert_eq!(steps.len(), 1);
        let kill = sql(&steps[0]);
        assert!(
            kill.starts_with("ALTER USER IF EXISTS 'app_user'@'%' ACCOUNT LOCK;\n"),
            "{kill}"
        );
        assert!(
            kill.contains("WHERE USER = 'app_user' AND ID <> CONNECTION_ID()"),
            "{kill}"
        );
        assert_eq!(steps[0].command[2], KILL_THEN_DROP);
        assert_eq!(
            steps[0].env,
            [
                ("MYSQL_PWD".to_string(), "adm'pw".to_string()),
                (
                    "DROP_SQL".to_string(),
                    "DROP USER IF EXISTS 'app_user'@'%';\nDROP DATABASE IF EXISTS `app_db`;\n".to_string()
                ),
            ]
        );
    }

    #[test]
    fn snapshots_are_refused_by_name() {
        let err = steps(server(), tenant("app", "pw"), TenantAction::Snapshot("s".into())).unwrap_err();
        assert!(err.message.contains("not supported"), "{}", err.message);
    }
}
