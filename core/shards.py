"""Running independent shards of a job: the ``register_runners`` registry and the local runner.

A job that splits into independent pieces (a rollout over many environments, say) is cut
into :class:`ShardTask` objects: an importable function named ``"module:function"`` and
JSON-like keyword arguments, so any runner can ship it to another process or machine. A
runner (``local`` from ``toolfeedback.plugins.runner_local``: processes on this machine; ``ray`` from ``toolfeedback.contrib.executor_ray``:
Ray tasks on a cluster) runs the tasks and returns one :class:`ShardResult` per task, in
task order; a failed shard is a result with ``error`` set, never an exception that hides
the other shards' results, so the caller can keep what the others wrote.

Shard functions must be idempotent (re-running a shard that died half-way must resume,
not duplicate): runners retry a shard whose process died.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, Sequence, runtime_checkable

from attrs import field, frozen

from .errors import ConfigError


@frozen
class ShardTask:
    """One shard: ``fn`` (``"package.module:function"``) called as ``fn(**kwargs)``."""

    index: int
    fn: str
    kwargs: dict = field(factory=dict)


@frozen
class ShardResult:
    """What a shard returned (``value``), or why it failed (``error``, one line)."""

    index: int
    value: Any = None
    error: str | None = None
    #: Where it ran (host name), when the runner knows.
    host: str | None = None

    @property
    def ok(self) -> bool:
        """True when the shard finished."""
        return self.error is None


@runtime_checkable
class Runner(Protocol):
    """Runs shard tasks; registered with ``register_runners``.

    Example::

        class ThreadRunner:
            name = "threads"
            def run(self, tasks, *, parallel=None, options=None):
                return [run_task(t) for t in tasks]
    """

    name: str

    def run(self, tasks: Sequence[ShardTask], *, parallel: int | None = None,
            options: dict | None = None) -> list[ShardResult]:
        """Run every task (at most ``parallel`` at once); one result per task, in order."""


def resolve(fn: str):
    """The function named ``"package.module:function"``."""
    module, sep, name = fn.partition(":")
    if not sep or not module or not name:
        raise ConfigError(f"shard function {fn!r}: expected 'package.module:function'")
    return getattr(importlib.import_module(module), name)


def run_task(task: ShardTask) -> ShardResult:
    """Run one task here; an exception becomes the result's ``error`` (its last line)."""
    import socket

    from .errors import ToolfeedbackError

    host = socket.gethostname()
    try:
        return ShardResult(task.index, resolve(task.fn)(**task.kwargs), host=host)
    except ToolfeedbackError as exc:  # already a one-line, located message
        return ShardResult(task.index, error=str(exc), host=host)
    except Exception as exc:  # noqa: BLE001 - reported per shard, the others go on
        return ShardResult(task.index, error=f"{type(exc).__name__}: {exc}", host=host)


def get_runner(pm, name: str) -> Runner:
    """The runner registered as ``name`` (``local``, ``ray``, ...)."""
    from .registry import Catalog

    return Catalog(pm).get("runners", name)
