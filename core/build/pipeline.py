"""``build`` and ``verify``: the environment-construction pipeline and its checker.

``build`` streams: a source yields questions lazily, each goes through the five stages
(one implementation per stage, chosen by name), is verified by replaying its golden calls
through an :class:`~toolfeedback.runtime.executor.Executor`, and only then is written. Rejected
environments are counted by reason and never written. Memory does not grow with N.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from attrs import define, field, frozen

from .construction import STAGES, Rejected, StageContext, parse_scale, parse_stages
from ..errors import ConfigError, ToolfeedbackError
from ..runtime.executor import make_executor
from ..progress import progress_bar
from ..types import Environment, Pattern
from .verification import check_environment

ALL_PATTERNS = tuple(p.value for p in Pattern)
DEFAULT_SCALE = "generalize:0.5,expand:0.5,types:0.3,distractors:2"


@frozen
class BuildConfig:
    """Settings of ``toolfeedback build`` (TOML section ``[build]``; flags override)."""

    source: str = field(default="procedural", metadata={"help": "question source: procedural, jsonl, ftrl, toolhop"})
    n: int = field(default=100, metadata={"help": "number of questions to build (procedural)"})
    seed: int = field(default=0, metadata={"help": "seed: same seed, same bytes out"})
    out: str = field(default="environments.jsonl", metadata={"help": "output JSONL (FTRL format + id, pattern, golden, split)"})
    patterns: tuple[str, ...] = field(default=ALL_PATTERNS, metadata={"help": "scenario patterns to draw from"})
    scale: str = field(default=DEFAULT_SCALE, metadata={
        "help": "complexity scaling: strategy[:intensity],... of generalize, expand, types "
                "(0..1 each) and distractors (a count); 'none' for no scaling"})
    max_hops: int = field(default=4, metadata={"help": "longest chain of dependent calls"})
    max_width: int = field(default=3, metadata={"help": "most parallel branches"})
    test_fraction: float = field(default=0.1, metadata={"help": "share of questions in the test split"})
    world_size: float = field(default=0.0, metadata={
        "help": "scale of the procedural world (entities per type); 0 = grow with n, max(1, n/4000)"})
    balanced: bool = field(default=True, metadata={"help": "cycle through patterns instead of drawing them"})
    stages: str | None = field(default=None, metadata={
        "help": "stage implementations: NAME for every stage (procedural, llm), and/or STAGE=NAME "
                "to replace one (procedural,scale=mine); default: the source's", "plugin": "stages",
        "option_flag": "--stage-option"})
    stages_options: dict[str, Any] = field(factory=dict, metadata={
        "help": "options of the chosen stages ([build.stages] table, --stage-option); each stage "
                "receives the ones it declares"})
    input: str | None = field(default=None, metadata={"help": "input file (jsonl and ftrl sources)"})
    backend: str = field(default="openai", metadata={"help": "generation backend of the llm stages",
                                                     "plugin": "backends"})
    backend_options: dict[str, Any] = field(factory=dict, metadata={
        "help": "the backend's own options ([build.backend] table, --backend-option)"})
    model: str | None = field(default=None, metadata={"help": "generator model name (llm stages)"})
    base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible server URL (llm stages)"})
    retries: int = field(default=2, metadata={"help": "extra attempts per llm stage output before rejecting"})
    executor: str = field(default="auto", metadata={"help": "tool executor: sandbox, inprocess, auto"})
    timeout: float = field(default=10.0, metadata={"help": "seconds per tool call during verification"})

    @property
    def world_scale(self) -> float:
        """The procedural world's scale: ``world_size``, or grown with ``n`` when it is 0
        (so that large builds still find fresh questions)."""
        return self.world_size or max(1.0, self.n / 4000)

    def check(self) -> "BuildConfig":
        """Raise :class:`ConfigError` naming the first invalid setting; return self."""
        problems = []
        if self.n < 0:
            problems.append("n must be >= 0")
        if not 0 <= self.test_fraction <= 1:
            problems.append("test_fraction must be in [0, 1]")
        if self.max_hops < 1 or self.max_width < 1:
            problems.append("max_hops and max_width must be >= 1")
        if self.world_size < 0:
            problems.append("world_size must be >= 0 (0 = automatic)")
        if self.executor not in ("auto", "sandbox", "inprocess"):
            problems.append("executor must be auto, sandbox or inprocess")
        if not self.patterns:
            problems.append("patterns is empty")
        for p in self.patterns:
            if p not in ALL_PATTERNS:
                problems.append(f"unknown pattern {p!r}; expected some of {', '.join(ALL_PATTERNS)}")
        for parse in (lambda: parse_scale(self.scale), lambda: parse_stages(self.stages, "procedural")):
            try:
                parse()
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ConfigError("; ".join(problems))
        return self


@define
class BuildSummary:
    """What a build produced: counts per pattern and split, tools per environment,
    rejections by reason, time."""

    written: int = 0
    rejected: int = 0
    by_pattern_split: Counter = field(factory=Counter)
    rejections: Counter = field(factory=Counter)
    tools_total: int = 0
    tools_min: int | None = None
    tools_max: int = 0
    seconds: float = 0.0

    def add(self, env: Environment) -> None:
        """Count one written environment."""
        self.written += 1
        self.by_pattern_split[(env.pattern.value if env.pattern else "-", env.split)] += 1
        k = len(env.tools)
        self.tools_total += k
        self.tools_min = k if self.tools_min is None else min(self.tools_min, k)
        self.tools_max = max(self.tools_max, k)

    @property
    def envs_per_minute(self) -> float:
        """Written environments per minute of wall time."""
        return 60.0 * self.written / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        """The human summary printed at the end of ``toolfeedback build``."""
        out = [f"written {self.written}, rejected {self.rejected} in {self.seconds:.1f}s "
               f"({self.envs_per_minute:.0f} environments/minute)"]
        for (pattern, split), count in sorted(self.by_pattern_split.items()):
            out.append(f"  {pattern:<20} {split:<5} {count}")
        if self.written:
            out.append(f"  tools per environment: mean {self.tools_total / self.written:.2f}, "
                       f"min {self.tools_min}, max {self.tools_max}")
        for reason, count in self.rejections.most_common():
            out.append(f"  rejected {count}: {reason}")
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"written": self.written, "rejected": self.rejected,
                "by_pattern_split": {f"{p}/{s}": c for (p, s), c in sorted(self.by_pattern_split.items())},
                "rejections": dict(self.rejections), "seconds": self.seconds,
                "tools_mean": self.tools_total / self.written if self.written else 0.0,
                "envs_per_minute": self.envs_per_minute}


def _make_generator(config: BuildConfig, pm) -> Any:
    from ..registry import Catalog

    if not config.model:
        raise ConfigError("the llm stages need --model (and --base-url for an OpenAI-compatible server)")
    from ..generation import load_backend

    return load_backend(Catalog(pm).get("backends", config.backend), config.model,
                        config.backend_options, path="$.build.backend",
                        hints={"base_url": config.base_url})


def build(config: BuildConfig, pm=None, *, quiet: bool = True, executor=None,
          generator=None) -> BuildSummary:
    """Build environments as ``config`` says and stream them to ``config.out``.

    ``executor`` / ``generator`` may be given (tests, API users); otherwise they are made
    from the config and closed at the end. Lifecycle hooks fire per environment:
    ``on_environment_built`` before writing, ``on_environment_rejected`` on rejection.
    """
    from ..ftrl import to_record
    from ..jsonl import JsonlWriter
    from ..manager import create_plugin_manager
    from ..registry import Catalog

    config.check()
    pm = pm or create_plugin_manager()
    catalog = Catalog(pm)
    source = catalog.get("sources", config.source)
    chosen = parse_stages(config.stages, source.default_stages)
    stages = [catalog.get("stages", f"{stage}:{chosen[stage]}") for stage in STAGES]
    stage_options = resolve_stage_options(stages, config.stages_options)
    source.check(config)  # before the output file is opened (and truncated)
    own_executor = executor is None
    executor = executor or make_executor(config.executor, timeout=config.timeout)
    own_generator = generator is None and any(stage.needs_generator for stage in stages)
    if own_generator:
        generator = _make_generator(config, pm)
    ctx = StageContext(config=config, executor=executor, generator=generator, options=stage_options)
    summary = BuildSummary()
    start = time.perf_counter()
    total = source.expected_count(config)
    # Verification of a few environments overlaps construction of the next ones (the
    # sandbox is thread-safe and its workers are other processes); results are taken in
    # order, so the output and the hook calls keep the source's order.
    # The in-process baseline compiles in the calling thread: keep it to one at a time
    # (CPython 3.11's parser is not safe across threads).
    from ..runtime.executor import InProcessExecutor

    window = 1 if isinstance(executor, InProcessExecutor) else 4
    pending: deque = deque()
    pool = ThreadPoolExecutor(max_workers=window, thread_name_prefix="verify")

    def settle(writer, bar) -> None:
        item, env, stage, reason = pending.popleft()
        if env is not None:
            reason, stage = reason.result(), "verify"
        if reason is None:
            pm.hook.on_environment_built(environment=env)
            writer.write(to_record(env))
            summary.add(env)
        else:
            summary.rejected += 1
            summary.rejections[f"{stage}: {_reason_key(reason)}"] += 1
            pm.hook.on_environment_rejected(scenario_id=getattr(item, "id", "?"),
                                            stage=stage, reason=reason)
        bar.update(1)

    try:
        with JsonlWriter(config.out) as writer, progress_bar(total, "build", quiet=quiet, unit="env") as bar:
            for item in source.scenarios(config, ctx):
                env, stage, reason = _construct(item, stages, ctx)
                if env is not None:
                    reason = pool.submit(check_environment, env, executor, timeout=config.timeout)
                pending.append((item, env, stage, reason))
                while len(pending) > window or (pending and pending[0][1] is None):
                    settle(writer, bar)
            while pending:
                settle(writer, bar)
            if summary.written == 0:  # raised inside the writer: an existing --out is kept
                from ..errors import InputError

                if summary.rejected:
                    raise InputError(f"no environment passed ({summary.rejected} rejected: "
                                     f"{dict(summary.rejections)}); nothing written",
                                     path=config.out)
                raise InputError("no questions in the input (empty)",
                                 path=config.input or config.source)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        summary.seconds = time.perf_counter() - start
        if own_executor:
            executor.close()
        if own_generator and generator is not None:
            generator.close()
    return summary


def resolve_stage_options(stages, values: dict[str, Any]) -> dict[str, Any]:
    """``{stage: Options or None}``: each chosen stage gets the keys of ``values`` its
    ``Options`` declares; a key no chosen stage declares is an error."""
    import attrs

    from ..plugin_options import options_class, resolve_options

    values = dict(values or {})
    out, used = {}, set()
    for impl in stages:
        cls = options_class(impl)
        names = {f.name for f in attrs.fields(cls)} if cls is not None else set()
        mine = {k: v for k, v in values.items() if k in names}
        used |= set(mine)
        out[impl.stage] = resolve_options(impl, mine, path="$.build.stages")
    unknown = sorted(set(values) - used)
    if unknown:
        raise ConfigError(f"$.build.stages: no chosen stage takes option(s) {', '.join(unknown)}")
    return out


def _construct(item, stages, ctx) -> tuple[Environment | None, str | None, str | None]:
    """Run the stages on one item; ``(env, None, None)`` or ``(None, stage, reason)``."""
    if isinstance(item, Environment):  # a source of ready environments skips construction
        return item, None, None
    for stage in stages:
        try:
            item = stage.run(item, ctx)
        except Rejected as exc:
            return None, exc.stage or stage.stage, exc.reason
        except ToolfeedbackError:
            raise
        except Exception as exc:  # noqa: BLE001 - a stage bug rejects one item, not the run
            return None, stage.stage, f"{type(exc).__name__}: {exc}"
    if not isinstance(item, Environment):
        return None, "deploy", f"deploy stage returned {type(item).__name__}, not an Environment"
    return item, None, None


def _reason_key(reason: str) -> str:
    """Group rejection reasons: the text before the first detail (``:``) is the kind."""
    return reason.split(": ", 1)[0][:80]


@define
class VerifyReport:
    """Outcome of ``verify``: records checked, passed, replayed (had golden calls), and
    the failures as ``(line, id, reason)`` (the first ``max_kept``); ``unreadable`` counts
    the lines that did not parse as a record."""

    total: int = 0
    passed: int = 0
    replayed: int = 0
    failed: int = 0
    failures: list = field(factory=list)
    unreadable: int = 0

    @property
    def ok(self) -> bool:
        """True when every record passed."""
        return self.failed == 0


def verify(path, pm=None, *, executor=None, timeout: float = 10.0, quiet: bool = True,
           max_kept: int = 1000, executor_kind: str = "auto") -> VerifyReport:
    """Check every environment of a JSONL file (FTRL format).

    With golden calls: replay them through the executor; every expected answer must be
    solved and the final answer must follow. Without (released data): schemas, that every
    tool's code compiles and defines that tool. Unreadable lines count as failures.
    """
    from ..ftrl import from_record
    from ..jsonl import JsonlReader

    report = VerifyReport()
    own = executor is None
    executor = executor or make_executor(executor_kind, timeout=timeout)
    # the reader keeps the errors since the last good line (at most max_kept); they are
    # reported and cleared at each good line, so every bad line keeps its own number
    reader = JsonlReader(path, from_record, on_error="skip", max_errors_kept=max(1, max_kept))
    try:
        with progress_bar(None, "verify", quiet=quiet, unit="env") as bar:
            for lineno, env in reader:
                _drain(report, reader, max_kept)
                report.total += 1
                reason = check_environment(env, executor, timeout=timeout)
                report.replayed += bool(env.golden)
                if reason is None:
                    report.passed += 1
                else:
                    report.failed += 1
                    if len(report.failures) < max_kept:
                        report.failures.append((lineno, env.id, reason))
                bar.update(1)
            _drain(report, reader, max_kept)
    finally:
        if own:
            executor.close()
    return report


def _drain(report: VerifyReport, reader, max_kept: int) -> None:
    """Count the lines the reader skipped since the last call; keep their errors."""
    for error in reader.errors:
        _fail(report, error, max_kept)
    unkept = reader.skipped - report.unreadable - len(reader.errors)
    report.total += unkept
    report.failed += unkept
    report.unreadable = reader.skipped
    reader.errors.clear()


def _fail(report: VerifyReport, error, max_kept: int) -> None:
    report.total += 1
    report.failed += 1
    if len(report.failures) < max_kept:
        report.failures.append((error.line, None, error.detail if not error.field
                                else f"{error.field}: {error.detail}"))
