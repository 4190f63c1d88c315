"""Learning, measured: the demo's miniature (build -> tiny model -> SFT -> GRPO) over 3 seeds.

Every seed runs the demo's default recipe (:class:`toolfeedback.plugins.demo.DemoConfig`),
unchanged; only the seed differs. Prints each seed's test-split Solve-F1 (percent) of the
untrained, SFT and SFT + GRPO models, and as its last line
``rl_gain_f1=<mean over the seeds of (RL - SFT) in points>``.

Usage: python benchmarks/bench_learning.py [--seeds 0,1,2] [--out DIR] [--set key=value ...]
(``--set`` changes a recipe value for every seed alike, e.g. ``--set rl_steps=20``.)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def parse_value(kind: type, text: str):
    """``text`` as a recipe value of type ``kind`` (a bool from true/false, 1/0, yes/no)."""
    if kind is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{text!r} is not true or false")
    return kind(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    parser.add_argument("--out", default=None, help="keep each seed's demo folder under here")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change a recipe value for every seed")
    args = parser.parse_args()

    import attrs

    from toolfeedback.plugins.demo import DemoConfig, demo

    types = {f.name: type(f.default) for f in attrs.fields(DemoConfig)}
    changes = {}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in types:
            parser.error(f"--set {item!r}: unknown key (known: {', '.join(types)})")
        try:
            changes[key] = parse_value(types[key], value)
        except ValueError as exc:
            parser.error(f"--set {item!r}: {exc}")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="tf-learning-"))
    rows = []
    for seed in seeds:
        started, cpu = time.perf_counter(), time.process_time()
        summary = demo(root / f"seed{seed}", DemoConfig(seed=seed, **changes), say=lambda _: None)
        f1 = summary["test_solve_f1"]
        rows.append(f1)
        print(f"seed {seed}: base {f1['base']:.2f}  sft {f1['sft']:.2f}  rl {f1['rl']:.2f}  "
              f"gain {f1['rl'] - f1['sft']:+.2f}  ({time.perf_counter() - started:.0f} s wall, "
              f"{time.process_time() - cpu:.0f} s cpu)", flush=True)
    gains = [r["rl"] - r["sft"] for r in rows]
    mean = sum(gains) / len(gains)
    recipe = {k: v for k, v in attrs.asdict(DemoConfig(**changes)).items() if k != "seed"}
    print(json.dumps({"recipe": recipe, "seeds": seeds, "per_seed": rows,
                      "mean_sft": sum(r["sft"] for r in rows) / len(rows),
                      "seeds_below_sft": sum(g < 0 for g in gains)}))
    print(f"rl_gain_f1={mean:.2f}")


if __name__ == "__main__":
    main()
