"""The ``dpo`` algorithm: DPO on step-level preferences built from the verifiable reward.

For every step prompt, K responses (``num_generations``) come from a samples file
(option ``samples``: JSONL ``{id, response}`` / ``{id, responses}``) or are sampled with
the ``hf`` backend in the chosen mode, as K one-turn episodes of the agent loop
(:class:`toolfeedback.rollout.engine.RolloutEngine`). Each is scored by the one step function
against the sample (:func:`toolfeedback.train.data.score_response`); :mod:`toolfeedback.plugins.dpo_preferences`
pairs the best with the worst when their rewards differ by more than the option ``margin``.
The pairs are written to ``OUT/preferences.jsonl`` and trained with TRL's ``DPOTrainer``
(sigmoid loss, option ``beta``, default 0.1; a frozen reference copy for full
fine-tuning, the adapter-disabled base for LoRA).
"""

from __future__ import annotations

from pathlib import Path

from attrs import field, frozen

from toolfeedback import hookimpl
from toolfeedback.checks import non_negative, positive
from toolfeedback.errors import ConfigError, ToolfeedbackError
from toolfeedback.contracts import Algorithm


@frozen
class DpoOptions:
    """Options of ``dpo`` (``[train.algorithm]`` with ``name = "dpo"``, ``--algorithm-option``)."""

    beta: float = field(default=0.1, validator=positive(), metadata={"help": "DPO beta"})
    margin: float = field(default=0.0, validator=non_negative(), metadata={
        "help": "pair best and worst response only when their rewards differ by more than this"})
    samples: str | None = field(default=None, metadata={
        "help": "JSONL of sampled responses ({id, response} or {id, responses}); default: "
                "sample num_generations responses per prompt with the hf backend"})


class DpoAlgorithm(Algorithm):
    """Step-level DPO: best-vs-worst response pairs ranked by the verifiable reward."""

    name = "dpo"
    Options = DpoOptions

    @staticmethod
    def options(job) -> DpoOptions:
        """The job's dpo options (defaults when built without :func:`prepare_job`)."""
        return job.algorithm_options if job.algorithm_options is not None else DpoOptions()

    def sample_responses(self, job, tokenizer) -> dict[str, list[str]]:
        """K responses per sample id: from the ``samples`` option or generated with the ``hf`` backend."""
        from toolfeedback.generation import SamplingParams
        from toolfeedback.plugins.dpo_preferences import read_responses, rollout_id
        from toolfeedback.registry import Catalog
        from toolfeedback.rollout.engine import Policy, RolloutEngine

        c, o = job.config, self.options(job)
        if o.samples:
            by_episode_step = {}
            for env in job.samples:
                origin = env.metadata.get("rollout") if isinstance(env.metadata, dict) else None
                if isinstance(origin, dict):
                    by_episode_step[(origin.get("env_id"), origin.get("sample"), origin.get("step"))] = env.id
            found = read_responses(o.samples, id_of=lambda e, s, k: by_episode_step.get(
                (e, s, k), rollout_id(e, s, k)))
            known = {env.id for env in job.samples}
            unknown = sorted(set(found) - known)
            if unknown:
                raise ToolfeedbackError(f"{o.samples}: {len(unknown)} id(s) match no step sample "
                                        f"of {c.data} (first: {unknown[0]!r})")
            return found
        # K one-turn episodes per step prompt through the agent loop, all in one batch.
        generator = Catalog(job.pm).get("backends", "hf").load(c.model)
        params = SamplingParams(max_new_tokens=job.max_new_tokens, temperature=c.temperature,
                                top_p=c.top_p, n=1, seed=c.seed)
        todo = [(env, k) for env in job.samples for k in range(c.num_generations)]
        try:
            with RolloutEngine(generator, mode=job.mode, tool_format=job.tool_format, executor=None,
                               params=params, policy=Policy(max_turns=1),
                               batch_size=max(1, len(todo))) as engine:
                episodes = sorted(engine.run(todo), key=lambda ep: ep.index)
        finally:
            generator.close()
        out: dict[str, list[str]] = {env.id: [] for env in job.samples}
        for ep in episodes:
            out[ep.env.id].append(ep.steps[0].response)
        return out

    def build_pairs(self, job, tokenizer, responses: dict[str, list[str]], executor) -> list:
        """Score every response and pair best vs worst per step prompt.

        Step samples with identical prompts (e.g. step 0 of K rollout episodes of one
        environment) pool their responses into one group, keyed by the first one's id.
        """
        from tqdm.auto import tqdm

        from toolfeedback.plugins.dpo_preferences import ScoredResponse, build_pairs, prompt_signature
        from toolfeedback.train.data import render_prompt, score_response

        pooled: dict[str, tuple] = {}
        for env in job.samples:
            _, texts = pooled.setdefault(prompt_signature(env), (env, []))
            texts.extend(responses.get(env.id, []))
        groups = []
        for env, texts in tqdm(pooled.values(), desc="scoring responses", disable=not job.show_progress):
            scored = [ScoredResponse(t, score_response(env, t, mode=job.mode, tool_format=job.tool_format,
                                                       reward=job.reward, executor=executor,
                                                       timeout=job.config.tool_timeout))
                      for t in texts]
            groups.append((env.id, render_prompt(tokenizer, env, job.mode), scored))
        return build_pairs(groups, self.options(job).margin)

    def build_trainer(self, job, executor):
        """The configured ``DPOTrainer`` (pairs are built and saved first)."""
        import torch
        from datasets import Dataset
        from trl import DPOConfig, DPOTrainer

        from toolfeedback.jsonl import JsonlWriter
        from toolfeedback.train.launch import is_main_process

        c, o = job.config, self.options(job)
        tokenizer = job.load_tokenizer()
        pairs = self.build_pairs(job, tokenizer, self.sample_responses(job, tokenizer), executor)
        if not pairs:
            hint = ("give more responses per prompt in the samples file" if o.samples
                    else "sample more responses (--num-generations) or raise --temperature")
            raise ToolfeedbackError(
                f"dpo: no preference pairs: for each of the {len(job.samples)} step prompt(s) the "
                f"responses' rewards differ by at most margin={o.margin}; {hint}, or lower "
                f"the margin")
        try:
            args = DPOConfig(
                output_dir=str(job.out), learning_rate=c.lr, per_device_train_batch_size=c.per_device_batch_size,
                gradient_accumulation_steps=c.gradient_accumulation_steps, num_train_epochs=c.epochs,
                max_steps=c.max_steps, beta=o.beta,
                max_length=c.max_prompt_length + job.max_new_tokens, logging_steps=c.logging_steps,
                save_strategy="no", report_to="none", disable_tqdm=not job.show_progress, bf16=c.bf16,
                seed=c.seed, data_seed=c.seed,
                dataloader_num_workers=0, use_cpu=not torch.cuda.is_available(),
                **job.schedule_args(),
                **({"activation_checkpointing": True} if c.gradient_checkpointing else {}))
        except ValueError as exc:
            raise ConfigError(f"train (dpo): {exc}") from None
        if is_main_process():  # every rank builds the same pairs; one writes them
            job.out.mkdir(parents=True, exist_ok=True)
            with JsonlWriter(job.out / "preferences.jsonl") as writer:
                for pair in pairs:
                    writer.write(pair.as_row())
        rows = [{k: v for k, v in p.as_row().items() if k in ("prompt", "chosen", "rejected")}
                for p in pairs]
        model = job.load_model()
        trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                             processing_class=tokenizer, callbacks=list(job.callbacks),
                             peft_config=job.peft_config(model))
        trainer.preference_pairs = pairs
        return job.tame(trainer)

    def train(self, job) -> Path:
        """Build pairs, train, save into ``job.out``; return it."""
        from toolfeedback.train.data import make_executor
        from toolfeedback.train.save import save_trained

        executor = make_executor(job.config.tool_timeout, job.config.tool_workers)
        try:
            trainer = self.build_trainer(job, executor)
        finally:
            executor.close()
        trainer.train()
        job.rank_stats.update(steps=int(trainer.state.global_step), pairs=len(trainer.preference_pairs))
        return save_trained(trainer, job)


@hookimpl
def register_algorithms(register):
    register(DpoAlgorithm())
