"""``solve`` evaluator: Solve-P / Solve-R / Solve-F1 per pattern, split and mode.

Per episode (see :class:`toolfeedback.types.Metrics`): with C calls made, S sub-answers
solved and T in total, Solve-P = S/C (1 when C = 0), Solve-R = S/T, Solve-F1 = 2S/(C+T).
As in the release, a report averages the per-episode scores (``solve_p``, ``solve_r``,
``solve_f1``); the summed counts and the scores they give (``micro``) come alongside.

Input: a trajectories file written by ``toolfeedback rollout`` (``--trajectories``), its
patterns and splits taken from the environments file (``--data``) by ``env_id``; or, with
``--model`` and ``--data`` only, a rollout is run first and then scored. Records of the
release's ``evaluation_self.py`` output (``metrics`` with ``solve_precision``,
``solve_rate``, ``solve_f1``) are accepted too.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from toolfeedback import hookimpl
from toolfeedback.contracts import Evaluator

_RELEASE_KEYS = {"solve_precision": "solve_p", "solve_rate": "solve_r", "solve_f1": "solve_f1"}


def episode_scores(record: dict) -> dict[str, float]:
    """``{solve_p, solve_r, solve_f1, calls?, solved?, total?}`` of one trajectory record."""
    metrics = record.get("metrics")
    if not isinstance(metrics, dict):
        raise ValueError("$.metrics: missing or not an object")
    if all(k in metrics for k in ("calls", "solved", "total")):
        from toolfeedback.types import Metrics

        for key in ("calls", "solved", "total"):
            if not isinstance(metrics[key], int) or metrics[key] < 0:
                raise ValueError(f"$.metrics.{key}: expected a non-negative integer")
        m = Metrics(calls=metrics["calls"], solved=metrics["solved"], total=metrics["total"])
        return m.as_dict()
    if all(k in metrics for k in _RELEASE_KEYS):
        return {ours: float(metrics[theirs]) for theirs, ours in _RELEASE_KEYS.items()}
    raise ValueError("$.metrics: expected calls/solved/total or solve_precision/solve_rate/solve_f1")


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
    """env_id -> {"pattern", "split"} of an environments file (FTRL format)."""
    from toolfeedback.ftrl import read_environments

    labels = {}
    for _, env in read_environments(path):
        labels[env.id] = {"pattern": str(env.pattern) if env.pattern else "unknown", "split": env.split}
    return labels


def score_file(path: str, labels: dict | None = None, split: str | None = None) -> dict[str, Any]:
    """Read a trajectories JSONL (errors name file:line: field) and report on it (on the
    episodes of environments of ``split`` only, by ``labels``, when ``split`` is given)."""
    from toolfeedback.jsonl import JsonlReader

    def parse(obj):
        if not isinstance(obj, dict):
            raise ValueError("$: expected an object")
        return {**obj, "_scores": episode_scores(obj)}

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
