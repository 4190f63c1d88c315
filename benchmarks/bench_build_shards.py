"""One-process ``toolfeedback build`` against the same build as local shards.

Prints the wall time of each, environments per minute, the ratio (sharded over one
process) and whether the two outputs are the same bytes (they must be). The last line is
``shard_speedup=<float>``. On a machine with C free cores expect at most about
min(C, shards); the driver's scenario walk and merge are the serial part.

    python benchmarks/bench_build_shards.py                       # N = 2,000, 2 shards, sandbox
    python benchmarks/bench_build_shards.py --n 500 --shards 2 --executor inprocess
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "toolfeedback.cli", "build", *args], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--executor", default="sandbox")
    parser.add_argument("--runner", default="local")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        common = ["--n", str(opts.n), "--seed", "1", "--executor", opts.executor, "--quiet"]
        one, many = os.path.join(tmp, "one.jsonl"), os.path.join(tmp, "many.jsonl")
        t_one = run([*common, "--out", one])
        t_many = run([*common, "--out", many, "--runner", opts.runner, "--shards", str(opts.shards)])
        with open(one, "rb") as a, open(many, "rb") as b:
            same = a.read() == b.read()
        written = sum(1 for _ in open(one, encoding="utf-8"))
    print(f"cores={os.cpu_count()} load={os.getloadavg()[0]:.2f} n={opts.n} written={written}")
    print(f"one process: {t_one:.1f}s ({60 * written / t_one:.0f} environments/minute)")
    print(f"{opts.shards} {opts.runner} shards: {t_many:.1f}s ({60 * written / t_many:.0f} environments/minute)")
    print(f"same bytes: {same}")
    print(f"shard_speedup={t_one / t_many:.2f}")


if __name__ == "__main__":
    main()
