"""GRPO and REINFORCE++ on the tiny model: a couple of real TRL steps on the CPU."""

from __future__ import annotations

import json

import pytest
import torch

from helpers.training import LogObserver, ProbeRewards, small_config
from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.manager import create_plugin_manager
from toolfeedback.plugins.algo_reinforce_pp import whiten
from toolfeedback.registry import Catalog
from toolfeedback.train.job import prepare_job, train

#: solve_f1 alone is 0 for almost every random completion; content_length adds spread.
REWARD = "solve_f1,content_length"


def run_algorithm(name, tmp_path, model, **changes):
    observer = LogObserver()
    pm = create_plugin_manager(plugins=[observer, ProbeRewards()])
    job = prepare_job(small_config(model, tmp_path / "out", algorithm=name, reward=REWARD, **changes), pm)
    executor = InProcessExecutor(timeout=5)
    trainer = Catalog(pm).get("algorithms", name).build_trainer(job, executor)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    executor.close()
    return trainer, observer, before


def changed(model, before):
    return [n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())]


@pytest.mark.slow
def test_grpo_two_steps_change_weights_and_log_our_rewards(tmp_path, tiny_model):  # noqa: F811
    """2 GRPO steps move the weights; the on_train_log observer sees loss, kl and a reward
    equal to the mean of what our StepReward returned at that step."""
    trainer, observer, before = run_algorithm("grpo", tmp_path, tiny_model)
    assert changed(trainer.model, before)
    history = trainer.step_reward.history
    step_logs = [logs for _, logs in observer.calls if "reward" in logs]
    assert len(history) == 2 and len(step_logs) == 2  # one generation batch per step
    for logs, scores in zip(step_logs, history):
        assert len(scores) == 4
        assert logs["reward"] == pytest.approx(sum(scores) / len(scores), abs=1e-5)
        assert logs["rewards/solve_f1,content_length/mean"] == pytest.approx(logs["reward"], abs=1e-6)
        assert "loss" in logs and "kl" in logs and "entropy" in logs
    assert [step for step, logs in observer.calls if "reward" in logs] == [1, 2]


def test_whiten_is_token_weighted_batch_normalization():
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.5])
    lengths = torch.tensor([2.0, 2.0, 1.0, 3.0])
    tokens = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5])  # each token carries its return
    expected = (tokens - tokens.mean()) / torch.sqrt(tokens.var(unbiased=True) + 1e-8)
    got = whiten(rewards, lengths)
    assert torch.allclose(got, torch.tensor([expected[0], expected[2], expected[4], expected[5]]))


@pytest.mark.slow
def test_reinforce_pp_two_steps_use_batch_normalized_advantages(tmp_path, tiny_model):  # noqa: F811
    # Two prompts per generation batch, so a per-group baseline would differ from the batch one.
    trainer, observer, before = run_algorithm("reinforce_pp", tmp_path, tiny_model, per_device_batch_size=8)
    assert changed(trainer.model, before)
    assert len(trainer.rpp_log) == 2
    for entry, scores in zip(trainer.rpp_log, trainer.step_reward.history):
        rewards, lengths = torch.tensor(entry["rewards"]), torch.tensor(entry["lengths"])
        assert entry["rewards"] == pytest.approx(scores)
        advantages = torch.tensor(entry["advantages"])
        assert torch.allclose(advantages, whiten(rewards, lengths), atol=1e-5)
        assert float((advantages * lengths).sum() / lengths.sum()) == pytest.approx(0.0, abs=1e-4)
    assert any("loss" in logs for _, logs in observer.calls)


@pytest.mark.slow
def test_lora_lower_mlp_trains_only_adapter_weights(tmp_path, tiny_model):  # noqa: F811
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    pm = create_plugin_manager(plugins=[ProbeRewards()])
    out = train(small_config(tiny_model, tmp_path / "out", adapter="lora", reward=REWARD, lr=5e-2,
                             adapter_options={"preset": "lower-mlp", "r": 4, "merge": True}), pm)
    saved = json.loads((out / "adapter_config.json").read_text())
    assert saved["layers_to_transform"] == [0] and set(saved["target_modules"]) == {"gate_proj", "up_proj", "down_proj"}
    assert json.loads((out / "train_config.json").read_text())["adapter_options"]["preset"] == "lower-mlp"
    base = AutoModelForCausalLM.from_pretrained(tiny_model, local_files_only=True)
    original = {n: p.detach().clone() for n, p in base.named_parameters()}
    tuned = PeftModel.from_pretrained(base, out)
    lora_b = {n: p for n, p in tuned.named_parameters() if "lora_B" in n}
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b.values())  # B starts at zero
    for name, param in tuned.get_base_model().named_parameters():
        if "lora_" not in name:
            assert torch.equal(param, original[name.replace(".base_layer", "")]), name
    merged = AutoModelForCausalLM.from_pretrained(out / "merged", local_files_only=True)
    diff = {n for n, p in merged.named_parameters() if not torch.equal(p, original[n])}
    assert diff and all(".layers.0.mlp." in n for n in diff)


@pytest.mark.slow
def test_train_verb_flags_override_the_config_file(tmp_path, tiny_model, capsys):  # noqa: F811
    from helpers.training import FIXTURE
    from toolfeedback.cli import main

    config = tmp_path / "train.toml"
    config.write_text('[train]\nnum_generations = 4\nper_device_batch_size = 4\nmax_new_tokens = 8\n'
                      'max_steps = 5\nmode = "think"\n')
    out = tmp_path / "ckpt"
    status = main(["train", "--config", str(config), "--model", str(tiny_model), "--data", str(FIXTURE),
                   "--out", str(out), "--max-steps", "1", "--quiet"])
    assert status == 0, capsys.readouterr().err
    saved = json.loads((out / "train_config.json").read_text())
    assert (saved["max_steps"], saved["num_generations"], saved["mode"]) == (1, 4, "think")
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert "saved grpo (full) checkpoint" in capsys.readouterr().out
