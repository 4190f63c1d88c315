"""Adapters: ``full`` (every weight trains) and ``lora`` (peft ``LoraConfig``).

``lora`` has its own options (``[train.adapter]`` with ``name = "lora"``, or
``--adapter-option r=8``): ``r``, ``alpha``, ``dropout``, ``target_modules``, ``merge``
and ``preset``. The preset ``lower-mlp`` targets only the MLP projections (``gate_proj``,
``up_proj``, ``down_proj``) of the lower half of the decoder layers
(``layers_to_transform``), reflecting the paper's finding that the gains come mostly from
lower-layer MLPs.
"""

from __future__ import annotations

from attrs import field, frozen

from toolfeedback import hookimpl
from toolfeedback.checks import at_least, in_range, one_of
from toolfeedback.errors import ConfigError
from toolfeedback.contracts import Adapter

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


class FullAdapter(Adapter):
    """Full fine-tuning: no peft config, no options."""

    name = "full"

    def peft_config(self, model, options):
        """``None``: the trainer updates every parameter."""
        return None

    def merge_on_save(self, options) -> bool:
        """Nothing to merge."""
        return False


@frozen
class LoraOptions:
    """Options of the ``lora`` adapter (``[train.adapter]``, ``--adapter-option``)."""

    preset: str | None = field(default=None, validator=one_of(PRESETS), metadata={
        "help": "'lower-mlp' trains only the MLPs of the lower half of the layers"})
    r: int = field(default=16, validator=at_least(1), metadata={"help": "LoRA rank"})
    alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha"})
    dropout: float = field(default=0.05, validator=in_range(0, 1, high_open=True),
                           metadata={"help": "LoRA dropout"})
    target_modules: tuple[str, ...] = field(default=(), metadata={
        "help": "target module names (default: all linear layers, or the preset's)"})
    merge: bool = field(default=False, metadata={
        "help": "also save the adapter merged into the base model under OUT/merged"})


class LoraAdapter(Adapter):
    """LoRA through peft; ``preset='lower-mlp'`` restricts it to lower-layer MLPs."""

    name = "lora"
    Options = LoraOptions
    #: ``train --model`` given a LoRA checkpoint: go on training that adapter
    continues_adapter = True

    def peft_config(self, model, options):
        """A ``peft.LoraConfig`` for causal-LM training."""
        from peft import LoraConfig

        options = options if options is not None else LoraOptions()
        targets = list(options.target_modules) or None
        layers = None
        if options.preset == "lower-mlp":
            targets = targets or list(MLP_MODULES)
            layers = list(range(max(1, num_layers(model) // 2)))
        return LoraConfig(
            r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout,
            target_modules=targets or "all-linear", task_type="CAUSAL_LM",
            layers_to_transform=layers, layers_pattern="layers" if layers is not None else None)

    def merge_on_save(self, options) -> bool:
        """The ``merge`` option."""
        return bool(options is not None and options.merge)


@hookimpl
def register_adapters(register):
    register(FullAdapter())
    register(LoraAdapter())
