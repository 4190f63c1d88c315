"""Adapters: ``full`` (every weight trains) and ``lora`` (peft ``LoraConfig``).

``lora`` takes r, alpha, dropout and target modules from the train config; the preset
``lower-mlp`` targets only the MLP projections (``gate_proj``, ``up_proj``,
``down_proj``) of the lower half of the decoder layers (``layers_to_transform``),
reflecting the paper's finding that the gains come mostly from lower-layer MLPs.
"""

from __future__ import annotations

from toolfeedback import hookimpl
from toolfeedback.errors import ConfigError

MLP_MODULES = ("gate_proj", "up_proj", "down_proj")
PRESETS = ("lower-mlp",)


def num_layers(model) -> int:
    """Decoder layer count from the model config (``num_hidden_layers`` or ``n_layer``)."""
    config = getattr(model, "config", model)
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    raise ConfigError("lora: cannot tell the model's number of layers for a layer preset")


class FullAdapter:
    """Full fine-tuning: no peft config."""

    name = "full"

    def validate(self, config) -> None:
        """Reject LoRA-only options given with full fine-tuning."""
        if config.lora_preset:
            raise ConfigError("--lora-preset needs --adapter lora")

    def peft_config(self, model, config):
        """``None``: the trainer updates every parameter."""
        return None


class LoraAdapter:
    """LoRA through peft; ``lora_preset='lower-mlp'`` restricts it to lower-layer MLPs."""

    name = "lora"
    #: ``train --model`` given a LoRA checkpoint: go on training that adapter
    continues_adapter = True

    def validate(self, config) -> None:
        """Check the options before any model loads."""
        if config.lora_preset is not None and config.lora_preset not in PRESETS:
            raise ConfigError(f"unknown lora preset {config.lora_preset!r} (known: {', '.join(PRESETS)})")
        if config.lora_r < 1:
            raise ConfigError("lora_r must be at least 1")
        if not 0 <= config.lora_dropout < 1:
            raise ConfigError("lora_dropout must be in [0, 1)")

    def peft_config(self, model, config):
        """A ``peft.LoraConfig`` for causal-LM training."""
        from peft import LoraConfig

        self.validate(config)
        targets = list(config.lora_target_modules) or None
        layers = None
        if config.lora_preset == "lower-mlp":
            targets = targets or list(MLP_MODULES)
            layers = list(range(max(1, num_layers(model) // 2)))
        return LoraConfig(
            r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
            target_modules=targets or "all-linear", task_type="CAUSAL_LM",
            layers_to_transform=layers, layers_pattern="layers" if layers is not None else None)


@hookimpl
def register_adapters(register):
    register(FullAdapter())
    register(LoraAdapter())
