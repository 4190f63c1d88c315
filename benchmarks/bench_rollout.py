"""Rollout throughput: the released sampler's way (one environment at a time, one generate
call per turn) vs our engine (all active episodes batched per turn), same environments,
same token budget, greedy decoding (so both produce the same tokens), same generator.

Usage: python benchmarks/bench_rollout.py [--envs 32] [--max-new-tokens 256] [--size tiny]
       [--model DIR] [--device cpu|cuda] [--backend hf|vllm] [--repeat 3]
Last line: batched_vs_sequential_ratio=<episodes/s batched / episodes/s sequential>.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def make_envs(path: Path, n: int) -> None:
    """``n`` small multi-hop environments (a lookup chain of two tools)."""
    codes = {"get_capital": "def get_capital(country):\n    return {'capital': 'City' + country[-2:]}\n",
             "get_population": "def get_population(city):\n    return str(len(city) * 1000)\n"}
    tools = [{"type": "function", "function": {"name": name, "description": f"{name} lookup",
              "parameters": {"type": "object", "properties": {arg: {"type": "string"}},
                             "required": [arg]}}}
             for name, arg in (("get_capital", "country"), ("get_population", "city"))]
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            country = f"Country{i:02d}"
            handle.write(json.dumps({
                "id": f"bench-{i}", "messages": [
                    {"role": "system", "content": "Use the tools to answer."},
                    {"role": "user", "content": f"What is the population of the capital of {country}? "
                                                + "Explain briefly. " * (i % 4)}],
                "tools": json.dumps(tools), "codes": json.dumps(codes),
                "unsolved_set": json.dumps({"get_capital": [f"City{i:02d}"], "get_population": ["6000"]}),
                "solve_rate": 0.0, "answer": "6000", "data_source": "bench", "split": "test"}) + "\n")


def run(generator, envs: Path, out: Path, batch_size: int, args) -> dict:
    from toolfeedback.rollout.collect import RolloutConfig, rollout

    # Tools run in the default executor (the sandbox), started before the clock starts.
    cfg = RolloutConfig(model=args.model or "tiny", envs=str(envs), out=str(out),
                        samples_out=str(out) + ".samples", batch_size=batch_size,
                        max_new_tokens=args.max_new_tokens, max_turns=args.max_turns,
                        resume=False, progress=False)
    return rollout(cfg, generator=generator)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", type=int, default=32, help="number of environments")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="token budget per response")
    parser.add_argument("--max-turns", type=int, default=20, help="turns per episode at most")
    parser.add_argument("--size", default="tiny", help="tiny-model size when --model is not given")
    parser.add_argument("--model", help="model directory (default: build the tiny model)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--backend", default="hf", help="hf or vllm")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each way, interleaved; the fastest counts (shared machines are noisy)")
    args = parser.parse_args()

    from toolfeedback.manager import create_plugin_manager
    from toolfeedback.registry import Catalog

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model
        if model is None:
            from toolfeedback.tiny_model import build_tiny_model

            model = str(build_tiny_model(tmp / "model", seed=0, size=args.size))
        envs = tmp / "envs.jsonl"
        make_envs(envs, args.envs)
        options = {"device": args.device} if args.device else {}
        generator = Catalog(create_plugin_manager()).get("backends", args.backend).load(model, **options)
        run(generator, envs, tmp / "warm.jsonl", args.envs, argparse.Namespace(**{**vars(args), "max_turns": 1}))
        results: dict[str, dict] = {}
        for _ in range(max(1, args.repeat)):
            for label, batch in (("sequential", 1), ("batched", args.envs)):
                r = run(generator, envs, tmp / f"{label}.jsonl", batch, args)
                if label not in results or r["seconds"] < results[label]["seconds"]:
                    results[label] = r
        for label, batch in (("sequential", 1), ("batched", args.envs)):
            r = results[label]
            print(f"{label:10s} batch={batch:3d} episodes={r['episodes']} tokens={r['tokens']} "
                  f"seconds={r['seconds']:.2f} episodes/s={r['episodes_per_s']:.2f} "
                  f"tokens/s={r['tokens_per_s']:.1f}")
        same = (tmp / "sequential.jsonl").read_text().count("\n") == (tmp / "batched.jsonl").read_text().count("\n")
        print(f"same_episode_count={same} device={getattr(generator, 'device', '?')} model={model}")
        generator.close()
    ratio = results["batched"]["episodes_per_s"] / results["sequential"]["episodes_per_s"]
    print(f"batched_vs_sequential_ratio={ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
