"""How tool calls get executed: :func:`make_executor` and the release's baseline.

The :class:`Executor` interface lives in :mod:`toolfeedback.runtime.executor_interface`
(re-exported here), which the sandbox imports too: the sandbox never imports this module.

The real executor is the sandbox (:mod:`toolfeedback.runtime.sandbox`): persistent worker
processes, limits, isolation. :class:`InProcessExecutor` reproduces what the FTRL release
does (``exec`` of the code string in-process on every call, a thread-based timeout): it is
unsafe and kept only as the reference the sandbox is checked and benchmarked against.
"""

from __future__ import annotations

import threading
from typing import Any

from .executor_interface import DEFAULT_TIMEOUT, Executor, error_text  # noqa: F401 - re-exported
from .matching import serialize_output
from ..types import ToolCall, ToolResult

class InProcessExecutor:
    """The FTRL release's way (unsafe baseline): exec per call in this process, thread timeout."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT):
        self.timeout = timeout
        self._states: dict[str, Any] = {}

    def run_calls(self, env_key, codes, calls, *, episode=None, state=None, timeout=None):
        limit = self.timeout if timeout is None else timeout
        kwargs = {}
        if episode is not None and state is not None:
            kwargs["data"] = self._states.setdefault(episode, state)
        return [self._one(call, codes, limit, kwargs) for call in calls]

    def _one(self, call: ToolCall, codes, limit: float, kwargs) -> ToolResult:
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                namespace: dict[str, Any] = {}
                exec(codes[call.name], namespace, namespace)  # noqa: S102 - the baseline by design
                if call.name not in namespace:
                    raise NameError(f"name {call.name} is not defined")
                box["value"] = serialize_output(namespace[call.name](**call.arguments, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - reported to the model
                box["error"] = exc

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(limit)
        if thread.is_alive():
            reason = f"timed out after {limit:g} seconds"
            return ToolResult(call.name, error_text(call.name, reason), ok=False, error=reason,
                              call_id=call.id)
        if "error" in box:
            reason = str(box["error"])
            return ToolResult(call.name, error_text(call.name, reason), ok=False, error=reason,
                              call_id=call.id)
        return ToolResult(call.name, box["value"], call_id=call.id)

    def end_episode(self, episode: str) -> None:
        self._states.pop(episode, None)

    def close(self) -> None:
        self._states.clear()


EXECUTOR_KINDS = ("sandbox", "inprocess", "auto")


def make_executor(kind: str = "sandbox", *, timeout: float = DEFAULT_TIMEOUT, workers: int = 2,
                  isolation: str | None = None):
    """The executor every verb runs tools in.

    ``sandbox`` (``auto`` is the same, kept for configs): :class:`~toolfeedback.runtime.sandbox.Sandbox`
    with ``workers`` processes and ``isolation`` (``strict``/``basic``/``auto``; ``None``: the
    process-wide default that ``--isolation`` sets). ``inprocess``: the release's unsafe
    baseline, for comparison only.
    """
    if kind in ("sandbox", "auto"):
        from .sandbox import Sandbox

        return Sandbox(workers=max(1, workers), timeout=timeout, isolation=isolation)
    if kind == "inprocess":
        return InProcessExecutor(timeout=timeout)
    from ..errors import ConfigError

    raise ConfigError(f"unknown executor {kind!r}; expected one of {', '.join(EXECUTOR_KINDS)}")
