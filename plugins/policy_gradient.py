"""Shared driver of the on-policy algorithms (``grpo``, ``reinforce_pp``) on TRL's GRPOTrainer.

Mapping of the paper's verl settings onto ``trl.GRPOConfig`` (see docs/training.md):
lr -> ``learning_rate``; rollouts per prompt -> ``num_generations``; KL loss 0.001
low-variance KL -> ``beta`` (TRL's per-token KL is the same k3 estimator, as a loss term);
entropy 0.001 -> ``entropy_coef`` (a bonus subtracted from the loss, as verl); clip 0.2 ->
``epsilon``; verl's token-mean loss aggregation -> ``loss_type="dapo"``; max response ->
``max_completion_length``; 1 epoch -> ``num_train_epochs``; verl's mini-batches per
rollout batch -> ``steps_per_generation``. Algorithms differ in how rewards become
advantages: ``scale_rewards`` and, for REINFORCE++, a trainer subclass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attrs import field, frozen

from toolfeedback.checks import at_least, in_range, non_negative, one_of, positive
from toolfeedback.errors import ConfigError
from toolfeedback.contracts import Algorithm

PAPER_BETA = 0.001
PAPER_ENTROPY = 0.001


@frozen
class PolicyGradientOptions:
    """Options of ``grpo`` and ``reinforce_pp`` (``[train.algorithm]``, ``--algorithm-option``)."""

    beta: float = field(default=PAPER_BETA, validator=non_negative(), metadata={
        "help": "KL coefficient of the low-variance KL loss term (paper 0.001)"})
    entropy_coef: float = field(default=PAPER_ENTROPY, validator=non_negative(), metadata={
        "help": "entropy bonus coefficient (paper 0.001)"})
    epsilon: float = field(default=0.2, validator=non_negative(), metadata={
        "help": "PPO clip range (verl default 0.2)"})
    loss_type: str = field(default="dapo", metadata={
        "help": "TRL loss aggregation; 'dapo' = token mean over the batch (verl's token-mean)"})
    steps_per_generation: int | None = field(
        default=None, validator=at_least(1, " (leave it out for the default)"), metadata={
            "help": "optimizer steps per generation batch (paper: 512 prompts / 32 = 16; default: "
                    "the smallest multiple of the accumulation steps that makes whole groups)"})
    use_vllm: bool = field(default=False, metadata={"help": "generate rollouts with vLLM (GPU)"})
    vllm_mode: str = field(default="server", validator=one_of(("server", "colocate")), metadata={
        "help": "'server' (trl vllm-serve on other GPUs) or 'colocate' (vLLM inside each "
                "training process)"})
    vllm_server_url: str | None = field(default=None, metadata={
        "help": "server mode: base URL of trl vllm-serve (default: http://localhost:8000)"})
    vllm_server_timeout: float = field(default=240.0, validator=positive(), metadata={
        "help": "server mode: seconds to wait for the vLLM server to come up"})
    vllm_gpu_memory_utilization: float = field(default=0.3, validator=in_range(0, 1, low_open=True),
                                               metadata={
        "help": "colocate mode: fraction of each GPU's memory vLLM may take"})  # noqa: E131
    vllm_tensor_parallel_size: int = field(default=1, validator=at_least(1), metadata={
        "help": "colocate mode: GPUs one vLLM engine spans"})


def default_steps_per_generation(c, options=None) -> int | None:
    """``steps_per_generation``, or when unset the smallest multiple of the gradient
    accumulation steps that makes the generation batch a whole number of groups.

    TRL's own default (the accumulation steps) fails with the defaults batch size 8 and
    16 generations ("generation_batch_size (8) must be divisible by num_generations (16)").
    """
    import math
    import os

    options = options if options is not None else PolicyGradientOptions()
    if options.steps_per_generation is not None:
        return options.steps_per_generation
    accum = max(1, c.gradient_accumulation_steps)
    per_step = max(1, c.per_device_batch_size) * accum * max(1, int(os.environ.get("WORLD_SIZE", "1")))
    if c.num_generations < 1:
        return None  # TRL reports it
    return accum * (c.num_generations // math.gcd(per_step, c.num_generations))


def vllm_args(o) -> dict[str, Any]:
    """TRL's vLLM settings from the options ``o``: server mode talks to ``trl vllm-serve``, colocate mode
    runs an engine inside each training process. Refused up front without vLLM or a GPU."""
    if not o.use_vllm:
        return {"use_vllm": False}
    import importlib.util

    import torch

    if importlib.util.find_spec("vllm") is None or not torch.cuda.is_available():
        raise ConfigError("train: use_vllm needs a CUDA GPU and vLLM (pip install vllm); "
                          "leave use_vllm out to generate with transformers")
    values: dict[str, Any] = {"use_vllm": True, "vllm_mode": o.vllm_mode}
    if o.vllm_mode == "server":
        values["vllm_server_timeout"] = o.vllm_server_timeout
        if o.vllm_server_url:
            values["vllm_server_base_url"] = o.vllm_server_url
    else:
        values["vllm_gpu_memory_utilization"] = o.vllm_gpu_memory_utilization
        values["vllm_tensor_parallel_size"] = o.vllm_tensor_parallel_size
    return values


class PolicyGradientAlgorithm(Algorithm):
    """Base of the GRPO-family algorithm plugins; subclasses set ``name`` and
    ``scale_rewards`` and may override :meth:`trainer_class`."""

    name = "policy-gradient"
    Options = PolicyGradientOptions
    #: TRL's advantage scaling: "group" (GRPO), "batch", "none".
    scale_rewards = "group"

    def trainer_class(self):
        """The TRL trainer class to instantiate."""
        from trl import GRPOTrainer

        return GRPOTrainer

    def grpo_args(self, job, **overrides: Any):
        """A ``trl.GRPOConfig`` for ``job``; batch-shape errors become :class:`ConfigError`."""
        import torch
        from trl import GRPOConfig

        c = job.config
        o = job.algorithm_options if job.algorithm_options is not None else PolicyGradientOptions()
        values: dict[str, Any] = dict(
            output_dir=str(job.out), learning_rate=c.lr, per_device_train_batch_size=c.per_device_batch_size,
            gradient_accumulation_steps=c.gradient_accumulation_steps,
            steps_per_generation=default_steps_per_generation(c, o), num_generations=c.num_generations,
            max_completion_length=job.max_new_tokens, temperature=c.temperature, top_p=c.top_p,
            beta=o.beta, epsilon=o.epsilon, loss_type=o.loss_type, entropy_coef=o.entropy_coef,
            scale_rewards=self.scale_rewards, num_train_epochs=c.epochs, max_steps=c.max_steps,
            seed=c.seed, data_seed=c.seed, logging_steps=c.logging_steps, save_strategy="no",
            report_to="none", disable_tqdm=not job.show_progress, bf16=c.bf16,
            remove_unused_columns=False, dataloader_num_workers=0,
            use_cpu=not torch.cuda.is_available(), **job.schedule_args(), **vllm_args(o),
        )
        # Always set: TRL's configs default the deprecated alias gradient_checkpointing to
        # True, which turns checkpointing on (about 20% slower) when this is left unset.
        values["activation_checkpointing"] = bool(c.gradient_checkpointing)
        values.update(overrides)
        try:
            return GRPOConfig(**values)
        except ValueError as exc:
            raise ConfigError(f"train ({self.name}): {exc}") from None

    def build_trainer(self, job, executor):
        """The configured trainer (model, tokenizer, dataset, reward, adapter, callbacks)."""
        from datasets import Dataset

        from toolfeedback.train.data import StepReward, rl_rows

        tokenizer = job.load_tokenizer()
        rows, dropped = rl_rows(job.samples, tokenizer, job.mode, job.config.max_prompt_length)
        if dropped and not job.config.quiet:
            import sys

            print(f"toolfeedback train: dropped {dropped} prompt(s) longer than "
                  f"{job.config.max_prompt_length} tokens", file=sys.stderr)
        args = self.grpo_args(job)
        prompts_per_batch = args.generation_batch_size // job.config.num_generations
        if len(rows) < prompts_per_batch:
            # TRL drops an incomplete generation batch: it would "train" 0 steps and save
            raise ConfigError(
                f"train ({self.name}): {len(rows)} prompt(s) do not fill one generation batch of "
                f"{args.generation_batch_size} completions ({prompts_per_batch} prompts x "
                f"{job.config.num_generations} generations); use more data or a smaller "
                f"--batch-size / --steps-per-generation")
        model = job.load_model()
        reward = StepReward(mode=job.mode, tool_format=job.tool_format, reward=job.reward,
                            executor=executor, timeout=job.config.tool_timeout,
                            parallel=job.config.tool_workers)
        trainer = self.trainer_class()(
            model=model, reward_funcs=[reward], args=args, train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer, callbacks=list(job.callbacks),
            peft_config=job.peft_config(model))
        trainer.step_reward = reward  # tests compare logged rewards with ours
        return job.tame(trainer)

    def train(self, job) -> Path:
        """Train and save into ``job.out``; return it."""
        from toolfeedback.train.data import make_executor
        from toolfeedback.train.save import save_trained

        executor = make_executor(job.config.tool_timeout, job.config.tool_workers)
        try:
            trainer = self.build_trainer(job, executor)
            trainer.train()
            job.rank_stats.update(steps=int(trainer.state.global_step),
                                  completions_scored=sum(map(len, trainer.step_reward.history)),
                                  generation_batch_size=int(trainer.args.generation_batch_size))
            return save_trained(trainer, job)
        finally:
            executor.close()
