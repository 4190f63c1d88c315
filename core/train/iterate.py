"""The iterated feedback loop: collect -> build data -> train -> evaluate, N times.

Each iteration ``K`` (1-based) runs four stages into ``OUT/iter-K/``:

``rollout``
    the current model plays the environments of the train split
    (``rollout/trajectories.jsonl`` and ``rollout/steps.jsonl``);
``samples``
    the training data built from it: the step samples (less those taken after every
    answer was found, with ``solved_steps = false``), or, for an algorithm that learns
    from whole trajectories (``data_kind = "trajectories"``, e.g. ``sft``), the episodes
    whose Solve-F1 reaches ``min_solve_f1`` (rejection sampling);
``ckpt``
    the algorithm trains the current model on that data (LoRA adapters are also saved
    merged, and the merged model is what the next stage loads);
``eval``
    the trained model plays the held-out split greedily and the ``solve`` evaluator scores
    it (``eval/report.json``).

The trained checkpoint is the next iteration's model. ``iter-0/eval`` scores the starting
model, so every gain is measured against it. ``OUT/state.json`` records each finished
stage; running the same command again skips those and continues (a half-written rollout
resumes episode by episode, an interrupted training run starts again). Per-iteration
figures go to ``OUT/iterations.jsonl``, the whole run's to ``OUT/summary.json``.

Example::

    from toolfeedback.train.iterate import IterateConfig, iterate
    summary = iterate(IterateConfig(model="tiny", envs="envs.jsonl", out="runs/it",
                                    iterations=2, train={"max_steps": 2}))
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

from attrs import field, frozen

from ..errors import ConfigError, ToolfeedbackError
from .iterate_data import build_samples, mean_of, read_metrics, write_json, write_lines  # noqa: F401

STATE = "state.json"
#: Settings that may change between runs of one output directory without changing results.
RERUNNABLE = ("iterations", "quiet", "threads", "eval_start")
#: Keys of the stage tables that iterate itself sets (per iteration).
OWNED = {"rollout": ("model", "envs", "out", "samples_out", "split", "mode", "tool_format",
                     "threads", "resume", "progress"),
         "train": ("model", "data", "envs", "out", "mode", "tool_format", "threads", "quiet"),
         "eval": ("model", "envs", "out", "samples_out", "split", "mode", "tool_format",
                  "threads", "resume", "progress")}


@frozen
class IterateConfig:
    """Settings of ``toolfeedback iterate`` (TOML ``[iterate]``, with the stage tables
    ``[iterate.rollout]``, ``[iterate.train]`` and ``[iterate.eval]``)."""

    model: str = field(default="", metadata={"help": "the starting model directory", "metavar": "DIR"})
    envs: str = field(default="", metadata={"metavar": "FILE", "help": "environments JSONL holding "
                                            "both splits (e.g. from `toolfeedback build`)"})
    out: str = field(default="", metadata={"help": "output directory (re-run to resume)", "metavar": "DIR"})
    iterations: int = field(default=1, metadata={"help": "collect -> train -> eval rounds"})
    mode: str = field(default="no-think", metadata={
        "help": "inference mode of every stage: no-think, think, think-prompted", "metavar": "NAME"})
    tool_format: str = field(default="hermes", metadata={"help": "tool-call format of every stage", "metavar": "NAME"})
    train_split: str = field(default="train", metadata={"help": "split the rollouts collect on", "metavar": "NAME"})
    eval_split: str = field(default="test", metadata={"help": "held-out split evaluated on", "metavar": "NAME"})
    eval_start: bool = field(default=True, metadata={
        "help": "also evaluate the starting model (iter-0/eval), the baseline of every gain"})
    min_solve_f1: float = field(default=1.0, metadata={
        "help": "trajectory data (sft): keep episodes whose Solve-F1 is at least this", "metavar": "F"})
    solved_steps: bool = field(default=True, metadata={
        "help": "step data: also train on the steps taken after every answer was found "
                "(solve_rate 1: only the final answer is right there); off, every prompt's "
                "reward can still move Solve-F1"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: automatic)"})
    quiet: bool = field(default=False, metadata={"help": "no progress bars, no per-stage lines"})
    rollout: dict[str, Any] = field(factory=dict, metadata={
        "help": "[iterate.rollout]: `rollout` settings of the collection (batch_size, "
                "max_turns, temperature, n_samples, limit, ...)"})
    train: dict[str, Any] = field(factory=dict, metadata={
        "help": "[iterate.train]: `train` settings (algorithm, adapter, lr, max_steps, ...)"})
    eval: dict[str, Any] = field(factory=dict, metadata={
        "help": "[iterate.eval]: `rollout` settings of the evaluation (greedy by default)"})

    @classmethod
    def load(cls, path: str | os.PathLike | None = None,
             overrides: dict[str, Any] | None = None) -> "IterateConfig":
        """Defaults, then ``[iterate]`` of the TOML file, then ``overrides`` (None = not given).

        Override values for ``rollout`` / ``train`` / ``eval`` are merged into those tables.
        """
        from ..config import load_config, load_toml

        overrides = dict(overrides or {})
        if path is not None:
            table = load_toml(path).get("iterate")
            for key in ("rollout", "train", "eval"):
                if overrides.get(key) and isinstance(table, dict) and isinstance(table.get(key), dict):
                    overrides[key] = {**table[key], **overrides[key]}
        return load_config(cls, path, section="iterate" if path else None, overrides=overrides)


# --------------------------------------------------------------------------- stage configs


def _stage_config(cls, config: IterateConfig, table: str, values: dict[str, Any]):
    from ..config import config_from_dict
    from ..plugin_options import split_plugin_tables

    given = getattr(config, table)
    for key in OWNED[table]:
        if key in given:
            raise ConfigError(f"$.iterate.{table}.{key}: set by iterate itself; "
                              f"{'give it in [iterate]' if key in ('mode', 'tool_format', 'threads') else 'remove it'}")
    # a plugin's table ([iterate.train.algorithm], name + options) as in [train]
    data = split_plugin_tables(cls, {**given, **values})
    return config_from_dict(cls, data, path=f"$.iterate.{table}")


def rollout_config(config: IterateConfig, model: str, where: Path, *, table: str, k: int):
    """The :class:`RolloutConfig` of iteration ``k``'s collection or evaluation."""
    from ..rollout.collect import RolloutConfig

    values: dict[str, Any] = {
        "model": model, "envs": config.envs, "out": str(where / "trajectories.jsonl"),
        "mode": config.mode, "tool_format": config.tool_format, "threads": config.threads,
        "resume": True, "progress": not config.quiet}
    if table == "rollout":
        values.update(samples_out=str(where / "steps.jsonl"), split=config.train_split)
        seed = config.rollout.get("seed", 0)
        if isinstance(seed, int) and not isinstance(seed, bool):
            values["seed"] = seed + k - 1  # a fresh collection each iteration
    else:
        values.update(split=config.eval_split, temperature=config.eval.get("temperature", 0.0))
    rc = _stage_config(RolloutConfig, config, table, values)
    rc.validate()
    return rc


def train_config(config: IterateConfig, model: str, data: str, out: Path, k: int, pm=None):
    """The :class:`TrainConfig` of iteration ``k``; with ``pm``, an adapter whose options have
    ``merge`` (lora) saves itself merged unless told otherwise (the next stage loads it)."""
    import attrs
    from ..plugin_options import options_class
    from ..registry import Catalog
    from .config import TrainConfig

    # envs: the tools of trajectory data (sft); step samples carry their own.
    values: dict[str, Any] = {"model": model, "data": data, "envs": config.envs, "out": str(out),
                              "mode": config.mode,
                              "tool_format": config.tool_format, "threads": config.threads,
                              "quiet": config.quiet}
    seed = config.train.get("seed", 0)
    if isinstance(seed, int) and not isinstance(seed, bool):
        values["seed"] = seed + k - 1
    tc = _stage_config(TrainConfig, config, "train", values)
    if pm is not None and "merge" not in tc.adapter_options:
        cls = options_class(Catalog(pm).get("adapters", tc.adapter))
        if cls is not None and "merge" in attrs.fields_dict(cls):
            tc = attrs.evolve(tc, adapter_options={**tc.adapter_options, "merge": True})
    return tc


def check(config: IterateConfig, pm) -> Any:
    """Every setting checked before anything runs; returns the algorithm object."""
    from ..plugin_options import resolve_options
    from ..registry import Catalog
    from .config import SPLITS, check_numbers

    for name in ("model", "envs", "out"):
        if not getattr(config, name):
            raise ConfigError(f"iterate: no {name} given (--{name} or [iterate] {name} = ...)")
    if config.iterations < 1:
        raise ConfigError("iterate: iterations must be at least 1")
    if config.threads < 0:
        raise ConfigError("iterate: threads must be 0 (automatic) or more")
    for name in ("train_split", "eval_split"):
        if getattr(config, name) not in SPLITS:
            raise ConfigError(f"iterate: {name} must be one of {', '.join(SPLITS)}")
    if config.train_split == config.eval_split:
        raise ConfigError("iterate: train_split and eval_split must differ (evaluate on held-out data)")
    if not 0 <= config.min_solve_f1 <= 1:
        raise ConfigError("iterate: min_solve_f1 must be in [0, 1]")
    _check_envs(config.envs)  # a missing file or a directory is named by the reader
    here = Path(config.out)
    rollout_config(config, config.model, here, table="rollout", k=1)
    rollout_config(config, config.model, here, table="eval", k=1)
    tc = train_config(config, config.model, config.envs, here, 1, pm)
    check_numbers(tc)
    catalog = Catalog(pm)
    algorithm = catalog.get("algorithms", tc.algorithm)
    # the adapter's and the algorithm's options, checked now rather than at iteration 1's training
    resolve_options(catalog.get("adapters", tc.adapter), tc.adapter_options, path="$.iterate.train.adapter")
    resolve_options(algorithm, tc.algorithm_options, path="$.iterate.train.algorithm")
    for category, name in (("modes", config.mode), ("tool_formats", config.tool_format)):
        catalog.get(category, name)
    if data_kind(algorithm) not in ("steps", "trajectories"):
        raise ConfigError(f"algorithm {tc.algorithm!r}: data_kind must be 'steps' or 'trajectories'")
    return algorithm


def _check_envs(path: str) -> None:
    # every line, before OUT/ is made: a bad line is a located error and no stray state
    from ..ftrl import read_environments

    if not sum(1 for _ in read_environments(path)):
        from ..errors import InputError

        raise InputError("no environments in the file (empty)", path=path)


def data_kind(algorithm) -> str:
    """What an algorithm learns from: ``"steps"`` (step samples, the default) or
    ``"trajectories"`` (whole episodes, e.g. SFT)."""
    return str(algorithm.data_kind)


# --------------------------------------------------------------------------- state


class State:
    """``OUT/state.json``: the settings and every finished stage's result, saved atomically."""

    def __init__(self, out: Path, config: IterateConfig):
        from ..config import config_to_dict

        self.path = out / STATE
        settings = {k: v for k, v in config_to_dict(config).items() if k not in RERUNNABLE}
        self.done: dict[str, Any] = {}
        if self.path.exists():
            try:
                saved = json.loads(self.path.read_text(encoding="utf-8"))
                old, self.done = saved["settings"], dict(saved["done"])
            except (ValueError, KeyError, TypeError, RecursionError) as exc:
                raise ToolfeedbackError(f"{self.path}: unreadable iterate state ({exc}); "
                                        f"remove it to start over") from None
            changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            if changed:
                raise ConfigError(f"{self.path}: this directory was made with other settings "
                                  f"({', '.join(changed)} differ); use another --out")
        self.settings = settings

    def save(self) -> None:
        """Write the state (never half: temp file, then rename)."""
        write_json(self.path, {"settings": self.settings, "done": self.done})

    def run(self, key: str, fn: Callable[[], Any], say: Callable[[str], None]) -> Any:
        """``fn()``'s result, from the state when stage ``key`` finished before."""
        if key in self.done:
            say(f"{key}: done before, skipped")
            return self.done[key]
        say(f"{key}: running")
        result = fn()
        self.done[key] = result
        self.save()
        return result


# --------------------------------------------------------------------------- stages


def run_rollout(rc, pm) -> dict[str, Any]:
    """Run (or resume) one rollout; its summary without the per-line errors."""
    from ..rollout.collect import rollout

    summary = rollout(rc, pm=pm)
    return {k: v for k, v in summary.items() if k != "errors"}


def run_train(tc, pm) -> dict[str, Any]:
    """Train; the model the next stage loads (the merged one for an adapter) and the logs."""
    from .job import train

    out = Path(tc.out)
    if out.exists():  # an interrupted earlier attempt: start the checkpoint afresh
        shutil.rmtree(out)
    saved = Path(train(tc, pm))
    model = saved / "merged" if (saved / "merged" / "config.json").is_file() else saved
    if not (model / "config.json").is_file():
        raise ToolfeedbackError(f"{saved}: the checkpoint holds no loadable model (config.json); "
                                f"keep the adapter option merge = true")
    logs = [r for r in read_metrics(saved / "metrics.jsonl") if r.get("event") != "end"]
    return {"checkpoint": str(saved), "model": str(model), "log_lines": len(logs),
            "last_log": logs[-1] if logs else None, "mean_reward": mean_of(logs, "reward")}


def run_eval(config: IterateConfig, model: str, where: Path, k: int, pm) -> dict[str, Any]:
    """Play the held-out split greedily and score it with the ``solve`` evaluator."""
    from ..evaluate.driver import EvalConfig, evaluate

    rc = rollout_config(config, model, where, table="eval", k=k)
    run_rollout(rc, pm)
    report = evaluate(EvalConfig(evaluator="solve", trajectories=rc.out, data=config.envs,
                                 split=config.eval_split, out=str(where / "report.json"),
                                 quiet=config.quiet), pm)
    overall = report["overall"]
    return {"model": model, "report": str(where / "report.json"),
            **{key: overall[key] for key in ("episodes", "solve_p", "solve_r", "solve_f1")},
            "by_pattern": {name: row["solve_f1"] for name, row in report.get("by_pattern", {}).items()}}


# --------------------------------------------------------------------------- the loop


def iterate(config: IterateConfig, pm=None) -> dict[str, Any]:
    """Run (or resume) ``config.iterations`` rounds; return the summary (also written to
    ``OUT/summary.json``; one line per finished iteration in ``OUT/iterations.jsonl``)."""
    from ..manager import create_plugin_manager

    pm = pm if pm is not None else create_plugin_manager()
    algorithm = check(config, pm)
    kind = data_kind(algorithm)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    state = State(out, config)
    state.save()

    def say(text: str) -> None:
        if not config.quiet:
            print(f"iterate: {text}", file=sys.stderr, flush=True)

    start = None
    if config.eval_start:
        start = state.run("iter-0/eval", lambda: run_eval(config, config.model, out / "iter-0" / "eval",
                                                          0, pm), say)
    model, rows = config.model, []
    for k in range(1, config.iterations + 1):
        where = out / f"iter-{k}"
        collect = state.run(f"iter-{k}/rollout", lambda: run_rollout(
            rollout_config(config, model, where / "rollout", table="rollout", k=k), pm), say)
        samples = state.run(f"iter-{k}/samples", lambda: build_samples(
            kind, where / "rollout", where / "samples", config.min_solve_f1,
            config.solved_steps), say)
        trained = state.run(f"iter-{k}/ckpt", lambda: run_train(
            train_config(config, model, samples["data"], where / "ckpt", k, pm), pm), say)
        scored = state.run(f"iter-{k}/eval", lambda: run_eval(
            config, trained["model"], where / "eval", k, pm), say)
        rows.append({"iteration": k, "model_in": model, "model_out": trained["model"],
                     "rollout": {key: collect.get(key) for key in ("episodes", "already_done",
                                                                   "mean_solve_f1", "seconds")},
                     "samples": samples, "train": trained, "eval": scored})
        model = trained["model"]
        write_lines(out / "iterations.jsonl", rows)
        say(f"iter-{k}: {config.eval_split} solve_f1 {scored['solve_f1']:.4f}")
    curve = ([start["solve_f1"]] if start else []) + [r["eval"]["solve_f1"] for r in rows]
    summary = {"out": str(out), "iterations": len(rows), "final_model": model,
               "start_solve_f1": start["solve_f1"] if start else None,
               "solve_f1_by_iteration": curve,
               "gain_solve_f1": (rows[-1]["eval"]["solve_f1"] - start["solve_f1"]) if start else None}
    write_json(out / "summary.json", summary)
    return summary
