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
    "score": "toolfeedback.runtime.scoring:score",
    "score_file": "toolfeedback.runtime.scoring:score_file",
    "build": "toolfeedback.build.pipeline:build",
    "verify": "toolfeedback.build.pipeline:verify",
    "rollout": "toolfeedback.rollout.collect:rollout",
    "build_tiny_model": "toolfeedback.tiny_model:build_tiny_model",
    "train": "toolfeedback.train.job:train",
    "iterate": "toolfeedback.train.iterate:iterate",
    "demo": "toolfeedback.plugins.demo:demo",
    "evaluate": "toolfeedback.evaluate.driver:evaluate",
    "analyze": "toolfeedback.evaluate.analysis:analyze",
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
