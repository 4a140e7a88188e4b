//! Tenants on shared servers, end to end through the binary against real servers:
//! PostgreSQL behind the PgBouncer test image (dbarena-test/pgbouncer), created in parallel
//! by separate processes (which also race to start the server and its pooler); MariaDB
//! (dbarena-test/mysql) and Redis tenants, which need no pooler.

mod common;

use common::*;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The test config plus the local PgBouncer image, through the config key.
fn arena() -> Arena {
    let arena = Arena::new();
    let mut config = std::fs::read_to_string(arena.config_path()).unwrap();
    config = config.replace(
        "[engines.postgres]\n",
        "[engines.postgres]\npooler-image = \"dbarena-test/pgbouncer:1.18\"\n",
    );
    std::fs::write(arena.config_path(), config).unwrap();
    arena
}

/// A unique shared server for this test, cleaned up with its pooler.
fn server(arena: &Arena, base: &str) -> String {
    let server = arena.name(base);
    arena.track(&format!("{server}-pooler"));
    server
}

fn tenant_name(base: &str, i: usize) -> String {
    format!("{base}_{}_{i}", std::process::id())
}

fn create_tenant(arena: &Arena, records: &Cleanup, server: &str, name: &str, extra: &[&str]) -> Value {
    let mut cleanup_args = vec![
        "create", "postgres", "--shared", "--server", server, "--name", name, "--json",
    ];
    cleanup_args.extend_from_slice(extra);
    // Recorded before the create: a failed test still removes the record.
    records.volume(&format!("dbarena-tenant-{name}"));
    arena.json(&cleanup_args)
}

fn tenants_of(arena: &Arena, server: &str) -> Vec<Value> {
    let all = arena.json(&["list", "--json"]);
    all.as_array()
        .unwrap()
        .iter()
        .filter(|v| v["kind"] == "tenant" && v["server"] == server)
        .cloned()
        .collect()
}

fn psql_fails(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([url, "-XtAc", sql])
        .output()
        .unwrap();
    assert!(!out.status.success(), "psql {url} should have failed: {}", stdout(&out));
    stderr(&out)
}

#[test]
fn twenty_postgres_tenants_in_parallel_through_pgbouncer_isolated_and_dropped_one_at_a_time() {
    if !docker_available("twenty_postgres_tenants_in_parallel_through_pgbouncer_isolated_and_dropped_one_at_a_time") {
        return;
    }
    let records = Cleanup::default();
    let arena = arena();
    let server = server(&arena, "shared");
    let names: Vec<String> = (0..20).map(|i| tenant_name("pt", i)).collect();
    for n in &names {
        // Tenant records are volumes named after the tenant.
        records.volume(&format!("dbarena-tenant-{n}"));
        let _ = docker(&["volume", "rm", "-f", &format!("dbarena-tenant-{n}")]);
    }
    // 20 processes at once, none of which finds the server: they race to start it.
    let tenants: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|n| {
                let (arena, server, records) = (&arena, &server, &records);
                s.spawn(move || create_tenant(arena, records, server, n, &["--max-connections", "5"]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(container_exists(&server) && container_exists(&format!("{server}-pooler")));
    for t in &tenants {
        let (url, direct) = (t["url"].as_str().unwrap(), t["direct_url"].as_str().unwrap());
        assert_ne!(
            url, direct,
            "pooled and direct URLs differ (pooler port vs server port)"
        );
        let db = t["database"].as_str().unwrap();
        assert_eq!(psql(url, "SELECT current_database()"), db);
        assert_eq!(psql(direct, "SELECT current_user"), t["user"].as_str().unwrap());
        assert_eq!(t["env"]["DATABASE_URL"], t["url"]);
        assert_eq!(t["env"]["DIRECT_URL"], t["direct_url"]);
        // The role owns its database and has its connection limit.
        assert_eq!(
            psql(direct, "SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user"),
            "5"
        );
    }
    assert_eq!(tenants_of(&arena, &server).len(), 20);

    // A cannot reach B's database, directly or through the pooler, nor the maintenance db.
    let (a, b) = (&tenants[0], &tenants[1]);
    let b_db = b["database"].as_str().unwrap();
    let swap = |url: &str| format!("{}/{b_db}", url.rsplit_once('/').unwrap().0);
    let err = psql_fails(&swap(a["direct_url"].as_str().unwrap()), "SELECT 1");
    assert!(err.contains("permission denied for database"), "{err}");
    let err = psql_fails(&swap(a["url"].as_str().unwrap()), "SELECT 1");
    assert!(err.contains("permission denied for database"), "{err}");
    let maint = format!(
        "{}/postgres",
        a["direct_url"].as_str().unwrap().rsplit_once('/').unwrap().0
    );
    psql_fails(&maint, "SELECT 1");

    // `env` gives the pooled DATABASE_URL and the DIRECT_URL.
    let env = arena.ok(&["env", a["name"].as_str().unwrap()]);
    assert!(
        env.contains(&format!("export DATABASE_URL={}", a["url"].as_str().unwrap())),
        "{env}"
    );
    assert!(
        env.contains(&format!("export DIRECT_URL={}", a["direct_url"].as_str().unwrap())),
        "{env}"
    );

    // The pooler keeps serving a tenant while others come and go.
    let keep = tenants[2]["url"].as_str().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let served = {
        let (stop, keep) = (stop.clone(), keep.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(psql(&keep, "SELECT 7"), "7");
                n += 1;
            }
            n
        })
    };
    let extra = tenant_name("px", 0);
    records.volume(&format!("dbarena-tenant-{extra}"));
    let x = create_tenant(&arena, &records, &server, &extra, &[]);
    assert_eq!(psql(x["url"].as_str().unwrap(), "SELECT 1"), "1");

    // Destroy drops exactly one tenant: its sessions, database and role.
    let victim = &tenants[3];
    let victim_name = victim["name"].as_str().unwrap();
    let out = arena.ok(&["destroy", victim_name]);
    assert!(out.contains(&format!("destroyed tenant {victim_name}")), "{out}");
    psql_fails(victim["direct_url"].as_str().unwrap(), "SELECT 1");
    arena.ok(&["destroy", &extra]);
    stop.store(true, Ordering::Relaxed);
    assert!(served.join().unwrap() > 0);
    let left = tenants_of(&arena, &server);
    assert_eq!(left.len(), 19);
    assert!(!left.iter().any(|t| t["name"] == victim_name));
    let admin = arena.json(&["inspect", &server, "--json"]);
    let dbs = psql(
        admin["url"].as_str().unwrap(),
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'pt\\_%' OR datname LIKE 'px\\_%'",
    );
    assert_eq!(dbs, "19");
    for t in tenants.iter().filter(|t| t["name"] != victim_name) {
        assert_eq!(psql(t["url"].as_str().unwrap(), "SELECT 1"), "1");
    }

    // `reset` empties a tenant's database; its pooled URL keeps working.
    let r = &tenants[4];
    let r_url = r["url"].as_str().unwrap();
    psql(r_url, "CREATE TABLE kept (x int)");
    arena.ok(&["reset", r["name"].as_str().unwrap()]);
    assert_eq!(
        psql(r_url, "SELECT count(*) FROM pg_tables WHERE tablename = 'kept'"),
        "0"
    );
    assert_eq!(
        psql(r["direct_url"].as_str().unwrap(), "SELECT current_user"),
        r["user"].as_str().unwrap()
    );

    // `inspect` and `url` of a tenant: its own connection.
    let r_name = r["name"].as_str().unwrap();
    let inspected = arena.json(&["inspect", r_name, "--json"]);
    assert_eq!(inspected["url"], r["url"]);
    assert_eq!(inspected["direct_url"], r["direct_url"]);
    let text = arena.ok(&["inspect", r_name]);
    assert!(
        text.contains("direct_url") && text.contains(&format!("tenant on {server}")),
        "{text}"
    );
    assert_eq!(arena.ok(&["url", r_name]).trim(), r["url"].as_str().unwrap());

    // A tenant snapshot is a copy of its database beside it on the server (CREATE DATABASE
    // … TEMPLATE); `reset --tag` brings it back, a missing tag changes nothing, and
    // destroying the tenant drops its snapshots too.
    psql(r_url, "CREATE TABLE rows (x int); INSERT INTO rows VALUES (1)");
    arena.ok(&["snapshot", r_name, "--tag", "v1"]);
    psql(r_url, "INSERT INTO rows SELECT generate_series(2, 10000)");
    arena.ok(&["reset", r_name, "--tag", "v1"]);
    assert_eq!(psql(r_url, "SELECT count(*) FROM rows"), "1");
    let err = arena.fails(&["reset", r_name, "--tag", "nosuch"]);
    assert!(err.contains("has no snapshot"), "{err}");
    assert_eq!(
        psql(r_url, "SELECT count(*) FROM rows"),
        "1",
        "a missing snapshot changes nothing"
    );
    let r_db = r["database"].as_str().unwrap();
    let snapshots_of_r = format!("SELECT count(*) FROM pg_database WHERE datname LIKE '{r_db}@%'");
    assert_eq!(psql(admin["url"].as_str().unwrap(), &snapshots_of_r), "1");
    arena.ok(&["destroy", r_name]);
    assert_eq!(psql(admin["url"].as_str().unwrap(), &snapshots_of_r), "0");

    // A stopped server shows its tenants stopped. A container started meanwhile takes an address, so the server likely comes back on
    // another one: `start` re-makes the pooler for it, on the same port, and pooled
    // URLs work at once (not only after the next `create --shared`).
    let ip = |name: &str| run("docker", &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", name]);
    let old_ip = ip(&server);
    arena.ok(&["stop", &server]);
    assert!(tenants_of(&arena, &server).iter().all(|t| t["status"] == "stopped"));
    ensure_busybox_image().unwrap();
    let squatter = arena.name("squat");
    run(
        "docker",
        &["run", "-d", "--name", &squatter, BUSYBOX_IMAGE, "sleep", "600"],
    );
    arena.ok(&["start", &server]);
    eprintln!("server address {old_ip} -> {}", ip(&server));
    let pooler_ip = run(
        "docker",
        &[
            "inspect",
            "-f",
            "{{index .Config.Labels \"io.dbarena.pooler.upstream\"}}",
            &format!("{server}-pooler"),
        ],
    );
    assert_eq!(pooler_ip, ip(&server));
    assert_eq!(psql(tenants[0]["url"].as_str().unwrap(), "SELECT 1"), "1");

    // The server refuses to go while it has tenants; --cascade takes them along.
    let err = arena.fails(&["destroy", &server]);
    assert!(err.contains("--cascade") && err.contains("18 tenant"), "{err}");
    assert!(container_exists(&server));
    arena.ok(&["destroy", &server, "--cascade"]);
    assert!(!container_exists(&server) && !container_exists(&format!("{server}-pooler")));
    assert!(tenants_of(&arena, &server).is_empty());
    for n in &names {
        assert!(!volume_exists(&format!("dbarena-tenant-{n}")), "{n}");
    }
}

#[test]
fn tenant_flags_are_checked_and_a_failed_create_leaves_nothing() {
    if !docker_available("tenant_flags_are_checked_and_a_failed_create_leaves_nothing") {
        return;
    }
    let records = Cleanup::default();
    let arena = arena();
    let err = arena.fails(&["create", "postgres", "--shared", "--name", "Bad-Name"]);
    assert!(err.contains("--name 'Bad-Name'"), "{err}");
    let err = arena.fails(&["create", "postgres", "--max-connections", "3"]);
    assert!(err.contains("--shared"), "{err}");
    let err = arena.fails(&["create", "postgres", "--shared", "--pool-mode", "statement"]);
    assert!(err.contains("statement"), "{err}");
    // A pooler image that does not exist: everything this create made (here the server and
    // the pooler, as it was the first use) is removed again.
    let server = server(&arena, "badpool");
    let name = tenant_name("bp", 0);
    records.volume(&format!("dbarena-tenant-{name}"));
    let err = arena.fails(&[
        "create",
        "postgres",
        "--shared",
        "--server",
        &server,
        "--name",
        &name,
        "--pooler-image",
        "dbarena-test/no-such-pooler:1",
    ]);
    assert!(err.contains("no-such-pooler"), "{err}");
    assert!(!volume_exists(&format!("dbarena-tenant-{name}")));
    assert!(!container_exists(&format!("{server}-pooler")));
    assert!(!container_exists(&server));
}

/// Tenants of `engine`, created by separate processes at once (racing to start the server).
fn create_in_parallel(
    arena: &Arena,
    records: &Cleanup,
    engine: &str,
    server: &str,
    names: &[String],
    extra: &[&str],
) -> Vec<Value> {
    for n in names {
        records.volume(&format!("dbarena-tenant-{n}"));
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|n| {
                s.spawn(move || {
                    let mut args = vec!["create", engine, "--shared", "--server", server, "--name", n, "--json"];
                    args.extend_from_slice(extra);
                    arena.json(&args)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// `mysql://user:password@host:port/database` split into its parts (the generated
/// passwords and the names need no percent-decoding).
fn url_parts(url: &str) -> (String, String, String, String, String) {
    let rest = url.strip_prefix("mysql://").unwrap();
    let (auth, rest) = rest.rsplit_once('@').unwrap();
    let (user, password) = auth.split_once(':').unwrap();
    let (hostport, db) = rest.split_once('/').unwrap();
    let (host, port) = hostport.rsplit_once(':').unwrap();
    assert!(!password.contains('%'), "{url}");
    (user.into(), password.into(), host.into(), port.into(), db.into())
}

/// The MariaDB client on the host through a tenant's URL (the password in MYSQL_PWD),
/// optionally on another database than the URL's.
fn mysql_url(url: &str, database: Option<&str>, sql: &str) -> std::process::Output {
    let (user, password, host, port, db) = url_parts(url);
    std::process::Command::new("mysql")
        .env("MYSQL_PWD", password)
        .args(["-h", &host, "-P", &port, "-u", &user, "-N", "-B", "-e", sql])
        .arg(database.unwrap_or(&db))
        .output()
        .unwrap()
}

fn mysql_ok(url: &str, sql: &str) -> String {
    let out = mysql_url(url, None, sql);
    assert!(out.status.success(), "mysql {url} {sql}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

#[test]
fn five_mariadb_tenants_in_parallel_without_a_pooler_isolated_limited_and_dropped_one_at_a_time() {
    if !docker_available("five_mariadb_tenants_in_parallel_without_a_pooler_isolated_limited_and_dropped_one_at_a_time")
    {
        return;
    }
    let records = Cleanup::default();
    let arena = arena();
    let server = server(&arena, "myshared");
    let names: Vec<String> = (0..5).map(|i| tenant_name("mt", i)).collect();
    let tenants = create_in_parallel(&arena, &records, "mysql", &server, &names, &["--max-connections", "3"]);
    assert!(container_exists(&server));
    assert!(
        !container_exists(&format!("{server}-pooler")),
        "MySQL tenants need no pooler"
    );
    for t in &tenants {
        let url = t["url"].as_str().unwrap();
        assert!(t["direct_url"].is_null(), "one URL: the direct one: {t}");
        assert_eq!(t["env"]["DATABASE_URL"], t["url"]);
        assert_eq!(t["env"]["MYSQL_PWD"], t["password"]);
        assert_eq!(url_parts(url).4, t["database"].as_str().unwrap());
        assert_eq!(mysql_ok(url, "SELECT DATABASE()"), t["database"].as_str().unwrap());
        mysql_ok(url, "CREATE TABLE t (x int); INSERT INTO t VALUES (7)");
        assert_eq!(mysql_ok(url, "SELECT x FROM t"), "7");
    }
    assert_eq!(tenants_of(&arena, &server).len(), 5);

    // A cannot reach B's database, make another one, or see B's.
    let (a, b) = (&tenants[0], &tenants[1]);
    let a_url = a["url"].as_str().unwrap();
    let out = mysql_url(a_url, Some(b["database"].as_str().unwrap()), "SELECT 1");
    assert!(
        !out.status.success() && stderr(&out).contains("Access denied"),
        "{}",
        stderr(&out)
    );
    let out = mysql_url(
        a_url,
        None,
        &format!("SELECT x FROM {}.t", b["database"].as_str().unwrap()),
    );
    assert!(
        !out.status.success() && stderr(&out).contains("denied"),
        "{}",
        stderr(&out)
    );
    // `_` is a wildcard in grants: A's grant on `NAME_db` must not cover `NAMEXdb`.
    let lookalike = a["database"].as_str().unwrap().replace("_db", "xdb");
    let out = mysql_url(a_url, None, &format!("CREATE DATABASE {lookalike}"));
    assert!(
        !out.status.success() && stderr(&out).contains("Access denied"),
        "{}",
        stderr(&out)
    );
    let dbs = mysql_ok(a_url, "SHOW DATABASES");
    assert!(!dbs.contains(b["database"].as_str().unwrap()), "{dbs}");

    // --max-connections 3: a fourth session of the same tenant is refused.
    let sleepers: Vec<_> = (0..3)
        .map(|_| {
            let (user, password, host, port, db) = url_parts(a_url);
            std::process::Command::new("mysql")
                .env("MYSQL_PWD", password)
                .args(["-h", &host, "-P", &port, "-u", &user, &db, "-e", "SELECT SLEEP(60)"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // Counted by the admin, so the check itself takes none of A's three slots.
    let admin = arena.json(&["inspect", &server, "--json"]);
    let sessions = format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{}'",
        a["user"].as_str().unwrap()
    );
    wait_until("three sessions of tenant A", std::time::Duration::from_secs(20), || {
        mysql(&admin, &sessions) == "3"
    });
    let out = mysql_url(a_url, None, "SELECT 1");
    assert!(
        !out.status.success() && stderr(&out).contains("max_user_connections"),
        "{}",
        stderr(&out)
    );

    // `env` gives the plugin's variables for the tenant.
    let env = arena.ok(&["env", a["name"].as_str().unwrap()]);
    assert!(env.contains(&format!("export DATABASE_URL={a_url}")), "{env}");
    assert!(env.contains("export MYSQL_TCP_PORT="), "{env}");

    // Destroying A ends its sessions at once and drops exactly its user and database.
    let a_name = a["name"].as_str().unwrap();
    let out = arena.ok(&["destroy", a_name]);
    assert!(out.contains(&format!("destroyed tenant {a_name}")), "{out}");
    for mut s in sleepers {
        let status = s.wait().unwrap();
        assert!(!status.success(), "a session of the dropped tenant was ended");
    }
    let out = mysql_url(a_url, None, "SELECT 1");
    assert!(
        !out.status.success() && stderr(&out).contains("Access denied"),
        "{}",
        stderr(&out)
    );
    let left = tenants_of(&arena, &server);
    assert_eq!(left.len(), 4);
    for t in &tenants[1..] {
        assert_eq!(mysql_ok(t["url"].as_str().unwrap(), "SELECT x FROM t"), "7");
    }
    let dbs = mysql(&admin, "SHOW DATABASES LIKE 'mt\\_%'");
    assert_eq!(dbs.lines().count(), 4, "{dbs}");
    let users = mysql(&admin, "SELECT COUNT(*) FROM mysql.user WHERE User LIKE 'mt\\_%'");
    assert_eq!(users, "4");

    // The server refuses to go while it has tenants; --cascade takes them along.
    // `reset` empties a tenant's database; its URL keeps working. Snapshots are refused.
    let (b_name, b_url) = (b["name"].as_str().unwrap(), b["url"].as_str().unwrap());
    arena.ok(&["reset", b_name]);
    let out = mysql_url(b_url, None, "SELECT x FROM t");
    assert!(
        !out.status.success() && stderr(&out).contains("doesn't exist"),
        "{}",
        stderr(&out)
    );
    assert_eq!(mysql_ok(b_url, "SELECT DATABASE()"), b["database"].as_str().unwrap());
    assert_eq!(mysql_ok(tenants[2]["url"].as_str().unwrap(), "SELECT x FROM t"), "7");
    let err = arena.fails(&["reset", b_name, "--tag", "v1"]);
    assert!(err.contains("not supported"), "{err}");

    let err = arena.fails(&["destroy", &server]);
    assert!(err.contains("--cascade") && err.contains("4 tenant"), "{err}");
    assert!(container_exists(&server));
    arena.ok(&["destroy", &server, "--cascade"]);
    assert!(!container_exists(&server));
    assert!(tenants_of(&arena, &server).is_empty());
    for n in &names {
        assert!(!volume_exists(&format!("dbarena-tenant-{n}")), "{n}");
    }
}

/// redis-cli through `url`: its replies and errors, whether or not it succeeded.
fn redis_try(url: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-u", url, "--no-auth-warning"])
        .args(args)
        .output()
        .unwrap();
    format!("{}{}", stdout(&out), stderr(&out)).trim().to_string()
}

#[test]
fn redis_tenants_are_acl_users_confined_to_their_key_prefix() {
    if !docker_available("redis_tenants_are_acl_users_confined_to_their_key_prefix") {
        return;
    }
    let records = Cleanup::default();
    let arena = arena();
    let server = server(&arena, "rdshared");
    let names: Vec<String> = (0..3).map(|i| tenant_name("rt", i)).collect();
    let tenants = create_in_parallel(&arena, &records, "redis", &server, &names, &[]);
    assert!(!container_exists(&format!("{server}-pooler")));
    let (a, b) = (&tenants[0], &tenants[1]);
    let (a_url, b_url) = (a["url"].as_str().unwrap(), b["url"].as_str().unwrap());
    let prefix = |t: &Value| t["env"]["REDIS_KEY_PREFIX"].as_str().unwrap().to_string();
    assert_eq!(prefix(a), format!("{}:", a["database"].as_str().unwrap()));
    assert_eq!(a["env"]["REDIS_URL"], a["url"]);
    assert!(
        a_url.starts_with(&format!("redis://{}:", a["user"].as_str().unwrap())),
        "{a_url}"
    );

    // Each works under its own prefix.
    let (ka, kb) = (format!("{}k", prefix(a)), format!("{}k", prefix(b)));
    assert_eq!(redis(a_url, &["SET", &ka, "a"]), "OK");
    assert_eq!(redis(b_url, &["SET", &kb, "b"]), "OK");
    assert_eq!(redis(a_url, &["GET", &ka]), "a");
    // ...and nowhere else.
    for args in [
        vec!["GET", kb.as_str()],
        vec!["SET", kb.as_str(), "x"],
        vec!["DEL", kb.as_str()],
        vec!["SET", "unprefixed", "x"],
        vec!["FLUSHALL"],
        vec!["KEYS", "*"],
        vec!["SCAN", "0"],
        vec!["SELECT", "1"],
        vec!["CONFIG", "GET", "requirepass"],
    ] {
        let reply = redis_try(a_url, &args);
        assert!(reply.contains("NOPERM"), "{args:?}: {reply}");
    }
    assert_eq!(redis(b_url, &["GET", &kb]), "b");
    // A wrong password is refused.
    let wrong = a_url.replacen(a["password"].as_str().unwrap(), "wrong", 1);
    assert!(redis_try(&wrong, &["PING"]).contains("WRONGPASS"));

    // Destroying A drops its user and its keys; B and the server stay.
    let out = arena.ok(&["destroy", a["name"].as_str().unwrap()]);
    assert!(out.contains("destroyed tenant"), "{out}");
    assert!(redis_try(a_url, &["PING"]).contains("WRONGPASS"));
    let admin = arena.json(&["inspect", &server, "--json"]);
    let admin_url = admin["url"].as_str().unwrap();
    assert_eq!(redis(admin_url, &["EXISTS", &ka]), "0");
    assert_eq!(redis(admin_url, &["EXISTS", &kb]), "1");
    assert_eq!(redis(b_url, &["GET", &kb]), "b");
    assert_eq!(tenants_of(&arena, &server).len(), 2);

    // `reset` deletes a tenant's keys and keeps its user and password.
    let c_url = tenants[2]["url"].as_str().unwrap();
    let kc = format!("{}k", prefix(&tenants[2]));
    assert_eq!(redis(c_url, &["SET", &kc, "c"]), "OK");
    arena.ok(&["reset", b["name"].as_str().unwrap()]);
    assert_eq!(redis(b_url, &["EXISTS", &kb]), "0");
    assert_eq!(redis(b_url, &["SET", &kb, "again"]), "OK");
    assert_eq!(redis(c_url, &["GET", &kc]), "c");

    // Redis keeps ACL users in memory: after a stop and start of the server, `start` makes
    // the tenants it forgot again, with their recorded passwords.
    arena.ok(&["stop", &server]);
    arena.ok(&["start", &server]);
    assert_eq!(redis(b_url, &["SET", &kb, "back"]), "OK");
    assert!(redis_try(b_url, &["GET", &kc]).contains("NOPERM"));
    assert_eq!(redis(c_url, &["PING"]), "PONG");
    assert!(
        redis_try(a_url, &["PING"]).contains("WRONGPASS"),
        "a destroyed tenant stays gone"
    );

    // A limit Redis cannot enforce is refused, leaving nothing.
    let extra = tenant_name("rx", 0);
    records.volume(&format!("dbarena-tenant-{extra}"));
    let err = arena.fails(&[
        "create",
        "redis",
        "--shared",
        "--server",
        &server,
        "--name",
        &extra,
        "--max-connections",
        "2",
    ]);
    assert!(err.contains("max-connections"), "{err}");
    assert!(!volume_exists(&format!("dbarena-tenant-{extra}")));

    let err = arena.fails(&["destroy", &server]);
    assert!(err.contains("--cascade") && err.contains("2 tenant"), "{err}");
    arena.ok(&["destroy", &server, "--cascade"]);
    assert!(!container_exists(&server));
    for n in &names {
        assert!(!volume_exists(&format!("dbarena-tenant-{n}")), "{n}");
    }
}

/// `url` with its database replaced by `database` (and `query` appended).
fn with_database(url: &str, database: &str, query: &str) -> String {
    format!("{}/{database}{query}", url.rsplit_once('/').unwrap().0)
}

/// psql bounded in time: whether it succeeded, its output, and how long it took.
fn psql_bounded(url: &str, sql: &str) -> (bool, String, std::time::Duration) {
    let started = std::time::Instant::now();
    let out = std::process::Command::new("timeout")
        .args(["20", "psql", url, "-XtAc", sql])
        .output()
        .unwrap();
    (
        out.status.success(),
        format!("{}{}", stdout(&out), stderr(&out)),
        started.elapsed(),
    )
}

/// The attack of issue #20: PgBouncer's `auth_query` runs in the database the client asks
/// for, which the tenant owns. The tenant puts its own schemas first on the database's
/// `search_path` and shadows what the lookup uses (the `=` and `<` operators, `now()`, and
/// `pg_authid` itself, in its own schema, in `public` and in schemas named after the
/// server's roles for `"$user"`), each calling a function that records its caller, makes the
/// tenant superuser and copies `pg_authid`. After logins through the pooler nothing the
/// tenant made has run, the tenant is no superuser and cannot read `pg_authid`, and its
/// pooled login still works. Plus: no tenant reaches `template1`, `template0` or the
/// maintenance database (directly or pooled), and the pooler's admin console refuses a
/// tenant at once (it used to leave the login waiting forever).
#[test]
fn a_tenant_cannot_hijack_the_poolers_lookup_or_reach_other_databases() {
    if !docker_available("a_tenant_cannot_hijack_the_poolers_lookup_or_reach_other_databases") {
        return;
    }
    let records = Cleanup::default();
    let arena = arena();
    let server = server(&arena, "hijack");
    let a = create_tenant(&arena, &records, &server, &tenant_name("hj", 0), &[]);
    let b = create_tenant(&arena, &records, &server, &tenant_name("hj", 1), &[]);
    let (a_url, a_direct) = (a["url"].as_str().unwrap(), a["direct_url"].as_str().unwrap());
    let (a_user, a_db) = (a["user"].as_str().unwrap(), a["database"].as_str().unwrap());
    let admin = arena.json(&["inspect", &server, "--json"]);
    let admin_url = admin["url"].as_str().unwrap().to_string();
    assert_eq!(psql(a_url, "SELECT current_user"), a_user);

    let trap = format!(
        r#"
CREATE SCHEMA evil;
CREATE TABLE evil.calls (who text, at timestamptz DEFAULT pg_catalog.clock_timestamp());
CREATE TABLE evil.loot (rolname text, rolpassword text);
GRANT USAGE ON SCHEMA evil TO PUBLIC;
GRANT INSERT ON evil.calls, evil.loot TO PUBLIC;
CREATE FUNCTION evil.escalate() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  INSERT INTO evil.calls (who) VALUES (current_user);
  BEGIN EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER', '{a_user}');
  EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN INSERT INTO evil.loot SELECT a.rolname, a.rolpassword FROM pg_catalog.pg_authid a;
  EXCEPTION WHEN OTHERS THEN NULL; END;
  RETURN true;
END $f$;
CREATE FUNCTION evil.eq(name, name) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN PERFORM evil.escalate(); RETURN $1 OPERATOR(pg_catalog.=) $2; END $f$;
CREATE OPERATOR evil.= (LEFTARG = name, RIGHTARG = name, FUNCTION = evil.eq);
CREATE FUNCTION evil.lt(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN PERFORM evil.escalate(); RETURN $1 OPERATOR(pg_catalog.<) $2; END $f$;
CREATE OPERATOR evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.lt);
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $f$
BEGIN PERFORM evil.escalate(); RETURN pg_catalog.now(); END $f$;
CREATE VIEW public.pg_authid AS SELECT r.rolname, NULL::text AS rolpassword,
  NULL::timestamptz AS rolvaliduntil, true AS rolcanlogin, false AS rolsuper
  FROM pg_catalog.pg_roles r WHERE evil.escalate();
CREATE SCHEMA postgres;
CREATE FUNCTION postgres.now() RETURNS timestamptz LANGUAGE plpgsql AS $f$
BEGIN PERFORM evil.escalate(); RETURN pg_catalog.now(); END $f$;
CREATE SCHEMA dbarena_pooler;
CREATE FUNCTION dbarena_pooler.now() RETURNS timestamptz LANGUAGE plpgsql AS $f$
BEGIN PERFORM evil.escalate(); RETURN pg_catalog.now(); END $f$;
GRANT USAGE ON SCHEMA postgres, dbarena_pooler TO PUBLIC;
ALTER DATABASE "{a_db}" SET search_path = "$user", evil, public, pg_catalog;
"#
    );
    let out = std::process::Command::new("psql")
        .args([a_direct, "-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(trap.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "the tenant sets its trap: {}", stderr(&out));
    // The trap works on whoever looks things up unqualified in A's database (A itself here).
    assert_eq!(psql(a_direct, "SELECT now() IS NOT NULL"), "t");
    assert_eq!(psql(a_direct, "SELECT count(*) FROM evil.calls"), "1");
    psql(a_direct, "TRUNCATE evil.calls");

    // Logins through the pooler: A's own, and B's into A's database (refused by the server,
    // but the pooler's lookup runs in A's database first). Every one opens a fresh lookup.
    let mut a_logins = Vec::new();
    for _ in 0..3 {
        a_logins.push(psql_bounded(a_url, "SELECT current_user"));
        let (ok, _, _) = psql_bounded(&with_database(b["url"].as_str().unwrap(), a_db, ""), "SELECT 1");
        assert!(!ok, "B cannot log in to A's database");
        std::thread::sleep(std::time::Duration::from_millis(2500)); // past server_idle_timeout
    }
    assert_eq!(
        psql(
            &admin_url,
            &format!("SELECT rolsuper FROM pg_roles WHERE rolname = '{a_user}'")
        ),
        "f",
        "the tenant made itself superuser through the pooler's lookup"
    );
    // Read as A (who owns them): the admin never works in the tenant's database.
    assert_eq!(
        psql(a_direct, "SELECT count(*) FROM evil.loot"),
        "0",
        "the lookup's role copied pg_authid for the tenant"
    );
    assert_eq!(
        psql(a_direct, "SELECT count(*) FROM evil.calls"),
        "0",
        "something the tenant created ran during a pooled login, as: {}",
        psql(a_direct, "SELECT string_agg(who, ',') FROM evil.calls")
    );
    for (ok, out, _) in &a_logins {
        assert!(*ok && out.trim() == a_user, "A's pooled login still works: {out}");
    }
    let err = psql_fails(a_direct, "SELECT count(*) FROM pg_catalog.pg_authid");
    assert!(err.contains("permission denied"), "{err}");
    let err = psql_fails(a_direct, "COPY evil.calls (who) FROM PROGRAM 'id'");
    assert!(
        err.contains("permission denied") || err.contains("must be superuser"),
        "{err}"
    );
    // The pooler's role is no superuser and holds no other privilege.
    assert_eq!(
        psql(
            &admin_url,
            "SELECT rolsuper::text || rolcreatedb::text || rolcreaterole::text || rolinherit::text || rolbypassrls::text \
             FROM pg_roles WHERE rolname = 'dbarena_pooler'"
        ),
        "falsefalsefalsefalsefalse"
    );

    // No tenant reaches the template or maintenance databases, directly or pooled.
    for db in ["template1", "template0", "postgres"] {
        for url in [a_direct, a_url] {
            let (ok, out, took) = psql_bounded(&with_database(url, db, "?connect_timeout=10"), "SELECT 1");
            assert!(!ok, "tenant reached {db} via {url}: {out}");
            assert!(took < std::time::Duration::from_secs(8), "{db}: {took:?}: {out}");
        }
    }
    // The pooler's admin console: refused at once (a login there used to wait forever).
    for what in ["SHOW POOLS", "SHOW USERS"] {
        let (ok, out, took) = psql_bounded(&with_database(a_url, "pgbouncer", "?connect_timeout=10"), what);
        assert!(!ok, "a tenant reached the pooler's console: {out}");
        assert!(
            took < std::time::Duration::from_secs(5) && !out.contains("timeout"),
            "the console login hung ({took:?}): {out}"
        );
        assert!(out.contains("authentication failed"), "{out}");
    }
    // ...while the admin still reaches it.
    let auth = |url: &str| url.split_once("://").unwrap().1.rsplit_once('@').unwrap().0.to_string();
    let admin_pooled = with_database(&a_url.replacen(&auth(a_url), &auth(&admin_url), 1), "pgbouncer", "");
    let (ok, out, _) = psql_bounded(&admin_pooled, "SHOW VERSION");
    assert!(ok && out.contains("PgBouncer"), "{out}");
    arena.ok(&["destroy", &server, "--cascade"]);
}

/// RESP commands to a Redis server over TCP, as `user`: the raw replies read within
/// `wait`, and the socket (for replies that come later, such as push messages).
fn resp(host: &str, port: u16, commands: &[&[&str]], wait: std::time::Duration) -> (String, std::net::TcpStream) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect((host, port)).unwrap();
    let mut out = Vec::new();
    for args in commands {
        out.extend(format!("*{}\r\n", args.len()).bytes());
        for a in *args {
            out.extend(format!("${}\r\n{a}\r\n", a.len()).bytes());
        }
    }
    s.write_all(&out).unwrap();
    (read_for(&mut s, wait), s)
}

/// What arrives on `s` within `wait`.
fn read_for(s: &mut std::net::TcpStream, wait: std::time::Duration) -> String {
    use std::io::Read;
    let deadline = std::time::Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        s.set_read_timeout(Some(left.max(std::time::Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A Redis tenant against the server and the other tenants: every admin or server-wide
/// command is refused, scripts run with the tenant's own rights, and nothing shows other
/// tenants' keys or channels or disturbs their scripts. Issue #20 found `SCRIPT FLUSH`
/// and `SCRIPT KILL` (the server's script cache and another tenant's running script),
/// `PUBSUB CHANNELS` and `DBSIZE` (other tenants' channels and key count), `COPY … DB 1`
/// (keys out of database 0, beyond `destroy`'s reach) and `CLIENT TRACKING … BCAST PREFIX`
/// (other tenants' key names as they change) open.
#[test]
fn a_redis_tenant_cannot_run_admin_commands_or_see_other_tenants() {
    if !docker_available("a_redis_tenant_cannot_run_admin_commands_or_see_other_tenants") {
        return;
    }
    let records = Cleanup::default();
    let arena = arena();
    let server = server(&arena, "rdhostile");
    let names: Vec<String> = (0..2).map(|i| tenant_name("rh", i)).collect();
    let tenants = create_in_parallel(&arena, &records, "redis", &server, &names, &[]);
    let (a, b) = (&tenants[0], &tenants[1]);
    let (a_url, b_url) = (a["url"].as_str().unwrap(), b["url"].as_str().unwrap());
    let prefix = |t: &Value| t["env"]["REDIS_KEY_PREFIX"].as_str().unwrap().to_string();
    let (ka, kb) = (format!("{}k", prefix(a)), format!("{}k", prefix(b)));
    assert_eq!(redis(b_url, &["SET", &kb, "b"]), "OK");
    assert_eq!(redis(a_url, &["SET", &ka, "a"]), "OK");

    let script_b = format!("return redis.call('GET', '{kb}')");
    let script_select = "return redis.call('SELECT', '1')";
    let script_config = "return redis.pcall('CONFIG', 'SET', 'requirepass', 'x')";
    for args in [
        vec!["CONFIG", "SET", "dir", "/tmp"],
        vec!["CONFIG", "GET", "*"],
        vec!["MODULE", "LOAD", "/tmp/x.so"],
        vec!["MODULE", "LIST"],
        vec!["DEBUG", "SLEEP", "0"],
        vec!["ACL", "SETUSER", "evil", "on", ">x", "~*", "+@all"],
        vec!["ACL", "LIST"],
        vec!["ACL", "GETUSER", "default"],
        vec!["KEYS", "*"],
        vec!["SCAN", "0", "MATCH", "*"],
        vec!["RANDOMKEY"],
        vec!["FLUSHALL"],
        vec!["FLUSHDB"],
        vec!["CLIENT", "LIST"],
        vec!["CLIENT", "KILL", "TYPE", "normal"],
        vec!["SHUTDOWN", "NOSAVE"],
        vec!["REPLICAOF", "127.0.0.1", "1"],
        vec!["MIGRATE", "127.0.0.1", "1", &kb, "0", "100"],
        vec!["INFO"],
        vec!["SLOWLOG", "GET"],
        vec!["SORT", &ka, "BY", "nosort", "GET", "*"],
        vec!["SWAPDB", "0", "1"],
        vec!["BGSAVE"],
        vec!["FUNCTION", "LIST"],
        // Found open by issue #20:
        vec!["SCRIPT", "FLUSH"],
        vec!["SCRIPT", "KILL"],
        vec!["PUBSUB", "CHANNELS"],
        vec!["PUBSUB", "NUMSUB", &kb],
        vec!["DBSIZE"],
        vec!["COPY", &ka, &format!("{ka}2"), "DB", "1"],
        vec!["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", &prefix(b)],
        vec!["MEMORY", "STATS"],
    ] {
        let reply = redis_try(a_url, &args);
        assert!(
            reply.contains("NOPERM") || reply.contains("not allowed"),
            "{args:?}: {reply}"
        );
    }
    // Scripts run with the tenant's rights: no other prefix, no admin command, no SELECT.
    for script in [script_b.as_str(), script_select, script_config] {
        let reply = redis_try(a_url, &["EVAL", script, "0"]);
        assert!(
            reply.contains("can't access")
                || reply.contains("can't run")
                || reply.contains("NOPERM")
                || reply.contains("not allowed from script"),
            "{script}: {reply}"
        );
    }
    assert_eq!(
        redis(a_url, &["EVAL", "return redis.call('GET', KEYS[1])", "1", &ka]),
        "a"
    );

    // No leak through push messages either: B's channel and key names stay B's.
    let (host, port) = {
        let hp = a_url.rsplit_once('@').unwrap().1;
        let (h, p) = hp.rsplit_once(':').unwrap();
        (h.to_string(), p.parse::<u16>().unwrap())
    };
    let auth = |t: &Value| {
        [
            "HELLO".to_string(),
            "3".into(),
            "AUTH".into(),
            t["user"].as_str().unwrap().into(),
            t["password"].as_str().unwrap().into(),
        ]
    };
    let (a_auth, b_auth) = (auth(a), auth(b));
    let a_hello: Vec<&str> = a_auth.iter().map(String::as_str).collect();
    let b_hello: Vec<&str> = b_auth.iter().map(String::as_str).collect();
    let secret_channel = format!("{}secret_channel", prefix(b));
    let (_, _b_sub) = resp(
        &host,
        port,
        &[&b_hello, &["SUBSCRIBE", &secret_channel]],
        std::time::Duration::from_millis(300),
    );
    let prefix_b = prefix(b);
    let (replies, mut a_sock) = resp(
        &host,
        port,
        &[
            &a_hello,
            &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", &prefix_b],
            &["PUBSUB", "CHANNELS"],
        ],
        std::time::Duration::from_millis(500),
    );
    let secret_key = format!("{}secret_key_name", prefix(b));
    assert_eq!(redis(b_url, &["SET", &secret_key, "1"]), "OK");
    let pushed = read_for(&mut a_sock, std::time::Duration::from_millis(500));
    let seen = format!("{replies}{pushed}");
    assert!(!seen.contains("secret_channel"), "A saw B's channel: {seen}");
    assert!(!seen.contains("secret_key_name"), "A saw B's key name: {seen}");

    // The admin's view: nothing of A's outside database 0, B's key untouched.
    let admin = arena.json(&["inspect", &server, "--json"]);
    let admin_url = admin["url"].as_str().unwrap();
    let db1 = format!("{}/1", admin_url.rsplit_once('/').unwrap().0);
    assert_eq!(redis(&db1, &["DBSIZE"]), "0");
    assert_eq!(redis(b_url, &["GET", &kb]), "b");
    assert_eq!(redis(admin_url, &["PING"]), "PONG");
}

/// A MariaDB tenant against the server: no global privilege (FILE, SUPER, PROCESS, CREATE
/// USER, ...), no `mysql.*`, no other tenant's schema, no definer of another account, no
/// server file read or written, no other session seen or killed. These held on review
/// (issue #20); kept as the regression suite of the tenant's grants.
#[test]
fn a_mariadb_tenant_has_no_global_privilege_and_no_way_out_of_its_database() {
    if !docker_available("a_mariadb_tenant_has_no_global_privilege_and_no_way_out_of_its_database") {
        return;
    }
    let records = Cleanup::default();
    let arena = arena();
    let server = server(&arena, "myhostile");
    let names: Vec<String> = (0..2).map(|i| tenant_name("mh", i)).collect();
    let tenants = create_in_parallel(&arena, &records, "mysql", &server, &names, &[]);
    let (a, b) = (&tenants[0], &tenants[1]);
    let a_url = a["url"].as_str().unwrap();
    let (a_user, a_db, b_db) = (
        a["user"].as_str().unwrap(),
        a["database"].as_str().unwrap(),
        b["database"].as_str().unwrap(),
    );
    mysql_ok(
        b["url"].as_str().unwrap(),
        "CREATE TABLE t (x int); INSERT INTO t VALUES (42)",
    );
    // Only USAGE globally, ALL (without GRANT OPTION) on its own database.
    let grants = mysql_ok(a_url, "SHOW GRANTS");
    let global: Vec<&str> = grants.lines().filter(|l| l.contains(" ON *.* ")).collect();
    assert_eq!(global.len(), 1, "{grants}");
    assert!(global[0].starts_with("GRANT USAGE ON *.*"), "{grants}");
    assert!(!grants.contains("WITH GRANT OPTION"), "{grants}");
    assert_eq!(mysql_ok(a_url, "SELECT LOAD_FILE('/etc/passwd') IS NULL"), "1");
    // A session of B's, for A to try to kill.
    let b_url = b["url"].as_str().unwrap();
    let mut b_sleeper = {
        let (user, password, host, port, db) = url_parts(b_url);
        std::process::Command::new("mysql")
            .env("MYSQL_PWD", password)
            .args(["-h", &host, "-P", &port, "-u", &user, &db, "-e", "SELECT SLEEP(60)"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let b_session = || {
        mysql_ok(
            b_url,
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(60)'",
        )
    };
    wait_until("B's session", std::time::Duration::from_secs(20), || {
        !b_session().is_empty()
    });
    let b_session = b_session();
    for sql in [
        "SELECT 1 INTO OUTFILE '/tmp/dbarena-outfile'".to_string(),
        "SELECT User, Password FROM mysql.user".into(),
        "SELECT * FROM mysql.global_priv".into(),
        format!("SELECT x FROM `{b_db}`.t"),
        format!("CREATE TABLE `{b_db}`.mine (x int)"),
        "CREATE DEFINER='root'@'localhost' VIEW v AS SELECT 1".into(),
        "CREATE DEFINER='root'@'localhost' PROCEDURE p() SELECT 1".into(),
        format!("CREATE DEFINER='root'@'localhost' TRIGGER tr BEFORE INSERT ON `{a_db}`.t FOR EACH ROW SET @x = 1"),
        "SET GLOBAL max_connections = 1".into(),
        "SET GLOBAL event_scheduler = ON".into(),
        "CREATE USER 'x'@'%'".into(),
        format!("GRANT ALL ON *.* TO '{a_user}'@'%'"),
        format!("GRANT SELECT ON `{a_db}`.* TO '{}'@'%'", b["user"].as_str().unwrap()),
        "ALTER USER 'root'@'localhost' IDENTIFIED BY 'x'".into(),
        "SET PASSWORD FOR 'root'@'localhost' = PASSWORD('x')".into(),
        "LOAD DATA INFILE '/etc/passwd' INTO TABLE t".into(),
        "INSTALL SONAME 'ha_connect'".into(),
        "CREATE FUNCTION f RETURNS STRING SONAME 'x.so'".into(),
        "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (HOST 'x')".into(),
        format!("KILL {b_session}"),
        "SHUTDOWN".into(),
        "FLUSH PRIVILEGES".into(),
        "SHOW ENGINE INNODB STATUS".into(),
        "SHOW BINLOG EVENTS".into(),
        "CREATE ROLE r".into(),
        "CREATE DATABASE other_db".into(),
    ] {
        let out = mysql_url(a_url, None, &format!("CREATE TABLE IF NOT EXISTS t (x int); {sql}"));
        let err = stderr(&out);
        assert!(
            !out.status.success() && (err.contains("denied") || err.contains("not owner of thread")),
            "{sql}: {}{err}",
            stdout(&out)
        );
    }
    // Only its own sessions, and only its own schema.
    let sessions = mysql_ok(a_url, "SELECT DISTINCT USER FROM information_schema.PROCESSLIST");
    assert_eq!(sessions, a_user);
    let dbs = mysql_ok(a_url, "SHOW DATABASES");
    assert_eq!(
        dbs.lines().filter(|d| *d != "information_schema").collect::<Vec<_>>(),
        [a_db]
    );
    assert_eq!(mysql_ok(b_url, "SELECT x FROM t"), "42");
    assert!(
        !b_session.is_empty()
            && mysql_ok(
                b_url,
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(60)'"
            ) == "1",
        "B's session lives"
    );
    let _ = b_sleeper.kill();
    let _ = b_sleeper.wait();
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Instances and tenants share one namespace (`url`, `env` and `destroy` take either): a
/// tenant may not take an instance's name, its own server's included, nor an instance a
/// tenant's; the error names the name and nothing is left (issue #20).
#[test]
fn tenants_and_instances_share_one_namespace() {
    if !docker_available("tenants_and_instances_share_one_namespace") {
        return;
    }
    let records = Cleanup::default();
    let arena = arena();
    let pid = std::process::id();
    // A server name that is also a valid tenant name.
    let server = format!("nss_{pid}");
    arena.track(&server);
    arena.track(&format!("{server}-pooler"));
    records.volume(&format!("dbarena-tenant-{server}"));
    let shared = |name: &str| {
        vec![
            "create".to_string(),
            "redis".into(),
            "--shared".into(),
            "--server".into(),
            server.clone(),
            "--name".into(),
            name.to_string(),
        ]
    };
    let fails = |v: Vec<String>| arena.fails(&strs(&v));
    // Its own server's name, when the server is made by this very create...
    let err = fails(shared(&server));
    assert!(err.contains(&format!("'{server}' is the name of an instance")), "{err}");
    assert!(!volume_exists(&format!("dbarena-tenant-{server}")));
    // ...and when it runs already.
    let tenant = tenant_name("nst", 0);
    records.volume(&format!("dbarena-tenant-{tenant}"));
    arena.ok(&strs(&shared(&tenant)));
    let err = fails(shared(&server));
    assert!(err.contains(&format!("'{server}' is the name of an instance")), "{err}");
    assert!(!volume_exists(&format!("dbarena-tenant-{server}")));
    assert!(
        container_exists(&server),
        "the refused create leaves the running server alone"
    );
    // Another instance's name.
    let instance = format!("nsi_{pid}");
    arena.track(&instance);
    arena.ok(&["create", "redis", "--name", &instance]);
    let err = fails(shared(&instance));
    assert!(
        err.contains(&format!("'{instance}' is the name of an instance")),
        "{err}"
    );
    assert!(!volume_exists(&format!("dbarena-tenant-{instance}")));
    // An instance may not take a tenant's name.
    let err = arena.fails(&["create", "redis", "--name", &tenant]);
    assert!(err.contains(&format!("'{tenant}' is the name of a tenant")), "{err}");
    assert!(!container_exists(&tenant));
    // The tenant is still the tenant.
    let v = arena.json(&["inspect", &tenant, "--json"]);
    assert_eq!(v["kind"], "tenant", "{v}");
}
