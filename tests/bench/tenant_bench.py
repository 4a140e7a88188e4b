#!/usr/bin/env python3
"""Benchmark tenants on a shared server (`dbarena create ENGINE --shared`).

Measured in one run, on the local test images (`--engine postgres`: PostgreSQL 15 + PgBouncer
1.18; `mysql`: MariaDB 10.11; `redis`: Redis 7, the last two without a pooler):

  create / destroy   median (min/max) of `dbarena create --shared` and `dbarena destroy TENANT`
                     on a running shared server (target: <= 150 ms each), each verified with a
                     query through the tenant's URL (pooled when there is a pooler)
  concurrency        50 tenants created by 10 concurrent processes (5 each): failures and
                     distinct names (target: 50/50, no failure)
  memory             server + pooler memory (docker stats) per tenant with the 50 tenants
                     (each with one idle pooled session open), against one dedicated instance
                     (`dbarena create ENGINE`) measured the same way

Python 3.11, standard library only. Cleans up everything it made.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DBARENA = Path(os.environ.get("CARGO_TARGET_DIR") or REPO_ROOT / "target") / "release" / "dbarena"
CONFIG = """
[engines.postgres]
image = "dbarena-test/postgres"
version = "15"
pooler-image = "dbarena-test/pgbouncer:1.18"

[engines.mysql]
image = "dbarena-test/mysql:mariadb-10.11"

[engines.redis]
image = "dbarena-test/redis"
version = "7"
"""
ENGINE = "postgres"


def log(msg: str) -> None:
    print(f"[tenant_bench] {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, dbarena: Path, config: Path, server: str):
        self.dbarena, self.config, self.server = dbarena, config, server

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ, DBARENA_CONFIG=str(self.config))
        p = subprocess.run([str(self.dbarena), *args], env=env, capture_output=True, text=True, timeout=300)
        if check and p.returncode != 0:
            raise RuntimeError(f"dbarena {' '.join(args)} failed: {p.stderr.strip()[-2000:]}")
        return p

    def create(self, name: str) -> dict:
        out = self.run("create", ENGINE, "--shared", "--server", self.server, "--name", name, "--json")
        return json.loads(out.stdout)


def timed(f):
    t = time.perf_counter()
    r = f()
    return time.perf_counter() - t, r


def client(url: str, *extra: str) -> tuple[list[str], dict]:
    """The engine's host client on `url` (MariaDB's takes no URL: its parts, the password
    in MYSQL_PWD), and its environment."""
    env = dict(os.environ)
    if ENGINE == "postgres":
        return ["psql", url, "-Xq", *extra], env
    if ENGINE == "redis":
        return ["redis-cli", "-u", url, "--no-auth-warning", *extra], env
    rest = url.removeprefix("mysql://")
    auth, rest = rest.rsplit("@", 1)
    user, env["MYSQL_PWD"] = auth.split(":", 1)
    hostport, db = rest.split("/", 1)
    host, port = hostport.rsplit(":", 1)
    return ["mysql", "-h", host, "-P", port, "-u", user, "-N", "-B", *extra, db], env


def query(url: str) -> bool:
    """A trivial query through `url` answers."""
    extra = {"postgres": ["-tAc", "SELECT 1"], "mysql": ["-e", "SELECT 1"], "redis": ["PING"]}[ENGINE]
    argv, env = client(url, *extra)
    p = subprocess.run(argv, env=env, capture_output=True, text=True)
    if p.returncode != 0 or p.stdout.strip() not in ("1", "PONG"):
        log(f"query failed: {p.stdout.strip()} {p.stderr.strip()}")
        return False
    return True


def session(url: str) -> subprocess.Popen:
    """An idle session on `url`, as apps hold: the client waiting on its stdin."""
    argv, env = client(url)
    return subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)


def mem_bytes(container: str) -> int:
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", container],
        capture_output=True, text=True, check=True,
    ).stdout.split("/")[0].strip()
    units = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "kB": 1000, "MB": 10**6, "GB": 10**9}
    for unit in sorted(units, key=len, reverse=True):
        if out.endswith(unit):
            return int(float(out[: -len(unit)]) * units[unit])
    raise ValueError(out)


def fmt(seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"median {statistics.median(ms):.0f} ms (min {min(ms):.0f}, max {max(ms):.0f}, n={len(ms)})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=11, help="create/destroy pairs timed")
    ap.add_argument("--dbarena", type=Path, default=DEFAULT_DBARENA)
    ap.add_argument("--engine", choices=["postgres", "mysql", "redis"], default="postgres")
    args = ap.parse_args()
    global ENGINE
    ENGINE = args.engine
    subprocess.run(["bash", str(REPO_ROOT / "tests/images/build.sh")], check=True, capture_output=True)
    tag = f"{os.getpid()}"
    tmp = tempfile.TemporaryDirectory()
    config = Path(tmp.name) / "config.toml"
    config.write_text(CONFIG)
    b = Bench(args.dbarena, config, f"bench-shared-{tag}")
    dedicated = f"bench-dedicated-{tag}"
    sessions = []
    try:
        log(f"first use: starting the shared {ENGINE} server (and its pooler, if any)")
        first, _ = timed(lambda: b.create(f"b{tag}_first"))
        log(f"first tenant (server + pooler start) {first * 1000:.0f} ms")

        creates, destroys = [], []
        for i in range(args.runs):
            name = f"b{tag}_t{i}"
            t, tenant = timed(lambda: b.create(name))
            creates.append(t)
            assert query(tenant["url"])
            t, _ = timed(lambda: b.run("destroy", name))
            destroys.append(t)

        log("50 tenants by 10 concurrent processes")
        def worker(w: int) -> list:
            results = []
            for j in range(5):
                try:
                    results.append(b.create(f"b{tag}_c{w}_{j}"))
                except Exception as e:  # counted, not fatal
                    results.append(e)
            return results
        t_conc, results = timed(lambda: [r for rs in ThreadPoolExecutor(10).map(worker, range(10)) for r in rs])
        ok = [r for r in results if isinstance(r, dict)]
        failures = [r for r in results if not isinstance(r, dict)]
        for f in failures[:3]:
            log(f"failure: {f}")
        names = {r["name"] for r in ok}
        working = sum(1 for r in ok if query(r["url"]))

        # One idle pooled session per tenant, as apps hold.
        for r in ok:
            sessions.append(session(r["url"]))
        time.sleep(2)
        pooler = f"{b.server}-pooler"
        has_pooler = subprocess.run(["docker", "inspect", pooler], capture_output=True).returncode == 0
        shared_mem = mem_bytes(b.server) + (mem_bytes(pooler) if has_pooler else 0)
        tenants_now = len(ok) + 1
        log("one dedicated instance for comparison")
        env = dict(os.environ, DBARENA_CONFIG=str(config))
        d = json.loads(subprocess.run([str(args.dbarena), "create", ENGINE, "--name", dedicated, "--json"],
                                      env=env, capture_output=True, text=True, check=True).stdout)[0]
        sessions.append(session(d["url"]))
        time.sleep(2)
        dedicated_mem = mem_bytes(dedicated)

        per_tenant = shared_mem / tenants_now
        print(f"tenant benchmark ({ENGINE}, local test images)")
        print(f"  tenant create    {fmt(creates)}   target <= 150 ms")
        print(f"  tenant destroy   {fmt(destroys)}   target <= 150 ms")
        print(f"  concurrency      {len(ok)}/50 created by 10 processes in {t_conc:.1f} s, "
              f"{len(failures)} failures, {len(names)} distinct names, {working} answering through their URL")
        print(f"  memory           shared server{' + pooler' if has_pooler else ''} {shared_mem / 2**20:.1f} MiB for {tenants_now} tenants "
              f"= {per_tenant / 2**20:.2f} MiB per tenant")
        print(f"                   one dedicated instance {dedicated_mem / 2**20:.1f} MiB "
              f"= {dedicated_mem / per_tenant:.1f}x a tenant")
        return 0 if not failures and len(names) == 50 else 1
    finally:
        for s in sessions:
            s.kill()
        b.run("destroy", b.server, "--cascade", check=False)
        b.run("destroy", dedicated, check=False)


if __name__ == "__main__":
    sys.exit(main())
