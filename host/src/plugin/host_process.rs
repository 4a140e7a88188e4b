//! What a plugin may put into a process on the host: the interactive client `dbarena shell`
//! runs (`host-shell`) and the names of the variables `env`, `run -- CMD` and that client get.
//!
//! A plugin is untrusted pure logic, so it never chooses what runs on the host:
//!
//! - **The client** (`argv[0]`) must be a bare name from [`CLIENTS`], a fixed list of
//!   database clients that cannot run host programs from their arguments, looked up on
//!   `PATH`. No path (`/bin/sh`, `../x`), no shell, interpreter or wrapper (`sh`, `env`,
//!   `python`, `mysqlsh`: anything not in the list).
//! - **The arguments** must be connection options of that client, from its own allow-list,
//!   each token exactly `--name=value`, `--name value`, `-x value` or a bare flag, values
//!   never starting with `-` when separate (so no parser can read them as options), plus the
//!   positional arguments the client takes as a connection (a `postgresql://` URL, a database
//!   name). Options that run programs or scripts, load libraries or write files (psql `-c`,
//!   `-f`, `-o |cmd`, `-v PROMPT1=%\`cmd\``; mysql `--pager`, `-e 'system …'`,
//!   `--plugin-dir`; mongosh `--eval`, `.js` files; sqlcmd `-Q '!! …'`, `-i`; redis-cli
//!   `--rdb FILE`) are simply not in the lists. The user's own extra arguments
//!   (`dbarena shell NAME -- ARGS`) are theirs and pass unchecked.
//! - **Variable names** must have the shape of a connection variable: upper case, either
//!   a client's own name ([`KNOWN_VARIABLES`], e.g. `PGHOST`) or `SOMETHING_<WORD>` with
//!   `<WORD>` one of [`CONNECTION_WORDS`] (`DATABASE_URL`, `MYSQL_PWD`, `REDIS_KEY_PREFIX`)
//!   or a client's own name (`PG_1_PGPORT`, as `dbarena env` prefixes a shared name),
//!   and not in the namespace of a tool that reads such names to fetch or run code
//!   ([`FOREIGN_NAMESPACES`]: `LD_*`, `GIT_*`, `PIP_INDEX_URL`, `DOCKER_HOST`, proxies…).
//!   An allow-list of shapes, rather than a deny-list of names, keeps `BASH_ENV`,
//!   `LD_PRELOAD`, `PROMPT_COMMAND`, `PATH`, `PAGER`, `PSQLRC`, `NODE_OPTIONS` and every
//!   future variable of that kind out without naming them.

/// How a client's arguments are checked.
struct Client {
    name: &'static str,
    /// Options that take a value.
    valued: &'static [&'static str],
    /// Options that take none.
    flags: &'static [&'static str],
    /// Which positional arguments are connections, and how many.
    positional: Positional,
}

#[derive(Clone, Copy)]
enum Positional {
    None,
    /// Up to this many plain values (database name, user), or a connection URL with one of
    /// these schemes.
    Values(usize, &'static [&'static str]),
    /// One connection URL with one of these schemes (other positionals are scripts).
    Url(&'static [&'static str]),
}

const MYSQL_VALUED: &[&str] = &[
    "-h",
    "--host",
    "-P",
    "--port",
    "-u",
    "--user",
    "-D",
    "--database",
    "--protocol",
    "--ssl-mode",
    "--connect-timeout",
    "--default-character-set",
];
const MYSQL_FLAGS: &[&str] = &["--ssl", "--skip-ssl", "--ssl-verify-server-cert", "--compress", "-C"];
const REDIS_VALUED: &[&str] = &["-h", "-p", "-n", "--user", "-u", "--sni"];
const REDIS_FLAGS: &[&str] = &["--tls", "--no-auth-warning", "-c", "-e", "--resp2", "--resp3"];

/// The database clients a plugin may name as its host shell, and what each accepts.
const CLIENTS: &[Client] = &[
    Client {
        name: "psql",
        valued: &["-h", "--host", "-p", "--port", "-U", "--username", "-d", "--dbname"],
        flags: &["-w", "--no-password", "-W", "--password", "-X", "--no-psqlrc"],
        positional: Positional::Values(2, &["postgresql", "postgres"]),
    },
    Client {
        name: "mysql",
        valued: MYSQL_VALUED,
        flags: MYSQL_FLAGS,
        positional: Positional::Values(1, &[]),
    },
    Client {
        name: "mariadb",
        valued: MYSQL_VALUED,
        flags: MYSQL_FLAGS,
        positional: Positional::Values(1, &[]),
    },
    Client {
        name: "redis-cli",
        valued: REDIS_VALUED,
        flags: REDIS_FLAGS,
        positional: Positional::None,
    },
    Client {
        name: "valkey-cli",
        valued: REDIS_VALUED,
        flags: REDIS_FLAGS,
        positional: Positional::None,
    },
    Client {
        name: "mongosh",
        valued: &["--host", "--port", "-u", "--username", "--authenticationDatabase"],
        flags: &["--tls", "--quiet", "--norc"],
        positional: Positional::Url(&["mongodb", "mongodb+srv"]),
    },
    Client {
        name: "sqlcmd",
        valued: &["-S", "-U", "-d", "-l"],
        flags: &["-C"],
        positional: Positional::None,
    },
];

/// The bare names [`host_client`] accepts, for messages and docs.
pub fn client_names() -> impl Iterator<Item = &'static str> {
    CLIENTS.iter().map(|c| c.name)
}

/// Checks a plugin's `host-shell` argv: a known client and connection arguments only.
pub fn host_client(argv: &[String]) -> Result<(), String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("host shell command is empty".into());
    };
    let known = || client_names().collect::<Vec<_>>().join(", ");
    let Some(client) = CLIENTS.iter().find(|c| c.name == program) else {
        let shown = super::validate::clip(program, 80);
        return Err(if program.contains('/') {
            format!(
                "host shell {shown:?} is a path; it must be the bare name of a database client ({})",
                known()
            )
        } else {
            format!(
                "host shell {shown:?} is not a known database client ({}); a plugin cannot choose other programs to run on the host",
                known()
            )
        });
    };
    let bad = |arg: &str, why: &str| {
        Err(format!(
            "host shell {} argument {:?} {why}; only connection options are allowed",
            client.name,
            super::validate::clip(arg, 80)
        ))
    };
    let mut positionals = 0;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg.starts_with('-') {
            // `--name=value` (long options only: `-xvalue` forms are not accepted).
            if let Some((name, _)) = arg.split_once('=')
                && name.starts_with("--")
            {
                if !client.valued.contains(&name) {
                    return bad(arg, "is not an allowed option");
                }
                if let Err(why) = connection_value(client, name, &arg[name.len() + 1..]) {
                    return bad(arg, why);
                }
                continue;
            }
            if client.flags.contains(&arg.as_str()) {
                continue;
            }
            if !client.valued.contains(&arg.as_str()) {
                return bad(arg, "is not an allowed option");
            }
            match args.next() {
                Some(value) if !value.starts_with('-') => {
                    if let Err(why) = connection_value(client, arg, value) {
                        return bad(value, why);
                    }
                }
                Some(value) => return bad(value, &format!("(the value of {arg}) starts with '-'")),
                None => return bad(arg, "has no value"),
            }
            continue;
        }
        positionals += 1;
        match client.positional {
            Positional::None => return bad(arg, "is a positional argument, which this client runs as a command"),
            Positional::Values(max, schemes) => {
                if positionals > max {
                    return bad(arg, &format!("is positional argument {positionals} (at most {max})"));
                }
                if arg.contains("://") && !url_with_scheme(arg, schemes) {
                    return bad(arg, "is not a connection URL of this client");
                }
                if let Err(why) = connection_value(client, "", arg) {
                    return bad(arg, why);
                }
            }
            Positional::Url(schemes) => {
                if positionals > 1 || !url_with_scheme(arg, schemes) {
                    return bad(
                        arg,
                        "is not one connection URL (other positional arguments are scripts)",
                    );
                }
                if let Err(why) = url_parameters(arg, MONGOSH_URL_KEYS) {
                    return bad(arg, why);
                }
                // mongosh runs positionals that look like file names as scripts.
                let lower = arg.to_ascii_lowercase();
                if [".js", ".mjs", ".cjs", ".mongodb"].iter().any(|s| lower.ends_with(s)) {
                    return bad(arg, "looks like a script file name");
                }
            }
        }
    }
    Ok(())
}

/// URL parameters a client may get from a plugin: none names a host file (`passfile`,
/// `sslkey`, `servicefile`, `sslkeylogfile`, `tlsCAFile`…), hands credentials to another
/// party (`gssdelegation`) or makes the client start a program (mongosh's OIDC login opens
/// a browser).
const PSQL_URL_KEYS: &[&str] = &[
    "sslmode",
    "application_name",
    "connect_timeout",
    "target_session_attrs",
    "client_encoding",
];
const MONGOSH_URL_KEYS: &[&str] = &[
    "authSource",
    "tls",
    "ssl",
    "directConnection",
    "replicaSet",
    "retryWrites",
    "appName",
    "readPreference",
    "connectTimeoutMS",
    "serverSelectionTimeoutMS",
];

/// A value that reaches the client as a connection: for psql, a positional or `-d` value
/// is a database name or a `postgresql://` URL with the parameters above only, never a
/// `key=value` connection string (libpq would read `passfile=`, `sslkeylogfile=`… there).
fn connection_value(client: &Client, option: &str, value: &str) -> Result<(), &'static str> {
    if client.name != "psql" || !matches!(option, "" | "-d" | "--dbname") {
        return Ok(());
    }
    if value.contains("://") {
        if !url_with_scheme(value, &["postgresql", "postgres"]) {
            return Err("is not a connection URL of this client");
        }
        return url_parameters(value, PSQL_URL_KEYS);
    }
    if value.contains('=') {
        return Err("is a connection string (key=value), which can name host files");
    }
    Ok(())
}

/// Every query parameter of URL `value` is one of `allowed`.
fn url_parameters(value: &str, allowed: &[&str]) -> Result<(), &'static str> {
    let url = url::Url::parse(value).map_err(|_| "is not a URL")?;
    if url.query_pairs().any(|(k, _)| !allowed.contains(&k.as_ref())) {
        return Err("has a URL parameter that is not a plain connection setting");
    }
    Ok(())
}

fn url_with_scheme(arg: &str, schemes: &[&str]) -> bool {
    url::Url::parse(arg).is_ok_and(|u| schemes.contains(&u.scheme()))
}

/// Variables of database clients whose names have no `_WORD` suffix.
pub const KNOWN_VARIABLES: &[&str] = &[
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "SQLCMDSERVER",
    "SQLCMDUSER",
    "SQLCMDPASSWORD",
    "SQLCMDDBNAME",
];

/// The last word(s) of a connection variable's name, after an `_`.
pub const CONNECTION_WORDS: &[&str] = &[
    "URL",
    "URI",
    "HOST",
    "PORT",
    "USER",
    "USERNAME",
    "PASSWORD",
    "PWD",
    "AUTH",
    "DATABASE",
    "DB",
    "DBNAME",
    "CONNECTION_STRING",
    "KEY_PREFIX",
];

/// First words of names that other tools read to fetch or run code, pick credentials or
/// redirect traffic (`PIP_INDEX_URL`, `DOCKER_HOST`, `GIT_PROXY_COMMAND`, `HTTPS_PROXY`…):
/// a connection variable never starts with one.
pub const FOREIGN_NAMESPACES: &[&str] = &[
    "LD",
    "DYLD",
    "BASH",
    "ZSH",
    "SHELL",
    "PS",
    "PROMPT",
    "IFS",
    "PATH",
    "HOME",
    "TERM",
    "LC",
    "LANG",
    "XDG",
    "SUDO",
    "SSH",
    "GIT",
    "GPG",
    "GNUPG",
    "DOCKER",
    "PODMAN",
    "CONTAINER",
    "CONTAINERS",
    "BUILDKIT",
    "COMPOSE",
    "KUBE",
    "KUBECONFIG",
    "KUBERNETES",
    "HELM",
    "PIP",
    "PIPX",
    "UV",
    "POETRY",
    "CONDA",
    "PYTHON",
    "PYTHONPATH",
    "NPM",
    "YARN",
    "PNPM",
    "NODE",
    "BUN",
    "DENO",
    "CARGO",
    "RUSTUP",
    "RUSTC",
    "GO",
    "GOPROXY",
    "GEM",
    "BUNDLE",
    "RUBY",
    "PERL",
    "PERL5",
    "COMPOSER",
    "MAVEN",
    "GRADLE",
    "JAVA",
    "DOTNET",
    "NUGET",
    "HTTP",
    "HTTPS",
    "FTP",
    "ALL",
    "NO",
    "SOCKS",
    "AWS",
    "AZURE",
    "GOOGLE",
    "GCP",
    "GCLOUD",
    "CLOUDSDK",
    "GITHUB",
    "GH",
    "GITLAB",
    "CI",
    "SSL",
    "OPENSSL",
    "CURL",
    "REQUESTS",
    "NIX",
    "VAULT",
    "TF",
    "OTEL",
    "SENTRY",
    "HOMEBREW",
    "APT",
    "DBUS",
    "DISPLAY",
    "WAYLAND",
    "TMUX",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "LESS",
    "MANPAGER",
    "BROWSER",
];

/// Longest variable name accepted.
const MAX_NAME: usize = 64;

/// Whether `name` may be set in a host process's environment by a plugin (see the module
/// doc); `Err` says why not.
pub fn connection_variable(name: &str) -> Result<(), String> {
    let shown = super::validate::clip(name, 80);
    let shape = name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !shape {
        return Err(format!(
            "environment variable name {shown:?} is not a connection variable name (upper case \
             letters, digits and '_', starting with a letter, up to {MAX_NAME})"
        ));
    }
    if KNOWN_VARIABLES.contains(&name) {
        return Ok(());
    }
    let first = name.split('_').next().unwrap_or_default();
    if FOREIGN_NAMESPACES.contains(&first) {
        return Err(format!(
            "environment variable name {shown:?} is in the {first}_ namespace, which other programs \
             read; a plugin may only export connection variables"
        ));
    }
    // `PG_1_PGPORT`: a client's variable behind an instance-name prefix (`dbarena env`).
    let suffixed = CONNECTION_WORDS.iter().chain(KNOWN_VARIABLES).any(|word| {
        name.strip_suffix(word)
            .and_then(|rest| rest.strip_suffix('_'))
            .is_some_and(|rest| !rest.is_empty() && !rest.ends_with('_'))
    });
    if !suffixed {
        return Err(format!(
            "environment variable name {shown:?} is not a connection variable: it must end in _URL, \
             _HOST, _PORT, _USER, _PASSWORD, _DATABASE or a similar connection word, or be a \
             client's own (PGHOST…); a plugin may not set other variables on the host"
        ));
    }
    Ok(())
}

/// First words of the variables any plugin may export: the names database clients,
/// drivers and frameworks read a connection from. A plugin's other variables start with
/// its engine id (`HOSTILE_URL` for engine `hostile`), so a plugin cannot point another
/// tool at its server (`TWINE_REPOSITORY_URL`, `OLLAMA_HOST`, `SONAR_HOST_URL`…).
pub const DATABASE_NAMESPACES: &[&str] = &[
    "DATABASE",
    "DIRECT",
    "DB",
    "JDBC",
    "ADO",
    "ODBC",
    "SQLALCHEMY",
    "PG",
    "POSTGRES",
    "POSTGRESQL",
    "MYSQL",
    "MARIADB",
    "REDIS",
    "REDISCLI",
    "VALKEY",
    "MONGO",
    "MONGODB",
    "MSSQL",
    "SQLSERVER",
    "SQLCMD",
];

/// [`connection_variable`], for a name plugin `engine` exports: also in a database
/// namespace ([`DATABASE_NAMESPACES`]) or the engine's own (`ENGINE_…`).
pub fn plugin_variable(name: &str, engine: &str) -> Result<(), String> {
    connection_variable(name)?;
    if KNOWN_VARIABLES.contains(&name) {
        return Ok(());
    }
    let own = format!("{}_", engine.to_ascii_uppercase().replace('-', "_"));
    let first = name.split('_').next().unwrap_or_default();
    if name.starts_with(&own) || DATABASE_NAMESPACES.contains(&first) {
        return Ok(());
    }
    Err(format!(
        "environment variable name {:?} is not in a database namespace ({}_…) nor the engine's own ({own}…)",
        super::validate::clip(name, 80),
        DATABASE_NAMESPACES.join("_…, ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn builtin_clients_pass() {
        for ok in [
            &["psql", "postgresql://app@127.0.0.1:5432/app"][..],
            &[
                "mysql",
                "--host=127.0.0.1",
                "--port=3306",
                "--user=root",
                "--database=d",
                "--protocol=TCP",
            ],
            &["mysql", "--user=-dash-user", "--database=x"],
            &["redis-cli", "--user", "default", "-h", "::1", "-p", "6379", "-n", "0"],
            &["mongosh", "mongodb://127.0.0.1:27017/test?authSource=admin"],
            &["sqlcmd", "-C", "-S", "127.0.0.1,1433", "-U", "sa", "-d", "master"],
            &["mariadb", "-h", "h", "-P", "3306", "db"],
            &["psql", "-h", "h", "-p", "1", "-U", "u", "db", "user"],
        ] {
            assert_eq!(host_client(&argv(ok)), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn programs_other_than_known_clients_are_refused() {
        for program in [
            "/bin/sh",
            "sh",
            "bash",
            "../../bin/sh",
            "./psql",
            "/usr/bin/psql",
            "env",
            "python3",
            "python",
            "perl",
            "node",
            "busybox",
            "mysqlsh",
            "psql ",
            "PSQL",
            "",
        ] {
            let err = host_client(&argv(&[program, "-c", "touch /tmp/x"])).unwrap_err();
            assert!(err.contains("host shell"), "{program}: {err}");
        }
        assert!(host_client(&[]).is_err());
    }

    #[test]
    fn a_plugin_exports_database_variables_or_its_engines_own_only() {
        for ok in [
            "DATABASE_URL",
            "JDBC_URL",
            "PGHOST",
            "REDISCLI_AUTH",
            "MONGODB_URI",
            "MYSQL_TCP_PORT",
            "MY_DB_URL",
        ] {
            assert_eq!(plugin_variable(ok, "my-db"), Ok(()), "{ok}");
        }
        for bad in [
            "TWINE_REPOSITORY_URL",
            "OLLAMA_HOST",
            "SONAR_HOST_URL",
            "JENKINS_URL",
            "BASH_ENV",
        ] {
            assert!(plugin_variable(bad, "my-db").is_err(), "{bad} passed");
        }
    }

    #[test]
    fn options_that_run_programs_or_scripts_are_refused() {
        for bad in [
            &["psql", "-c", "\\! touch /tmp/x"][..],
            &["psql", "--command=\\! id"],
            &["psql", "-f", "/tmp/evil.sql"],
            &["psql", "-o", "|touch /tmp/x"],
            &["psql", "--output=|id"],
            &["psql", "-v", "PROMPT1=%`id`"],
            &["psql", "--set=PROMPT1=%`id`"],
            &["psql", "-L", "/tmp/log"],
            &["psql", "-Uc", "x"],
            &["psql", "-U", "-c"],
            &["psql", "-U"],
            &["psql", "a", "b", "c"],
            &["psql", "file:///etc/passwd"],
            &["mysql", "--pager=sh -c id"],
            &["mysql", "--pag=id"],
            &["mysql", "-e", "system id"],
            &["mysql", "--execute=system id"],
            &["mysql", "--plugin-dir=/tmp", "--default-auth=evil"],
            &["mysql", "--defaults-extra-file=/tmp/x"],
            &["mysql", "--init-command=x"],
            &["mysql", "--tee=/etc/x"],
            &["mysql", "--", "--pager=id"],
            &["mysql", "db", "other"],
            &["redis-cli", "--rdb", "/root/.bashrc"],
            &["redis-cli", "--eval", "/tmp/x.lua"],
            &["redis-cli", "FLUSHALL"],
            &["mongosh", "--eval", "require('child_process').execSync('id')"],
            &["mongosh", "mongodb://h/db", "/tmp/evil.js"],
            &["mongosh", "/tmp/evil.js"],
            &["mongosh", "mongodb://h/x.js"],
            &["mongosh", "--file=/tmp/x"],
            &["sqlcmd", "-Q", "!! id"],
            &["sqlcmd", "-i", "/tmp/x.sql"],
            &["sqlcmd", "-o", "/etc/passwd"],
            // libpq connection strings and URL parameters that name host files or send
            // credentials elsewhere.
            &["psql", "host=evil sslkeylogfile=/root/.bashrc"],
            &["psql", "-d", "dbname=x passfile=/root/.pgpass host=evil"],
            &["psql", "--dbname=service=evil"],
            &["psql", "postgresql://evil/db?sslkeylogfile=/root/.bashrc"],
            &["psql", "postgresql://evil/db?passfile=/root/.pgpass"],
            &["psql", "postgres://h/db?servicefile=/tmp/x&service=a"],
            &["psql", "postgresql://h/db?gssdelegation=1"],
            &["psql", "-d", "postgresql://h/db?sslkey=/root/.ssh/id_rsa"],
            &["mongosh", "mongodb://h/db?tlsCertificateKeyFile=/root/.ssh/id_rsa"],
            &["mongosh", "mongodb://h/db?authMechanism=MONGODB-OIDC"],
            &["mongosh", "--authenticationMechanism", "MONGODB-OIDC", "mongodb://h/db"],
        ] {
            assert!(host_client(&argv(bad)).is_err(), "{bad:?} passed");
        }
        // Plain connection settings still pass.
        for good in [
            &["psql", "postgresql://u@h:5432/db?sslmode=disable&application_name=x"][..],
            &["psql", "-d", "mydb"],
            &[
                "mongosh",
                "mongodb://u:p@h:27017/db?authSource=admin&directConnection=true",
            ],
        ] {
            assert!(host_client(&argv(good)).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn connection_variables_pass_and_others_do_not() {
        for ok in [
            "DATABASE_URL",
            "DIRECT_URL",
            "JDBC_URL",
            "ADO_NET_CONNECTION_STRING",
            "PGHOST",
            "PGPASSWORD",
            "MYSQL_PWD",
            "MYSQL_TCP_PORT",
            "REDISCLI_AUTH",
            "REDIS_KEY_PREFIX",
            "MONGODB_URI",
            "MONGO_USERNAME",
            "MSSQL_DATABASE",
            "SQLCMDDBNAME",
            "PG_1_DATABASE_URL",
            "PG_1_PGPORT",
            "DBARENA_POSTGRES_17_803E_PGPORT",
        ] {
            assert_eq!(connection_variable(ok), Ok(()), "{ok}");
        }
        for bad in [
            "BASH_ENV",
            "ENV",
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "LD_AUDIT",
            "DYLD_INSERT_LIBRARIES",
            "PROMPT_COMMAND",
            "PS1",
            "PS4",
            "IFS",
            "PATH",
            "HOME",
            "SHELL",
            "PAGER",
            "PSQL_PAGER",
            "PSQLRC",
            "PGOPTIONS",
            "PGPASSFILE",
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PERL5OPT",
            "RUBYOPT",
            "NODE_OPTIONS",
            "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS",
            "GIT_SSH_COMMAND",
            "GIT_CONFIG_GLOBAL",
            "SSH_AUTH_SOCK",
            "PIP_INDEX_URL",
            "UV_INDEX_URL",
            "DOCKER_HOST",
            "CONTAINER_HOST",
            "HTTPS_PROXY",
            "http_proxy",
            "AWS_ENDPOINT_URL",
            "LESSOPEN",
            "EDITOR",
            "DBARENA_PLUGIN_DIR",
            "LD_PGHOST",
            "XPGHOST",
            "DATABASE__URL",
            "_URL",
            "URL",
            "database_url",
            "A B_URL",
            &format!("{}_URL", "X".repeat(70)),
        ] {
            assert!(connection_variable(bad).is_err(), "{bad} passed");
        }
    }
}
