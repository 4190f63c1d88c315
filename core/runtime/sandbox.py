"""The tool sandbox: :func:`Sandbox` builds the one of the isolation asked for.

``strict`` (the default where the kernel allows it, see ``toolfeedback doctor``):
:class:`~toolfeedback.runtime.sandbox_strict.StrictSandbox`, one kernel-confined process
per episode. ``basic``: :class:`~toolfeedback.runtime.sandbox_basic.BasicSandbox`, a pool of
persistent workers with Python-level checks only. Both satisfy
:class:`~toolfeedback.runtime.executor_interface.Executor` and take the same keyword
arguments (see :class:`~toolfeedback.runtime.sandbox_basic.BasicSandbox`).

Example::

    with Sandbox(workers=2, timeout=10) as box:
        results = box.run_calls(env.id, env.codes, calls)
"""

from __future__ import annotations

from typing import Any

from .sandbox_basic import BasicSandbox
from .sandbox_limits import resolve_isolation


def Sandbox(*args: Any, isolation: str | None = None, **kwargs: Any) -> BasicSandbox:  # noqa: N802
    """A sandbox of ``isolation`` (``strict``, ``basic``, ``auto``/``None``: the process-wide
    default that ``--isolation`` sets); strict refuses to start on a kernel without it."""
    if resolve_isolation(isolation) == "strict":
        from .sandbox_strict import StrictSandbox

        return StrictSandbox(*args, isolation=isolation, **kwargs)
    return BasicSandbox(*args, isolation=isolation, **kwargs)
