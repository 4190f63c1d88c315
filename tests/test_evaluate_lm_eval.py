"""lm-evaluation-harness end to end on the tiny model with our local offline tasks."""

from __future__ import annotations

import json
import os

import pytest

from toolfeedback.contrib import lm_eval_plugin
from toolfeedback.errors import ConfigError
from toolfeedback.evaluate.driver import EvalConfig, evaluate
from toolfeedback.manager import create_plugin_manager

# lm-eval is part of the test install (`.[train,eval,test]`): fail, never skip, without it.
import lm_eval  # noqa: E402,F401


def _own_mc_accuracy(model_dir: str) -> float:
    """tf_mc accuracy computed directly with transformers: argmax log p(" X" | prompt)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    rows = [json.loads(l) for l in (lm_eval_plugin.task_dir() / "tf_mc.jsonl").read_text().splitlines()]
    right = 0
    for r in rows:
        c = r["choices"]
        ctx = (f"Question: {r['question'].strip()}\nA. {c[0]}\nB. {c[1]}\nC. {c[2]}\nD. {c[3]}\nAnswer:")
        n_ctx = len(tok(ctx, add_special_tokens=False).input_ids)
        scores = []
        for letter in "ABCD":
            ids = tok(ctx + " " + letter, add_special_tokens=False).input_ids
            with torch.no_grad():
                logp = model(torch.tensor([ids])).logits.log_softmax(-1)[0]
            scores.append(sum(logp[i - 1, ids[i]].item() for i in range(n_ctx, len(ids))))
        right += int(max(range(4), key=scores.__getitem__) == r["answer"])
    return right / len(rows)


@pytest.mark.slow
def test_lm_eval_local_tasks_offline(tiny_model, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    pm = create_plugin_manager(entry_points=False, plugins=[lm_eval_plugin])
    out = tmp_path / "lm.json"
    report = evaluate(EvalConfig(evaluator="lm_eval", model=tiny_model, evaluator_options={"tasks": ["tf_arith", "tf_mc"]},
                                 batch_size=4, out=str(out)), pm)
    results = report["results"]
    assert report["n_samples"]["tf_arith"]["effective"] == 20  # read from the packaged JSONL
    assert 0.0 <= results["tf_arith"]["exact_match,flexible-extract"] <= 1.0
    assert results["tf_mc"]["acc,none"] == pytest.approx(_own_mc_accuracy(tiny_model))
    assert json.loads(out.read_text())["results"] == results
    assert "HF_HUB_OFFLINE" not in os.environ  # switched on only for the run


def test_lm_eval_errors_are_clear(tiny_model, tmp_path):
    with pytest.raises(ConfigError, match="not a model directory"):
        lm_eval_plugin.run_lm_eval(str(tmp_path), ["tf_mc"])
    with pytest.raises(ConfigError, match="needs tasks"):
        lm_eval_plugin.run_lm_eval(tiny_model, [])


@pytest.mark.slow
def test_lm_eval_unknown_task(tiny_model):
    with pytest.raises(ConfigError, match="unknown lm_eval task.*no_such_task"):
        lm_eval_plugin.run_lm_eval(tiny_model, ["no_such_task"])


def test_local_task_files_are_packaged():
    folder = lm_eval_plugin.task_dir()
    for name in lm_eval_plugin.LOCAL_TASKS:
        assert (folder / f"{name}.yaml").exists()
        rows = (folder / f"{name}.jsonl").read_text().splitlines()
        assert len(rows) == 20 and all(json.loads(r)["question"] for r in rows)
    with lm_eval_plugin.local_tasks() as include:
        text = (include / "tf_arith.yaml").read_text()
        assert "@DATA_DIR@" not in text and str(folder) in text


def _lora_adapter(base: str, out) -> str:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=2, target_modules=["q_proj"]))
    model.save_pretrained(str(out))
    return str(out)


def test_lm_eval_takes_a_lora_checkpoint(tiny_model, tmp_path):
    # README: `train --adapter lora` then `eval --evaluator lm_eval --model ckpt/` once failed
    # with "not a model directory (no config.json)".
    adapter = _lora_adapter(tiny_model, tmp_path / "ckpt")
    results = lm_eval_plugin.run_lm_eval(adapter, ["tf_mc"], limit=2, batch_size=2)
    assert 0.0 <= results["results"]["tf_mc"]["acc,none"] <= 1.0
    config = tmp_path / "ckpt" / "adapter_config.json"
    config.write_text(config.read_text().replace(str(tiny_model), str(tmp_path / "gone")))
    with pytest.raises(ConfigError, match="LoRA adapter whose base model"):
        lm_eval_plugin.run_lm_eval(adapter, ["tf_mc"])
