"""How much our verifiable reward costs inside GRPO training, on the CPU and the tiny model.

Runs the same GRPO steps twice on a freshly built tiny model: once with a constant reward
function (the baseline: generation + loss only) and once with ``solve_f1`` (tool calls in the sandbox) run through
:class:`toolfeedback.train.data.StepReward` (parse calls, execute them, match answers).
Also times the reward alone on hand-written completions that call tools. The last line is
``grpo_reward_overhead=<ratio>``: seconds per step with our reward / with the constant one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


class ConstantReward:
    name = "constant"

    def score(self, outcome):
        return 0.0


def step_seconds(config, pm, constant: bool, executor) -> float:
    from toolfeedback.registry import Catalog
    from toolfeedback.train.job import prepare_job

    job = prepare_job(config, pm)
    trainer = Catalog(pm).get("algorithms", "grpo").build_trainer(job, executor)
    if constant:  # same trainer, reward replaced by a function that runs nothing
        const = lambda prompts, completions, **kw: [0.0] * len(completions)  # noqa: E731
        const.__name__ = "constant"
        trainer.reward_funcs = [const]
    start = time.perf_counter()
    trainer.train()
    return (time.perf_counter() - start) / config.max_steps


def reward_throughput(pm, repeats: int, executor) -> float:
    from helpers.training import GOOD, fixture_samples

    from toolfeedback.runtime.step import make_reward
    from toolfeedback.registry import Catalog
    from toolfeedback.train.data import StepReward, sample_columns

    catalog = Catalog(pm)
    func = StepReward(mode=catalog.get("modes", "no-think"), tool_format=catalog.get("tool_formats", "hermes"),
                      reward=make_reward(pm, "solve_f1"), executor=executor)
    completions, columns = [], {}
    for env, (text, _) in zip(fixture_samples(), GOOD):
        completions.append(text)
        for key, value in sample_columns(env).items():
            columns.setdefault(key, []).append(value)
    start = time.perf_counter()
    for _ in range(repeats):
        func(prompts=[""] * len(completions), completions=completions, **columns)
    return repeats * len(completions) / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="GRPO steps per run (default 3)")
    parser.add_argument("--size", default="tiny", choices=("tiny", "small"), help="tiny-model size")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="response budget (default 32)")
    parser.add_argument("--repeats", type=int, default=200, help="reward-only repetitions (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (default 3)")
    args = parser.parse_args(argv)

    from helpers.training import small_config

    from toolfeedback.manager import create_plugin_manager
    from toolfeedback.tiny_model import build_tiny_model
    from toolfeedback.train.data import make_executor

    pm = create_plugin_manager()
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "model", seed=0, size=args.size)
        config = small_config(model, Path(tmp) / "out", max_steps=args.steps,
                              max_new_tokens=args.max_new_tokens)
        sandbox = make_executor(10.0)  # as `toolfeedback train` uses; started once, reused
        try:
            step_seconds(config, pm, False, sandbox)  # warm-up: torch start-up, sandbox workers
            base_runs, our_runs = [], []
            for _ in range(args.rounds):  # interleaved; the fastest run counts (shared machine)
                base_runs.append(step_seconds(config, pm, True, sandbox))
                our_runs.append(step_seconds(config, pm, False, sandbox))
        finally:
            sandbox.close()
        base, ours = min(base_runs), min(our_runs)
    from toolfeedback.runtime.executor import InProcessExecutor

    rates = {}
    for label, executor in (("in-process", InProcessExecutor(timeout=10)), ("sandbox", make_executor(10.0))):
        reward_throughput(pm, 5, executor)  # warm the workers' code cache
        rates[label] = reward_throughput(pm, args.repeats, executor)
        executor.close()
    print(f"model={args.size} steps={args.steps} completions/step=4 max_new_tokens={args.max_new_tokens}")
    print(f"grpo step, constant reward: {base:.3f} s (runs: {', '.join(f'{t:.3f}' for t in base_runs)})")
    print(f"grpo step, solve_f1 reward: {ours:.3f} s (runs: {', '.join(f'{t:.3f}' for t in our_runs)})")
    for label, rate in rates.items():
        print(f"reward alone ({label} executor): {rate:.0f} completions/s")
    print(f"grpo_reward_overhead={ours / base:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
