"""The training configuration: :class:`TrainConfig` (TOML ``[train]``) and its checks.

It holds only what every algorithm and adapter uses; their own settings are their
``Options`` (``[train.algorithm]``, ``[train.adapter]``, ``--algorithm-option k=v``,
``--adapter-option k=v``; see :mod:`toolfeedback.plugin_options`).
"""

from __future__ import annotations

import os
from typing import Any

from attrs import field, frozen

from ..checks import at_least, in_range, non_negative, one_of, positive
from ..errors import ConfigError, FieldError

#: The paper's KL coefficient (low-variance KL as a loss term) and entropy bonus.
PAPER_BETA = 0.001
PAPER_ENTROPY = 0.001
#: The dataset splits an environment can belong to (:attr:`Environment.split`).
SPLITS = ("train", "test")


def _steps(instance: Any, attribute: Any, value: int) -> None:
    if value == 0 or value < -1:
        raise FieldError(attribute.name, "must be at least 1 (or -1: train for --epochs)")


@frozen
class TrainConfig:
    """Everything one training run needs; TOML section ``[train]``, flags override it."""

    model: str = field(default="", metadata={"help": "local model directory (never downloaded)",
                                             "metavar": "DIR"})
    data: str = field(default="", metadata={"help": "step samples in FTRL JSONL format", "metavar": "FILE"})
    out: str = field(default="", metadata={"help": "output directory for the checkpoint", "metavar": "DIR"})
    algorithm: str = field(default="grpo", metadata={
        "help": "grpo | reinforce_pp | dpo | sft", "plugin": "algorithms", "metavar": "NAME"})
    algorithm_options: dict[str, Any] = field(factory=dict, metadata={
        "help": "the algorithm's own options ([train.algorithm] table, --algorithm-option)"})
    envs: str | None = field(default=None, metadata={
        "help": "sft: the environments JSONL the --data trajectories ran in (for their tools)",
        "metavar": "FILE"})
    min_reward: float | None = field(default=None, metadata={
        "help": "sft: keep only episodes whose summed step reward is at least this "
                "(rejection-sampling fine-tuning)"})
    adapter: str = field(default="full", metadata={"help": "full | lora", "plugin": "adapters",
                                                   "metavar": "NAME"})
    adapter_options: dict[str, Any] = field(factory=dict, metadata={
        "help": "the adapter's own options ([train.adapter] table, --adapter-option)"})
    reward: str = field(default="solve_f1", metadata={
        "help": "reward name or weighted mix, e.g. 'solve_f1' or 'solve_f1:1.0,format:0.2'",
        "metavar": "SPEC"})
    mode: str = field(default="no-think", metadata={"help": "inference mode: no-think | think | think-prompted",
                                                    "metavar": "NAME"})
    tool_format: str = field(default="hermes", metadata={"help": "tool-call format of responses",
                                                         "metavar": "NAME"})
    lr: float = field(default=1e-6, validator=positive(), metadata={
        "help": "learning rate (paper: 1e-6)", "metavar": "LR"})
    lr_scheduler: str = field(default="constant", validator=lambda i, a, v: check_scheduler(v),
                              metadata={  # noqa: E131
        "help": "learning-rate schedule after warmup: constant (verl's default, the paper's "
                "trainer), linear, cosine, ... (any transformers SchedulerType)", "metavar": "NAME"})
    warmup_ratio: float = field(default=0.0, validator=in_range(0, 1, high_open=True), metadata={
        "help": "share of the optimizer steps spent warming the learning rate up from 0 "
                "(verl's lr_warmup_steps_ratio, default 0.0)", "metavar": "R"})
    warmup_steps: int = field(default=0, validator=non_negative(), metadata={
        "help": "warmup optimizer steps; overrides warmup_ratio when above 0"})
    adam_beta2: float = field(default=0.999, validator=in_range(0, 1, high_open=True), metadata={
        "help": "AdamW's second-moment decay (verl's and transformers' default 0.999; small models "
                "trained fast do better with 0.98)", "metavar": "B"})
    num_generations: int = field(default=16, validator=at_least(2, " (groups and pairs need two)"),
                                 metadata={"help": "rollouts per prompt (GRPO/REINFORCE++ group "
                                                   "size; DPO samples per prompt)", "metavar": "K"})
    max_new_tokens: int | None = field(default=None, validator=at_least(1), metadata={
        "help": "response budget in tokens (default: the mode's: 1024 no-think, 8192 think)"})
    max_prompt_length: int = field(default=16384, validator=at_least(1), metadata={
        "help": "prompts longer than this many tokens are dropped (verl's filter_overlong_prompts)"})
    temperature: float = field(default=1.0, validator=non_negative(), metadata={
        "help": "sampling temperature of rollouts", "metavar": "T"})
    top_p: float = field(default=1.0, validator=in_range(0, 1, low_open=True), metadata={
        "help": "nucleus sampling mass of rollouts", "metavar": "P"})
    per_device_batch_size: int = field(default=8, validator=at_least(1), metadata={
        "help": "completions per device per forward pass", "flag": "--batch-size"})
    gradient_accumulation_steps: int = field(default=1, validator=at_least(1), metadata={
        "help": "micro-batches per optimizer step", "flag": "--grad-accum"})
    epochs: float = field(default=1.0, validator=positive(), metadata={
        "help": "passes over the data (paper: 1)", "metavar": "E"})
    max_steps: int = field(default=-1, validator=_steps, metadata={
        "help": "stop after this many optimizer steps (-1: epochs)"})
    limit: int | None = field(default=None, validator=at_least(1, " (leave it out for every sample)"),
                              metadata={"help": "use only the first N samples"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    logging_steps: int = field(default=1, validator=at_least(1), metadata={"help": "log every N optimizer steps"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "trade compute for memory"})
    bf16: bool = field(default=False, metadata={"help": "train in bfloat16 mixed precision (GPU)"})
    tool_timeout: float = field(default=10.0, validator=positive(), metadata={
        "help": "seconds per tool call (paper: 10)", "metavar": "S"})
    tool_workers: int = field(default=2, validator=at_least(1), metadata={
        "help": "sandbox worker processes; completions are scored this many at a time"})
    split: str | None = field(default=None, validator=one_of(SPLITS), metadata={
        "help": "train only on step samples of this split (train | test; default: every sample)",
        "metavar": "NAME"})
    threads: int = field(default=0, validator=non_negative(" (0: automatic)"), metadata={
        "help": "torch CPU threads (0: automatic, see docs/training.md)"})
    quiet: bool = field(default=False, metadata={
        "help": "no progress bars and no log lines on stdout (OUT/metrics.jsonl is still written)"})

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None
             ) -> "TrainConfig":
        """Defaults, then ``[train]`` of the TOML file, then ``overrides`` (None = not given)."""
        from ..config import load_config

        return load_config(cls, path, section="train" if path else None, overrides=overrides)


def check_numbers(config: TrainConfig) -> None:
    """Refuse values that would only fail later inside torch or TRL (the field validators,
    for a config built with validators off); raise the first problem as ConfigError."""
    from ..checks import field_problems

    problems = field_problems(config)
    if problems:
        raise ConfigError("; ".join(f"train: {name}: {message}" for name, message in problems))


def check_split(split: str | None, verb: str) -> None:
    """``train``, ``test`` or None (every split); anything else is a :class:`ConfigError`."""
    if split is not None and split not in SPLITS:
        raise ConfigError(f"{verb}: split must be one of {', '.join(SPLITS)} (got {split!r})")


def check_scheduler(name: str) -> None:
    """A transformers ``SchedulerType`` name, checked before any model loads (transformers is
    imported only for a name other than the default)."""
    if name == "constant":
        return
    from transformers.trainer_utils import SchedulerType

    known = [s.value for s in SchedulerType]
    if name not in known:
        raise FieldError("lr_scheduler", f"unknown {name!r} (known: {', '.join(known)})")
