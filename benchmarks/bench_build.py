"""Throughput and memory of ``toolfeedback build`` (procedural pipeline, verification included).

Each measurement runs in a fresh subprocess so peak memory (``ru_maxrss``, the build
process; sandbox workers reported separately) is its own. Printed, all from this run:
- built-and-verified environments per minute at a small and a large N (sandbox executor);
- the same pipeline with the release-style in-process executor (baseline) and the ratio;
- peak memory at both sizes and their ratio (streaming: it must stay flat as N grows);
- ``verify`` throughput on the large file.
The last line is ``envs_per_minute=<float>`` (large N, sandbox).

    python benchmarks/bench_build.py            # N = 1,000 and 10,000 (about 3 minutes on 2 cores)
    python benchmarks/bench_build.py --large 3000 --small 500 --baseline 1000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
from toolfeedback.build.pipeline import BuildConfig, build, verify
n, out, executor, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
start = time.perf_counter()
if mode == "build":
    s = build(BuildConfig(n=n, seed=1, out=out, executor=executor))
    count, rejected = s.written, s.rejected
else:
    r = verify(out, executor_kind=executor)
    count, rejected = r.passed, r.failed
seconds = time.perf_counter() - start
print(json.dumps({"count": count, "rejected": rejected, "seconds": seconds,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def run(n: int, out: str, executor: str, mode: str = "build") -> dict:
    """One measurement in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", CHILD, str(n), out, executor, mode],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"benchmark child failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["per_minute"] = 60 * result["count"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1000, help="small N (memory reference)")
    parser.add_argument("--large", type=int, default=10000, help="large N (headline figure)")
    parser.add_argument("--baseline", type=int, default=2000, help="N for the in-process baseline")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        small = run(args.small, os.path.join(tmp, "small.jsonl"), "sandbox")
        large = run(args.large, os.path.join(tmp, "large.jsonl"), "sandbox")
        base = run(args.baseline, os.path.join(tmp, "base.jsonl"), "inprocess")
        checked = run(args.large, os.path.join(tmp, "large.jsonl"), "sandbox", mode="verify")
        size_mb = os.path.getsize(os.path.join(tmp, "large.jsonl")) / 2 ** 20
    rows = [("build sandbox", args.small, small), ("build sandbox", args.large, large),
            ("build in-process (baseline)", args.baseline, base), ("verify sandbox", args.large, checked)]
    print(f"{'run':<30}{'N':>8}{'ok':>8}{'rejected':>9}{'seconds':>9}{'envs/min':>10}{'peak MB':>9}{'workers MB':>11}")
    for name, n, r in rows:
        print(f"{name:<30}{n:>8}{r['count']:>8}{r['rejected']:>9}{r['seconds']:>9.1f}{r['per_minute']:>10.0f}"
              f"{r['maxrss_mb']:>9.1f}{r['children_maxrss_mb']:>11.1f}")
    print(f"output size at N={args.large}: {size_mb:.1f} MiB")
    print(f"sandbox / in-process throughput ratio: {large['per_minute'] / base['per_minute']:.2f}")
    print(f"peak memory ratio N={args.large} / N={args.small}: {large['maxrss_mb'] / small['maxrss_mb']:.2f} "
          f"(flat = streaming)")
    print(f"goal >= 2000 envs/minute on 2 CPU cores: {'met' if large['per_minute'] >= 2000 else 'NOT met'}")
    print(f"envs_per_minute={large['per_minute']:.1f}")


if __name__ == "__main__":
    main()
