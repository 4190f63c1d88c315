"""Per-step limits of the sandbox and the choice of isolation mode.

A step (one ``run_calls``) may make at most ``max_calls`` calls, spend ``step_timeout``
seconds of wall time in tools and return ``max_step_output`` characters of output in
all. A limit hit is an error text to the model, as a timeout is; the parent enforces all
three (it never reads more than the remaining output budget from a worker).
"""

from __future__ import annotations

import os
import sys
import time
import warnings

from ..types import ToolResult

ISOLATION_MODES = ("auto", "strict", "basic")
#: The process-wide default of ``Sandbox(isolation=...)``; ``--isolation`` sets it.
DEFAULT = {"isolation": "auto"}


def kernel_ready() -> tuple[bool, str]:
    """Whether this kernel offers what strict isolation needs (Landlock and seccomp), and
    if not, why not. Cheap: no process is started."""
    if not sys.platform.startswith("linux"):
        return False, "strict isolation needs Linux (Landlock and seccomp)"
    try:
        import landlockpy
        import seccompy
    except ImportError as exc:
        return False, f"the Landlock/seccomp bindings are not installed ({exc})"
    if landlockpy.abi_version() < 1:
        return False, "this kernel has no Landlock (needs Linux 5.13+ with landlock in the LSM list)"
    if not seccompy.supported():
        return False, "this kernel has no seccomp filters"
    if not hasattr(os, "memfd_create") or not hasattr(os, "pidfd_open"):
        return False, "this Python lacks os.memfd_create/os.pidfd_open"
    return True, ""


class IsolationWarning(RuntimeWarning):
    """The sandbox runs without kernel-enforced isolation."""


def set_default_isolation(mode: str) -> None:
    """Set the isolation every later :func:`make_executor` / ``Sandbox()`` uses by default."""
    if mode not in ISOLATION_MODES:
        raise ValueError(f"unknown isolation {mode!r}; expected one of {', '.join(ISOLATION_MODES)}")
    DEFAULT["isolation"] = mode


def resolve_isolation(mode: str | None) -> str:
    """``strict`` or ``basic`` for a requested mode: ``auto`` is strict where the kernel
    allows it; ``strict`` on a kernel without Landlock/seccomp raises
    :class:`~toolfeedback.errors.ConfigError`; ``basic`` warns."""
    from ..errors import ConfigError

    mode = mode or DEFAULT["isolation"]
    if mode not in ISOLATION_MODES:
        raise ConfigError(f"unknown isolation {mode!r}; expected one of {', '.join(ISOLATION_MODES)}")
    if mode == "basic":
        warnings.warn("the tool sandbox runs with --isolation basic: Python-level checks only, no "
                      "kernel isolation (tool code can read files, signal processes and leave state "
                      "behind for later records)", IsolationWarning, stacklevel=3)
        return "basic"
    ready, why = kernel_ready()
    if ready:
        return "strict"
    if mode == "strict":
        raise ConfigError(f"--isolation strict: {why} (see `toolfeedback doctor`)")
    warnings.warn(f"the tool sandbox falls back to --isolation basic: {why}", IsolationWarning, stacklevel=3)
    return "basic"


class Step:
    """The budget of one step: wall time, output characters (calls are cut before)."""

    def __init__(self, box):
        self.box = box
        self.end = time.monotonic() + box.step_timeout
        self.output_left = box.max_step_output
        self.time_text = f"the step used up its {box.step_timeout:g} seconds of tool time"
        self.over_text = (f"the step's tool output reached its limit of {box.max_step_output} "
                          "characters; this call was not run")

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def deadline(self, limit: float) -> tuple[float, bool]:
        """The deadline of a call allowed ``limit`` seconds, and whether the step's own
        deadline is the earlier one."""
        end = time.monotonic() + limit
        return (self.end, True) if self.end < end else (end, False)

    def max_bytes(self, max_output: int) -> int:
        """The largest reply frame worth reading now (JSON escapes: 6 bytes a character)."""
        return min(max_output, max(self.output_left, 0)) * 6 + (1 << 16)

    def result(self, call, ok: bool, content: str) -> ToolResult:
        """The call's result, cut to what is left of the step's output budget."""
        box = self.box
        if self.output_left <= 0:
            return box._error(call, self.over_text)
        limit = min(box.max_output, self.output_left)
        if len(content) > limit + 64:  # the worker cuts at ``limit`` and adds a marker
            content = content[:limit] + f"... [truncated {len(content) - limit} characters]"
        self.output_left -= min(len(content), limit)
        if ok:
            return ToolResult(call.name, content, call_id=call.id)
        return box._error(call, content)


def limited(box, env_key, codes, calls, episode, state, timeout, attempt) -> list[ToolResult]:
    """Run one step under the step limits of ``box``: at most ``max_calls`` calls, the
    step's deadline checked before each attempt, an episode whose process died answered
    with ``box._LOST``. ``attempt(env_key, codes, calls, episode, state, limit, step)`` runs
    as many of the remaining calls as one tool process gets through (at least one result)."""
    calls = list(calls)
    if not calls:
        return []
    env_key = box._effective_key(env_key, codes)
    limit = box.timeout if timeout is None else float(timeout)
    allowed = calls[:box.max_calls]
    if episode is not None and state is None and not box._has_episode(episode):
        episode = None  # no database given: a stateless call, as the release makes it
    step = Step(box)
    results: list[ToolResult] = []
    while len(results) < len(allowed):
        rest = allowed[len(results):]
        if episode is not None and episode in box._lost:
            results.extend(box._error(c, box._LOST) for c in rest)
            break
        if step.expired():
            results.extend(box._error(c, step.time_text + "; this call was not run") for c in rest)
            break
        results.extend(attempt(env_key, codes, rest, episode, state, limit, step))
    over = f"the step made more than {box.max_calls} tool calls; this call was not run"
    return results + [box._error(c, over) for c in calls[box.max_calls:]]
