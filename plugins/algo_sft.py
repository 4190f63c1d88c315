"""The ``sft`` algorithm: supervised warm start on trajectories, loss on assistant turns only.

Data: a trajectories JSONL (``--data``; from ``rollout --backend golden`` for golden
demonstrations, or from a model's rollouts) and the environments it ran in (``--envs``,
for each episode's tools). With ``--min-reward R`` only episodes whose summed step reward
is at least ``R`` are kept: rejection-sampling fine-tuning on a model's own successes.

Every assistant turn of a kept episode becomes one prompt-completion example. The prompt
is the chat before that turn rendered exactly as at inference (the model's chat template,
the episode's tools, the mode's template arguments such as ``enable_thinking``, with the
generation prompt); the completion is the turn as the model should write it: in think
mode ``<think>`` + reasoning + ``</think>``, then the content and the calls in the run's
tool format, then the end-of-turn token. Both are tokenized here, apart, as at inference;
TRL's ``SFTTrainer`` computes the loss on the completion tokens only (``completion_mask``
with ``completion_only_loss``), so prompts, tool outputs and earlier turns are context,
never targets. Full fine-tuning or LoRA through the adapter plugins.

Option ``turns`` (``[train.algorithm] turns = "calls"`` or ``--algorithm-option turns=calls``)
keeps only the turns that call tools: the final answers (restating what the tools returned)
drop out, so every step goes to the calls, the part that Solve-F1 scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attrs import field, frozen

from toolfeedback import hookimpl
from toolfeedback.checks import one_of
from toolfeedback.errors import ConfigError, InputError, ToolfeedbackError


@frozen
class SftTurn:
    """One target assistant turn: ``prompt`` is the step sample (chat so far, tools) it
    answers; ``content``, ``calls`` (:class:`~toolfeedback.types.ToolCall`) and
    ``reasoning`` are what the model should write."""

    prompt: Any
    content: str
    calls: tuple = ()
    reasoning: str | None = None


def _calls(raw: Any, where: str) -> tuple:
    from toolfeedback.types import ToolCall

    if not isinstance(raw, list):
        raise ValueError(f"{where}.calls: expected a list")
    out = []
    for j, call in enumerate(raw):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise ValueError(f"{where}.calls[{j}].name: expected a string")
        out.append(ToolCall(call["name"], call.get("arguments", {}), call.get("id")))
    return tuple(out)


def episode_turns(record: dict, env) -> list[SftTurn]:
    """The turns of one trajectory record that ran in ``env`` (prefix before each step)."""
    messages = record.get("messages")
    steps = record.get("steps")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ValueError("$.messages: expected a list of objects")
    if not isinstance(steps, list):
        raise ValueError("$.steps: expected a list")
    start = len(env.messages)
    positions = [i for i, m in enumerate(messages) if i >= start and m.get("role") == "assistant"]
    if len(positions) != len(steps):
        raise ValueError(f"$.messages: {len(positions)} assistant turns for {len(steps)} steps")
    turns = []
    for k, (pos, step) in enumerate(zip(positions, steps)):
        if not isinstance(step, dict):
            raise ValueError(f"$.steps[{k}]: expected an object")
        content = step.get("content") or ""
        reasoning = step.get("reasoning")
        turns.append(SftTurn(prompt=env.evolve(id=f"{env.id}.{k}", messages=tuple(messages[:pos])),
                             content=str(content), calls=_calls(step.get("calls", []), f"$.steps[{k}]"),
                             reasoning=reasoning if isinstance(reasoning, str) and reasoning else None))
    return turns


def read_turns(data: str, envs: str | None, min_reward: float | None = None,
               limit: int | None = None, split: str | None = None) -> list[SftTurn]:
    """Every assistant turn of the trajectories in ``data`` whose episode reward (the record's
    ``reward``, the sum of its step rewards) is at least ``min_reward`` and whose environment
    is in ``split`` (None: any); tools come from ``envs`` by ``env_id``. Bad lines raise
    :class:`InputError` naming file:line: field."""
    from toolfeedback.ftrl import read_environments
    from toolfeedback.jsonl import JsonlReader

    if not envs:
        raise ConfigError("train (sft): no environments given (--envs FILE: the environments "
                          "the trajectories ran in, for their tools)")
    if not data:
        raise ConfigError("train (sft): no data given (--data TRAJECTORIES.jsonl)")
    by_id = {env.id: env for _, env in read_environments(envs, on_error="stop")}

    def parse(obj):
        if not isinstance(obj, dict) or not isinstance(obj.get("env_id"), str):
            raise ValueError("$.env_id: expected a string (a trajectory record)")
        env = by_id.get(obj["env_id"])
        if env is None:
            raise ValueError(f"$.env_id: {obj['env_id']!r} is not in {envs}")
        reward = obj.get("reward", 0.0)
        if not isinstance(reward, (int, float)) or isinstance(reward, bool):
            raise ValueError("$.reward: expected a number")
        if (min_reward is not None and reward < min_reward) or (split and env.split != split):
            return []
        return episode_turns(obj, env)

    turns: list[SftTurn] = []
    episodes = 0
    for _, found in JsonlReader(data, parse):
        episodes += 1
        turns.extend(found)
        if limit is not None and len(turns) >= limit:
            break
    if not episodes:
        raise InputError("no trajectories in the file", path=data)
    if not turns:
        raise InputError(f"no episode has reward >= {min_reward}" if min_reward is not None
                         else "no assistant turns in the trajectories", path=data)
    return turns[:limit] if limit is not None else turns


def completion_text(turn: SftTurn, mode, tool_format) -> str:
    """What the model writes for ``turn``: reasoning block (think modes), then content and
    calls in ``tool_format`` (the end-of-turn token is added by :func:`sft_rows`)."""
    body = tool_format.render(turn.content or None, turn.calls) if turn.calls else turn.content
    if not isinstance(body, str):
        raise ConfigError(f"train (sft): tool format {tool_format.name!r} renders structured "
                          f"messages, not text; use a text format such as hermes")
    if getattr(mode, "thinking", False):
        return f"<think>\n{(turn.reasoning or '').strip()}\n</think>\n\n{body}"
    return body


def sft_rows(turns, tokenizer, mode, tool_format, max_prompt_length: int) -> tuple[list[dict], int]:
    """Tokenized rows ``{"input_ids", "completion_mask"}`` and how many over-long prompts
    were dropped. Prompt and completion are tokenized apart and joined, as at inference
    (the prompt alone, then the tokens the model writes, then the end-of-turn token): a
    joint tokenization could merge tokens across the boundary (``</think>\\n\\n`` + an
    answer), training on a context the model never sees."""
    from toolfeedback.train.data import render_prompt

    eos = tokenizer.eos_token_id
    if eos is None:
        raise ToolfeedbackError("train (sft): the tokenizer has no eos_token (the end-of-turn token)")
    rows, dropped = [], 0
    for turn in turns:
        prompt = tokenizer(render_prompt(tokenizer, turn.prompt, mode), add_special_tokens=False)["input_ids"]
        if len(prompt) > max_prompt_length:
            dropped += 1
            continue
        target = tokenizer(completion_text(turn, mode, tool_format), add_special_tokens=False)["input_ids"]
        target = target + [eos]
        rows.append({"input_ids": prompt + target, "completion_mask": [0] * len(prompt) + [1] * len(target)})
    if not rows:
        raise ToolfeedbackError(f"train (sft): every prompt is longer than max_prompt_length="
                                f"{max_prompt_length} tokens ({dropped} dropped)")
    return rows, dropped


@frozen
class SftOptions:
    """Options of ``sft`` (``[train.algorithm]``, ``--algorithm-option``)."""

    turns: str = field(default="all", validator=one_of(("all", "calls")), metadata={
        "help": "which assistant turns are targets: 'all', or 'calls' (only turns that call tools)"})


def target_turns(turns, options) -> list:
    """The turns of ``turns`` that ``options`` (an :class:`SftOptions`, or None) trains on."""
    if options is not None and options.turns == "calls":
        kept = [t for t in turns if t.calls]
        if not kept:
            raise ToolfeedbackError("train (sft): turns=calls, but no turn of the data calls a tool")
        return kept
    return list(turns)


class SftAlgorithm:
    """Supervised fine-tuning on assistant turns (golden or reward-filtered trajectories)."""

    name = "sft"
    Options = SftOptions
    #: ``iterate`` hands this algorithm whole episodes (reward-filtered), not step samples.
    data_kind = "trajectories"

    def read_data(self, config) -> list[SftTurn]:
        """The training turns of ``config.data`` (trajectories) with tools from ``config.envs``."""
        return read_turns(config.data, config.envs, config.min_reward, config.limit, config.split)

    def sft_args(self, job, **overrides: Any):
        """A ``trl.SFTConfig`` for ``job`` (completion-only loss, no packing)."""
        import torch
        from trl import SFTConfig

        c = job.config
        values: dict[str, Any] = dict(
            output_dir=str(job.out), learning_rate=c.lr, per_device_train_batch_size=c.per_device_batch_size,
            gradient_accumulation_steps=c.gradient_accumulation_steps, num_train_epochs=c.epochs,
            max_steps=c.max_steps, seed=c.seed, data_seed=c.seed, logging_steps=c.logging_steps,
            save_strategy="no", report_to="none", disable_tqdm=not job.show_progress, bf16=c.bf16,
            completion_only_loss=True, packing=False, max_length=None,
            dataset_num_proc=None, remove_unused_columns=True, dataloader_num_workers=0,
            use_cpu=not torch.cuda.is_available(), **job.schedule_args())
        # Always set: TRL defaults the deprecated alias gradient_checkpointing to True.
        values["activation_checkpointing"] = bool(c.gradient_checkpointing)
        values.update(overrides)
        try:
            return SFTConfig(**values)
        except ValueError as exc:
            raise ConfigError(f"train (sft): {exc}") from None

    def build_trainer(self, job):
        """The configured ``SFTTrainer`` (model, tokenizer, prompt-completion dataset, adapter)."""
        import sys

        from datasets import Dataset
        from trl import SFTTrainer

        tokenizer = job.load_tokenizer()
        rows, dropped = sft_rows(target_turns(job.samples, job.algorithm_options), tokenizer,
                                 job.mode, job.tool_format, job.config.max_prompt_length)
        if dropped and not job.config.quiet:
            print(f"toolfeedback train: dropped {dropped} prompt(s) longer than "
                  f"{job.config.max_prompt_length} tokens", file=sys.stderr)
        model = job.load_model()
        trainer = SFTTrainer(model=model, args=self.sft_args(job), train_dataset=Dataset.from_list(rows),
                             processing_class=tokenizer, callbacks=list(job.callbacks),
                             peft_config=job.peft_config(model))
        return job.tame(trainer)

    def train(self, job) -> Path:
        """Train and save into ``job.out``; return it."""
        from toolfeedback.train.save import save_trained

        trainer = self.build_trainer(job)
        trainer.train()
        return save_trained(trainer, job)


@hookimpl
def register_algorithms(register):
    register(SftAlgorithm())
