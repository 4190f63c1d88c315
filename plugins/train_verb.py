"""``toolfeedback train``: RL training on step samples (GRPO, REINFORCE++, DPO), full or LoRA."""

from __future__ import annotations

import argparse

from toolfeedback import hookimpl
from toolfeedback.contracts import Command

EPILOG = """\
Flags override the [train] section of --config FILE; every field of that section is
listed in docs/training.md. The algorithm's and the adapter's own options come from the
[train.algorithm] and [train.adapter] tables (with `name = ...`) and from
--algorithm-option / --adapter-option KEY=VALUE. Examples:

  toolfeedback train --model tiny --data steps.jsonl --out ckpt --max-steps 2 \\
      --num-generations 4 --max-new-tokens 64
  toolfeedback train --config configs/paper_grpo.toml --model Qwen3-8B --data iter1.jsonl --out ckpt
  toolfeedback train ... --algorithm dpo --adapter lora --adapter-option preset=lower-mlp
  toolfeedback train ... --algorithm grpo --algorithm-option epsilon=0.28
  accelerate launch --config_file configs/accelerate_cpu2.yaml -m toolfeedback.cli train ...
  toolfeedback train ... --algorithm-option use_vllm=true --algorithm-option vllm_mode=colocate
      (GPU; see docs/scaling.md)
"""


class TrainCommand(Command):
    """Train a model on FTRL step samples with a verifiable reward."""

    name = "train"
    help = "train a model: RL on step samples (grpo, reinforce_pp, dpo) or SFT on trajectories (sft); full or lora"
    description = help + "\n\n" + EPILOG

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from toolfeedback.cli_flags import add_config_flags
        from toolfeedback.train.config import TrainConfig

        add_config_flags(parser, TrainConfig, section="train")

    def run(self, args: argparse.Namespace, pm) -> int:
        from toolfeedback.cli_flags import load_from_args
        from toolfeedback.train.job import TrainConfig, train

        config = load_from_args(TrainConfig, args, section="train", pm=pm)
        out = train(config, pm)
        from toolfeedback.train.launch import is_main_process

        if is_main_process():  # under accelerate launch every rank gets here
            print(f"saved {config.algorithm} ({config.adapter}) checkpoint to {out}")
        return 0


@hookimpl
def register_commands(register):
    register(TrainCommand())
