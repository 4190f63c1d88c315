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
from typing import Any, Sequence

from attrs import field, frozen

from .errors import ConfigError


@frozen
class ShardConfig:
    """How a job is spread: runner, number of shards, servers (``rollout``, ``build``, ``eval``)."""

    runner: str = field(default="local", metadata={"help": "shard runner: local or ray"})
    shards: int = field(default=1, metadata={"help": "number of shards"})
    parallel: int | None = field(default=None, metadata={
        "help": "shards running at once (default: all; ray: as the cluster's CPUs allow)"})
    base_urls: tuple[str, ...] = field(default=(), metadata={
        "help": "OpenAI-compatible servers; shard i uses base_urls[i % len] as its base_url"})
    runner_options: dict[str, Any] = field(factory=dict, metadata={
        "help": "runner options (ray: address, num_cpus, num_gpus, max_retries)"})

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values that cannot work."""
        if self.shards < 1:
            raise ConfigError("shards: must be at least 1")
        if self.parallel is not None and self.parallel < 1:
            raise ConfigError("parallel: must be at least 1")


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


# The runner contract is declared with the other catalog categories.
from .contracts import Runner  # noqa: E402,F401 - re-exported


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


def add_runner_arguments(parser) -> None:
    """``--runner --shards --parallel --ray-address --runner-option`` (``build``, ``eval``)."""
    add = parser.add_argument
    add("--runner", help="run as shards with this runner: local (processes here) or ray (Ray "
                         "tasks; pip install 'toolfeedback[ray]'); see docs/scaling.md")
    add("--shards", type=int, help="number of shards (default: 2 with --runner)")
    add("--parallel", type=int, help="shards running at once (default: all)")
    add("--ray-address", help="Ray cluster to join (auto, ray://head:10001; default: start a local Ray)")
    add("--runner-option", action="append", metavar="KEY=VALUE", default=[],
        help="runner option, repeatable (ray: num_cpus=1, num_gpus=0, max_retries=2)")


def shard_config_from_args(args) -> ShardConfig | None:
    """The :class:`ShardConfig` of :func:`add_runner_arguments`' flags, or ``None`` for one
    process (no ``--runner`` and at most one shard)."""
    import json

    if args.runner is None and args.shards in (None, 1):
        return None
    options: dict[str, Any] = {}
    for item in args.runner_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--runner-option {item!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    if args.ray_address:
        options["address"] = args.ray_address
    config = ShardConfig(runner=args.runner or "local", shards=args.shards or 2,
                         parallel=args.parallel, runner_options=options)
    config.validate()
    return config
