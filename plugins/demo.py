"""``toolfeedback demo``: the whole method end to end, offline, on the CPU, in about a minute.

build verified environments -> build the tiny model -> roll it out in the sandbox ->
evaluate Solve-P/R/F1 -> train GRPO for a few steps on the step samples -> analyze which
layers and modules changed. The tiny model has random weights, so its scores are near
zero: the demo shows the pipeline and its files, not learning. Every step is the same API
function the CLI verbs call.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable


def demo(out_dir: str | Path = "toolfeedback-demo", *, n: int = 16, seed: int = 0,
         mode: str = "no-think", train_steps: int = 2, pm=None,
         say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the demo into ``out_dir`` and return a summary dict (also written as summary.json)."""
    import json

    from toolfeedback.evaluate.analysis import analyze
    from toolfeedback.evaluate.driver import EvalConfig, evaluate
    from toolfeedback.manager import create_plugin_manager
    from toolfeedback.build.pipeline import BuildConfig, build, verify
    from toolfeedback.rollout.collect import RolloutConfig, rollout
    from toolfeedback.tiny_model import build_tiny_model
    from toolfeedback.train.job import TrainConfig, train

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own lines say what happens; keep stderr quiet
    pm = pm or create_plugin_manager()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"out": str(out)}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        summary.setdefault("seconds", {})[name] = round(now - clock, 2)
        clock = now

    envs = out / "environments.jsonl"
    built = build(BuildConfig(n=n, seed=seed, out=str(envs), test_fraction=0.25), pm)
    report = verify(envs, pm)
    summary["build"] = {"written": built.written, "rejected": built.rejected,
                        "verified": report.passed, "failed": report.failed}
    say(f"[1/6] built {built.written} environments ({built.rejected} rejected), "
        f"verified {report.passed}/{report.total} by replaying their golden calls -> {envs}")
    lap("build")

    model = build_tiny_model(out / "tiny-model", seed=seed)
    say(f"[2/6] built the tiny Qwen3-architecture model offline -> {model}")
    lap("tiny_model")

    traj, samples = out / "trajectories.jsonl", out / "samples.jsonl"
    result = rollout(RolloutConfig(model=str(model), envs=str(envs), out=str(traj),
                                   samples_out=str(samples), mode=mode, max_new_tokens=48,
                                   max_turns=3, resume=False, progress=False,
                                   backend_options={"device": "cpu"}), pm=pm)
    summary["rollout"] = {k: result[k] for k in ("episodes", "tokens") if k in result}
    say(f"[3/6] rolled out {result['episodes']} episodes in {mode} mode "
        f"({result['tokens']} tokens) -> {traj}, step samples -> {samples}")
    lap("rollout")

    metrics = evaluate(EvalConfig(evaluator="solve", trajectories=str(traj), data=str(envs),
                                  out=str(out / "eval.json"), quiet=True), pm)
    overall = metrics.get("overall", metrics)
    summary["eval"] = {k: overall.get(k) for k in ("solve_p", "solve_r", "solve_f1") if k in overall}
    say("[4/6] Solve-P/R/F1 of the untrained model: " + ", ".join(
        f"{k}={v:.3f}" for k, v in summary["eval"].items() if isinstance(v, (int, float))))
    lap("eval")

    ckpt = train(TrainConfig(model=str(model), data=str(samples), out=str(out / "grpo"),
                             algorithm="grpo", max_steps=train_steps, num_generations=4,
                             per_device_batch_size=4, max_new_tokens=16, lr=1e-4,
                             max_prompt_length=4096, quiet=True), pm)
    say(f"[5/6] trained GRPO for {train_steps} steps with the solve_f1 reward -> {ckpt}")
    lap("train")

    changes = analyze(model, ckpt, out_dir=out / "analysis", plot=False)
    top = changes["ranking"]["layers"][:2], changes["ranking"]["modules"][:3]
    summary["analysis"] = {"top_layers": top[0], "top_modules": top[1]}
    say(f"[6/6] most changed layers {top[0]}, modules {top[1]} -> {out / 'analysis'}")
    lap("analyze")

    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
