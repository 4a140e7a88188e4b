#!/usr/bin/env python3
"""Benchmark dbarena's everyday read commands against `docker ps`, in the same run.

  list      `dbarena list` with N running instances (postgres, mysql, redis by default;
            each is probed once through its port, so "healthy" is true) vs `docker ps`
            with the same label filter
  list-json `dbarena list --json`
  engines   `dbarena engines` with a warm plugin cache (no Docker involved)
  rss       peak resident memory of `dbarena list` and `dbarena engines`

Medians of --runs (after --warmup), the differences and ratios against the baseline.
Python 3.11, standard library only; the instances are destroyed at the end, also on error
and on Ctrl-C. See tests/bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DBARENA = Path(os.environ.get("CARGO_TARGET_DIR") or REPO_ROOT / "target") / "release" / "dbarena"
TEST_CONFIG = """
[engines.postgres]
image = "dbarena-test/postgres"
version = "15"

[engines.mysql]
image = "dbarena-test/mysql:mariadb-10.11"

[engines.redis]
image = "dbarena-test/redis"
version = "7"
"""


def log(msg: str) -> None:
    print(f"[everyday_bench] {msg}", file=sys.stderr, flush=True)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Runs cmd; returns (wall seconds, peak RSS in KiB of that child alone)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err.strip()[-500:]}")
    if proc.stderr:
        proc.stderr.close()
    return took, usage.ru_maxrss


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dbarena", default=str(DEFAULT_DBARENA))
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--engines", default="postgres,mysql,redis")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dbarena-everyday-"))
    binary = work / "dbarena"
    shutil.copy2(args.dbarena, binary)
    (work / "config.toml").write_text(TEST_CONFIG)
    env = dict(os.environ)
    env.update(
        DBARENA_CONFIG=str(work / "config.toml"),
        DBARENA_PLUGIN_DIR=str(work / "plugins"),
        DBARENA_CACHE_DIR=str(work / "cache"),
    )
    env.pop("RUST_LOG", None)
    engines = [e for e in args.engines.split(",") if e]
    names = [f"bench-everyday-{os.getpid()}-{e}" for e in engines]

    def cleanup(*_: object) -> None:
        for name in names:
            subprocess.run([str(binary), "destroy", name], env=env, capture_output=True, timeout=120)
        shutil.rmtree(work, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(143)))
    try:
        log(f"creating {', '.join(engines)}")
        for engine, name in zip(engines, names):
            subprocess.run(
                [str(binary), "create", engine, "--name", name, "--json"],
                env=env, check=True, capture_output=True, timeout=300,
            )
        cases = {
            "list": [str(binary), "list"],
            "list --json": [str(binary), "list", "--json"],
            "engines": [str(binary), "engines"],
            "docker ps": ["docker", "ps", "--filter", "label=io.dbarena.managed=true"],
        }
        samples: dict[str, list[float]] = {k: [] for k in cases}
        rss: dict[str, list[int]] = {k: [] for k in cases}
        for i in range(args.warmup + args.runs):
            # Alternate the order so drift in machine load hits every case alike.
            order = list(cases.items()) if i % 2 == 0 else list(reversed(cases.items()))
            for label, cmd in order:
                took, peak = timed(cmd, env)
                if i >= args.warmup:
                    samples[label].append(took)
                    rss[label].append(peak)
        base = median_ms(samples["docker ps"])
        rows = []
        for label in cases:
            m = median_ms(samples[label])
            rows.append({
                "command": label,
                "median_ms": round(m, 1),
                "min_ms": round(min(samples[label]) * 1000, 1),
                "max_ms": round(max(samples[label]) * 1000, 1),
                "minus_docker_ps_ms": round(m - base, 1),
                "ratio_to_docker_ps": round(m / base, 2),
                "peak_rss_mib": round(max(rss[label]) / 1024, 1),
            })
        if args.json:
            print(json.dumps({"instances": len(engines), "runs": args.runs, "rows": rows}, indent=2))
        else:
            print(f"everyday commands, {len(engines)} running instances, medians of {args.runs} runs")
            print(f"{'command':<14}{'median':>10}{'min':>9}{'max':>9}{'- docker ps':>13}{'ratio':>8}{'peak RSS':>11}")
            for r in rows:
                print(
                    f"{r['command']:<14}{r['median_ms']:>8.1f}ms{r['min_ms']:>7.1f}ms{r['max_ms']:>7.1f}ms"
                    f"{r['minus_docker_ps_ms']:>+11.1f}ms{r['ratio_to_docker_ps']:>8.2f}{r['peak_rss_mib']:>8.1f}MiB"
                )
        return 0
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
