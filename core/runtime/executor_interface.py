"""The :class:`Executor` interface every tool runner satisfies, and the release's wording of a
failed call. Both the sandbox and the in-process baseline import it; it imports neither."""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

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
