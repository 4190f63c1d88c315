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

from ..errors import ConfigError, ToolfeedbackError


@frozen
class EvalConfig:
    """What to evaluate and how (TOML section ``[eval]`` or ``toolfeedback eval`` flags)."""

    evaluator: str = field(default="solve", metadata={
        "help": "evaluator name: solve, toolhop, taubench, rotbench, bfcl, lm_eval, or a plugin's"})
    trajectories: str | None = field(default=None, metadata={
        "help": "trajectories JSONL (from `toolfeedback rollout`) to score without a model (solve)"})
    data: str | None = field(default=None, metadata={
        "help": "input data: environments JSONL (solve) or a benchmark file/folder; "
                "benchmarks default to ../shared/data/<bench> beside the repository"})
    model: str | None = field(default=None, metadata={"help": "model directory (or server model name)"})
    backend: str = field(default="hf", metadata={"help": "generation backend: hf, openai, vllm, ..."})
    tool_format: str = field(default="hermes", metadata={"help": "tool-call format: hermes, llama3, openai"})
    mode: str = field(default="no-think", metadata={"help": "inference mode: no-think, think, think-prompted"})
    max_turns: int = field(default=0, metadata={
        "help": "assistant turns per episode; 0 = the benchmark's default (solve 20, toolhop 9, taubench 30)"})
    max_new_tokens: int = field(default=0, metadata={
        "help": "token budget per response; 0 = the mode's default (1024, 8192 when thinking)"})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature; 0 = greedy"})
    limit: int = field(default=0, metadata={"help": "evaluate only the first N records (0 = all)"})
    split: str | None = field(default=None, metadata={
        "help": "solve: score only environments of this split, train or test (default: all)"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: automatic)"})
    subset: str = field(default="", metadata={
        "help": "benchmark part: toolhop scenario (direct|mandatory|free), rotbench files "
                "(clean,slight,Third_Turn/clean; default all present), bfcl categories "
                "(simple_python,live_simple,multi_turn_base,...; default all present)"})
    scoring: str = field(default="official", metadata={
        "help": "benchmark rules: official (the benchmark's own scorer) or ftrl (the FTRL "
                "release's evaluation script); rotbench, taubench"})
    trials: int = field(default=1, metadata={
        "help": "taubench: trials per task; pass^k is reported for every k up to this"})
    user_backend: str = field(default="", metadata={
        "help": "taubench: backend of the simulated user (default: the agent's own; "
                "'none' = no user, the instruction is the only user turn)"})
    user_model: str | None = field(default=None, metadata={
        "help": "taubench: model of the simulated user (default: --model)"})
    tasks: tuple[str, ...] = field(default=(), metadata={
        "help": "lm_eval task names (our local ones: tf_arith, tf_mc); cached hub tasks work offline too"})
    num_fewshot: int | None = field(default=None, metadata={"help": "lm_eval few-shot examples"})
    batch_size: int = field(default=8, metadata={"help": "generation / lm_eval batch size"})
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
    evaluator = Catalog(pm).get("evaluators", config.evaluator)
    check_config(config)
    report = {"evaluator": config.evaluator, **evaluator.evaluate(config, pm)}
    write_report(config, report)
    return report


def write_report(config: EvalConfig, report: dict[str, Any]) -> None:
    """Write ``report`` to ``config.out`` (when set) atomically."""
    if config.out:
        from ..atomic import write_text

        write_text(config.out, json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def check_config(config: EvalConfig) -> None:
    """Refuse nonsense numbers and unusable output paths before any (long) evaluation runs."""
    for name in ("limit", "max_turns", "max_new_tokens"):
        if getattr(config, name) < 0:
            raise ConfigError(f"{name}: must be 0 (the default) or more")
    if config.scoring not in ("official", "ftrl"):
        raise ConfigError(f"scoring: unknown {config.scoring!r} (known: official, ftrl)")
    if config.trials < 1:
        raise ConfigError("trials: must be at least 1")
    if config.batch_size < 1:
        raise ConfigError("batch_size: must be at least 1")
    if config.num_fewshot is not None and config.num_fewshot < 0:
        raise ConfigError("num_fewshot: must be 0 or more")
    if not config.temperature >= 0:
        raise ConfigError("temperature: must be 0 (greedy) or more")
    if config.split is not None and config.split not in ("train", "test"):
        raise ConfigError(f"split: must be train or test (got {config.split!r})")
    if config.threads < 0:
        raise ConfigError("threads: must be 0 (automatic) or more")
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


def require_model(config: EvalConfig) -> str:
    """The model path, or a clear error."""
    if not config.model:
        raise ConfigError(f"evaluator {config.evaluator!r} needs --model")
    return config.model


def sampling(config: EvalConfig, mode) -> Any:
    """SamplingParams from the config and the mode's default budget."""
    from ..generation import SamplingParams

    budget = config.max_new_tokens or getattr(mode, "default_max_new_tokens", 1024)
    return SamplingParams(max_new_tokens=budget, temperature=config.temperature)


def load_runtime(config: EvalConfig, pm, *, require_tools: bool = True) -> dict[str, Any]:
    """Generator, tool format and mode named by the config (backend loaded once)."""
    from ..registry import Catalog

    catalog = Catalog(pm)
    mode = catalog.get("modes", config.mode)
    fmt = catalog.get("tool_formats", config.tool_format)
    backend = catalog.get("backends", config.backend)
    options: dict[str, Any] = {"batch_size": config.batch_size}
    if config.device:
        options["device"] = config.device
    if not require_tools:
        options["require_tools"] = False
    # Only the options this backend declares (hf takes these; openai refuses them).
    known = getattr(backend, "options", ())
    options = {k: v for k, v in options.items() if k in known}
    generator = backend.load(require_model(config), **options)
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
