"""RL training on FTRL step samples: :class:`TrainConfig` and :func:`train`.

The algorithm (``grpo``, ``reinforce_pp``, ``dpo``), the adapter (``full``, ``lora``), the
inference mode (``no-think``, ``think``) and the reward (``solve_f1``, or a weighted mix
such as ``solve_f1:1.0,format:0.2``) are all plugins chosen by name. :func:`train`
validates every input up front (model directory, data file, names), builds a
:class:`TrainJob` and hands it to the algorithm, which drives a TRL trainer.

Example::

    from toolfeedback.training import TrainConfig, train
    out = train(TrainConfig(model="tiny", data="steps.jsonl", out="ckpt", max_steps=2,
                            num_generations=4, max_new_tokens=32))
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import attrs
from attrs import field, frozen

from .errors import ConfigError, InputError, ToolfeedbackError

#: The paper's KL coefficient (low-variance KL as a loss term) and entropy bonus.
PAPER_BETA = 0.001
PAPER_ENTROPY = 0.001


@frozen
class TrainConfig:
    """Everything one training run needs; TOML section ``[train]``, flags override it."""

    model: str = field(default="", metadata={"help": "local model directory (never downloaded)"})
    data: str = field(default="", metadata={"help": "step samples in FTRL JSONL format"})
    out: str = field(default="", metadata={"help": "output directory for the checkpoint"})
    algorithm: str = field(default="grpo", metadata={"help": "grpo | reinforce_pp | dpo"})
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
    mode: str = field(default="no-think", metadata={"help": "inference mode: no-think | think"})
    tool_format: str = field(default="hermes", metadata={"help": "tool-call format of responses"})
    lr: float = field(default=1e-6, metadata={"help": "learning rate (paper: 1e-6)"})
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
        "help": "'server' (trl vllm-serve on other GPUs) or 'colocate'"})
    tool_timeout: float = field(default=10.0, metadata={"help": "seconds per tool call (paper: 10)"})
    tool_workers: int = field(default=2, metadata={
        "help": "sandbox worker processes; completions are scored this many at a time"})
    dpo_beta: float | None = field(default=None, metadata={"help": "DPO beta (default 0.1)"})
    dpo_margin: float = field(default=0.0, metadata={
        "help": "DPO: pair best and worst response only when their rewards differ by more than this"})
    dpo_samples: str | None = field(default=None, metadata={
        "help": "DPO: JSONL of sampled responses ({id, response} or {id, responses}); "
                "default: sample num_generations responses per prompt with the hf backend"})
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None
             ) -> "TrainConfig":
        """Defaults, then ``[train]`` of the TOML file, then ``overrides`` (None = not given)."""
        from .config import load_config

        return load_config(cls, path, section="train" if path else None, overrides=overrides)


@attrs.define
class TrainJob:
    """What an algorithm plugin receives: the resolved plugins, the data and the output dir.

    ``samples`` are the step samples (:class:`~toolfeedback.types.Environment`); ``mode``,
    ``reward``, ``tool_format`` and ``adapter`` are the registered objects; ``callbacks``
    are ``transformers.TrainerCallback`` objects every trainer must receive (they fire
    ``on_train_log``).
    """

    config: TrainConfig
    pm: Any
    samples: list
    mode: Any
    reward: Any
    tool_format: Any
    adapter: Any
    out: Path
    callbacks: list = attrs.Factory(list)

    @property
    def max_new_tokens(self) -> int:
        """The response budget: the config's, else the mode's default."""
        if self.config.max_new_tokens is not None:
            return self.config.max_new_tokens
        return int(getattr(self.mode, "default_max_new_tokens", 1024))

    @property
    def show_progress(self) -> bool:
        """Progress bars only on a terminal and without ``quiet``."""
        return not self.config.quiet and sys.stderr.isatty()

    def load_model(self):
        """The policy model, loaded from the local directory."""
        from transformers import AutoModelForCausalLM

        try:
            model = AutoModelForCausalLM.from_pretrained(self.config.model, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ToolfeedbackError(f"model {self.config.model!r}: cannot load ({exc})") from None
        if self.config.gradient_checkpointing:
            model.config.use_cache = False
        return model

    def load_tokenizer(self):
        """The tokenizer with its chat template (left padding for generation)."""
        from transformers import AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(self.config.model, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ToolfeedbackError(f"model {self.config.model!r}: cannot load the tokenizer ({exc})") from None
        if not tok.chat_template:
            raise ToolfeedbackError(f"model {self.config.model!r}: the tokenizer has no chat template")
        kwargs = self.mode.template_kwargs() if hasattr(self.mode, "template_kwargs") else {}
        if "enable_thinking" in kwargs and "enable_thinking" not in str(tok.chat_template):
            # The switch would be ignored silently: think and no-think would render alike.
            raise ToolfeedbackError(
                f"model {self.config.model!r}: the chat template has no enable_thinking switch, so "
                f"mode {self.mode.name!r} cannot be rendered; use --mode think-prompted")
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        return tok

    def tame(self, trainer):
        """With ``quiet``, drop the Trainer's printing of every log dict to stdout."""
        if self.config.quiet:
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)
        return trainer

    def peft_config(self, model):
        """The adapter's ``peft`` config for ``model`` (``None``: train every weight)."""
        return self.adapter.peft_config(model, self.config)


def check_numbers(config: TrainConfig) -> None:
    """Refuse values that would only fail later inside torch or TRL, with a traceback."""
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


def check_model_dir(path: str) -> None:
    """A local model directory with a ``config.json`` (we never download)."""
    if not path:
        raise ConfigError("train: no model given (--model DIR or [train] model = ...)")
    if not os.path.isdir(path):
        raise ToolfeedbackError(f"model {path!r}: no such directory (models load from local "
                                f"paths only)")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise ToolfeedbackError(f"model {path!r}: no config.json (not a transformers model directory)")


def read_samples(path: str, limit: int | None = None) -> list:
    """All step samples of ``path``; a bad line raises ``InputError`` naming file:line:field."""
    from .ftrl import read_environments

    if not path:
        raise ConfigError("train: no data given (--data FILE or [train] data = ...)")
    if os.path.isdir(path):
        raise InputError("is a directory, not a JSONL file", path=path)
    if not os.path.isfile(path):
        raise InputError("no such file", path=path)
    samples = []
    for _, env in read_environments(path, on_error="stop"):
        samples.append(env)
        if limit is not None and len(samples) >= limit:
            break
    if not samples:
        raise InputError("no step samples in the file", path=path)
    return samples


def make_log_callback(pm):
    """A ``TrainerCallback`` that fires ``on_train_log(step=..., logs=...)`` on every log."""
    from transformers import TrainerCallback

    class TrainLogCallback(TrainerCallback):
        """Forwards every trainer log event to the ``on_train_log`` hook."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs:
                pm.hook.on_train_log(step=int(state.global_step), logs=dict(logs))

    return TrainLogCallback()


def prepare_job(config: TrainConfig, pm=None) -> TrainJob:
    """Resolve every name and read the data; all user errors surface here, before any model loads."""
    from .env import make_reward
    from .manager import create_plugin_manager
    from .registry import Catalog

    pm = pm if pm is not None else create_plugin_manager()
    catalog = Catalog(pm)
    catalog.get("algorithms", config.algorithm)
    adapter = catalog.get("adapters", config.adapter)
    mode = catalog.get("modes", config.mode)
    tool_format = catalog.get("tool_formats", config.tool_format)
    reward = make_reward(pm, config.reward)
    if config.num_generations < 2:
        raise ConfigError("train: num_generations must be at least 2 (groups and pairs need two)")
    if config.max_new_tokens is not None and config.max_new_tokens < 1:
        raise ConfigError("train: max_new_tokens must be positive")
    check_numbers(config)
    if not config.out:
        raise ConfigError("train: no output directory given (--out DIR or [train] out = ...)")
    validate = getattr(adapter, "validate", None)
    if validate is not None:
        validate(config)
    check_model_dir(config.model)
    samples = read_samples(config.data, config.limit)
    out = Path(config.out)
    return TrainJob(config=config, pm=pm, samples=samples, mode=mode, reward=reward,
                    tool_format=tool_format, adapter=adapter, out=out,
                    callbacks=[make_log_callback(pm)])


def train(config: TrainConfig, pm=None) -> Path:
    """Train ``config.model`` on ``config.data`` with the chosen algorithm; return the output dir.

    The output directory holds the checkpoint (full weights, or the LoRA adapter and,
    with ``merge_lora``, ``merged/``), the tokenizer and ``train_config.json``.
    """
    from .config import config_to_dict
    from .registry import Catalog

    from datasets.utils import logging as ds_logging
    from transformers.utils import logging as hf_logging

    job = prepare_job(config, pm)
    algorithm = Catalog(job.pm).get("algorithms", config.algorithm)
    job.out.mkdir(parents=True, exist_ok=True)
    # transformers' and datasets' own bars ignore our --quiet and TTY rule otherwise.
    was_enabled = [m for m in (hf_logging, ds_logging) if m.is_progress_bar_enabled()]
    if not job.show_progress:
        for module in was_enabled:
            module.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            # TRL 1.x still calls transformers' deprecated gradient_checkpointing names: noise.
            warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.*deprecated",
                                    category=FutureWarning)
            result = Path(algorithm.train(job))
    finally:
        for module in was_enabled:
            module.enable_progress_bar()
    with open(job.out / "train_config.json", "w", encoding="utf-8") as handle:
        json.dump(config_to_dict(config), handle, indent=2)
    return result
