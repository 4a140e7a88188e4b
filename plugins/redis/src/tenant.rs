//! Tenants on a shared Redis server. Redis has no databases to hand out (the numbered
//! ones share one ACL), so a tenant is an ACL user confined to a key prefix: the tenant's
//! `database` name followed by `:` (`app_db:` for tenant `app`). Its user may run every
//! command except the `@admin` and `@dangerous` ones (`FLUSHALL`, `KEYS`, `CONFIG`, ...),
//! on keys and channels under its prefix only; `SELECT`/`MOVE`/`COPY` (its `DB` option)
//! are denied so all of its keys are in database 0, and what would show or touch other
//! tenants' keys, channels or code: `SCAN`, `RANDOMKEY`, `DBSIZE`, `FUNCTION`,
//! `SCRIPT FLUSH`/`KILL` (the script cache and a running script are the server's),
//! `PUBSUB` (lists every channel), `MEMORY STATS`/`DOCTOR`/`MALLOC-STATS`/`PURGE`, and
//! `CLIENT TRACKING` (its `BCAST PREFIX` mode reports other tenants' key names as they
//! change: ACL key patterns do not apply to it).
//!
//! Commands go to `redis-cli` inside the server container on stdin (one a line, values
//! double-quoted with escapes), the admin password in `REDISCLI_AUTH`: the tenant's
//! password never reaches argv. In pipe mode `redis-cli` exits 0 after error replies, so
//! the scripts compare the replies with the expected ones.

use dbarena_plugin_sdk::prelude::*;

/// Fails (saying "already exists", so the host leaves it alone) when the tenant's user
/// exists: `ACL SETUSER` would otherwise take over another tenant. Then runs the commands
/// on stdin, which must all answer `OK`. `$1` is the admin user, `$2` the tenant's.
const CREATE: &str = r#"out=$(redis-cli --no-auth-warning --no-raw --user "$1" ACL GETUSER "$2" </dev/null) || exit $?; [ "$out" = "(nil)" ] || { echo "Redis user $2 already exists" >&2; exit 1; }; out=$(redis-cli --no-auth-warning --no-raw --user "$1") || exit $?; if printf '%s\n' "$out" | grep -qv '^OK$'; then printf '%s\n' "$out" >&2; exit 1; fi"#;

/// Runs the commands on stdin, whose replies must all be integers. `$1` is the admin user.
const DROP: &str = r#"out=$(redis-cli --no-auth-warning --no-raw --user "$1") || exit $?; if printf '%s\n' "$out" | grep -qvE '^\(integer\) [0-9]+$'; then printf '%s\n' "$out" >&2; exit 1; fi"#;

/// Deletes the keys matching `ARGV[1]` in batches (`UNLINK` frees them off the main thread).
const DELETE_KEYS: &str = "local c = '0' local n = 0 repeat local r = redis.call('SCAN', c, 'MATCH', ARGV[1], 'COUNT', 1000) c = r[1] for _, k in ipairs(r[2]) do redis.call('UNLINK', k) n = n + 1 end until c == '0' return n";

/// The commands a tenant may not run, after `+@all`.
const DENIED: &str = "-@admin -@dangerous -select -move -swapdb -copy -scan -randomkey -dbsize -function \
     -script|flush -script|kill -pubsub -memory|stats -memory|doctor -memory|malloc-stats -memory|purge \
     -client|tracking";

/// The key prefix of a tenant: its database name and `:`.
pub fn key_prefix(database: &str) -> String {
    format!("{database}:")
}

/// A value as `redis-cli` reads it from a line: double-quoted, with `\` and `"` escaped
/// and every byte outside printable ASCII as `\xHH`, so nothing ends the line or the value.
pub fn quote(value: &str) -> String {
    let mut out = String::from("\"");
    for b in value.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// User and key names are plain (letters, digits, `_`, `-`, `.`): they also appear in
/// key patterns, where `*`, `?`, `[` and `\` are glob syntax.
fn plain_name(field: &str, value: &str) -> Result<(), PluginError> {
    let ok = (1..=100).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(field_error(
            field,
            format!("'{value}' cannot name a Redis tenant: use letters, digits, '_', '-' or '.'"),
        ))
    }
}

fn step(server: &Credentials, description: String, script: &str, args: &[&str], commands: String) -> ExecStep {
    let mut command: Vec<String> = ["sh", "-c", script, "sh"].map(String::from).to_vec();
    command.push(server.user.clone());
    command.extend(args.iter().map(|s| s.to_string()));
    ExecStep {
        description,
        command,
        env: vec![("REDISCLI_AUTH".into(), server.password.clone())],
        stdin: Some(commands.into_bytes()),
    }
}

pub fn steps(server: Credentials, t: Tenant, action: TenantAction) -> Result<Vec<ExecStep>, PluginError> {
    plain_name("user", &server.user)?;
    if server.password.is_empty() {
        return Err(field_error("password", "must not be empty"));
    }
    let c = &t.credentials;
    plain_name("tenant user", &c.user)?;
    plain_name("tenant database", &c.database)?;
    if c.password.is_empty() {
        return Err(field_error("password", "must not be empty"));
    }
    let pattern = format!("{}*", key_prefix(&c.database));
    match action {
        TenantAction::Create => {
            if t.max_connections.is_some() {
                return Err(field_error(
                    "max-connections",
                    "Redis has no per-user connection limit; drop --max-connections",
                ));
            }
            let commands = format!(
                "ACL SETUSER {user} reset on {pw} {keys} {channels} +@all {DENIED}\n",
                user = quote(&c.user),
                pw = quote(&format!(">{}", c.password)),
                keys = quote(&format!("~{pattern}")),
                channels = quote(&format!("&{pattern}")),
            );
            Ok(vec![step(
                &server,
                format!("create tenant {}", t.name),
                CREATE,
                &[&c.user],
                commands,
            )])
        }
        // DELUSER also ends the user's connections; then its keys go.
        TenantAction::Drop => {
            let commands = format!(
                "ACL DELUSER {user}\nEVAL {script} 0 {pattern}\n",
                user = quote(&c.user),
                script = quote(DELETE_KEYS),
                pattern = quote(&pattern),
            );
            Ok(vec![step(
                &server,
                format!("drop tenant {}", t.name),
                DROP,
                &[],
                commands,
            )])
        }
        TenantAction::Snapshot(_) | TenantAction::Restore(_) => {
            Err(field_error("action", "snapshots of a Redis tenant are not supported"))
        }
    }
}

/// `redis://user:password@host:port` (database 0, the only one the tenant may use), with
/// the key prefix it must use as `REDIS_KEY_PREFIX`.
pub fn connection(at: Endpoint) -> ConnectionInfo {
    let c = &at.credentials;
    let url = format!(
        "redis://{}:{}@{}:{}",
        percent_encode(&c.user),
        percent_encode(&c.password),
        url_host(&at.host),
        at.port,
    );
    ConnectionInfo {
        url: url.clone(),
        env: vec![
            ("REDIS_URL".into(), url),
            ("REDIS_HOST".into(), at.host.clone()),
            ("REDIS_PORT".into(), at.port.to_string()),
            ("REDIS_USER".into(), c.user.clone()),
            ("REDISCLI_AUTH".into(), c.password.clone()),
            ("REDIS_KEY_PREFIX".into(), key_prefix(&c.database)),
        ],
        shell: vec!["redis-cli".into(), "--user".into(), c.user.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Credentials {
        dbarena_plugin_sdk::testing::credentials("default", "adm\"pw", "0")
    }

    fn tenant(name: &str, password: &str) -> Tenant {
        dbarena_plugin_sdk::testing::tenant(name, password, None)
    }

    fn stdin(step: &ExecStep) -> String {
        dbarena_plugin_sdk::testing::stdin_text(step)
    }

    #[test]
    fn create_confines_the_user_to_its_prefix_with_the_password_on_stdin_only() {
        let pw = "p\" ~* +@all\nFLUSHALL \\x";
        let steps = steps(server(), tenant("app", pw), TenantAction::Create).unwrap();
        assert_eq!(steps.len(), 1);
        let s = &steps[0];
        assert_eq!(
            stdin(s),
            "ACL SETUSER \"app_user\" reset on \">p\\\" ~* +@all\\x0aFLUSHALL \\\\x\" \"~app_db:*\" \"&app_db:*\" +@all -@admin -@dangerous -select -move -swapdb -copy -scan -randomkey -dbsize -function -script|flush -script|kill -pubsub -memory|stats -memory|doctor -memory|malloc-stats -memory|purge -client|tracking\n"
        );
        assert_eq!(stdin(s).lines().count(), 1);
        assert_eq!(s.command, ["sh", "-c", CREATE, "sh", "default", "app_user"]);
        assert!(!s.command.iter().any(|a| a.contains("p\"") || a.contains("adm")));
        assert_eq!(s.env, [("REDISCLI_AUTH".to_string(), "adm\"pw".to_string())]);
    }

    #[test]
    fn quoting_escapes_everything_that_would_end_a_value() {
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("\"\\\r\n\0é"), "\"\\\"\\\\\\x0d\\x0a\\x00\\xc3\\xa9\"");
    }

    #[test]
    fn hostile_names_are_refused_and_limits_do_not_exist() {
        for bad in ["a b", "a*", "a?", "a[b]", "a\\b", "a\"b", "a\nb", "", "~*"] {
            let mut t = tenant("app", "pw");
            t.credentials.user = bad.into();
            assert_eq!(
                steps(server(), t, TenantAction::Create).unwrap_err().field.as_deref(),
                Some("tenant user"),
                "{bad:?}"
            );
            let mut t = tenant("app", "pw");
            t.credentials.database = bad.into();
            assert_eq!(
                steps(server(), t, TenantAction::Drop).unwrap_err().field.as_deref(),
                Some("tenant database"),
                "{bad:?}"
            );
        }
        let mut t = tenant("app", "pw");
        t.max_connections = Some(3);
        let err = steps(server(), t, TenantAction::Create).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("max-connections"));
        assert!(steps(server(), tenant("app", ""), TenantAction::Create).is_err());
    }

    #[test]
    fn drop_deletes_the_user_then_its_keys() {
        let steps = steps(server(), tenant("app", "pw"), TenantAction::Drop).unwrap();
        let s = stdin(&steps[0]);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "ACL DELUSER \"app_user\"");
        assert!(lines[1].starts_with("EVAL \"local c = '0'"), "{s}");
        assert!(lines[1].ends_with(" 0 \"app_db:*\""), "{s}");
        assert_eq!(steps[0].command, ["sh", "-c", DROP, "sh", "default"]);
    }

    #[test]
    fn url_has_no_database_and_env_names_the_prefix() {
        let info = connection(Endpoint {
            host: "127.0.0.1".into(),
            port: 6380,
            credentials: Credentials {
                user: "app_user".into(),
                password: "p@ss".into(),
                database: "app_db".into(),
            },
        });
        assert_eq!(info.url, "redis://app_user:p%40ss@127.0.0.1:6380");
        assert!(info.env.contains(&("REDIS_KEY_PREFIX".into(), "app_db:".into())));
        assert!(info.env.contains(&("REDIS_URL".into(), info.url.clone())));
        assert!(!info.shell.iter().any(|a| a.contains("p@ss")));
    }
}
