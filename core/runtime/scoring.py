"""Score model responses in FTRL step records: ``toolfeedback score`` and its Python API.

Each input record is an FTRL-format step sample (``tools``, ``codes``, ``unsolved_set``,
``solve_rate``, ``answer``, ...) plus the model's ``response`` (a string; for the
``openai`` format also a message object). The response runs through the one step
function (:func:`toolfeedback.runtime.step.run_step`) in the given inference ``mode``, so
its reasoning is split off before calls are parsed, exactly as in rollout and training.
Each output line, in input order, holds the ``score`` and its breakdown (calls, results,
hits, remaining answers).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from ..errors import ConfigError, InputError
from .executor import DEFAULT_TIMEOUT, make_executor
from ..ftrl import FieldError, from_record
from ..progress import progress_bar


def parse_scored_record(record: Any):
    """``(environment, response, answer)`` of one record; :class:`FieldError` names a bad field."""
    env = from_record(record)
    if "response" not in record:
        raise FieldError("$.response", "missing")
    response = record["response"]
    if not isinstance(response, (str, dict)):
        raise FieldError("$.response", "expected a string (or a message object)")
    answer = record.get("answer")
    return env, response, answer


def _parts(pm, tool_format: str, mode: str):
    from ..registry import Catalog

    catalog = Catalog(pm)
    return catalog.get("tool_formats", tool_format), catalog.get("modes", mode)


def score_one(env, response, answer, *, reward, tool_format, executor, mode=None,
              timeout: float | None = None) -> dict[str, Any]:
    """Run one response (reasoning split off by ``mode``) and return ``{"score": float, ...breakdown}``."""
    from .step import run_step

    outcome = run_step(env, response, mode=mode, executor=executor, tool_format=tool_format,
                       answer=answer, timeout=timeout)
    row: dict[str, Any] = {"id": env.id, "score": reward.score(outcome)}
    row.update(outcome.breakdown())
    if hasattr(reward, "components"):
        row["components"] = reward.components(outcome)
    return row


def score(records: Iterable[dict[str, Any]], *, reward: str = "solve_f1", tool_format: str = "hermes",
          mode: str = "no-think", pm=None, executor=None, tool_timeout: float = DEFAULT_TIMEOUT,
          workers: int = 2) -> Iterator[dict[str, Any]]:
    """Score record dicts lazily, in order. A bad record raises :class:`InputError` naming
    its index and field. ``executor`` defaults to a :class:`~toolfeedback.runtime.sandbox.Sandbox`
    owned (and closed) by this generator."""
    from .step import make_reward
    from ..manager import create_plugin_manager

    pm = pm or create_plugin_manager()
    rewarder = make_reward(pm, reward)
    fmt, inference = _parts(pm, tool_format, mode)
    own = executor is None
    if own:
        executor = make_executor("sandbox", timeout=tool_timeout, workers=workers)
    try:
        for index, record in enumerate(records):
            try:
                env, response, answer = parse_scored_record(record)
            except FieldError as exc:
                field, _, msg = str(exc).partition(": ")
                raise InputError(msg, field=f"[{index}]{field[1:]}") from None
            yield score_one(env, response, answer, reward=rewarder, tool_format=fmt, mode=inference,
                            executor=executor, timeout=tool_timeout)
    finally:
        if own:
            executor.close()


def score_file(input: str, out: str, *, reward: str = "solve_f1", tool_format: str = "hermes",
               mode: str = "no-think", on_error: str = "stop", tool_timeout: float = DEFAULT_TIMEOUT,
               workers: int = 2,               pm=None, executor=None, progress: bool = False) -> dict[str, Any]:
    """Score every line of ``input`` into ``out`` (JSONL, input order, one line per good
    record, each with its input ``line``). ``on_error="skip"`` reports bad lines and goes on.
    Returns a summary: ``scored``, ``skipped``, ``errors`` (messages), ``mean_score``."""
    from .step import make_reward
    from ..jsonl import JsonlReader, JsonlWriter
    from ..manager import create_plugin_manager

    if tool_timeout is None or not tool_timeout > 0:
        raise ConfigError("--tool-timeout must be a positive number of seconds")
    pm = pm or create_plugin_manager()
    rewarder = make_reward(pm, reward)
    fmt, inference = _parts(pm, tool_format, mode)
    reader = JsonlReader(input, parse_scored_record, on_error=on_error)
    own = executor is None
    total, count = 0.0, 0
    bar = progress_bar(None, "score", unit="rec") if progress else None
    if own:
        executor = make_executor("sandbox", timeout=tool_timeout, workers=workers)
    def one(lineno, env, response, answer):
        row = {"line": lineno}
        row.update(score_one(env, response, answer, reward=rewarder, tool_format=fmt, mode=inference,
                             executor=executor, timeout=tool_timeout))
        return row

    # Records are scored by `workers` threads (one sandbox worker each) and written in input
    # order; a bad line (on_error="stop") is raised after everything before it was written.
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pending: deque = deque()
    try:
        with JsonlWriter(out, "w") as writer, ThreadPoolExecutor(max(1, workers)) as pool:
            def flush(keep: int) -> None:
                nonlocal total, count
                while len(pending) > keep:
                    row = pending.popleft().result()
                    writer.write(row)  # lone surrogates from a tool come out as \u escapes
                    total += row["score"]
                    count += 1
                    if bar is not None:
                        bar.update(1)

            try:
                for lineno, (env, response, answer) in reader:
                    pending.append(pool.submit(one, lineno, env, response, answer))
                    flush(2 * max(1, workers))
            finally:
                flush(0)
            if count == 0:  # raised inside the writer: an existing --out stays as it was
                raise InputError("no records in the file (empty)" if not reader.skipped
                                 else "no valid record in the file", path=input)
    finally:
        if bar is not None:
            bar.close()
        if own:
            executor.close()
    return {"scored": count, "skipped": reader.skipped, "errors": [str(e) for e in reader.errors],
            "mean_score": total / count if count else None, "reward": reward, "mode": mode}
