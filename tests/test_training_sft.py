"""SFT and the golden backend: golden trajectories from the rollout loop, the oracle scores
100% through eval, and SFT's loss covers the assistant tokens only."""

from __future__ import annotations

import json

import pytest
import torch

from toolfeedback.build.pipeline import BuildConfig, build
from toolfeedback.manager import create_plugin_manager
from toolfeedback.registry import Catalog
from toolfeedback.rollout.collect import RolloutConfig, rollout
from toolfeedback.train.job import TrainConfig, prepare_job, train


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory):
    """Built environments of every pattern (default scaling) and their golden rollout."""
    root = tmp_path_factory.mktemp("golden")
    envs, traj = root / "envs.jsonl", root / "golden.jsonl"
    build(BuildConfig(n=12, seed=3, out=str(envs)))
    rollout(RolloutConfig(model=str(envs), envs=str(envs), out=str(traj), backend="golden",
                          samples_out=str(root / "steps.jsonl"), resume=False, progress=False))
    return envs, traj


@pytest.mark.parametrize("mode", ["no-think", "think"])
def test_golden_backend_scores_100_percent_through_eval(golden_run, tmp_path, mode):
    from toolfeedback.evaluate.driver import EvalConfig, evaluate

    envs, _ = golden_run
    report = evaluate(EvalConfig(evaluator="solve", model=str(envs), data=str(envs), backend="golden",
                                 mode=mode, predictions=str(tmp_path / "t.jsonl"), quiet=True))
    assert report["overall"]["episodes"] == 12
    assert report["overall"]["solve_f1"] == 1.0
    assert set(report["by_pattern"]) == {"single-hop", "parallel-single-hop", "multi-hop",
                                         "parallel-multi-hop"}
    first = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])
    assert first["finished"] == "answer" and first["steps"][-1]["calls"] == []
    assert (first["steps"][0]["reasoning"] is not None) == (mode == "think")


def test_golden_backend_refuses_a_chat_it_does_not_know(golden_run):
    from toolfeedback.errors import ToolfeedbackError
    from toolfeedback.generation import ChatRequest, SamplingParams

    gen = Catalog(create_plugin_manager()).get("backends", "golden").load(str(golden_run[0]))
    with pytest.raises(ToolfeedbackError, match="matches no environment"):
        gen.generate([ChatRequest(({"role": "user", "content": "hello?"},))], SamplingParams())


def test_golden_backend_refuses_environments_without_golden_calls(tmp_path):
    """FTRL release records carry no golden calls: the oracle says so, naming the line, instead
    of answering without a call (Solve-F1 0)."""
    from pathlib import Path

    from toolfeedback.errors import InputError

    fixture = Path(__file__).parent / "fixtures" / "ftrl" / "sample.jsonl"
    backend = Catalog(create_plugin_manager()).get("backends", "golden")
    with pytest.raises(InputError, match=r"sample\.jsonl:1: .*no golden calls \(and 1 more line\)"):
        backend.load(str(fixture))
    # the one record with golden calls alone is playable
    only = tmp_path / "one.jsonl"
    only.write_text(fixture.read_text().splitlines()[2] + "\n")
    assert backend.load(str(only)).envs


def sft_config(model, golden_run, out, **changes):
    envs, traj = golden_run
    values = dict(model=model, algorithm="sft", data=str(traj), envs=str(envs), out=str(out),
                  lr=1e-3, max_steps=2, per_device_batch_size=4, quiet=True)
    values.update(changes)
    return TrainConfig(**values)


@pytest.mark.parametrize("mode", ["no-think", "think"])
def test_sft_loss_is_on_assistant_tokens_only(golden_run, tiny_model, tmp_path, mode):
    """Every label that is not -100 lies in a completion: the tokens after the prompt,
    which decode to the golden turn (calls in the hermes format) and the end-of-turn token."""
    job = prepare_job(sft_config(tiny_model, golden_run, tmp_path / "o", mode=mode))
    trainer = Catalog(job.pm).get("algorithms", "sft").build_trainer(job)
    tok = trainer.processing_class
    rows = trainer.train_dataset
    assert len(rows) == len(job.samples) > 12  # several turns per episode
    for row, turn in zip(rows, job.samples):
        labels, ids = row["labels"], row["input_ids"]
        start = next(i for i, v in enumerate(labels) if v != -100)
        assert all(v != -100 for v in labels[start:])  # one contiguous target at the end
        assert labels[start:] == ids[start:]
        prompt = tok.decode(ids[:start])
        target = tok.decode(ids[start:])
        assert prompt.endswith("<|im_start|>assistant\n" + ("" if mode == "think" else "<think>\n\n</think>\n\n"))
        assert target.endswith("<|im_end|>")
        assert "<tool_response>" not in target and "<|im_start|>" not in target
        for call in turn.calls:
            assert f'"name": "{call.name}"' in target
        assert target.startswith("<think>") == (mode == "think")
    # the final turns answer without calls
    assert any(not turn.calls for turn in job.samples)


def test_sft_trains_and_lowers_the_loss(golden_run, tiny_model, tmp_path):
    from helpers.training import LogObserver

    observer = LogObserver()
    pm = create_plugin_manager(plugins=[observer])
    out = train(sft_config(tiny_model, golden_run, tmp_path / "sft", max_steps=12, lr=3e-3,
                           logging_steps=1), pm)
    assert (out / "model.safetensors").exists() and (out / "train_config.json").exists()
    losses = [logs["loss"] for _, logs in observer.calls if "loss" in logs]
    assert len(losses) == 12
    assert sum(losses[-3:]) < sum(losses[:3])
    from transformers import AutoModelForCausalLM

    before = AutoModelForCausalLM.from_pretrained(tiny_model)
    after = AutoModelForCausalLM.from_pretrained(out)
    assert any(not torch.equal(a, b) for a, b in zip(before.parameters(), after.parameters()))


def test_min_reward_keeps_only_rewarded_episodes(golden_run, tiny_model, tmp_path):
    envs, traj = golden_run
    records = [json.loads(line) for line in traj.read_text().splitlines()]
    worst = min(r["reward"] for r in records)
    mixed = tmp_path / "mixed.jsonl"
    # one failed episode: same env, a call-less turn with reward 0
    failed = {**records[0], "sample": 1, "reward": -1.0, "steps": [{**records[0]["steps"][-1], "calls": []}],
              "messages": records[0]["messages"][:1] + [{"role": "assistant", "content": "no idea"}]}
    mixed.write_text("\n".join(json.dumps(r) for r in [*records, failed]) + "\n")
    keep_all = prepare_job(sft_config(tiny_model, (envs, mixed), tmp_path / "a"))
    filtered = prepare_job(sft_config(tiny_model, (envs, mixed), tmp_path / "b", min_reward=worst))
    assert len(keep_all.samples) == len(filtered.samples) + 1


def test_sft_input_errors_are_located(golden_run, tiny_model, tmp_path, capsys):
    from toolfeedback.cli import main

    envs, traj = golden_run
    bad = tmp_path / "bad.jsonl"
    bad.write_text(traj.read_text().splitlines()[0] + "\n" + json.dumps({"env_id": "nope"}) + "\n")
    code = main(["train", "--algorithm", "sft", "--model", tiny_model, "--data", str(bad),
                 "--envs", str(envs), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and f"{bad}:2: $.env_id" in err and "Traceback" not in err
    code = main(["train", "--algorithm", "sft", "--model", tiny_model, "--data", str(traj),
                 "--out", str(tmp_path / "o")])
    assert code == 2 and "--envs" in capsys.readouterr().err


def test_turns_calls_keeps_only_the_tool_calling_turns(golden_run, tiny_model, tmp_path, capsys):
    """``turns=calls`` (``[train.algorithm]`` or ``--algorithm-option``) drops the answer turns;
    a bad value is refused with its path; ``adam_beta2`` reaches the trainer."""
    from toolfeedback.cli import main

    job = prepare_job(sft_config(tiny_model, golden_run, tmp_path / "o", adam_beta2=0.98,
                                 algorithm_options={"turns": "calls"}))
    trainer = Catalog(job.pm).get("algorithms", "sft").build_trainer(job)
    with_calls = [t for t in job.samples if t.calls]
    assert 0 < len(with_calls) < len(job.samples)
    assert len(trainer.train_dataset) == len(with_calls)
    tok = trainer.processing_class
    for row in trainer.train_dataset:
        start = next(i for i, v in enumerate(row["labels"]) if v != -100)
        assert tok.decode(row["input_ids"][start:]).startswith("<tool_call>")
    assert trainer.args.adam_beta2 == 0.98
    envs, traj = golden_run
    code = main(["train", "--algorithm", "sft", "--model", tiny_model, "--data", str(traj),
                 "--envs", str(envs), "--out", str(tmp_path / "x"), "--algorithm-option", "turns=some"])
    err = capsys.readouterr().err
    assert code == 2 and "turns" in err and "'calls'" in err and "Traceback" not in err
