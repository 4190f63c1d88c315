"""``toolfeedback eval``: score tool use and general capability with a registered evaluator.

An evaluator (hook ``register_evaluators``) has a ``name`` and
``evaluate(config, pm) -> dict``. Built in: ``solve`` (Solve-P/R/F1 from a trajectories
file, or by playing environments with a model); contrib: ``toolhop``, ``taubench``,
``rotbench``, ``bfcl`` (benchmark adapters scoring as their authors do) and ``lm_eval``
(general capability through lm-evaluation-harness).

Example::

    from toolfeedback.evaluate.driver import EvalConfig, evaluate
    report = evaluate(EvalConfig(evaluator="solve", trajectories="traj.jsonl"))
    report["overall"]["solve_f1"]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from attrs import field, frozen

from ..checks import at_least, non_negative, one_of
from ..errors import ConfigError, ToolfeedbackError


@frozen
class EvalConfig:
    """What to evaluate and how (TOML section ``[eval]`` or ``toolfeedback eval`` flags)."""

    evaluator: str = field(default="solve", metadata={
        "help": "evaluator name: solve, toolhop, taubench, rotbench, bfcl, lm_eval, or a plugin's",
        "plugin": "evaluators", "metavar": "NAME"})
    evaluator_options: dict[str, Any] = field(factory=dict, metadata={
        "help": "the evaluator's own options ([eval.evaluator] table, --evaluator-option)"})
    trajectories: str | None = field(default=None, metadata={
        "help": "trajectories JSONL (from `toolfeedback rollout`) to score without a model (solve)"})
    data: str | None = field(default=None, metadata={
        "help": "input data: environments JSONL (solve) or a benchmark file/folder; "
                "benchmarks default to ../shared/data/<bench> beside the repository"})
    model: str | None = field(default=None, metadata={"help": "model directory (or server model name)"})
    backend: str = field(default="hf", metadata={"help": "generation backend: hf, openai, vllm, ...",
                                                 "plugin": "backends", "metavar": "NAME"})
    backend_options: dict[str, Any] = field(factory=dict, metadata={
        "help": "the backend's own options ([eval.backend] table, --backend-option)"})
    tool_format: str = field(default="hermes", metadata={"help": "tool-call format: hermes, llama3, openai"})
    mode: str = field(default="no-think", metadata={"help": "inference mode: no-think, think, think-prompted"})
    max_turns: int = field(default=0, validator=non_negative(" (the default)"), metadata={
        "help": "assistant turns per episode; 0 = the benchmark's default (solve 20, toolhop 9, taubench 30)"})
    max_new_tokens: int = field(default=0, validator=non_negative(" (the default)"), metadata={
        "help": "token budget per response; 0 = the mode's default (1024, 8192 when thinking)"})
    temperature: float = field(default=0.0, validator=non_negative(" (0: greedy)"), metadata={
        "help": "sampling temperature; 0 = greedy"})
    limit: int = field(default=0, validator=non_negative(" (0: all)"), metadata={
        "help": "evaluate only the first N records (0 = all)"})
    split: str | None = field(default=None, validator=one_of(("train", "test")), metadata={
        "help": "solve: score only environments of this split, train or test (default: all)"})
    threads: int = field(default=0, validator=non_negative(" (0: automatic)"), metadata={
        "help": "torch CPU threads (0: automatic)"})
    subset: str = field(default="", metadata={
        "help": "benchmark part: toolhop scenario (direct|mandatory|free), rotbench files "
                "(clean,slight,Third_Turn/clean; default all present), bfcl categories "
                "(simple_python,live_simple,multi_turn_base,...; default all present)"})
    scoring: str = field(default="official", validator=one_of(("official", "ftrl")), metadata={
        "help": "benchmark rules: official (the benchmark's own scorer) or ftrl (the FTRL "
                "release's evaluation script); rotbench, taubench"})
    trials: int = field(default=1, validator=at_least(1), metadata={
        "help": "taubench: trials per task; pass^k is reported for every k up to this"})
    user_backend: str = field(default="", metadata={
        "help": "taubench: backend of the simulated user (default: the agent's own; "
                "'none' = no user, the instruction is the only user turn)"})
    user_model: str | None = field(default=None, metadata={
        "help": "taubench: model of the simulated user (default: --model)"})
    batch_size: int = field(default=8, validator=at_least(1), metadata={
        "help": "generation / lm_eval batch size"})
    device: str | None = field(default=None, metadata={"help": "torch device (default: cuda if available)"})
    shard: str = field(default="", metadata={
        "help": "I/N: evaluate only records I, I+N, I+2N, ... (what each shard of --runner runs; "
                "toolhop, rotbench, bfcl)"})
    predictions: str | None = field(default=None, metadata={
        "help": "write every scored record (messages + metrics) to this JSONL"})
    out: str | None = field(default=None, metadata={"help": "write the report JSON here"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})


def evaluate(config: EvalConfig, pm=None) -> dict[str, Any]:
    """Run ``config.evaluator`` and return its report (also written to ``config.out``)."""
    from ..manager import create_plugin_manager
    from ..registry import Catalog

    pm = pm if pm is not None else create_plugin_manager()
    catalog = Catalog(pm)
    evaluator = catalog.get("evaluators", config.evaluator)
    check_config(config)
    evaluator_options(config, evaluator)  # bad options fail before any (long) evaluation
    report = {"evaluator": config.evaluator, **evaluator.evaluate(config, pm)}
    write_report(config, report)
    return report


def write_report(config: EvalConfig, report: dict[str, Any]) -> None:
    """Write ``report`` to ``config.out`` (when set) atomically."""
    if config.out:
        from ..atomic import write_text

        write_text(config.out, json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def check_config(config: EvalConfig) -> None:
    """Refuse unusable output paths before any (long) evaluation runs (numbers are checked
    by the field validators)."""
    if config.shard:
        shard_of(config)
    for flag, path in (("--out", config.out), ("--predictions", config.predictions)):
        if not path:
            continue
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"{flag} {str(path)!r}: is a directory, not a file")
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise ConfigError(f"{flag} {str(path)!r}: {str(parent)!r} is a file, not a directory")


# --------------------------------------------------------------------------- shared helpers


def shared_data_dir(bench: str) -> Path:
    """``../shared/data/<bench>`` beside the repository (or the working directory)."""
    here = Path(__file__).resolve()
    for base in (here.parents[2] if len(here.parents) > 2 else here, Path.cwd().parent, Path.cwd()):
        cand = base / "shared" / "data" / bench
        if cand.exists():
            return cand
    raise ConfigError(f"no data given for {bench!r} and ../shared/data/{bench} not found; "
                      f"pass --data")


def shard_of(config: EvalConfig) -> tuple[int, int] | None:
    """``(I, N)`` of ``config.shard`` (``"I/N"``), or None when the whole benchmark runs."""
    if not config.shard:
        return None
    index, sep, count = config.shard.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not sep or n < 1 or not 0 <= i < n:
        raise ConfigError(f"shard: expected I/N with 0 <= I < N (got {config.shard!r})")
    return i, n


def take_shard(records: list, config: EvalConfig) -> list:
    """The records of ``config.shard`` (every N-th from the I-th), or all of them."""
    part = shard_of(config)
    return records if part is None else records[part[0]::part[1]]


def evaluator_options(config: EvalConfig, evaluator: Any) -> Any:
    """The evaluator's ``Options`` from ``config.evaluator_options`` (``None`` if it has none).

    Evaluators with options call this in ``evaluate``; errors read ``$.eval.evaluator.key: ...``.
    """
    from ..plugin_options import resolve_options

    return resolve_options(evaluator, config.evaluator_options, path="$.eval.evaluator")


def require_model(config: EvalConfig) -> str:
    """The model path, or a clear error."""
    if not config.model:
        raise ConfigError(f"evaluator {config.evaluator!r} needs --model")
    return config.model


def sampling(config: EvalConfig, mode) -> Any:
    """SamplingParams from the config and the mode's default budget."""
    from ..generation import SamplingParams

    budget = config.max_new_tokens or mode.default_max_new_tokens
    return SamplingParams(max_new_tokens=budget, temperature=config.temperature)


def load_runtime(config: EvalConfig, pm, *, require_tools: bool = True) -> dict[str, Any]:
    """Generator, tool format and mode named by the config (backend loaded once)."""
    from ..generation import load_backend
    from ..registry import Catalog

    catalog = Catalog(pm)
    mode = catalog.get("modes", config.mode)
    fmt = catalog.get("tool_formats", config.tool_format)
    backend = catalog.get("backends", config.backend)
    # offered to every backend, received only by those declaring them (hf); the user's
    # --backend-option values win
    hints: dict[str, Any] = {"batch_size": config.batch_size, "device": config.device}
    if not require_tools:
        hints["require_tools"] = False
    generator = load_backend(backend, require_model(config), config.backend_options,
                             path="$.eval.backend", hints=hints)
    from ..threads import set_threads

    set_threads(config.threads)
    return {"generator": generator, "tool_format": fmt, "mode": mode,
            "params": sampling(config, mode)}




def mean(values) -> float:
    """Arithmetic mean (0.0 for no values)."""
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def write_predictions(path: str | None, rows) -> None:
    """Write scored rows as JSONL (flushed per line)."""
    if not path:
        return
    from ..jsonl import JsonlWriter

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with JsonlWriter(path) as writer:
        for row in rows:
            writer.write(row)


class BenchmarkError(ToolfeedbackError):
    """A benchmark record or file is malformed (message names file:line: field)."""


def play(rt: dict[str, Any], envs: list, *, policy, desc: str, batch_size: int, quiet: bool,
         executor=None) -> list:
    """Play one episode per environment through the agent loop
    (:class:`~toolfeedback.rollout.engine.RolloutEngine`) with a progress bar; the finished
    episodes, in input order. Single-turn evaluation is ``Policy(max_turns=1)`` with no
    executor (calls are parsed, not run)."""
    from ..progress import progress_bar
    from ..rollout.engine import RolloutEngine

    bar = progress_bar(len(envs), desc, quiet=quiet)
    try:
        with RolloutEngine(rt["generator"], mode=rt["mode"], tool_format=rt["tool_format"],
                           executor=executor, params=rt["params"], policy=policy,
                           batch_size=batch_size) as engine:
            return engine.play(envs, progress=bar)
    finally:
        bar.close()
