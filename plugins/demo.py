"""``toolfeedback demo``: the method in miniature, offline on the CPU, with a model that learns.

build verified environments (train and test splits) -> play their golden calls through the
rollout loop (``golden`` backend) -> build the tiny model, its tokenizer trained on that
environment text -> evaluate it on the test split -> SFT warm start on the golden train
trajectories -> ``iterate`` once: collect with the SFT model on the train split, GRPO on
its step samples with the verifiable Solve-F1 reward, evaluate on the test split (its
``iter-0`` evaluation is the SFT model) -> ``report.md`` (tables and PNG plots) and
``summary.json`` (``test_solve_f1`` = ``{base, sft, rl}`` in percent). Every step is the
API function the CLI verbs call. The defaults are one recipe, the same for every seed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from attrs import asdict, field, frozen

from toolfeedback.errors import ConfigError

#: Scenario patterns of the demo: one tool call per answer, so a tiny model can learn them.
DEMO_PATTERNS = ("single-hop", "parallel-single-hop")


@frozen
class DemoConfig:
    """The demo's recipe; every seed runs with the same values."""

    n: int = field(default=400, metadata={"help": "environments to build (a quarter is the test split)"})
    seed: int = field(default=0, metadata={"help": "seed of the world, the model and training"})
    mode: str = field(default="no-think", metadata={"help": "inference mode: no-think or think"})
    sft_epochs: float = field(default=8.0, metadata={"help": "SFT passes over the golden train turns"})
    sft_lr: float = field(default=1e-2, metadata={"help": "SFT learning rate (constant after warmup)"})
    sft_warmup: int = field(default=20, metadata={"help": "SFT warmup steps (then a constant rate)"})
    sft_batch_size: int = field(default=8, metadata={"help": "SFT sequences per optimizer step"})
    rl_steps: int = field(default=30, metadata={"help": "GRPO optimizer steps"})
    rl_lr: float = field(default=5e-4, metadata={"help": "GRPO learning rate"})
    num_generations: int = field(default=8, metadata={"help": "GRPO completions per prompt"})
    temperature: float = field(default=1.0, metadata={"help": "GRPO sampling temperature"})
    beta: float = field(default=0.0, metadata={"help": "GRPO KL coefficient"})
    rl_batch_size: int = field(default=16, metadata={
        "help": "GRPO completions per optimizer step (num_generations per prompt)"})
    max_new_tokens: int = field(default=96, metadata={"help": "tokens per response"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: automatic)"})

    def check(self) -> "DemoConfig":
        """Raise :class:`ConfigError` for values that cannot work; return self."""
        if self.n < 4:
            raise ConfigError("demo: --n must be at least 4 (a test split needs environments)")
        for name in ("rl_steps", "sft_batch_size", "rl_batch_size", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"demo: {name} must be at least 1")
        if self.threads < 0 or self.sft_warmup < 0 or self.beta < 0:
            raise ConfigError("demo: threads, sft_warmup and beta must be 0 or more")
        if self.num_generations < 2:
            raise ConfigError("demo: num_generations must be at least 2")
        if not (self.sft_epochs > 0 and self.sft_lr > 0 and self.rl_lr > 0 and self.temperature > 0):
            raise ConfigError("demo: epochs, learning rates and temperature must be positive")
        if self.mode not in ("no-think", "think"):
            raise ConfigError("demo: mode must be no-think or think")
        return self


def demo(out_dir: str | Path = "toolfeedback-demo", config: DemoConfig | None = None, *,
         pm=None, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the demo into ``out_dir``; return the summary (also written as ``summary.json``)."""
    from transformers.utils import logging as hf_logging

    from toolfeedback.build.pipeline import BuildConfig, build, verify
    from toolfeedback.manager import create_plugin_manager
    from toolfeedback.rollout.collect import RolloutConfig, rollout
    from toolfeedback.tiny_model import build_tiny_model, environment_texts
    from toolfeedback.train.iterate import IterateConfig, iterate, read_metrics
    from toolfeedback.train.job import TrainConfig, train

    from .demo_report import evaluate_on, iterate_eval, write_report

    c = (config or DemoConfig()).check()
    hf_logging.disable_progress_bar()  # our own lines say what happens; keep stderr quiet
    pm = pm or create_plugin_manager()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"out": str(out), "config": asdict(c), "seconds": {}}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        summary["seconds"][name] = round(now - clock, 2)
        clock = now

    envs = out / "environments.jsonl"
    built = build(BuildConfig(n=c.n, seed=c.seed, out=str(envs), patterns=DEMO_PATTERNS,
                              scale="none", test_fraction=0.25), pm)
    report = verify(envs, pm)
    golden, steps = out / "golden.jsonl", out / "golden_steps.jsonl"
    rollout(RolloutConfig(model=str(envs), envs=str(envs), split="train", out=str(golden),
                          samples_out=str(steps), backend="golden", mode=c.mode, max_turns=4,
                          resume=False, progress=False), pm=pm)
    summary["build"] = {"written": built.written, "rejected": built.rejected,
                        "verified": report.passed, "failed": report.failed}
    say(f"[1/7] built {built.written} environments ({', '.join(DEMO_PATTERNS)}), verified "
        f"{report.passed}/{report.total}; golden trajectories of the train split -> {golden}")
    lap("build")

    # train-split text only: the test questions stay unseen, by the tokenizer too
    model = build_tiny_model(out / "tiny-model", seed=c.seed,
                             texts=environment_texts(envs, golden, split="train"))
    say(f"[2/7] built the tiny model, its tokenizer trained on the environment text -> {model}")
    lap("tiny_model")

    stages: dict[str, dict] = {"base": evaluate_on(model, envs, out / "eval-base", c, pm)}
    say(f"[3/7] test Solve-F1 of the untrained model: {100 * stages['base']['overall']['solve_f1']:.2f}")
    lap("eval_base")

    sft = out / "sft"
    train(TrainConfig(model=str(model), algorithm="sft", data=str(golden), envs=str(envs),
                      split="train", out=str(sft), mode=c.mode, lr=c.sft_lr, epochs=c.sft_epochs,
                      lr_scheduler="constant", warmup_steps=c.sft_warmup,
                      per_device_batch_size=c.sft_batch_size, seed=c.seed, logging_steps=5,
                      threads=c.threads, quiet=True), pm)
    say(f"[4/7] SFT warm start on the golden train turns ({c.sft_epochs:g} epochs) -> {sft}")
    lap("sft")

    # GRPO through the iterated loop: collect with the SFT model on the train split, train on
    # its step samples, evaluate on the test split (iter-0/eval scores the SFT model itself).
    turns = {"max_turns": 4, "max_new_tokens": c.max_new_tokens, "batch_size": 64}
    loop = out / "iterate"
    iterate(IterateConfig(
        model=str(sft), envs=str(envs), out=str(loop), iterations=1, mode=c.mode,
        threads=c.threads, quiet=True, rollout=turns, eval=turns,
        train={"algorithm": {"name": "grpo", "beta": c.beta}, "lr": c.rl_lr, "max_steps": c.rl_steps, "seed": c.seed,
               "num_generations": c.num_generations, "per_device_batch_size": c.rl_batch_size,
               "max_new_tokens": c.max_new_tokens, "temperature": c.temperature,
               "logging_steps": 1}), pm)
    stages["sft"] = iterate_eval(loop / "iter-0" / "eval")
    say(f"[5/7] test Solve-F1 after SFT: {100 * stages['sft']['overall']['solve_f1']:.2f}")
    say(f"[6/7] GRPO for {c.rl_steps} steps on the SFT model's own train-split rollouts "
        f"(Solve-F1 reward) -> {loop / 'iter-1' / 'ckpt'}")
    stages["rl"] = iterate_eval(loop / "iter-1" / "eval")
    say(f"[7/7] test Solve-F1 after GRPO: {100 * stages['rl']['overall']['solve_f1']:.2f}")
    lap("iterate_grpo")
    summary["test_solve_f1"] = {name: round(100 * stage["overall"]["solve_f1"], 2)
                                for name, stage in stages.items()}
    summary["train_logs"] = {"sft": read_metrics(sft / "metrics.jsonl"),
                             "grpo": read_metrics(loop / "iter-1" / "ckpt" / "metrics.jsonl")}
    write_report(out, summary, stages)
    from toolfeedback.atomic import write_text

    write_text(out / "summary.json", json.dumps(summary, indent=2))
    return summary
