"""The official BFCL checker, from the ``bfcl-eval`` package (extra ``bfcl``).

Only the checker is used: ``ast_checker`` for the AST categories (with its Java and
JavaScript type converters), and the relevance rule of its ``eval_runner``. Its
``constants.model_config`` imports every vendor SDK it supports (OpenAI, Anthropic,
Google, Cohere, ...) just to look up one flag, so when those are not installed
(``pip install --no-deps bfcl-eval``, as the test install does) a small stand-in module
answers that lookup; the checking code is the package's own either way.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any

MODEL_NAME = "toolfeedback"  # our calls carry BFCL's own (dotted) names: no renaming
_loaded: dict[str, Any] = {}


class _Config:
    underscore_to_dot = False


def available() -> bool:
    """Whether ``bfcl_eval`` can be imported."""
    try:
        importlib.import_module("bfcl_eval")
    except ImportError:
        return False
    return True


def _checker():
    if "ast" in _loaded:
        return _loaded["ast"]
    try:
        config = importlib.import_module("bfcl_eval.constants.model_config")
    except ImportError:  # the inference stack is absent: stand in for the one lookup
        config = types.ModuleType("bfcl_eval.constants.model_config")
        config.MODEL_CONFIG_MAPPING = {}
        sys.modules["bfcl_eval.constants.model_config"] = config
    config.MODEL_CONFIG_MAPPING.setdefault(MODEL_NAME, _Config())
    ast_checker = importlib.import_module("bfcl_eval.eval_checker.ast_eval.ast_checker")
    enums = importlib.import_module("bfcl_eval.constants.enums")
    _loaded["ast"] = (ast_checker.ast_checker, enums.Language)
    return _loaded["ast"]


def data_dir() -> Path:
    """The data folder the installed package ships (``BFCL_v4_*.json``, ``possible_answer/``)."""
    return Path(importlib.import_module("bfcl_eval").__file__).parent / "data"


def version() -> str:
    """The installed ``bfcl-eval`` version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version("bfcl-eval")
    except PackageNotFoundError:
        return "unknown"


def check(functions: list[dict], calls: list[dict], truth: list[dict], category: str) -> dict[str, Any]:
    """The official verdict ``{"valid": bool, "error": str | None}`` on the decoded ``calls``
    (each ``{name: arguments}``, BFCL names) of one AST record."""
    ast_checker, language = _checker()
    lang = (language.JAVASCRIPT if "javascript" in category else
            language.JAVA if "java" in category else language.PYTHON)
    try:
        result = ast_checker(functions, calls, truth, lang, category, MODEL_NAME)
    except Exception as exc:  # noqa: BLE001 - the checker's own crash on odd ground truth
        return {"valid": False, "error": f"official checker raised {type(exc).__name__}: {exc}"}
    error = result.get("error") or None
    return {"valid": bool(result["valid"]), "error": None if result["valid"] else str(error)[:500]}
