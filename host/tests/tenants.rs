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
