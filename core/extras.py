"""Which optional extra installs a missing module, so a half-installed setup gets one line
(``... needs the 'train' extra: pip install 'toolfeedback[train]'``) instead of a
``ModuleNotFoundError`` traceback.

The CLI turns any ``ModuleNotFoundError`` for a module listed here into
:class:`MissingExtraError`; library code may call :func:`require` up front.
"""

from __future__ import annotations

import importlib.util

from .errors import ToolfeedbackError

#: top-level module -> the extra of pyproject.toml that installs it
EXTRA_OF = {
    "torch": "train", "transformers": "train", "tokenizers": "train", "trl": "train",
    "peft": "train", "accelerate": "train", "datasets": "train", "safetensors": "train",
    "lm_eval": "eval", "matplotlib": "train", "hypothesis": "test", "pytest": "test",
}


class MissingExtraError(ToolfeedbackError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, module: str, extra: str, what: str | None = None):
        self.module, self.extra = module, extra
        need = f"{what} needs" if what else "this needs"
        super().__init__(f"{need} {module!r}, which is not installed: pip install "
                         f"'toolfeedback[{extra}]' (the {extra!r} extra; from a clone: "
                         f"pip install -e \".[{extra}]\")")


def extra_for(exc: BaseException, what: str | None = None) -> MissingExtraError | None:
    """The :class:`MissingExtraError` for a ``ModuleNotFoundError`` of an optional module
    (``None`` for anything else: a missing module of ours is a bug, not a setup)."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    top = exc.name.partition(".")[0]
    extra = EXTRA_OF.get(top)
    return MissingExtraError(top, extra, what) if extra else None


def require(*modules: str, what: str | None = None) -> None:
    """Raise :class:`MissingExtraError` for the first of ``modules`` not installed."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(module, EXTRA_OF.get(module, "all"), what)
