"""Parameter-change analysis and restoration on tiny models with known changes."""

from __future__ import annotations

import json
import shutil

import pytest

from toolfeedback.evaluate.analysis import Checkpoint, analyze, classify, parse_spec, restore
from toolfeedback.cli import main
from toolfeedback.errors import ConfigError


def _edit(src, dst, scale: dict[str, float]):
    """Copy a model and add noise of relative size ``scale[fragment]`` to matching tensors."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    state = load_file(str(dst / "model.safetensors"))
    gen = torch.Generator().manual_seed(1)
    for name, tensor in state.items():
        for fragment, size in scale.items():
            if fragment in name:
                noise = torch.randn(tensor.shape, generator=gen) * tensor.float().std().clamp_min(1e-3)
                state[name] = (tensor.float() + size * noise).to(tensor.dtype)
    save_file(state, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


@pytest.fixture(scope="module")
def tuned(tiny_model, tmp_path_factory):
    # layer 1's MLP changes most, layer 0's q_proj a little, the rest not at all
    return _edit(__import__("pathlib").Path(tiny_model), tmp_path_factory.mktemp("tuned") / "m",
                 {"layers.1.mlp.": 0.5, "layers.0.self_attn.q_proj": 0.05})


def test_classify_names():
    assert classify("model.layers.3.mlp.down_proj.weight") == (3, "down")
    assert classify("model.layers.0.self_attn.q_proj.weight") == (0, "q")
    assert classify("model.layers.2.input_layernorm.weight") == (2, "norms")
    assert classify("model.embed_tokens.weight") == (None, "embeddings")
    assert classify("model.norm.weight") == (None, "norms")


def test_analysis_ranks_the_changed_layers_and_modules(tiny_model, tuned, tmp_path):
    report = analyze(tiny_model, tuned, out_dir=tmp_path / "a")
    assert report["ranking"]["layers"][0] == "1"
    assert report["ranking"]["modules"][:3] and set(report["ranking"]["modules"][:3]) == {"gate", "up", "down"}
    assert report["ranking"]["modules"][3] == "q"
    assert report["by_module"]["embeddings"]["relative"] == 0.0
    assert report["by_layer_module"]["1"]["gate"] == pytest.approx(0.5, rel=0.2)
    assert report["by_layer_module"]["0"]["q"] == pytest.approx(0.05, rel=0.2)
    assert report["by_layer_module"]["0"]["gate"] == 0.0
    assert set(report["ranking"]["tensors"][:3]) == {f"model.layers.1.mlp.{p}_proj.weight"
                                                     for p in ("gate", "up", "down")}
    saved = json.loads((tmp_path / "a" / "changes.json").read_text())
    assert saved["ranking"] == report["ranking"]
    md = (tmp_path / "a" / "changes.md").read_text()
    assert "| layer | all |" in md and "Most changed layers: 1" in md


def test_identical_models_change_nothing(tiny_model):
    report = analyze(tiny_model, tiny_model, plot=False)
    assert report["overall"]["relative"] == 0.0


def test_restore_sets_exactly_the_chosen_tensors_back(tiny_model, tuned, tmp_path):
    out = tmp_path / "restored"
    done = restore(tiny_model, tuned, out, spec="layers=1,modules=mlp")
    assert sorted(done["restored"]) == sorted(f"model.layers.1.mlp.{p}_proj.weight"
                                              for p in ("gate", "up", "down"))
    base, tun, res = Checkpoint(tiny_model), Checkpoint(tuned), Checkpoint(out)
    for name in res.keys():
        source = base if name in done["restored"] else tun
        assert res.get(name).equal(source.get(name)), name
    # only the q_proj change is left; the restored model loads with transformers
    assert analyze(tiny_model, out, plot=False)["ranking"]["modules"][0] == "q"
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    AutoTokenizer.from_pretrained(out, local_files_only=True)


def test_lora_adapter_is_merged_before_analysis(tiny_model, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model, local_files_only=True)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["down_proj"],
                                                  layers_to_transform=[0]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    report = analyze(tiny_model, adapter, plot=False)
    assert report["adapter"] is True
    assert report["ranking"]["tensors"][0] == "model.layers.0.mlp.down_proj.weight"
    changed = [t["name"] for t in report["tensors"] if t["relative"] > 0]
    assert changed == ["model.layers.0.mlp.down_proj.weight"]
    done = restore(tiny_model, adapter, tmp_path / "r", spec="layers=0,modules=down")
    assert done["restored"] == ["model.layers.0.mlp.down_proj.weight"]
    assert analyze(tiny_model, tmp_path / "r", plot=False)["overall"]["relative"] == 0.0


def test_spec_parsing_and_errors():
    assert parse_spec("layers=0-2,5,modules=mlp,q") == {"layers": {0, 1, 2, 5},
                                                        "modules": {"gate", "up", "down", "q"}}
    for bad in ("", "layers=a-b", "modules=brain", "depth=3", "0-3"):
        with pytest.raises(ConfigError):
            parse_spec(bad)


def test_analyze_verb(tiny_model, tuned, tmp_path, capsys):
    status = main(["analyze", "--base", tiny_model, "--tuned", str(tuned), "--out", str(tmp_path / "o"),
                   "--no-plot", "--restore", "layers=1", "--restored-out", str(tmp_path / "r")])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert list(summary["top_layers"])[0] == "1" and summary["restored"]["tensors"] >= 3
    assert (tmp_path / "o" / "changes.md").exists() and not (tmp_path / "o" / "changes.png").exists()
    assert main(["analyze", "--base", tiny_model, "--tuned", str(tmp_path / "missing")]) == 2
    assert "not a model directory" in capsys.readouterr().err
