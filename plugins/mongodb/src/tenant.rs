//! Tenants on a shared MongoDB server (spec level: no server here to run them against): a
//! user created in the tenant's own database with `dbOwner` on it only, so it
//! authenticates there (`authSource=DATABASE`) and reaches no other database. The script
//! goes to the shell on stdin (see `mongo_shell_step`): no password in argv; every string
//! is a JSON literal. The script throws on any failure and exits non-zero.

use super::{check_database, check_text, js_string, login, mongo_shell_step};
use dbarena_plugin_sdk::prelude::*;

/// `body` after the admin login, any exception printed and turned into exit code 1.
fn script(server: &Credentials, body: String) -> String {
    format!(
        "try {{\n{}{body}}} catch (e) {{ print(String(e)); quit(1); }}\n",
        login(&server.user, &server.password)
    )
}

pub fn steps(server: Credentials, t: Tenant, action: TenantAction) -> Result<Vec<ExecStep>, PluginError> {
    let c = &t.credentials;
    check_text("tenant user", &c.user)?;
    check_text("password", &c.password)?;
    check_database(&c.database)?;
    let (user, db) = (js_string(&c.user), js_string(&c.database));
    match action {
        TenantAction::Create => {
            if t.max_connections.is_some() {
                return Err(field_error(
                    "max-connections",
                    "MongoDB has no per-user connection limit; drop --max-connections",
                ));
            }
            // createUser fails with "User ... already exists" for an existing tenant.
            let body = format!(
                "db.getSiblingDB({db}).createUser({{ user: {user}, pwd: {pwd}, roles: [{{ role: 'dbOwner', db: {db} }}] }});\n",
                pwd = js_string(&c.password),
            );
            Ok(vec![mongo_shell_step(
                &format!("create tenant {}", t.name),
                script(&server, body),
            )])
        }
        // The user first (no new logins), then its sessions, then its data.
        TenantAction::Drop => {
            let body = format!(
                "const t = db.getSiblingDB({db});\n\
                 if (t.getUser({user}) !== null) t.dropUser({user});\n\
                 db.adminCommand({{ killAllSessionsByPattern: [{{ users: [{{ user: {user}, db: {db} }}] }}] }});\n\
                 t.dropDatabase();\n"
            );
            Ok(vec![mongo_shell_step(
                &format!("drop tenant {}", t.name),
                script(&server, body),
            )])
        }
        TenantAction::Snapshot(_) | TenantAction::Restore(_) => Err(field_error(
            "action",
            "snapshots of a MongoDB tenant are not supported yet",
        )),
    }
}

/// The server's connection form, authenticating against the tenant's own database.
pub fn connection(at: Endpoint, connection_of: impl Fn(Endpoint) -> ConnectionInfo) -> ConnectionInfo {
    let source = format!("authSource={}", percent_encode(&at.credentials.database));
    let auth_db = format!("--authenticationDatabase={}", at.credentials.database);
    let mut info = connection_of(at);
    let fix = |url: &str| match url.strip_suffix("authSource=admin") {
        Some(base) => format!("{base}{source}"),
        None => url.to_string(),
    };
    let old = info.url.clone();
    info.url = fix(&old);
    for (_, v) in info.env.iter_mut() {
        if *v == old {
            *v = info.url.clone();
        }
    }
    for arg in info.shell.iter_mut() {
        if arg == "--authenticationDatabase=admin" {
            *arg = auth_db.clone();
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mongodb;

    fn server() -> Credentials {
        dbarena_plugin_sdk::testing::credentials("root", "adm\"pw", "test")
    }

    fn tenant(name: &str, password: &str) -> Tenant {
        dbarena_plugin_sdk::testing::tenant(name, password, None)
    }

    fn stdin(step: &ExecStep) -> String {
        dbarena_plugin_sdk::testing::stdin_text(step)
    }

    #[test]
    fn create_makes_a_db_owner_in_its_own_database_with_every_string_a_json_literal() {
        let pw = "p\"}); db.dropDatabase(); //\n\\";
        // Control characters are refused before anything is written.
        let err = steps(server(), tenant("app", pw), TenantAction::Create).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("password"));
        let pw = "p\"}); db.getSiblingDB('admin').dropDatabase(); //\\";
        let made = steps(server(), tenant("app", pw), TenantAction::Create).unwrap();
        let s = stdin(&made[0]);
        assert!(
            s.contains(
                "db.getSiblingDB(\"app_db\").createUser({ user: \"app_user\", pwd: \"p\\\"}); db.getSiblingDB('admin').dropDatabase(); //\\\\\", roles: [{ role: 'dbOwner', db: \"app_db\" }] });"
            ),
            "{s}"
        );
        assert!(s.contains("db.auth(\"root\", \"adm\\\"pw\")"), "{s}");
        assert!(s.contains("quit(1)"), "{s}");
        assert!(!made[0].command.iter().any(|a| a.contains("adm") || a.contains("p\"")));
    }

    #[test]
    fn hostile_names_and_limits_are_refused() {
        for bad in ["a.b", "a/b", "a$b", "a b", "a\"b", ""] {
            let mut t = tenant("app", "pw");
            t.credentials.database = bad.into();
            assert_eq!(
                steps(server(), t, TenantAction::Create).unwrap_err().field.as_deref(),
                Some("database"),
                "{bad}"
            );
        }
        let mut t = tenant("app", "pw");
        t.credentials.user = "a\u{0}b".into();
        assert_eq!(
            steps(server(), t, TenantAction::Drop).unwrap_err().field.as_deref(),
            Some("tenant user")
        );
        let mut t = tenant("app", "pw");
        t.max_connections = Some(1);
        assert_eq!(
            steps(server(), t, TenantAction::Create).unwrap_err().field.as_deref(),
            Some("max-connections")
        );
    }

    #[test]
    fn drop_removes_the_user_kills_its_sessions_then_drops_the_database() {
        let s = stdin(&steps(server(), tenant("app", "pw"), TenantAction::Drop).unwrap()[0]);
        let order = ["dropUser(\"app_user\")", "killAllSessionsByPattern", "t.dropDatabase()"];
        let at: Vec<usize> = order
            .iter()
            .map(|p| s.find(p).unwrap_or_else(|| panic!("{p} in {s}")))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{s}");
    }

    #[test]
    fn tenant_urls_authenticate_against_the_tenant_database() {
        let info = connection(
            Endpoint {
                host: "127.0.0.1".into(),
                port: 27018,
                credentials: Credentials {
                    user: "app_user".into(),
                    password: "p?authSource=admin".into(),
                    database: "app_db".into(),
                },
            },
            <Mongodb as Engine>::connection,
        );
        assert_eq!(
            info.url,
            "mongodb://app_user:p%3FauthSource%3Dadmin@127.0.0.1:27018/app_db?authSource=app_db"
        );
        assert!(info.env.contains(&("MONGODB_URI".into(), info.url.clone())));
        assert!(info.shell.contains(&"--authenticationDatabase=app_db".to_string()));
    }
}
