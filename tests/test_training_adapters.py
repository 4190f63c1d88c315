"""Adapters: full fine-tuning and peft LoRA, with the lower-layer MLP preset."""

from __future__ import annotations

import pytest

from helpers.training import small_config
from toolfeedback.manager import create_plugin_manager
from toolfeedback.registry import Catalog


@pytest.fixture(scope="module")
def adapters():
    catalog = Catalog(create_plugin_manager())
    return catalog.get("adapters", "full"), catalog.get("adapters", "lora")


def load(model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)


def test_full_adapter_trains_everything(adapters, tiny_model, tmp_path):  # noqa: F811
    full, _ = adapters
    assert full.peft_config(load(tiny_model), None) is None


def test_lower_mlp_preset_targets_only_lower_layer_mlps(adapters, tiny_model, tmp_path):  # noqa: F811
    from peft import get_peft_model

    _, lora = adapters
    model = load(tiny_model)
    layers = model.config.num_hidden_layers
    config = lora.peft_config(model, lora.Options(preset="lower-mlp", r=4))
    assert config.layers_to_transform == list(range(layers // 2))
    peft_model = get_peft_model(model, config)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable, "the preset selected nothing"
    assert all("lora_" in n and ".mlp." in n for n in trainable)
    indices = {int(n.split(".layers.")[1].split(".")[0]) for n in trainable}
    assert indices == set(range(layers // 2))
    kinds = {n.split(".mlp.")[1].split(".")[0] for n in trainable}
    assert kinds == {"gate_proj", "up_proj", "down_proj"}


def test_plain_lora_targets_all_linear_layers_with_options(adapters, tiny_model, tmp_path):  # noqa: F811
    from peft import get_peft_model

    _, lora = adapters
    model = load(tiny_model)
    config = lora.peft_config(model, lora.Options(r=2, alpha=8, dropout=0.0))
    assert (config.r, config.lora_alpha, config.lora_dropout) == (2, 8, 0.0)
    trainable = [n for n, p in get_peft_model(model, config).named_parameters() if p.requires_grad]
    assert any(".self_attn." in n for n in trainable) and any(".mlp." in n for n in trainable)
    assert all("lora_" in n for n in trainable)
    custom = lora.peft_config(load(tiny_model), lora.Options(target_modules=("q_proj",)))
    assert set(custom.target_modules) == {"q_proj"}
