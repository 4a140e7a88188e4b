#!/usr/bin/env python3
"""Benchmark `dbarena create` / `destroy` against a plain `docker run` + client-polling baseline.

Everything is measured in the same run and reported as medians (with min/max) and ratios:

  per engine   dbarena create (exit == ready), dbarena destroy,
               baseline: `docker run -d` of the same image/env/cmd + a client polling loop
               (every 100 ms) until the first successful query, and `docker rm -fv`
  all engines  one `dbarena create A B C` (parallel) vs three sequential `dbarena create` calls

Python 3.11, standard library only. See tests/bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import statistics
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DBARENA = Path(os.environ.get("CARGO_TARGET_DIR") or REPO_ROOT / "target") / "release" / "dbarena"
ALL_ENGINES = ("postgres", "mysql", "redis")

# Engines pointed at the local test images (tests/images/README.md). `image` without a tag
# takes `version` as its tag; with a tag it is used as is (the dbarena config semantics).
TEST_CONFIG = {
    "postgres": {"image": "dbarena-test/postgres", "version": "15"},
    "mysql": {"image": "dbarena-test/mysql:mariadb-10.11", "version": None},
    "redis": {"image": "dbarena-test/redis", "version": "7"},
}

POLL_INTERVAL = 0.1  # seconds between baseline client attempts
CLIENT_TIMEOUT = 10  # seconds, one client invocation
DOCKER_TIMEOUT = 60  # seconds, one docker CLI call
DESTROY_TIMEOUT = 120  # seconds, one dbarena destroy


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[create_bench] {msg}", file=sys.stderr, flush=True)


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def random_password() -> str:
    # alphanumeric only: safe in URLs, shells and every engine
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(24))


def toml_config() -> str:
    out = []
    for engine, c in TEST_CONFIG.items():
        out.append(f"[engines.{engine}]")
        out.append(f'image = "{c["image"]}"')
        if c["version"]:
            out.append(f'version = "{c["version"]}"')
    return "\n".join(out) + "\n"


def resolved_image(engine: str) -> str:
    c = TEST_CONFIG[engine]
    image = c["image"]
    last = image.rsplit("/", 1)[-1]
    if ":" in last or "@" in image or not c["version"]:
        return image
    return f"{image}:{c['version']}"


def engine_ref(engine: str) -> str:
    v = TEST_CONFIG[engine]["version"]
    return f"{engine}@{v}" if v else engine


# --------------------------------------------------------------------------- processes


def run(cmd: list[str], *, env=None, timeout: float, check: bool = True,
        what: str | None = None) -> subprocess.CompletedProcess:
    """Run a command to completion; on timeout send SIGINT (dbarena cleans up on Ctrl-C),
    then SIGKILL. Raises BenchError on timeout, or on a non-zero exit when check=True."""
    what = what or " ".join(cmd[:3])
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise BenchError(f"{what}: timed out after {timeout:.0f} s\n{tail(err or '')}")
    except BaseException:
        # interrupted (Ctrl-C / SIGTERM): let the child clean up, then re-raise
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        raise
    cp = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if check and cp.returncode != 0:
        raise BenchError(f"{what}: exit code {cp.returncode}\n{tail(err or out or '')}")
    return cp


def timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    cp = run(cmd, **kw)
    return time.perf_counter() - t0, cp


# --------------------------------------------------------------------------- clients


def client_cmd(engine: str, host: str, port: int, user: str, password: str, database: str,
               url: str | None = None) -> tuple[list[str], dict, str]:
    """A one-shot client query and the stdout it must print. With `url`, the client connects
    through the URL dbarena printed (psql takes it as is; redis: its parts)."""
    env = dict(os.environ)
    if engine == "postgres":
        env.update(PGCONNECT_TIMEOUT="2")
        target = [url] if url else ["-h", host, "-p", str(port), "-U", user, "-d", database]
        if not url:
            env["PGPASSWORD"] = password
        return (["psql", "-X", "-q", "-A", "-t", *target, "-c", "select current_database()"],
                env, database)
    if engine == "mysql":
        env["MYSQL_PWD"] = password
        return (["mysql", "--no-defaults", "--protocol=TCP", "-h", host, "-P", str(port),
                 "-u", user, "-D", database, "--connect-timeout=2", "-N", "-B",
                 "-e", "select database()"], env, database)
    if engine == "redis":
        if url:
            # redis-cli 7.0's `-u` sends `AUTH "" <pw>` for `redis://:<pw>@...` (an empty user,
            # the usual form) and fails, so take the parts out of the URL instead
            u = urllib.parse.urlsplit(url)
            host, port = u.hostname, u.port
            password = urllib.parse.unquote(u.password or "")
            database = u.path.lstrip("/") or "0"
        env["REDISCLI_AUTH"] = password
        return (["redis-cli", "-h", host, "-p", str(port), "-n", database, "ping"], env, "PONG")
    raise BenchError(f"no client for engine {engine}")


def client_ok(cmd: list[str], env: dict, expect: str) -> tuple[bool, str]:
    try:
        cp = subprocess.run(cmd, env=env, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=CLIENT_TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, f"client timed out after {CLIENT_TIMEOUT} s"
    ok = cp.returncode == 0 and cp.stdout.strip() == expect
    return ok, (cp.stdout + cp.stderr).strip()


# --------------------------------------------------------------------------- bench state


@dataclass
class Bench:
    dbarena: str
    env: dict
    engines: list[str]
    timeout: float
    extra_env: dict = field(default_factory=dict)  # engine -> ["KEY=VALUE"] for `--env`
    session: str = field(default_factory=lambda: f"{secrets.token_hex(3)}{os.getpid()}")
    live_instances: set[str] = field(default_factory=set)   # dbarena names to destroy
    passwords: set[str] = field(default_factory=set)        # for label-based stray lookup
    live_containers: set[str] = field(default_factory=set)  # baseline docker names
    specs: dict = field(default_factory=dict)
    samples: dict = field(default_factory=dict)
    counter: int = 0

    def add(self, key: str, value: float) -> None:
        self.samples.setdefault(key, []).append(value)

    def unique(self, what: str) -> str:
        self.counter += 1
        return f"bench-{self.session}-{what}-{self.counter}"

    # ---- dbarena

    def dbarena_cmd(self, *args: str) -> list[str]:
        return [self.dbarena, *args]

    def create(self, engines: list[str], *, name: str | None = None,
               password: str | None = None, extra_env: bool = False) -> tuple[float, list[dict]]:
        args = ["create", *engines, "--json"]
        if extra_env:
            for e in engines:
                for kv in self.extra_env.get(e, []):
                    args += ["--env", kv]
        if name:
            args += ["--name", name]
            self.live_instances.add(name)  # registered before the call: cleaned up even if killed
        if password:
            args += ["--password", password]
            self.passwords.add(password)
        # dbarena's own readiness timeouts are at most 120 s; give it room, stay bounded
        elapsed, cp = timed(self.dbarena_cmd(*args), env=self.env, timeout=self.timeout + 60,
                            what=f"dbarena create {' '.join(engines)}")
        try:
            out = json.loads(cp.stdout)
        except json.JSONDecodeError as e:
            raise BenchError(f"dbarena create printed no JSON ({e}):\n{tail(cp.stdout)}")
        out = out if isinstance(out, list) else [out]
        for inst in out:
            self.live_instances.add(inst["name"])
        if sorted(i["engine"] for i in out) != sorted(engines):
            raise BenchError(f"dbarena create {engines}: got instances {[i['name'] for i in out]}")
        for inst in out:
            want = resolved_image(inst["engine"])
            if inst.get("image") != want:
                raise BenchError(f"{inst['name']}: dbarena ran image {inst.get('image')!r}, the "
                                 f"baseline runs {want!r}; is DBARENA_CONFIG honoured?")
        return elapsed, out

    def verify(self, inst: dict) -> None:
        e = inst["engine"]
        cmd, env, expect = client_cmd(e, inst["host"], int(inst["port"]), inst["user"],
                                      inst["password"], inst["database"], url=inst["url"])
        ok, output = client_ok(cmd, env, expect)
        if not ok:
            raise BenchError(f"{inst['name']}: dbarena said ready but the query failed "
                             f"({' '.join(cmd[:1])} -> {output[-300:]!r})")

    def destroy(self, names: list[str]) -> float:
        elapsed, _ = timed(self.dbarena_cmd("destroy", *names), env=self.env,
                           timeout=DESTROY_TIMEOUT, what=f"dbarena destroy {' '.join(names)}")
        self.live_instances.difference_update(names)
        return elapsed

    # ---- baseline

    def load_specs(self) -> None:
        password = random_password()
        for e in self.engines:
            extra = [a for kv in self.extra_env.get(e, []) for a in ("--env", kv)]
            cp = run(self.dbarena_cmd("engines", engine_ref(e), "--json", "--password", password,
                                      *extra),
                     env=self.env, timeout=DOCKER_TIMEOUT, what=f"dbarena engines {e}")
            spec = json.loads(cp.stdout)["spec"]
            # `engines` shows the plugin's image; `create` applies the config override
            spec["image"] = resolved_image(e)
            if not spec.get("ports"):
                raise BenchError(f"{e}: spec has no ports")
            if spec.get("entrypoint") and len(spec["entrypoint"]) != 1:
                raise BenchError(f"{e}: multi-word entrypoint {spec['entrypoint']} not supported")
            self.specs[e] = spec
            run(["docker", "image", "inspect", spec["image"]], timeout=DOCKER_TIMEOUT,
                what=f"docker image inspect {spec['image']} (build it: tests/images/build.sh)")

    def docker_run_args(self, engine: str, name: str) -> list[str]:
        spec = self.specs[engine]
        args = ["docker", "run", "-d", "--name", name, "--label", f"dbarena-bench={self.session}"]
        for p in spec["ports"]:
            args += ["-p", f"127.0.0.1::{p}"]
        for k, v in spec["env"]:
            args += ["-e", f"{k}={v}"]
        for path in spec.get("data_paths") or []:
            args += ["-v", path]  # anonymous volume, as dbarena makes one per data path
        for t in spec.get("tmpfs") or []:
            args += ["--tmpfs", t if isinstance(t, str) else t[0]]
        if spec.get("memory_limit_bytes"):
            args += ["--memory", str(spec["memory_limit_bytes"])]
        if spec.get("entrypoint"):
            args += ["--entrypoint", spec["entrypoint"][0]]
        return args + [spec["image"], *(spec.get("cmd") or [])]

    def baseline(self, engine: str) -> dict:
        spec = self.specs[engine]
        name = self.unique(f"base-{engine}")
        self.live_containers.add(name)
        cred = spec["credentials"]
        t0 = time.perf_counter()
        run(self.docker_run_args(engine, name), timeout=DOCKER_TIMEOUT,
            what=f"docker run {spec['image']}")
        t_run = time.perf_counter() - t0
        cp = run(["docker", "port", name, f"{spec['ports'][0]}/tcp"], timeout=DOCKER_TIMEOUT,
                 what=f"docker port {name}")
        host_port = int(cp.stdout.strip().splitlines()[0].rsplit(":", 1)[1])
        cmd, env, expect = client_cmd(engine, "127.0.0.1", host_port, cred["user"],
                                      cred["password"], cred["database"])
        deadline = t0 + self.timeout
        polls = 0
        while True:
            polls += 1
            ok, output = client_ok(cmd, env, expect)
            now = time.perf_counter()
            if ok:
                ready = now - t0
                break
            if now > deadline:
                logs = run(["docker", "logs", "--tail", "15", name], timeout=DOCKER_TIMEOUT,
                           check=False)
                raise BenchError(f"baseline {engine}: no successful query within "
                                 f"{self.timeout:.0f} s ({polls} attempts); last client output: "
                                 f"{output[-300:]!r}\ncontainer log:\n{tail(logs.stdout + logs.stderr)}")
            time.sleep(POLL_INTERVAL)
        t_rm, _ = timed(["docker", "rm", "-fv", name], timeout=DOCKER_TIMEOUT,
                        what=f"docker rm -fv {name}")
        self.live_containers.discard(name)
        return {"ready": ready, "docker_run": t_run, "polls": polls, "rm": t_rm}

    # ---- cleanup

    def cleanup(self) -> list[str]:
        """Destroy every dbarena instance and remove every baseline container this run made.
        Each step is attempted even when an earlier one failed; returns what went wrong."""
        problems: list[str] = []

        def attempt(cmd, what, env=None, timeout=DOCKER_TIMEOUT, ok_if=lambda cp: False):
            try:
                cp = run(cmd, env=env, timeout=timeout, check=False, what=what)
            except (BenchError, OSError) as e:
                problems.append(f"{what}: {e}")
                return None
            if cp.returncode != 0 and not ok_if(cp):
                problems.append(f"{what}: {tail(cp.stderr or cp.stdout, 3)}")
            return cp

        # instances of a call that failed before printing their names: found by password label
        for pw in self.passwords:
            cp = attempt(["docker", "ps", "-a", "--filter", f"label=io.dbarena.password={pw}",
                          "--format", '{{.Label "io.dbarena.name"}}'], "docker ps (cleanup)")
            if cp and cp.returncode == 0:
                self.live_instances.update(n for n in cp.stdout.split() if n)
        for name in sorted(self.live_instances):
            cp = attempt(["docker", "ps", "-aq", "--filter", f"label=io.dbarena.name={name}"],
                         "docker ps (cleanup)")
            if cp and cp.returncode == 0 and not cp.stdout.strip():
                continue  # never created, or already gone
            attempt(self.dbarena_cmd("destroy", name), f"dbarena destroy {name}", env=self.env,
                    timeout=DESTROY_TIMEOUT)
        for name in sorted(self.live_containers):
            attempt(["docker", "rm", "-fv", name], f"docker rm -fv {name}",
                    ok_if=lambda cp: "No such container" in cp.stderr)
        return problems


# --------------------------------------------------------------------------- phases


def bench_engine(b: Bench, engine: str, record: bool, dbarena_first: bool) -> None:
    def via_dbarena():
        name = b.unique(engine)
        t_create, out = b.create([engine], name=name, extra_env=True)
        b.verify(out[0])
        t_destroy = b.destroy([name])
        if record:
            b.add(f"{engine}.create", t_create)
            b.add(f"{engine}.destroy", t_destroy)
        log(f"  {engine}: dbarena create {t_create:.3f} s, destroy {t_destroy:.3f} s")

    def via_docker():
        r = b.baseline(engine)
        if record:
            b.add(f"{engine}.baseline", r["ready"])
            b.add(f"{engine}.baseline_docker_run", r["docker_run"])
            b.add(f"{engine}.baseline_polls", r["polls"])
            b.add(f"{engine}.baseline_rm", r["rm"])
        log(f"  {engine}: docker run + poll {r['ready']:.3f} s (docker run {r['docker_run']:.3f} s,"
            f" {r['polls']} polls), docker rm -fv {r['rm']:.3f} s")

    for step in ((via_dbarena, via_docker) if dbarena_first else (via_docker, via_dbarena)):
        step()


def bench_parallel(b: Bench, record: bool, parallel_first: bool) -> None:
    def parallel():
        pw = random_password()
        t, out = b.create(list(b.engines), password=pw)
        for inst in out:
            b.verify(inst)
        b.destroy([i["name"] for i in out])
        if record:
            b.add("all.parallel", t)
        log(f"  parallel create {' '.join(b.engines)}: {t:.3f} s")

    def sequential():
        pw = random_password()
        total, made, parts = 0.0, [], []
        for e in b.engines:
            t, out = b.create([e], password=pw)
            total += t
            made += out
            parts.append(f"{e} {t:.3f}")
        for inst in made:
            b.verify(inst)
        b.destroy([i["name"] for i in made])
        if record:
            b.add("all.sequential", total)
        log(f"  sequential creates: {total:.3f} s ({', '.join(parts)})")

    for step in ((parallel, sequential) if parallel_first else (sequential, parallel)):
        step()


# --------------------------------------------------------------------------- report


def summarize(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values), "samples": values}


def build_report(b: Bench, args, meta: dict) -> dict:
    m = {k: summarize(v) for k, v in b.samples.items()}
    ratios = {}
    for e in b.engines:
        if f"{e}.create" in m and f"{e}.baseline" in m:
            ratios[f"{e}.create/baseline"] = m[f"{e}.create"]["median"] / m[f"{e}.baseline"]["median"]
        if f"{e}.destroy" in m and f"{e}.baseline_rm" in m:
            ratios[f"{e}.destroy/docker_rm"] = m[f"{e}.destroy"]["median"] / m[f"{e}.baseline_rm"]["median"]
    if "all.parallel" in m and "all.sequential" in m:
        ratios["parallel/sequential"] = m["all.parallel"]["median"] / m["all.sequential"]["median"]
    return {"meta": meta, "measurements": m, "ratios": ratios}


LABELS = {
    "create": "dbarena create (to exit = ready)",
    "destroy": "dbarena destroy",
    "baseline": "baseline: docker run + poll to 1st OK",
    "baseline_docker_run": "  of which `docker run -d` alone",
    "baseline_polls": "  client attempts (count)",
    "baseline_rm": "baseline: docker rm -fv",
    "parallel": "create {engines} (one call)",
    "sequential": "{n} sequential creates (sum)",
}


def print_table(report: dict, engines: list[str]) -> None:
    meta, m, r = report["meta"], report["measurements"], report["ratios"]
    print(f"dbarena create benchmark: {meta['runs']} runs (+{meta['warmup']} warm-up), "
          f"{meta['nproc']} CPUs, load avg {meta['loadavg_start']} -> {meta['loadavg_end']}")
    print(f"binary {meta['dbarena']} (built {meta['dbarena_mtime']}, "
          f"sha256 {meta['dbarena_sha256'][:12]}); DBARENA_TEST_INIT_DELAY "
          f"{'image default (3 s)' if meta['init_delay'] is None else meta['init_delay']}"
          f"{'' if meta['init_delay'] is None else ' (per-engine rows only)'}")
    print()
    header = f"{'':9} {'measurement':40} {'median':>9} {'min':>9} {'max':>9}"
    print(header)
    print("-" * len(header))

    def row(group, key, label):
        if key not in m:
            return
        s = m[key]
        if key.endswith("_polls"):
            vals = [f"{s[k]:g}" for k in ("median", "min", "max")]
        else:
            vals = [f"{s[k]:.3f} s" for k in ("median", "min", "max")]
        print(f"{group:9} {label:40} {vals[0]:>9} {vals[1]:>9} {vals[2]:>9}")

    for e in engines:
        for k in ("create", "destroy", "baseline", "baseline_docker_run", "baseline_polls",
                  "baseline_rm"):
            row(e, f"{e}.{k}", LABELS[k])
    row("all", "all.parallel", LABELS["parallel"].format(engines=" ".join(engines)))
    row("all", "all.sequential", LABELS["sequential"].format(n=len(engines)))
    print()
    print("ratios of medians (< 1: the first is faster)")
    for k, v in r.items():
        left, right = k.split(".", 1) if "." in k else ("all", k)
        print(f"  {left:9} {right:30} {v:6.2f}x")


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="measured runs per measurement (default 5)")
    p.add_argument("--warmup", type=int, default=1,
                   help="unrecorded warm-up runs before measuring (default 1)")
    p.add_argument("--engines", default=",".join(ALL_ENGINES),
                   help="comma-separated subset of postgres,mysql,redis (default: all)")
    p.add_argument("--dbarena", default=str(DEFAULT_DBARENA),
                   help=f"dbarena binary (default: {DEFAULT_DBARENA})")
    p.add_argument("--timeout", type=float, default=120,
                   help="seconds a baseline may take to answer; dbarena calls get 60 s more "
                        "(default 120)")
    p.add_argument("--init-delay", type=int, metavar="SECS",
                   help="pass --env DBARENA_TEST_INIT_DELAY=SECS to postgres and mysql (dbarena "
                        "and baseline alike) in the per-engine measurements; the test images "
                        "sleep 3 s during first init otherwise. Not applied to parallel vs "
                        "sequential (redis rejects that --env)")
    p.add_argument("--skip-parallel", action="store_true",
                   help="skip the parallel vs sequential measurement")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    a = p.parse_args(argv)
    a.engines = [e.strip() for e in a.engines.replace(" ", ",").split(",") if e.strip()]
    bad = [e for e in a.engines if e not in ALL_ENGINES]
    if bad or not a.engines or len(set(a.engines)) != len(a.engines):
        p.error(f"--engines: want a subset of {','.join(ALL_ENGINES)}, got {a.engines}")
    if a.runs < 1 or a.warmup < 0:
        p.error("--runs must be >= 1 and --warmup >= 0")
    return a


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main(argv=None) -> int:
    args = parse_args(argv)
    dbarena = Path(args.dbarena).resolve()
    if not (dbarena.is_file() and os.access(dbarena, os.X_OK)):
        print(f"create_bench: error: dbarena binary not found or not executable: {dbarena} "
              f"(build it with `cargo build --release`, or pass --dbarena)", file=sys.stderr)
        return 2
    needed = ["docker"] + [{"postgres": "psql", "mysql": "mysql", "redis": "redis-cli"}[e]
                           for e in args.engines]
    missing = [c for c in needed if not shutil.which(c)]
    if missing:
        print(f"create_bench: error: missing on PATH: {', '.join(missing)}", file=sys.stderr)
        return 2

    # SIGTERM behaves like Ctrl-C so that the finally block cleans up
    def on_sigterm(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)

    tmp = tempfile.TemporaryDirectory(prefix="dbarena-bench-")
    cfg = Path(tmp.name) / "config.toml"
    cfg.write_text(toml_config())
    env = dict(os.environ, DBARENA_CONFIG=str(cfg))
    env.pop("RUST_LOG", None)

    # run a snapshot of the binary so that a rebuild during the run cannot mix two builds
    snapshot = Path(tmp.name) / "dbarena"
    shutil.copy2(dbarena, snapshot)
    digest = hashlib.sha256(snapshot.read_bytes()).hexdigest()
    extra_env = {}
    if args.init_delay is not None:
        extra_env = {e: [f"DBARENA_TEST_INIT_DELAY={args.init_delay}"]
                     for e in ("postgres", "mysql")}
    b = Bench(dbarena=str(snapshot), env=env, engines=args.engines, timeout=args.timeout,
              extra_env=extra_env)
    meta = {"dbarena": str(dbarena), "runs": args.runs, "warmup": args.warmup,
            "engines": args.engines, "nproc": os.cpu_count(), "loadavg_start": loadavg(),
            "images": {e: resolved_image(e) for e in args.engines},
            "dbarena_sha256": digest, "dbarena_mtime": time.strftime(
                "%Y-%m-%dT%H:%M:%S", time.localtime(dbarena.stat().st_mtime)),
            "init_delay": args.init_delay, "poll_interval_s": POLL_INTERVAL}
    failure = None
    try:
        b.load_specs()
        total = args.warmup + args.runs
        for i in range(total):
            record = i >= args.warmup
            log(f"run {i + 1}/{total}{'' if record else ' (warm-up)'}")
            for e in args.engines:
                bench_engine(b, e, record, dbarena_first=(i % 2 == 0))
            if not args.skip_parallel and len(args.engines) > 1:
                bench_parallel(b, record, parallel_first=(i % 2 == 0))
    except BenchError as e:
        failure = str(e)
    except KeyboardInterrupt:
        failure = "interrupted"
    finally:
        log("cleaning up")
        problems = b.cleanup()
        tmp.cleanup()
    if problems:
        print("create_bench: cleanup problems:\n  " + "\n  ".join(problems), file=sys.stderr)
    if failure:
        print(f"create_bench: error: {failure}", file=sys.stderr)
        return 1
    if problems:
        return 1

    meta["loadavg_end"] = loadavg()
    report = build_report(b, args, meta)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print_table(report, args.engines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
