"""The Python API: one function per CLI verb, over the same attrs configs.

Functions live next to the code they drive and are imported lazily, so
``import toolfeedback`` stays light (no torch, transformers or trl).
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> "module:attribute"
_EXPORTS = {
    "list_plugins": "toolfeedback.api_plugins:list_plugins",
    "score": "toolfeedback.scoring:score",
    "score_file": "toolfeedback.scoring:score_file",
    "build": "toolfeedback.pipeline:build",
    "verify": "toolfeedback.pipeline:verify",
    "rollout": "toolfeedback.rollout:rollout",
    "build_tiny_model": "toolfeedback.tiny_model:build_tiny_model",
    "train": "toolfeedback.training:train",
    "demo": "toolfeedback.demo:demo",
    "evaluate": "toolfeedback.evaluation:evaluate",
    "analyze": "toolfeedback.analysis:analyze",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        target = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'toolfeedback.api' has no attribute {name!r}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def __dir__() -> list[str]:
    return __all__
