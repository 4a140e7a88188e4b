//! Tenants on shared servers, end to end through the binary against real servers:
//! PostgreSQL behind the PgBouncer test image (dbarena-test/pgbouncer), created in parallel
//! by separate processes (which also race to start the server and its pooler).

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

    // A stopped server shows its tenants stopped.
    arena.ok(&["stop", &server]);
    assert!(tenants_of(&arena, &server).iter().all(|t| t["status"] == "stopped"));
    arena.ok(&["start", &server]);

    // The server refuses to go while it has tenants; --cascade takes them along.
    let err = arena.fails(&["destroy", &server]);
    assert!(err.contains("--cascade") && err.contains("19 tenant"), "{err}");
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
