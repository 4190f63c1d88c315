"""The training configuration: :class:`TrainConfig` (TOML ``[train]``) and its checks."""

from __future__ import annotations

import os
from typing import Any

from attrs import field, frozen

from ..errors import ConfigError

PAPER_BETA = 0.001
PAPER_ENTROPY = 0.001
#: The dataset splits an environment can belong to (:attr:`Environment.split`).
SPLITS = ("train", "test")


@frozen
class TrainConfig:
    """Everything one training run needs; TOML section ``[train]``, flags override it."""

    model: str = field(default="", metadata={"help": "local model directory (never downloaded)"})
    data: str = field(default="", metadata={"help": "step samples in FTRL JSONL format"})
    out: str = field(default="", metadata={"help": "output directory for the checkpoint"})
    algorithm: str = field(default="grpo", metadata={"help": "grpo | reinforce_pp | dpo | sft"})
    envs: str | None = field(default=None, metadata={
        "help": "sft: the environments JSONL the --data trajectories ran in (for their tools)"})
    min_reward: float | None = field(default=None, metadata={
        "help": "sft: keep only episodes whose summed step reward is at least this "
                "(rejection-sampling fine-tuning)"})
    adapter: str = field(default="full", metadata={"help": "full | lora"})
    lora_preset: str | None = field(default=None, metadata={
        "help": "LoRA preset: 'lower-mlp' trains only the MLPs of the lower half of the layers"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    lora_target_modules: tuple[str, ...] = field(default=(), metadata={
        "help": "LoRA target module names (default: all linear layers, or the preset's)"})
    merge_lora: bool = field(default=False, metadata={
        "help": "also save the LoRA adapter merged into the base model under OUT/merged"})
    reward: str = field(default="solve_f1", metadata={
        "help": "reward name or weighted mix, e.g. 'solve_f1' or 'solve_f1:1.0,format:0.2'"})
    mode: str = field(default="no-think", metadata={"help": "inference mode: no-think, think, think-prompted"})
    tool_format: str = field(default="hermes", metadata={"help": "tool-call format of responses"})
    lr: float = field(default=1e-6, metadata={"help": "learning rate (paper: 1e-6)"})
    lr_scheduler: str = field(default="constant", metadata={
        "help": "learning-rate schedule after warmup: constant (verl's default, the paper's "
                "trainer), linear, cosine, ... (any transformers SchedulerType)"})
    warmup_ratio: float = field(default=0.0, metadata={
        "help": "share of the optimizer steps spent warming the learning rate up from 0 "
                "(verl's lr_warmup_steps_ratio, default 0.0)"})
    warmup_steps: int = field(default=0, metadata={
        "help": "warmup optimizer steps; overrides warmup_ratio when above 0"})
    num_generations: int = field(default=16, metadata={
        "help": "rollouts per prompt (GRPO/REINFORCE++ group size; DPO samples per prompt)"})
    max_new_tokens: int | None = field(default=None, metadata={
        "help": "response budget in tokens (default: the mode's: 1024 no-think, 8192 think)"})
    max_prompt_length: int = field(default=16384, metadata={
        "help": "prompts longer than this many tokens are dropped (verl's filter_overlong_prompts)"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature of rollouts"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass of rollouts"})
    beta: float = field(default=PAPER_BETA, metadata={
        "help": "KL coefficient: GRPO/REINFORCE++ low-variance KL loss (paper 0.001); DPO beta "
                "when dpo_beta is unset"})
    entropy_coef: float = field(default=PAPER_ENTROPY, metadata={
        "help": "entropy bonus coefficient (paper 0.001)"})
    epsilon: float = field(default=0.2, metadata={"help": "PPO clip range (verl default 0.2)"})
    loss_type: str = field(default="dapo", metadata={
        "help": "TRL loss aggregation; 'dapo' = token mean over the batch (verl's token-mean)"})
    per_device_batch_size: int = field(default=8, metadata={
        "help": "completions per device per forward pass"})
    gradient_accumulation_steps: int = field(default=1, metadata={
        "help": "micro-batches per optimizer step"})
    steps_per_generation: int | None = field(default=None, metadata={
        "help": "optimizer steps per generation batch (paper: 512 prompts / 32 = 16; default: the "
                "smallest multiple of the accumulation steps that makes whole groups)"})
    epochs: float = field(default=1.0, metadata={"help": "passes over the data (paper: 1)"})
    max_steps: int = field(default=-1, metadata={"help": "stop after this many optimizer steps (-1: epochs)"})
    limit: int | None = field(default=None, metadata={"help": "use only the first N samples"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    logging_steps: int = field(default=1, metadata={"help": "log every N optimizer steps"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "trade compute for memory"})
    bf16: bool = field(default=False, metadata={"help": "train in bfloat16 mixed precision (GPU)"})
    use_vllm: bool = field(default=False, metadata={"help": "generate rollouts with vLLM (GPU)"})
    vllm_mode: str = field(default="server", metadata={
        "help": "'server' (trl vllm-serve on other GPUs) or 'colocate' (vLLM inside each "
                "training process)"})
    vllm_server_url: str | None = field(default=None, metadata={
        "help": "server mode: base URL of trl vllm-serve (default: http://localhost:8000)"})
    vllm_server_timeout: float = field(default=240.0, metadata={
        "help": "server mode: seconds to wait for the vLLM server to come up"})
    vllm_gpu_memory_utilization: float = field(default=0.3, metadata={
        "help": "colocate mode: fraction of each GPU's memory vLLM may take"})
    vllm_tensor_parallel_size: int = field(default=1, metadata={
        "help": "colocate mode: GPUs one vLLM engine spans"})
    tool_timeout: float = field(default=10.0, metadata={"help": "seconds per tool call (paper: 10)"})
    tool_workers: int = field(default=2, metadata={
        "help": "sandbox worker processes; completions are scored this many at a time"})
    dpo_beta: float | None = field(default=None, metadata={"help": "DPO beta (default 0.1)"})
    dpo_margin: float = field(default=0.0, metadata={
        "help": "DPO: pair best and worst response only when their rewards differ by more than this"})
    dpo_samples: str | None = field(default=None, metadata={
        "help": "DPO: JSONL of sampled responses ({id, response} or {id, responses}); "
                "default: sample num_generations responses per prompt with the hf backend"})
    split: str | None = field(default=None, metadata={
        "help": "train only on step samples of this split (train | test; default: every sample)"})
    threads: int = field(default=0, metadata={
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
    """Refuse values that would only fail later inside torch or TRL, with a traceback."""
    if config.num_generations < 2:
        raise ConfigError("train: num_generations must be at least 2 (groups and pairs need two)")
    if config.max_new_tokens is not None and config.max_new_tokens < 1:
        raise ConfigError("train: max_new_tokens must be positive")
    at_least_one = ("per_device_batch_size", "gradient_accumulation_steps", "tool_workers",
                    "max_prompt_length", "lora_r", "logging_steps")
    for name in at_least_one:
        if getattr(config, name) < 1:
            raise ConfigError(f"train: {name} must be at least 1")
    for name in ("steps_per_generation", "limit"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise ConfigError(f"train: {name} must be at least 1 (leave it out for the default)")
    for name in ("lr", "epochs", "tool_timeout"):
        if not getattr(config, name) > 0:
            raise ConfigError(f"train: {name} must be positive")
    for name in ("temperature", "beta", "entropy_coef", "dpo_margin"):
        if not getattr(config, name) >= 0:
            raise ConfigError(f"train: {name} must be 0 or more")
    if not 0 < config.top_p <= 1:
        raise ConfigError("train: top_p must be in (0, 1]")
    if not 0 <= config.lora_dropout < 1:
        raise ConfigError("train: lora_dropout must be in [0, 1)")
    if config.max_steps == 0 or config.max_steps < -1:
        raise ConfigError("train: max_steps must be at least 1 (or -1: train for --epochs)")
    if not 0 <= config.warmup_ratio < 1:
        raise ConfigError("train: warmup_ratio must be in [0, 1)")
    for name in ("warmup_steps", "threads"):
        if getattr(config, name) < 0:
            raise ConfigError(f"train: {name} must be 0 or more")
    if config.vllm_mode not in ("server", "colocate"):
        raise ConfigError(f"train: vllm_mode must be 'server' or 'colocate', not {config.vllm_mode!r}")
    if not 0 < config.vllm_gpu_memory_utilization <= 1:
        raise ConfigError("train: vllm_gpu_memory_utilization must be in (0, 1]")
    if config.vllm_tensor_parallel_size < 1 or not config.vllm_server_timeout > 0:
        raise ConfigError("train: vllm_tensor_parallel_size must be at least 1 and "
                          "vllm_server_timeout positive")
    check_split(config.split, "train")
    check_scheduler(config.lr_scheduler)


def check_split(split: str | None, verb: str) -> None:
    """``train``, ``test`` or None (every split); anything else is a :class:`ConfigError`."""
    if split is not None and split not in SPLITS:
        raise ConfigError(f"{verb}: split must be one of {', '.join(SPLITS)} (got {split!r})")


def check_scheduler(name: str) -> None:
    """A transformers ``SchedulerType`` name, checked before any model loads."""
    from transformers.trainer_utils import SchedulerType

    known = [s.value for s in SchedulerType]
    if name not in known:
        raise ConfigError(f"train: unknown lr_scheduler {name!r} (known: {', '.join(known)})")
