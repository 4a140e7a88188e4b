#!/usr/bin/env python3
"""Benchmark warm starts, snapshot, reset and clone against cold creates and a plain
`docker run` + polling client, all in the same run (medians of N, with min/max and ratios).

  per engine (postgres, mysql, redis): dbarena create (warm, from the template), dbarena create
      --cold, and the baseline: `docker run -d` of the same image/env/cmd plus a client
      polling every 100 ms until the first successful query
  postgres with 10,000 rows: dbarena snapshot, dbarena reset --tag, dbarena create --from
  disk: the template's image size and what each warm instance adds (`docker system df -v`)

Python 3.11, standard library only; reuses create_bench.py's process and client helpers.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import create_bench as cb  # noqa: E402

ENGINES = ("postgres", "mysql", "redis")
TIMEOUT = 180


def log(msg: str) -> None:
    print(f"[warm_bench] {msg}", file=sys.stderr, flush=True)


class Run:
    def __init__(self, dbarena: str, env: dict):
        self.dbarena, self.env = dbarena, env
        self.instances: list[str] = []
        self.containers: list[str] = []
        self.samples: dict[str, list[float]] = {}
        self.n = 0

    def name(self, what: str) -> str:
        self.n += 1
        return f"wb-{os.getpid()}-{what}-{self.n}"

    def add(self, key: str, seconds: float) -> None:
        self.samples.setdefault(key, []).append(seconds)

    def dbarena_cmd(self, *args: str, what: str) -> tuple[float, subprocess.CompletedProcess]:
        return cb.timed([self.dbarena, *args], env=self.env, timeout=TIMEOUT, what=what)

    def create(self, engine: str, *flags: str) -> tuple[float, dict]:
        name = self.name(engine)
        self.instances.append(name)
        took, cp = self.dbarena_cmd("create", cb.engine_ref(engine), "--json", "--name", name, *flags,
                                    what=f"create {engine} {' '.join(flags)}")
        inst = json.loads(cp.stdout)[0]
        cmd, env, expect = cb.client_cmd(engine, inst["host"], inst["port"], inst["user"],
                                         inst["password"], inst["database"], inst.get("url"))
        ok, out = cb.client_ok(cmd, env, expect)
        if not ok:
            raise cb.BenchError(f"{name}: the printed credentials do not work: {out}")
        return took, inst

    def destroy(self, name: str) -> None:
        cb.run([self.dbarena, "destroy", name], env=self.env, timeout=TIMEOUT, check=False)
        if name in self.instances:
            self.instances.remove(name)

    def baseline(self, engine: str) -> float:
        """docker run of the engine's own spec, then a client every 100 ms until it answers."""
        password = cb.random_password()
        _, cp = cb.timed([self.dbarena, "engines", cb.engine_ref(engine), "--json", "--password", password],
                         env=self.env, timeout=60)
        spec = json.loads(cp.stdout)["spec"]
        name = self.name(f"{engine}-docker")
        port = spec["ports"][0]
        args = ["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1::{port}"]
        for k, v in spec["env"]:
            args += ["-e", f"{k}={v}"]
        args += [cb.resolved_image(engine), *spec["cmd"]]
        self.containers.append(name)
        t0 = time.perf_counter()
        cb.run(args, timeout=60)
        host_port = cb.run(["docker", "port", name, f"{port}/tcp"], timeout=30).stdout.split(":")[-1].strip()
        c = spec["credentials"]
        cmd, env, expect = cb.client_cmd(engine, "127.0.0.1", int(host_port.splitlines()[0]), c["user"],
                                         c["password"], c["database"])
        while True:
            ok, out = cb.client_ok(cmd, env, expect)
            if ok:
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > TIMEOUT:
                raise cb.BenchError(f"baseline {engine} never answered: {out}")
            time.sleep(cb.POLL_INTERVAL)

    def cleanup(self) -> None:
        for name in list(self.instances):
            self.destroy(name)
        for c in self.containers:
            subprocess.run(["docker", "rm", "-fv", c], capture_output=True)


def psql(url: str, sql: str) -> str:
    return cb.run(["psql", url, "-XtAc", sql], timeout=60).stdout.strip()


def median(values: list[float]) -> float:
    return statistics.median(values)


def image_size(image: str) -> int:
    out = cb.run(["docker", "image", "inspect", image, "--format", "{{.Size}}"], timeout=30).stdout
    return int(out.strip())


def bench(r: Run, runs: int) -> dict:
    # Warm-up: make sure every template exists (the first create makes it).
    for engine in ENGINES:
        _, inst = r.create(engine)
        r.destroy(inst["name"])
        _, inst = r.create(engine)
        r.destroy(inst["name"])
    for i in range(runs):
        for engine in ENGINES:
            order = ["warm", "cold", "docker"] if i % 2 == 0 else ["docker", "cold", "warm"]
            for kind in order:
                if kind == "docker":
                    r.add(f"{engine} docker run + poll", r.baseline(engine))
                    continue
                took, inst = r.create(engine, *(["--cold"] if kind == "cold" else []))
                r.add(f"{engine} create ({kind})", took)
                r.destroy(inst["name"])
        log(f"create round {i + 1}/{runs} done")

    _, pg = r.create("postgres")
    name, url = pg["name"], pg["url"]
    psql(url, "create table t as select g from generate_series(1, 10000) g")
    disk = {}
    # Snapshots, then resets to the last one (the use between test runs: one snapshot, many
    # resets); interleaved, a reset also meets the write-back of the snapshot just committed.
    for i in range(runs):
        psql(url, "update t set g = g where g <= 100")
        took, _ = r.dbarena_cmd("snapshot", name, "--tag", "bench", what="snapshot")
        r.add("postgres snapshot (10,000 rows)", took)
    for i in range(runs):
        psql(url, "insert into t select g from generate_series(1, 100) g")
        took, _ = r.dbarena_cmd("reset", name, "--tag", "bench", what="reset")
        r.add("postgres reset --tag (10,000 rows)", took)
        if psql(url, "select count(*) from t") != "10000":
            raise cb.BenchError("reset did not return to the snapshot's rows")
        took, clone = r.create("postgres", "--from", f"{name}:bench")
        r.add("postgres create --from (10,000 rows)", took)
        r.destroy(clone["name"])
    snaps = json.loads(r.dbarena_cmd("snapshots", name, "--json", what="snapshots")[1].stdout)
    base = image_size(cb.resolved_image("postgres"))
    origin = cb.run(["docker", "inspect", name, "--format", '{{index .Config.Labels "io.dbarena.origin"}}'],
                    timeout=30).stdout.strip()
    disk["postgres engine image (bytes)"] = base
    disk["postgres template image, own layer (bytes)"] = image_size(origin) - base
    disk["postgres snapshot image, own layer (bytes)"] = snaps[0]["size_bytes"] - base
    r.destroy(name)  # first: the instance runs the snapshot's image since its reset
    cb.run([r.dbarena, "snapshot", "rm", f"{name}:bench"], env=r.env, timeout=60, check=False)
    return disk


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--dbarena", default=str(cb.DEFAULT_DBARENA))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.toml"
        cfg.write_text(cb.toml_config())
        r = Run(args.dbarena, dict(os.environ, DBARENA_CONFIG=str(cfg)))
        try:
            disk = bench(r, args.runs)
        except cb.BenchError as e:
            log(f"failed: {e}")
            return 1
        finally:
            r.cleanup()
    report = {
        "runs": args.runs,
        "medians_s": {k: median(v) for k, v in r.samples.items()},
        "min_max_s": {k: [min(v), max(v)] for k, v in r.samples.items()},
        "disk": disk,
    }
    m = report["medians_s"]
    ratios = {}
    for engine in ENGINES:
        warm, cold = m[f"{engine} create (warm)"], m[f"{engine} create (cold)"]
        base = m[f"{engine} docker run + poll"]
        ratios[f"{engine} warm/docker"] = warm / base
        ratios[f"{engine} warm/cold"] = warm / cold
        ratios[f"{engine} cold/docker"] = cold / base
    report["ratios"] = ratios
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"warm_bench: medians of {args.runs} (min-max), same run")
    for k, v in m.items():
        lo, hi = report["min_max_s"][k]
        print(f"  {k:<42} {v:7.3f} s  ({lo:.3f}-{hi:.3f})")
    for k, v in ratios.items():
        print(f"  {k:<42} {v:7.2f}")
    for k, v in disk.items():
        print(f"  {k:<42} {v / 1e6:7.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
