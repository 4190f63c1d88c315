"""How tool calls get executed: the :class:`Executor` interface and the release's baseline.

The real executor is the sandbox (:mod:`toolfeedback.runtime.sandbox`): persistent worker
processes, limits, isolation. :class:`InProcessExecutor` reproduces what the FTRL release
does (``exec`` of the code string in-process on every call, a thread-based timeout): it is
unsafe and kept only as the reference the sandbox is checked and benchmarked against.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from .matching import serialize_output
from ..types import ToolCall, ToolResult

DEFAULT_TIMEOUT = 10.0


def error_text(name: str, reason: str) -> str:
    """The tool message for a failed call, worded exactly as the release words it."""
    return f"an error occured when call {name}: {reason}"


@runtime_checkable
class Executor(Protocol):
    """Runs the tool calls of one assistant step.

    ``env_key`` identifies the environment's code (compiled once per key and reused);
    ``codes`` maps tool name -> Python source; ``episode`` names the episode whose state a
    stateful tool (first parameter ``data``) reads and mutates; ``state`` is that
    episode's initial database, used the first time the episode is seen. Results come
    back in call order; a failing call gives ``ok=False`` and an error text, never raises.
    """

    def run_calls(self, env_key: str, codes: Mapping[str, str], calls: Sequence[ToolCall], *,
                  episode: str | None = None, state: Any = None,
                  timeout: float | None = None) -> list[ToolResult]:
        """Execute ``calls`` in order and return one :class:`ToolResult` each."""

    def end_episode(self, episode: str) -> None:
        """Forget an episode's state."""

    def close(self) -> None:
        """Release workers and resources."""


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
