"""RL training on FTRL step samples: :class:`TrainConfig` and :func:`train`.

The algorithm (``grpo``, ``reinforce_pp``, ``dpo``), the adapter (``full``, ``lora``), the
inference mode (``no-think``, ``think``) and the reward (``solve_f1``, or a weighted mix
such as ``solve_f1:1.0,format:0.2``) are all plugins chosen by name. :func:`train`
validates every input up front (model directory, data file, names), builds a
:class:`TrainJob` and hands it to the algorithm, which drives a TRL trainer.

Example::

    from toolfeedback.train.job import TrainConfig, train
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

from ..errors import ConfigError, InputError, ToolfeedbackError
from .config import (PAPER_BETA, PAPER_ENTROPY, SPLITS, TrainConfig,  # noqa: F401 - re-exported
                     check_numbers)


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
    #: What this process did (e.g. ``completions_scored``), filled in by the algorithm.
    rank_stats: dict = attrs.Factory(dict)
    #: Every rank's ``rank_stats`` with its rank, host and pid, gathered after training
    #: (before ``after_train``); the ``train_metrics`` plugin writes it as the last line.
    ranks: list = attrs.Factory(list)
    #: the algorithm's and the adapter's ``Options`` instances (``None``: they declare none)
    algorithm_options: Any = None
    adapter_options: Any = None

    @property
    def max_new_tokens(self) -> int:
        """The response budget: the config's, else the mode's default."""
        if self.config.max_new_tokens is not None:
            return self.config.max_new_tokens
        return int(self.mode.default_max_new_tokens)

    @property
    def show_progress(self) -> bool:
        """Progress bars only on a terminal and without ``quiet``."""
        return not self.config.quiet and sys.stderr.isatty()

    def load_model(self):
        """The policy model, loaded from the local directory. A LoRA checkpoint (an adapter
        directory) is loaded on its base model: with ``--adapter lora`` that adapter goes on
        training (its own r, alpha and targets), with ``full`` it is merged first."""
        from transformers import AutoModelForCausalLM

        try:
            base_dir = lora_base(self.config.model)
            if base_dir is not None:
                from peft import PeftModel

                base = AutoModelForCausalLM.from_pretrained(base_dir, local_files_only=True)
                model = PeftModel.from_pretrained(base, self.config.model, local_files_only=True,
                                                  is_trainable=self._keeps_lora())
                if not self._keeps_lora():
                    model = model.merge_and_unload()
            else:
                model = AutoModelForCausalLM.from_pretrained(self.config.model, local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ToolfeedbackError(f"model {self.config.model!r}: cannot load ({exc})") from None
        if self.config.gradient_checkpointing:
            model.config.use_cache = False
        return model

    def _keeps_lora(self) -> bool:
        # a LoRA adapter plugin trains an adapter it is given on (capability, not a name)
        return bool(self.adapter.continues_adapter)

    def load_tokenizer(self):
        """The tokenizer with its chat template (left padding for generation)."""
        from transformers import AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(self.config.model, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ToolfeedbackError(f"model {self.config.model!r}: cannot load the tokenizer ({exc})") from None
        if not tok.chat_template:
            raise ToolfeedbackError(f"model {self.config.model!r}: the tokenizer has no chat template")
        kwargs = self.mode.template_kwargs()
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

    def schedule_args(self) -> dict[str, Any]:
        """The trainer arguments of the optimizer's schedule (``lr_scheduler_type``, warmup)
        and its ``adam_beta2``.

        verl's ``warmup_style: constant`` warms up linearly and then holds the rate:
        transformers calls that ``constant_with_warmup``.
        """
        c = self.config
        name = c.lr_scheduler
        if name == "constant" and (c.warmup_ratio > 0 or c.warmup_steps > 0):
            name = "constant_with_warmup"
        args: dict[str, Any] = {"lr_scheduler_type": name, "adam_beta2": c.adam_beta2}
        if c.warmup_steps > 0:
            args["warmup_steps"] = c.warmup_steps
        elif c.warmup_ratio > 0:
            import dataclasses

            from transformers import TrainingArguments

            # transformers 5 dropped warmup_ratio: a warmup_steps below 1 is a ratio there.
            known = {f.name for f in dataclasses.fields(TrainingArguments)}
            args["warmup_ratio" if "warmup_ratio" in known else "warmup_steps"] = c.warmup_ratio
        return args

    def peft_config(self, model):
        """The adapter's ``peft`` config for ``model`` (``None``: train every weight, or
        ``model`` already carries the LoRA adapter it was loaded with)."""
        if hasattr(model, "peft_config") and hasattr(model, "merge_and_unload"):
            return None
        return self.adapter.peft_config(model, self.adapter_options)


def lora_base(path: str) -> str | None:
    """The base model directory of a LoRA checkpoint (``adapter_config.json`` and no
    ``config.json``, as ``train --adapter lora`` writes), ``None`` for a full model."""
    adapter = os.path.join(path, "adapter_config.json")
    if os.path.isfile(os.path.join(path, "config.json")) or not os.path.isfile(adapter):
        return None
    try:
        with open(adapter, encoding="utf-8") as handle:
            base = json.load(handle).get("base_model_name_or_path") or ""
    except (OSError, ValueError, AttributeError, RecursionError):
        raise InputError("not a readable peft adapter config", path=adapter) from None
    if not isinstance(base, str) or not os.path.isfile(os.path.join(base, "config.json")):
        raise ToolfeedbackError(
            f"model {path!r}: a LoRA adapter whose base model {base!r} is not a local model "
            f"directory here (run from where it was trained, or train with --adapter-option merge=true and "
            f"use {os.path.join(path, 'merged')})")
    return base


def check_model_dir(path: str) -> None:
    """A local model directory with a ``config.json``, or a LoRA checkpoint whose base is
    one (we never download)."""
    if not path:
        raise ConfigError("train: no model given (--model DIR or [train] model = ...)")
    if not os.path.isdir(path):
        raise ToolfeedbackError(f"model {path!r}: no such directory (models load from local "
                                f"paths only)")
    if lora_base(path) is None and not os.path.isfile(os.path.join(path, "config.json")):
        raise ToolfeedbackError(f"model {path!r}: no config.json (not a transformers model directory)")


def check_out_dir(out: str, model: str) -> None:
    """Refuse an output directory that is, or lies inside, the model directory: saving
    there would overwrite the weights being trained from."""
    target, source = Path(out).resolve(), Path(model).resolve()
    if target == source or source in target.parents:
        raise ConfigError(f"train: --out {out!r} is {'the' if target == source else 'inside the'} "
                          f"--model directory {model!r}; the checkpoint would overwrite the model "
                          f"it starts from (choose another --out)")
    from ..atomic import check_output_dir

    check_output_dir(out)


def read_samples(path: str, limit: int | None = None, split: str | None = None) -> list:
    """The step samples of ``path`` (of ``split`` only, when given; then the first ``limit``);
    a bad line raises ``InputError`` naming file:line:field."""
    from ..ftrl import read_environments

    if not path:
        raise ConfigError("train: no data given (--data FILE or [train] data = ...)")
    if os.path.isdir(path):
        raise InputError("is a directory, not a JSONL file", path=path)
    if not os.path.isfile(path):
        raise InputError("no such file", path=path)
    samples = []
    seen = 0
    for _, env in read_environments(path, on_error="stop"):
        seen += 1
        if split is not None and env.split != split:
            continue
        samples.append(env)
        if limit is not None and len(samples) >= limit:
            break
    if not samples:
        raise InputError(f"no step samples of split {split!r} among the file's {seen}" if seen
                         else "no step samples in the file", path=path)
    return samples


def make_log_callback(pm, job=None):
    """A ``TrainerCallback`` that fires ``on_train_log(step=..., logs=..., job=...)`` on every log."""
    from transformers import TrainerCallback

    class TrainLogCallback(TrainerCallback):
        """Forwards every trainer log event to the ``on_train_log`` hook."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs:
                pm.hook.on_train_log(step=int(state.global_step), logs=dict(logs), job=job)

    return TrainLogCallback()


def prepare_job(config: TrainConfig, pm=None) -> TrainJob:
    """Resolve every name and read the data; all user errors surface here, before any model loads."""
    from ..runtime.step import make_reward
    from ..manager import create_plugin_manager
    from ..plugin_options import resolve_options
    from ..registry import Catalog

    pm = pm if pm is not None else create_plugin_manager()
    catalog = Catalog(pm)
    algorithm = catalog.get("algorithms", config.algorithm)
    adapter = catalog.get("adapters", config.adapter)
    mode = catalog.get("modes", config.mode)
    tool_format = catalog.get("tool_formats", config.tool_format)
    reward = make_reward(pm, config.reward)
    check_numbers(config)
    # only what each plugin declares reaches it; errors read $.train.algorithm.<key>: ...
    algorithm_options = resolve_options(algorithm, config.algorithm_options, path="$.train.algorithm")
    adapter_options = resolve_options(adapter, config.adapter_options, path="$.train.adapter")
    if not config.out:
        raise ConfigError("train: no output directory given (--out DIR or [train] out = ...)")
    check_model_dir(config.model)
    check_out_dir(config.out, config.model)
    # An algorithm that trains on something else than step samples (sft: trajectories) reads it.
    read_data = getattr(algorithm, "read_data", None)
    samples = read_data(config) if read_data is not None else \
        read_samples(config.data, config.limit, config.split)
    out = Path(config.out)
    job = TrainJob(config=config, pm=pm, samples=samples, mode=mode, reward=reward,
                   tool_format=tool_format, adapter=adapter, out=out,
                   algorithm_options=algorithm_options, adapter_options=adapter_options)
    job.callbacks.append(make_log_callback(pm, job))
    return job


def train(config: TrainConfig, pm=None) -> Path:
    """Train ``config.model`` on ``config.data`` with the chosen algorithm; return the output dir.

    The output directory holds the checkpoint (full weights, or the LoRA adapter and,
    with the lora option ``merge``, ``merged/``), the tokenizer, ``train_config.json`` and
    ``metrics.jsonl``. Under ``accelerate launch`` every rank runs this; only the main
    process writes files (:mod:`toolfeedback.train.launch`).
    """
    from ..config import config_to_dict
    from ..registry import Catalog
    from .launch import gather_ranks, is_main_process

    from datasets.utils import logging as ds_logging
    from transformers.utils import logging as hf_logging

    from ..threads import set_threads

    job = prepare_job(config, pm)
    algorithm = Catalog(job.pm).get("algorithms", config.algorithm)
    job.out.mkdir(parents=True, exist_ok=True)
    import torch  # noqa: F401  (so that the automatic thread count applies)

    set_threads(config.threads)
    job.pm.hook.before_train(job=job)
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
    except BaseException as exc:
        job.pm.hook.on_train_error(job=job, error=exc)
        raise
    finally:
        for module in was_enabled:
            module.enable_progress_bar()
    job.ranks = gather_ranks(job.rank_stats)  # every rank reaches this: a collective
    if is_main_process():
        from ..atomic import write_text

        write_text(job.out / "train_config.json", json.dumps(config_to_dict(config), indent=2))
    job.pm.hook.after_train(job=job, checkpoint=result)
    return result
