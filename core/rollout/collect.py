"""``toolfeedback rollout``: :class:`RolloutConfig` and :func:`rollout`, which reads the
environments, runs them through the agent loop (:class:`~toolfeedback.rollout.engine.RolloutEngine`) and
writes trajectories and step samples (resumable, see :mod:`toolfeedback.rollout.io`)."""

from __future__ import annotations

import time
from typing import Any

from attrs import field, frozen

from ..checks import at_least, in_range, non_negative, one_of, positive
from ..errors import ConfigError, InputError
from ..generation import SamplingParams, load_backend
from ..progress import progress_bar
from ..runtime.executor import make_executor
from .engine import Policy, RolloutEngine

@frozen
class RolloutConfig:
    """Settings of ``toolfeedback rollout`` (TOML section ``[rollout]``)."""

    model: str = field(metadata={"help": "model directory (hf) or served model name (openai)"})
    envs: str = field(metadata={"help": "environments JSONL (FTRL format)", "metavar": "FILE"})
    out: str = field(metadata={"help": "trajectories JSONL to write (appended on resume)",
                               "metavar": "FILE"})
    samples_out: str | None = field(default=None, metadata={
        "help": "also write FTRL-format step samples (training prompts) here", "metavar": "FILE"})
    backend: str = field(default="hf", metadata={"help": "generation backend (hf, openai, vllm)",
                                                 "plugin": "backends", "metavar": "NAME"})
    backend_options: dict[str, Any] = field(factory=dict, metadata={
        "help": "backend options (hf: device, dtype; openai: base_url, api_key, ...)"})
    mode: str = field(default="no-think", metadata={"help": "inference mode: no-think, think, think-prompted"})
    tool_format: str = field(default="hermes", metadata={"help": "tool-call format to parse responses with"})
    reward: str = field(default="solve_f1", metadata={"help": "step reward (name or weighted mix)"})
    batch_size: int = field(default=32, validator=at_least(1), metadata={
        "help": "episodes generated together per turn"})
    max_turns: int = field(default=20, validator=at_least(1), metadata={
        "help": "assistant turns per episode at most"})
    max_new_tokens: int | None = field(default=None, validator=at_least(1), metadata={
        "help": "token budget per response (default: mode's, 1024 no-think / 8192 think)"})
    temperature: float = field(default=0.0, validator=non_negative(" (0: greedy)"), metadata={
        "help": "sampling temperature (0: greedy)"})
    top_p: float = field(default=1.0, validator=in_range(0, 1, low_open=True), metadata={
        "help": "nucleus sampling mass"})
    n_samples: int = field(default=1, validator=at_least(1), metadata={
        "help": "episodes per environment (needs temperature > 0 when > 1)"})
    seed: int | None = field(default=0, metadata={"help": "sampling seed"})
    limit: int | None = field(default=None, validator=at_least(1, " (leave it out for every environment)"),
                              metadata={"help": "use only the first N environments"})
    split: str | None = field(default=None, validator=one_of(("train", "test")), metadata={
        "help": "run only environments of this split: train | test (default: every one)"})
    threads: int = field(default=0, validator=non_negative(" (0: automatic)"), metadata={
        "help": "torch CPU threads (0: automatic)"})
    on_error: str = field(default="stop", metadata={
        "help": "invalid environment lines: stop at the first or skip them, reporting how many",
        "choices": ("stop", "skip")}, validator=one_of(("stop", "skip")))
    workers: int = field(default=2, validator=at_least(1), metadata={"help": "sandbox worker processes"})
    tool_timeout: float = field(default=10.0, validator=positive(), metadata={
        "help": "seconds per tool call"})
    resume: bool = field(default=True, metadata={
        "help": "overwrite --out instead of resuming it (keeping its finished episodes)",
        "flag": "--no-resume"})
    progress: bool = field(default=True, metadata={
        "help": "no progress bar, no summary (default: a progress bar on a terminal)",
        "flag": "--quiet"})

    def validate(self) -> None:
        """Raise :class:`ConfigError` for combinations that cannot work (single fields are
        checked by their validators)."""
        if self.n_samples > 1 and self.temperature <= 0:
            raise ConfigError("n_samples > 1 needs temperature > 0 (greedy decoding repeats one episode)")


def check_envs(config: RolloutConfig):
    """Read the whole ``config.envs`` once (bad lines raise, or are skipped by ``on_error``);
    return ``(episodes to run, the reader with its skipped lines and errors)``. No episode
    is an error naming the file."""
    from .io import read_todo

    _, first_pass, n_episodes = read_todo(config.envs, set(), n_samples=config.n_samples,
                                          limit=config.limit, on_error=config.on_error,
                                          split=config.split)
    if n_episodes == 0:
        raise InputError(f"no environments of split {config.split!r} in the file"
                         if config.split is not None and not first_pass.skipped
                         else "no environments in the file" if not first_pass.skipped
                         else "no valid environment in the file", path=config.envs)
    return n_episodes, first_pass


def rollout(config: RolloutConfig, *, pm=None, generator=None, executor=None) -> dict[str, Any]:
    """Run ``config`` and return a summary (episodes run, skipped, tokens, metrics means).

    ``generator`` / ``executor`` may be passed in (tests, notebooks); otherwise the
    backend loads the model and a :class:`~toolfeedback.runtime.sandbox.Sandbox` runs the tools.
    """
    from ..runtime.step import make_reward
    from ..manager import create_plugin_manager
    from ..registry import Catalog
    from ..threads import set_threads
    from .io import RolloutOutputs, read_todo

    config.validate()
    pm = pm or create_plugin_manager()
    catalog = Catalog(pm)
    mode = catalog.get("modes", config.mode)
    fmt = catalog.get("tool_formats", config.tool_format)
    reward = make_reward(pm, config.reward)
    # Validate the whole input before --out is opened (and, with --no-resume, truncated).
    check_envs(config)
    outputs = RolloutOutputs(config.out, config.samples_out, resume=config.resume)
    envs, reader, total = read_todo(config.envs, outputs.done, n_samples=config.n_samples,
                                    limit=config.limit, on_error=config.on_error,
                                    split=config.split)
    own_gen, own_exec = generator is None, executor is None
    try:
        if own_gen:
            generator = load_backend(catalog.get("backends", config.backend), config.model,
                                     config.backend_options, path="$.rollout.backend")
        set_threads(config.threads)  # after the backend loaded torch, if it uses torch
        if mode.native_thinking and getattr(generator, "supports_thinking", True) is False:
            if own_gen:
                generator.close()
            raise ConfigError(f"model {config.model!r}: its chat template has no enable_thinking "
                              f"switch; use --mode think-prompted")
        if own_exec:
            executor = make_executor("sandbox", timeout=config.tool_timeout, workers=config.workers)
    except BaseException:  # bad model path, backend or option: no empty outputs left behind
        outputs.close(failed=True)
        raise
    params = SamplingParams(max_new_tokens=config.max_new_tokens or mode.default_max_new_tokens,
                            temperature=config.temperature, top_p=config.top_p, n=1,
                            seed=config.seed)
    engine = RolloutEngine(generator, mode=mode, tool_format=fmt, reward=reward, executor=executor,
                           params=params, batch_size=config.batch_size,
                           policy=Policy(max_turns=config.max_turns), pm=pm)
    already = len(outputs.done)
    bar = progress_bar(total, "rollout", unit="ep") if config.progress else None
    started, episodes, sums = time.perf_counter(), 0, {"solve_p": 0.0, "solve_r": 0.0, "solve_f1": 0.0}
    failed = True
    try:
        for episode in engine.run(envs):
            traj = episode.trajectory
            outputs.write(traj, episode.samples)
            episodes += 1
            for key in sums:
                sums[key] += traj.metrics.as_dict()[key]
            if bar is not None:
                elapsed = max(time.perf_counter() - started, 1e-9)
                bar.update(1)
                bar.set_postfix(ep_s=f"{episodes / elapsed:.2f}", tok_s=f"{engine.tokens / elapsed:.0f}")
        failed = False
    finally:
        if bar is not None:
            bar.close()
        engine.close()
        outputs.close(failed=failed)
        if own_exec:
            executor.close()
        if own_gen:
            generator.close()
    elapsed = time.perf_counter() - started
    return {"episodes": episodes, "already_done": already, "skipped_lines": reader.skipped,
            "errors": [str(e) for e in reader.errors], "tokens": engine.tokens, "seconds": elapsed,
            "episodes_per_s": episodes / elapsed if elapsed else 0.0,
            "tokens_per_s": engine.tokens / elapsed if elapsed else 0.0,
            **{f"mean_{k}": (v / episodes if episodes else None) for k, v in sums.items()}}


