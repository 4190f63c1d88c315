"""toolfeedback: feedback-driven tool-use training from automatically built, verifiable environments.

Importing this package is light: no torch, transformers or trl. See :mod:`toolfeedback.api`
for the Python API and :mod:`toolfeedback.hookspecs` for the extension points.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .markers import hookimpl, hookspec  # noqa: E402
from .manager import create_plugin_manager  # noqa: E402

__all__ = ["__version__", "hookimpl", "hookspec", "create_plugin_manager"]
