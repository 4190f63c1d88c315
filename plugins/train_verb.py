"""``toolfeedback train``: RL training on step samples (GRPO, REINFORCE++, DPO), full or LoRA."""

from __future__ import annotations

import argparse

from toolfeedback import hookimpl

EPILOG = """\
Flags override the [train] section of --config FILE; every field of that section is
listed in docs/training.md. Examples:

  toolfeedback train --model tiny --data steps.jsonl --out ckpt --max-steps 2 \\
      --num-generations 4 --max-new-tokens 64
  toolfeedback train --config configs/paper_grpo.toml --model Qwen3-8B --data iter1.jsonl --out ckpt
  toolfeedback train ... --algorithm dpo --adapter lora --lora-preset lower-mlp
  accelerate launch --config_file configs/accelerate_cpu2.yaml -m toolfeedback.cli train ...
  toolfeedback train ... --use-vllm --vllm-mode colocate          (GPU; see docs/scaling.md)
"""

#: flag -> (config field, type, help); help defaults to the config field's help.
FLAGS = (
    ("--model", "model", str, "DIR"), ("--data", "data", str, "FILE"), ("--out", "out", str, "DIR"),
    ("--algorithm", "algorithm", str, "NAME"), ("--adapter", "adapter", str, "NAME"),
    ("--lora-preset", "lora_preset", str, "NAME"), ("--lora-r", "lora_r", int, "N"),
    ("--lora-alpha", "lora_alpha", int, "N"), ("--lora-dropout", "lora_dropout", float, "P"),
    ("--reward", "reward", str, "SPEC"), ("--mode", "mode", str, "NAME"),
    ("--tool-format", "tool_format", str, "NAME"), ("--lr", "lr", float, "LR"),
    ("--lr-scheduler", "lr_scheduler", str, "NAME"), ("--warmup-ratio", "warmup_ratio", float, "R"),
    ("--warmup-steps", "warmup_steps", int, "N"), ("--split", "split", str, "NAME"),
    ("--threads", "threads", int, "N"),
    ("--num-generations", "num_generations", int, "K"), ("--max-new-tokens", "max_new_tokens", int, "N"),
    ("--max-prompt-length", "max_prompt_length", int, "N"), ("--temperature", "temperature", float, "T"),
    ("--beta", "beta", float, "B"), ("--entropy-coef", "entropy_coef", float, "C"),
    ("--batch-size", "per_device_batch_size", int, "N"),
    ("--grad-accum", "gradient_accumulation_steps", int, "N"),
    ("--steps-per-generation", "steps_per_generation", int, "N"),
    ("--epochs", "epochs", float, "E"), ("--max-steps", "max_steps", int, "N"),
    ("--limit", "limit", int, "N"), ("--seed", "seed", int, "N"),
    ("--dpo-beta", "dpo_beta", float, "B"), ("--dpo-margin", "dpo_margin", float, "M"),
    ("--dpo-samples", "dpo_samples", str, "FILE"), ("--tool-timeout", "tool_timeout", float, "S"),
    ("--tool-workers", "tool_workers", int, "N"),
    ("--vllm-mode", "vllm_mode", str, "MODE"), ("--vllm-server-url", "vllm_server_url", str, "URL"),
    ("--vllm-server-timeout", "vllm_server_timeout", float, "S"),
    ("--vllm-gpu-memory-utilization", "vllm_gpu_memory_utilization", float, "F"),
    ("--vllm-tensor-parallel-size", "vllm_tensor_parallel_size", int, "N"),
    ("--envs", "envs", str, "FILE"), ("--min-reward", "min_reward", float, "R"),
)
SWITCHES = (("--merge-lora", "merge_lora"), ("--gradient-checkpointing", "gradient_checkpointing"),
            ("--bf16", "bf16"), ("--use-vllm", "use_vllm"), ("--quiet", "quiet"))


class TrainCommand:
    """Train a model on FTRL step samples with a verifiable reward."""

    name = "train"
    help = "train a model: RL on step samples (grpo, reinforce_pp, dpo) or SFT on trajectories (sft); full or lora"
    description = help + "\n\n" + EPILOG

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from toolfeedback.config import field_help
        from toolfeedback.train.job import TrainConfig

        import attrs

        helps = field_help(TrainConfig)
        defaults = {f.name: f.default for f in attrs.fields(TrainConfig)}
        parser.add_argument("--config", metavar="FILE", help="TOML file with a [train] section")
        for flag, key, kind, metavar in FLAGS:
            # default=None so that only given flags override --config; show the real default
            text = helps[key]
            if "default" not in text.lower() and defaults.get(key) not in (None, ""):
                text = f"{text} (default: {defaults[key]})"
            parser.add_argument(flag, dest=key, type=kind, metavar=metavar, default=None, help=text)
        for flag, key in SWITCHES:
            parser.add_argument(flag, dest=key, action="store_true", default=None, help=helps[key])

    def run(self, args: argparse.Namespace, pm) -> int:
        from toolfeedback.train.job import TrainConfig, train

        overrides = {key: getattr(args, key) for _, key, _, _ in FLAGS}
        overrides.update({key: getattr(args, key) for _, key in SWITCHES})
        config = TrainConfig.load(args.config, overrides)
        out = train(config, pm)
        from toolfeedback.train.launch import is_main_process

        if is_main_process():  # under accelerate launch every rank gets here
            print(f"saved {config.algorithm} ({config.adapter}) checkpoint to {out}")
        return 0


@hookimpl
def register_commands(register):
    register(TrainCommand())
