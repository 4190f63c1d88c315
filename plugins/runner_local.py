"""The ``local`` runner: shards as processes on this machine (the default of ``--runner``)."""

from __future__ import annotations

from typing import Sequence

from toolfeedback import hookimpl
from toolfeedback.shards import ShardResult, ShardTask, run_task
from toolfeedback.contracts import Runner


def _run_task_tuple(args: tuple) -> ShardResult:
    # The pool pickles the call by reference to this module-level function.
    return run_task(ShardTask(*args))


class LocalRunner(Runner):
    """Shards in separate processes on this machine (``spawn``), ``parallel`` at a time.

    A worker process that dies (killed, out of memory) breaks the pool: the shards that had
    not finished are retried in a fresh pool (``options["max_retries"]`` times, default 1);
    shards resume from what they wrote, so a retry repeats nothing.
    """

    name = "local"

    def run(self, tasks: Sequence[ShardTask], *, parallel: int | None = None,
            options: dict | None = None) -> list[ShardResult]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        options = dict(options or {})
        retries = int(options.get("max_retries", 1))
        results: dict[int, ShardResult] = {}
        todo = list(tasks)
        for _ in range(retries + 1):
            if not todo:
                break
            workers = max(1, min(parallel or len(todo), len(todo)))
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = {t.index: pool.submit(_run_task_tuple, (t.index, t.fn, dict(t.kwargs)))
                           for t in todo}
                died = []
                for task in todo:
                    try:
                        results[task.index] = futures[task.index].result()
                    except BrokenProcessPool:
                        died.append(task)
                        results[task.index] = ShardResult(task.index, error="worker process died")
            todo = died
        return [results[t.index] for t in tasks]


@hookimpl
def register_runners(register):
    register(LocalRunner())
