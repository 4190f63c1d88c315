"""Step-level DPO: pairs from verifiable rewards, then real TRL DPO steps on the tiny model."""

from __future__ import annotations

import json

import pytest
import torch

from helpers.training import BAD, GOOD, LogObserver, ProbeRewards, fixture_samples, small_config
from toolfeedback.errors import ToolfeedbackError
from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.manager import create_plugin_manager
from toolfeedback.registry import Catalog
from toolfeedback.train.job import prepare_job, train


def write_responses(path, samples, *, swap=False):
    with open(path, "w") as handle:
        for env, (good, _) in zip(samples, GOOD):
            texts = [BAD[0], good] if not swap else [good, BAD[0]]
            handle.write(json.dumps({"id": env.id, "responses": texts}) + "\n")
    return path


@pytest.mark.slow
def test_dpo_from_samples_file_two_steps(tmp_path, tiny_model):  # noqa: F811
    from transformers import AutoModelForCausalLM

    samples = fixture_samples()
    responses = write_responses(tmp_path / "responses.jsonl", samples)
    observer = LogObserver()
    pm = create_plugin_manager(plugins=[observer])
    out = train(small_config(tiny_model, tmp_path / "out", algorithm="dpo", algorithm_options={"samples": str(responses)},
                             per_device_batch_size=2, lr=1e-2), pm)
    rows = [json.loads(line) for line in (out / "preferences.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [env.id for env in samples]
    assert [(r["chosen"], r["chosen_reward"]) for r in rows] == [(g, pytest.approx(v)) for g, v in GOOD]
    assert all(r["rejected"] == BAD[0] and r["rejected_reward"] == 0.0 for r in rows)
    losses = [logs for _, logs in observer.calls if "loss" in logs]
    assert len(losses) == 2 and all("rewards/chosen" in logs or "rewards/margins" in logs for logs in losses)
    tuned = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    base = AutoModelForCausalLM.from_pretrained(tiny_model, local_files_only=True)
    assert any(not torch.equal(a, b) for a, b in zip(tuned.parameters(), base.parameters()))


def test_dpo_margin_and_unknown_ids(tmp_path, tiny_model):  # noqa: F811
    samples = fixture_samples()
    responses = write_responses(tmp_path / "responses.jsonl", samples)
    pm = create_plugin_manager()
    algo = Catalog(pm).get("algorithms", "dpo")
    job = prepare_job(small_config(tiny_model, tmp_path / "o", algorithm="dpo", algorithm_options={"samples": str(responses), "margin": 1.0}), pm)
    tokenizer = job.load_tokenizer()
    pairs = algo.build_pairs(job, tokenizer, algo.sample_responses(job, tokenizer), InProcessExecutor(timeout=5))
    assert [p.key for p in pairs] == [samples[2].id]  # only 4/3 - 0 exceeds the margin
    with pytest.raises(ToolfeedbackError, match="no preference pairs"):
        algo.build_trainer(prepare_job(small_config(tiny_model, tmp_path / "o2", algorithm="dpo",
                                                    algorithm_options={"samples": str(responses), "margin": 2.0}), pm),
                           InProcessExecutor(timeout=5))
    (tmp_path / "unknown.jsonl").write_text(json.dumps({"id": "nope", "response": "x"}) + "\n")
    job = prepare_job(small_config(tiny_model, tmp_path / "o3", algorithm="dpo",
                                   algorithm_options={"samples": str(tmp_path / "unknown.jsonl")}), pm)
    with pytest.raises(ToolfeedbackError, match="match no step sample"):
        algo.sample_responses(job, job.load_tokenizer())


def test_dpo_samples_with_the_hf_backend_when_no_file(tmp_path, tiny_model):  # noqa: F811
    pm = create_plugin_manager(plugins=[ProbeRewards()])
    algo = Catalog(pm).get("algorithms", "dpo")
    job = prepare_job(small_config(tiny_model, tmp_path / "o", algorithm="dpo", reward="content_length",
                                   max_new_tokens=8, num_generations=3), pm)
    tokenizer = job.load_tokenizer()
    responses = algo.sample_responses(job, tokenizer)
    assert sorted(responses) == sorted(env.id for env in job.samples)
    assert all(len(texts) == 3 for texts in responses.values())
    pairs = algo.build_pairs(job, tokenizer, responses, InProcessExecutor(timeout=5))
    for pair in pairs:
        assert pair.chosen_reward > pair.rejected_reward
        assert {pair.chosen, pair.rejected} <= set(responses[pair.key])


def test_dpo_pairs_from_rollout_trajectories(tmp_path, tiny_model):  # noqa: F811
    """`toolfeedback rollout --n-samples K` output feeds DPO: step 0 of the K episodes of an
    environment is one prompt, so their K responses form one group."""
    from helpers.training import FIXTURE
    from toolfeedback.rollout.collect import RolloutConfig, rollout

    traj, steps = tmp_path / "traj.jsonl", tmp_path / "steps.jsonl"
    rollout(RolloutConfig(model=str(tiny_model), envs=str(FIXTURE), out=str(traj), samples_out=str(steps),
                          max_turns=1, max_new_tokens=8, temperature=1.0, n_samples=3, limit=2,
                          progress=False))
    pm = create_plugin_manager(plugins=[ProbeRewards()])
    algo = Catalog(pm).get("algorithms", "dpo")
    job = prepare_job(small_config(tiny_model, tmp_path / "o", algorithm="dpo", data=str(steps),
                                   algorithm_options={"samples": str(traj)}, reward="content_length"), pm)
    tokenizer = job.load_tokenizer()
    responses = algo.sample_responses(job, tokenizer)
    assert len(job.samples) == 6 and len(responses) == 6  # 2 envs x 3 episodes x 1 step
    pairs = algo.build_pairs(job, tokenizer, responses, InProcessExecutor(timeout=5))
    assert 1 <= len(pairs) <= 2  # one group per environment, not one per episode
    for pair in pairs:
        env_id = pair.key.split("#")[0]
        pooled = [t for key, texts in responses.items() if key.startswith(env_id + "#") for t in texts]
        assert {pair.chosen, pair.rejected} <= set(pooled) and pair.chosen_reward > pair.rejected_reward
