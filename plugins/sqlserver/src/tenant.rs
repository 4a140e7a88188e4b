//! Tenants on a shared SQL Server (spec level: no server here to run them against): a
//! login, a database and a user of its own per tenant, the user in `db_owner` of that
//! database only. `sqlcmd` runs the T-SQL from stdin as `sa` with the password in
//! `SQLCMDPASSWORD` (never argv) and `-x`, so a `$(...)` in a password is not a sqlcmd
//! variable. Names are bracketed identifiers, passwords `N'...'` literals.

use super::{bracket, check_database, check_password, nstring};
use dbarena_plugin_sdk::prelude::*;

/// As `sqlcmd_step` in lib.rs, plus `-x` (no `$(var)` substitution in the SQL).
fn sqlcmd(description: String, password: &str, sql: String) -> ExecStep {
    ExecStep {
        description,
        command: vec![
            "/bin/sh".into(),
            "-c".into(),
            "if [ -x /opt/mssql-tools18/bin/sqlcmd ]; then set -- /opt/mssql-tools18/bin/sqlcmd -C; \
             else set -- /opt/mssql-tools/bin/sqlcmd; fi; \
             exec \"$@\" -S localhost -U sa -b -x -i /dev/stdin"
                .into(),
        ],
        env: vec![("SQLCMDPASSWORD".into(), password.into())],
        stdin: Some(sql.into_bytes()),
    }
}

/// Login names: as database names (plain identifiers), at most 128 characters.
fn check_login(name: &str) -> Result<(), PluginError> {
    check_database(name).map_err(|e| field_error("tenant user", e.message.replace("database", "login")))
}

pub fn steps(server: Credentials, t: Tenant, action: TenantAction) -> Result<Vec<ExecStep>, PluginError> {
    let c = &t.credentials;
    check_login(&c.user)?;
    check_database(&c.database)?;
    check_password(&c.password)?;
    let (db, login) = (bracket(&c.database), bracket(&c.user));
    let (verb, sql) = match action {
        TenantAction::Create => {
            if t.max_connections.is_some() {
                return Err(field_error(
                    "max-connections",
                    "SQL Server has no per-login connection limit; drop --max-connections",
                ));
            }
            // The database first: an existing tenant fails with "... already exists".
            let sql = format!(
                "USE master;\n\
                 CREATE DATABASE {db};\n\
                 GO\n\
                 CREATE LOGIN {login} WITH PASSWORD = {pw}, DEFAULT_DATABASE = {db}, CHECK_EXPIRATION = OFF;\n\
                 GO\n\
                 USE {db};\n\
                 CREATE USER {login} FOR LOGIN {login};\n\
                 ALTER ROLE db_owner ADD MEMBER {login};\n\
                 GO\n",
                pw = nstring(&c.password),
            );
            ("create", sql)
        }
        // Disabled first so no session starts; the database's sessions are rolled back and
        // ended by SINGLE_USER, the login's others killed, then both dropped.
        TenantAction::Drop => (
            "drop",
            format!(
                "USE master;\n\
             IF SUSER_ID({ulit}) IS NOT NULL ALTER LOGIN {login} DISABLE;\n\
             IF DB_ID({dlit}) IS NOT NULL ALTER DATABASE {db} SET SINGLE_USER WITH ROLLBACK IMMEDIATE;\n\
             IF DB_ID({dlit}) IS NOT NULL DROP DATABASE {db};\n\
             DECLARE @kill nvarchar(max) = N'';\n\
             SELECT @kill += N'KILL ' + CAST(session_id AS nvarchar(10)) + N';' \
             FROM sys.dm_exec_sessions WHERE login_name = {ulit} AND session_id <> @@SPID;\n\
             EXEC (@kill);\n\
             IF SUSER_ID({ulit}) IS NOT NULL DROP LOGIN {login};\n\
             GO\n",
                ulit = nstring(&c.user),
                dlit = nstring(&c.database),
            ),
        ),
        TenantAction::Snapshot(_) | TenantAction::Restore(_) => {
            return Err(field_error(
                "action",
                "snapshots of a SQL Server tenant are not supported yet",
            ));
        }
    };
    Ok(vec![sqlcmd(format!("{verb} tenant {}", t.name), &server.password, sql)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Credentials {
        dbarena_plugin_sdk::testing::credentials("sa", "Adm'Passw0rd", "master")
    }

    fn tenant(name: &str, password: &str) -> Tenant {
        dbarena_plugin_sdk::testing::tenant(name, password, None)
    }

    fn sql(step: &ExecStep) -> String {
        dbarena_plugin_sdk::testing::stdin_text(step)
    }

    #[test]
    fn create_makes_database_login_and_owner_user_with_sql_on_stdin() {
        let pw = "Pa'ss]w0rd$(evil)\"";
        let steps = steps(server(), tenant("app", pw), TenantAction::Create).unwrap();
        let s = sql(&steps[0]);
        let order = [
            "CREATE DATABASE [app_db];",
            "CREATE LOGIN [app_user] WITH PASSWORD = N'Pa''ss]w0rd$(evil)\"', DEFAULT_DATABASE = [app_db]",
            "USE [app_db];",
            "CREATE USER [app_user] FOR LOGIN [app_user];",
            "ALTER ROLE db_owner ADD MEMBER [app_user];",
        ];
        let at: Vec<usize> = order
            .iter()
            .map(|p| s.find(p).unwrap_or_else(|| panic!("{p} in {s}")))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{s}");
        let step = &steps[0];
        assert_eq!(step.env, [("SQLCMDPASSWORD".to_string(), "Adm'Passw0rd".to_string())]);
        assert!(
            !step
                .command
                .iter()
                .any(|a| a.contains("Passw0rd") || a.contains("Pa'ss"))
        );
        assert!(
            step.command[2].contains(" -x "),
            "no sqlcmd variables: {}",
            step.command[2]
        );
        assert_eq!(step.description, "create tenant app");
    }

    #[test]
    fn hostile_names_weak_passwords_and_limits_are_refused() {
        for bad in ["a]b", "a b", "x]; DROP DATABASE master; --", "", "1a"] {
            let mut t = tenant("app", "Passw0rd!");
            t.credentials.database = bad.into();
            assert_eq!(
                steps(server(), t, TenantAction::Create).unwrap_err().field.as_deref(),
                Some("database")
            );
            let mut t = tenant("app", "Passw0rd!");
            t.credentials.user = bad.into();
            assert_eq!(
                steps(server(), t, TenantAction::Drop).unwrap_err().field.as_deref(),
                Some("tenant user")
            );
        }
        assert_eq!(bracket("a]b"), "[a]]b]");
        let err = steps(server(), tenant("app", "weak"), TenantAction::Create).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("password"));
        let mut t = tenant("app", "Passw0rd!");
        t.max_connections = Some(2);
        assert_eq!(
            steps(server(), t, TenantAction::Create).unwrap_err().field.as_deref(),
            Some("max-connections")
        );
    }

    #[test]
    fn drop_disables_the_login_ends_sessions_then_drops_database_and_login() {
        let steps = steps(server(), tenant("app", "Passw0rd!"), TenantAction::Drop).unwrap();
        let s = sql(&steps[0]);
        let order = [
            "ALTER LOGIN [app_user] DISABLE",
            "ALTER DATABASE [app_db] SET SINGLE_USER WITH ROLLBACK IMMEDIATE",
            "DROP DATABASE [app_db]",
            "WHERE login_name = N'app_user'",
            "DROP LOGIN [app_user]",
        ];
        let at: Vec<usize> = order
            .iter()
            .map(|p| s.find(p).unwrap_or_else(|| panic!("{p} in {s}")))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{s}");
        assert_eq!(steps[0].description, "drop tenant app");
    }
}
