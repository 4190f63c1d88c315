"""``solve`` evaluator: Solve-P / Solve-R / Solve-F1 per pattern, split and mode.

Per episode (see :class:`toolfeedback.types.Metrics`): with C calls made, S sub-answers
solved and T in total, Solve-P = S/C (1 when C = 0), Solve-R = S/T, Solve-F1 = 2S/(C+T).
As in the release, a report averages the per-episode scores (``solve_p``, ``solve_r``,
``solve_f1``); the summed counts and the scores they give (``micro``) come alongside.

Input: a trajectories file written by ``toolfeedback rollout`` (``--trajectories``), its
patterns, splits and answer counts taken from the environments file (``--data``) by
``env_id``; or, with ``--model`` and ``--data`` only, a rollout is run first and then
scored. The counts are recomputed from each record's steps (calls made, answers hit), never
read from the ``metrics`` it carries. Records of the release's ``evaluation_self.py``
output (only ``metrics`` with ``solve_precision``, ``solve_rate``, ``solve_f1``; no
steps) are averaged as given.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from toolfeedback import hookimpl
from toolfeedback.contracts import Evaluator

_RELEASE_KEYS = {"solve_precision": "solve_p", "solve_rate": "solve_r", "solve_f1": "solve_f1"}


def recompute_metrics(record: dict, total: int | None = None):
    """:class:`~toolfeedback.types.Metrics` of one trajectory record, counted from its
    steps (never from the metrics it claims): C = calls made, S = answers hit, T = ``total``
    (the environment's, from ``--data``) or the open answers before the first step. A step
    whose hits are not open answers of that step, or more hits than calls, is refused."""
    from collections import Counter

    from toolfeedback.types import Metrics

    steps = record.get("steps")
    if not isinstance(steps, list):
        raise ValueError("$.steps: missing or not an array (the metrics are counted from the steps)")
    if not steps:
        raise ValueError("$.steps: empty (an episode has at least one response)")
    calls = solved = 0
    for i, step in enumerate(steps):
        where = f"$.steps[{i}]"
        if not isinstance(step, dict):
            raise ValueError(f"{where}: expected an object")
        made, hits, before = step.get("calls"), step.get("hits"), step.get("unsolved_before")
        if not isinstance(made, list):
            raise ValueError(f"{where}.calls: missing or not an array")
        if not isinstance(hits, list) or not all(isinstance(h, str) for h in hits):
            raise ValueError(f"{where}.hits: missing or not an array of strings")
        if not isinstance(before, dict) or not all(isinstance(v, list) for v in before.values()):
            raise ValueError(f"{where}.unsolved_before: missing or not an object of arrays")
        if len(hits) > len(made):
            raise ValueError(f"{where}.hits: {len(hits)} hits from {len(made)} calls")
        open_answers = Counter(str(a) for answers in before.values() for a in answers)
        for hit in hits:
            if open_answers[hit] <= 0:
                raise ValueError(f"{where}.hits: {hit[:60]!r} is not an open answer of this step")
            open_answers[hit] -= 1
        calls += len(made)
        solved += len(hits)
    if total is None:
        total = sum(len(v) for v in steps[0]["unsolved_before"].values())
    if solved > total:
        raise ValueError(f"$.steps: {solved} answers hit, but the environment has {total}")
    return Metrics(calls=calls, solved=solved, total=total)


def episode_scores(record: dict, totals: dict[str, int] | None = None) -> dict[str, float]:
    """``{solve_p, solve_r, solve_f1, calls, solved, total}`` of one trajectory record
    (recounted from its steps, see :func:`recompute_metrics`), or the three scores of a
    release ``evaluation_self.py`` record (``metrics`` with ``solve_precision`` ...)."""
    metrics = record.get("metrics")
    if "steps" in record or "env_id" in record or not isinstance(metrics, dict) \
            or not all(k in metrics for k in _RELEASE_KEYS):
        env_id = record.get("env_id")
        if not isinstance(env_id, str) or not env_id:
            raise ValueError("$.env_id: missing or not a string")
        total = (totals or {}).get(env_id)
        if totals and total is None:
            raise ValueError(f"$.env_id: {env_id[:80]!r} is not in the environments file (--data)")
        return recompute_metrics(record, total).as_dict()
    scores = {}
    for theirs, ours in _RELEASE_KEYS.items():
        value = metrics[theirs]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"$.metrics.{theirs}: expected a number in [0, 1]")
        scores[ours] = float(value)
    return scores


def aggregate(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Mean per-episode scores and summed counts of ``rows`` (each from :func:`episode_scores`)."""
    rows = list(rows)
    n = len(rows)
    out: dict[str, Any] = {"episodes": n}
    for key in ("solve_p", "solve_r", "solve_f1"):
        out[key] = sum(r[key] for r in rows) / n if n else 0.0
    if rows and all("calls" in r for r in rows):
        from toolfeedback.types import Metrics

        total = Metrics(calls=sum(r["calls"] for r in rows), solved=sum(r["solved"] for r in rows),
                        total=sum(r["total"] for r in rows))
        out["micro"] = total.as_dict()
    return out


def report(records: Iterable[dict], labels: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """Overall, per pattern, per split and per mode aggregates of trajectory records.

    ``labels`` maps env_id -> {"pattern", "split"} (from the environments file); a record's
    own ``pattern`` / ``split`` (top level or in ``metadata``) is used when present.
    """
    labels = labels or {}
    groups: dict[str, dict[str, list]] = {"pattern": defaultdict(list), "split": defaultdict(list),
                                          "mode": defaultdict(list)}
    every = []
    for record in records:
        scores = record["_scores"]
        every.append(scores)
        meta = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
        known = labels.get(str(record.get("env_id")), {})
        for key in ("pattern", "split"):
            value = record.get(key) or meta.get(key) or known.get(key) or "unknown"
            groups[key][str(value)].append(scores)
        groups["mode"][str(record.get("mode") or "unknown")].append(scores)
    out: dict[str, Any] = {"overall": aggregate(every)}
    for key, found in groups.items():
        out[f"by_{key}"] = {name: aggregate(rows) for name, rows in sorted(found.items())}
    return out


def read_labels(path: str) -> dict[str, dict[str, str]]:
    """env_id -> {"pattern", "split", "total"} of an environments file (FTRL format);
    ``total`` is the environment's number of sub-answers (the T of the metrics)."""
    from toolfeedback.ftrl import read_environments
    from toolfeedback.runtime.step import total_answers

    labels = {}
    for _, env in read_environments(path):
        labels[env.id] = {"pattern": str(env.pattern) if env.pattern else "unknown", "split": env.split,
                          "total": total_answers(env)}
    if not labels:  # given but empty: every label would silently be "unknown"
        from toolfeedback.errors import InputError

        raise InputError("no environments in the file (empty)", path=path)
    return labels


def score_file(path: str, labels: dict | None = None, split: str | None = None) -> dict[str, Any]:
    """Read a trajectories JSONL (errors name file:line: field) and report on it (on the
    episodes of environments of ``split`` only, by ``labels``, when ``split`` is given)."""
    from toolfeedback.jsonl import JsonlReader

    totals = {k: v["total"] for k, v in (labels or {}).items() if "total" in v}

    def parse(obj):
        if not isinstance(obj, dict):
            raise ValueError("$: expected an object")
        return {**obj, "_scores": episode_scores(obj, totals)}

    import itertools

    records = (rec for _, rec in JsonlReader(path, parse))
    if split is not None:
        records = (rec for rec in records
                   if (labels or {}).get(str(rec.get("env_id")), {}).get("split") == split)
    first = next(records, None)
    if first is None:
        from toolfeedback.errors import InputError

        raise InputError("no trajectories in the file (empty)" if split is None else
                         f"no trajectories of split {split!r} in the file", path=path)
    return report(itertools.chain([first], records), labels)


class SolveEvaluator(Evaluator):
    """``toolfeedback eval --evaluator solve --trajectories FILE [--data ENVS]`` or
    ``--model DIR --data ENVS`` (runs a rollout first)."""

    name = "solve"

    def evaluate(self, config, pm) -> dict[str, Any]:
        """Score a trajectories file, running a rollout first when none is given."""
        from toolfeedback.errors import ConfigError

        labels = read_labels(config.data) if config.data else None
        split = getattr(config, "split", None)
        if split is not None and labels is None:
            raise ConfigError("--split needs --data ENVS.jsonl (the environments say their split)")
        path = config.trajectories
        extra: dict[str, Any] = {}
        if path is None:
            if not (config.model and config.data):
                raise ConfigError("evaluator 'solve' needs --trajectories FILE, or --model DIR "
                                  "with --data ENVS.jsonl to run a rollout first")
            path, extra = self._rollout(config, pm)
        if split is not None:
            extra["split"] = split
        return {**score_file(path, labels, split=split), "trajectories": path, **extra}

    @staticmethod
    def _rollout(config, pm) -> tuple[str, dict]:
        import tempfile
        from pathlib import Path

        from toolfeedback.plugin_options import declared
        from toolfeedback.registry import Catalog
        from toolfeedback.rollout.collect import RolloutConfig, rollout

        out = config.predictions or str(Path(tempfile.mkdtemp(prefix="tf-eval-")) / "trajectories.jsonl")
        backend = Catalog(pm).get("backends", config.backend)
        # --device reaches the backend only if it takes one; --backend-option values win
        options = {**declared(backend, {"device": config.device}), **config.backend_options}
        rc = RolloutConfig(model=config.model, envs=config.data, out=out, backend=config.backend,
                           backend_options=options, mode=config.mode, tool_format=config.tool_format,
                           batch_size=config.batch_size, max_turns=config.max_turns or 20,
                           max_new_tokens=config.max_new_tokens or None,
                           temperature=config.temperature, limit=config.limit or None,
                           split=getattr(config, "split", None),
                           threads=getattr(config, "threads", 0),
                           resume=False, progress=not config.quiet)
        summary = rollout(rc, pm=pm)
        return out, {"rollout": {k: summary[k] for k in ("episodes", "tokens", "seconds") if k in summary}}


@hookimpl
def register_evaluators(register):
    register(SolveEvaluator())
