"""The ``ray`` runner: shards as Ray tasks, on this machine or across a cluster (extra ``ray``).

``toolfeedback rollout --runner ray --shards N`` starts a local Ray (``ray.init()``) unless
``--ray-address`` names a cluster (``auto``, or ``ray://head:10001``); a Ray already
initialized in the calling process (a notebook, a test) is used as it is. Each shard is
one Ray task: it runs a whole rollout on its node, with its own sandbox workers and its own
connection to the generation server. Options (``--runner-option KEY=VALUE``):

* ``num_cpus`` (default 1) and ``num_gpus`` (default 0): resources one shard reserves, so
  Ray places at most as many shards on a node as its CPUs / GPUs allow;
* ``max_retries`` (default 2): a task whose worker process or node died is run again
  (shard functions resume, see :mod:`toolfeedback.shards`);
* ``address``: the cluster (what ``--ray-address`` sets).

At most ``parallel`` shards are submitted at once (default: all; Ray queues the rest).
"""

from __future__ import annotations

from typing import Sequence

from toolfeedback import hookimpl
from toolfeedback.errors import ConfigError
from toolfeedback.shards import ShardResult, ShardTask, run_task
from toolfeedback.contracts import Runner

KNOWN = ("address", "num_cpus", "num_gpus", "max_retries")


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("runner 'ray' needs Ray: pip install 'toolfeedback[ray]'") from None
    return ray


class RayRunner(Runner):
    """Runs each shard as a Ray task with retries on worker or node death."""

    name = "ray"

    def run(self, tasks: Sequence[ShardTask], *, parallel: int | None = None,
            options: dict | None = None) -> list[ShardResult]:
        ray = _ray()
        options = dict(options or {})
        unknown = sorted(set(options) - set(KNOWN))
        if unknown:
            raise ConfigError(f"runner 'ray': unknown option(s) {', '.join(unknown)} "
                              f"(known: {', '.join(KNOWN)})")
        started_here = not ray.is_initialized()
        if started_here:
            # A local Ray when no address: as many CPUs as this machine has.
            ray.init(address=options.get("address") or None, include_dashboard=False,
                     log_to_driver=False)
        try:
            remote = ray.remote(num_cpus=float(options.get("num_cpus", 1)),
                                num_gpus=float(options.get("num_gpus", 0)),
                                max_retries=int(options.get("max_retries", 2)))(run_task)
            return self._drive(ray, remote, list(tasks), parallel or len(tasks))
        finally:
            if started_here:
                ray.shutdown()

    @staticmethod
    def _drive(ray, remote, tasks: list[ShardTask], parallel: int) -> list[ShardResult]:
        """Keep at most ``parallel`` tasks in flight; collect results in task order."""
        results: dict[int, ShardResult] = {}
        pending = list(tasks)
        running: dict = {}
        while pending or running:
            while pending and len(running) < max(1, parallel):
                task = pending.pop(0)
                running[remote.remote(task)] = task
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                task = running.pop(ref)
                try:
                    results[task.index] = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - retries spent: this shard failed
                    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    results[task.index] = ShardResult(
                        task.index, error=f"{type(exc).__name__}: {reason}".rstrip(": "))
        return [results[t.index] for t in tasks]


@hookimpl
def register_runners(register):
    register(RayRunner())
