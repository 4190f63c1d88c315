"""A benchmark run split into shards (``toolfeedback eval --runner local|ray --shards N``).

Shard ``i`` is an ordinary :func:`~toolfeedback.evaluate.driver.evaluate` with ``shard =
"i/N"`` (records ``i, i + N, ...``) writing its prediction rows to
``PRED.shards/pred-<i>.jsonl`` (``PRED``: ``--predictions``, else ``--out``). The driver
interleaves the shards' rows back into record order (row ``k`` of shard ``i`` is record
``i + k N``), writes them to ``--predictions`` and computes the report from them with the
evaluator's own ``report(config, rows)``: the same report and the same predictions as one
process.

Evaluators that can do this have a ``report(config, rows)`` method and one prediction row
per record, in record order: ``toolhop``, ``rotbench``, ``bfcl``. The others are refused
with one line: ``taubench`` (pass^k counts trials per task), ``lm_eval`` (lm-evaluation-
harness runs its own loop) and ``solve`` (shard its rollout instead: ``toolfeedback rollout
--runner ...``, then score the merged trajectories).

What a kill costs: a shard's predictions file appears only when the shard has finished
(written beside, then moved into place), so a re-run of the same command runs only the
shards without one; a killed shard loses its own records in flight. A different command
(settings or shard count) starts the shard files over.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from ..errors import ConfigError, ToolfeedbackError
from ..shards import ShardConfig
from .driver import EvalConfig

SHARD_FN = "toolfeedback.evaluate.sharded:run_shard"

REFUSED = {
    "solve": "shard its rollout instead (toolfeedback rollout --runner ...), then score the "
             "merged file with --trajectories",
    "taubench": "its pass^k report counts every trial of a task together",
    "lm_eval": "lm-evaluation-harness runs its own loop",
}


def shard_dir(config: EvalConfig) -> Path:
    """``PRED.shards/`` beside ``--predictions`` (else ``--out``)."""
    target = config.predictions or config.out
    if not target:
        raise ConfigError("eval --runner: needs --predictions or --out (the shards' files go beside it)")
    path = Path(target).resolve()
    return path.with_name(path.name + ".shards")


def run_shard(config: dict) -> dict:
    """Evaluate one shard (on a worker); its predictions file is its result."""
    from ..config import config_from_dict
    from .driver import evaluate

    report = evaluate(config_from_dict(EvalConfig, config))
    return {"count": report.get("count")}


def _read_rows(path: Path) -> list[dict]:
    from ..jsonl import JsonlReader

    return [row for _, row in JsonlReader(path)]


def _interleave(parts: list[list[dict]]) -> list[dict]:
    """Record order again: row k of shard i is record i + k * len(parts)."""
    rows = []
    for k in range(max((len(p) for p in parts), default=0)):
        for part in parts:
            if k < len(part):
                rows.append(part[k])
    return rows


def _start_over_unless_same(config: EvalConfig, shards: int) -> None:
    """Predictions of another command would mix runs: drop them."""
    from ..config import config_to_dict

    folder = shard_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / "eval.json"
    want = json.dumps({"config": config_to_dict(attrs.evolve(config, out=None, predictions=None)),
                       "shards": shards}, sort_keys=True)
    if stamp.exists() and stamp.read_text(encoding="utf-8") == want:
        return
    for old in folder.glob("pred-*.jsonl"):
        old.unlink()
    stamp.write_text(want, encoding="utf-8")


def _absolute(value: str | None) -> str | None:
    """Paths that exist here, made absolute (a worker's cwd may differ)."""
    return str(Path(value).resolve()) if value and Path(value).exists() else value


def sharded_evaluate(config: EvalConfig, shards: ShardConfig, *, pm=None) -> dict[str, Any]:
    """Evaluate ``config`` as ``shards.shards`` shards with ``shards.runner``.

    Returns (and writes to ``config.out``) the report one process would give; writes the
    merged prediction rows to ``config.predictions`` when set. A shard that failed after
    the runner's retries is an error naming it; finished shards are kept for the next run.
    """
    from ..config import config_to_dict
    from ..manager import create_plugin_manager
    from ..registry import Catalog
    from ..shards import ShardTask, get_runner
    from .driver import check_config, write_predictions, write_report

    shards.validate()
    pm = pm if pm is not None else create_plugin_manager()
    evaluator = Catalog(pm).get("evaluators", config.evaluator)
    if config.evaluator in REFUSED or not callable(getattr(evaluator, "report", None)):
        why = REFUSED.get(config.evaluator, "it has no report(config, rows) method")
        raise ConfigError(f"evaluator {config.evaluator!r} cannot run as shards ({why}); "
                          f"run it without --runner")
    if config.shard:
        raise ConfigError("--shard and --runner: give one of them")
    check_config(config)
    runner = get_runner(pm, shards.runner)
    _start_over_unless_same(config, shards.shards)
    folder = shard_dir(config)
    n = shards.shards
    base = attrs.evolve(config, data=_absolute(config.data), model=_absolute(config.model),
                        out=None, quiet=True)
    tasks = [ShardTask(i, SHARD_FN, {"config": config_to_dict(attrs.evolve(
                 base, shard=f"{i}/{n}", predictions=str(folder / f"pred-{i}.jsonl")))})
             for i in range(n) if not (folder / f"pred-{i}.jsonl").exists()]
    results = runner.run(tasks, parallel=shards.parallel,
                         options=dict(shards.runner_options)) if tasks else []
    failed = [(t.index, r.error) for t, r in zip(tasks, results) if not r.ok]
    if failed:
        raise ToolfeedbackError(f"eval: {len(failed)} of {len(tasks)} shard(s) failed (shard "
                                f"{failed[0][0]}: {failed[0][1]}); the others are kept in "
                                f"{folder}; run the same command again to resume")
    rows = _interleave([_read_rows(folder / f"pred-{i}.jsonl") for i in range(n)])
    write_predictions(config.predictions, rows)
    report = {"evaluator": config.evaluator, **evaluator.report(config, rows)}
    write_report(config, report)
    return report
